"""Who can reach a dashboard in local mode: its listening address and the proxy in front.

Local mode gives everyone every role, so it may only serve this machine (docs/security.md).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping


def is_loopback(address: str | None) -> bool:
    """True when a server bound to `address` is reachable from this machine only.

    An empty address (Streamlit's default when no config.toml was read) means every interface."""
    host = (address or "").strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# Headers a reverse proxy adds to what it forwards (nginx and Caddy: X-Forwarded-For; RFC 7239).
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
# Set to 1 only when the proxy in front of a local-mode dashboard itself listens on loopback.
LOCAL_BEHIND_PROXY_ENV = "HYPERCARE_LOCAL_BEHIND_PROXY"


def forwarded_by_proxy(headers: Mapping[str, str] | None) -> bool:
    """Whether a request reached the server through a reverse proxy (a forwarding header).

    A server bound to 127.0.0.1 is still reachable from the network through a proxy on the same
    machine, so local mode (everyone every role) must not serve such a request."""
    names = {str(k).lower() for k in (headers or {})}
    return any(h in names for h in FORWARDING_HEADERS)


def local_behind_proxy_allowed() -> bool:
    """HYPERCARE_LOCAL_BEHIND_PROXY=1: the operator vouches that the proxy listens on loopback."""
    return os.environ.get(LOCAL_BEHIND_PROXY_ENV, "").strip() == "1"
