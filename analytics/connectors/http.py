"""The HTTP client every connector uses: JSON over requests, polite and bounded.

A timeout on every request, and at most one request per `min_interval` seconds; 429 waits as
Retry-After says (seconds or an HTTP date); 5xx, timeouts and broken connections are retried
with exponential backoff, at most `max_retries` times; 401/403/404 (any other 4xx too) and
malformed or truncated JSON raise SourceError at once. Messages name the method, the URL path
and the status, never a header or the query string (where some APIs take a key).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from analytics.connectors.base import SourceError

RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0  # seconds: a longer Retry-After is waited this long, then asked again
HINTS = {401: "check the credentials", 403: "the account may not read this", 404: "check the URL or id"}


def retry_after(value: str | None, now: Callable[[], datetime] | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), None if absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now() if now is not None else datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


class HttpClient:
    """JSON requests to one API; `auth_headers` go with every request and into no message."""

    def __init__(self, base_url: str, *, auth_headers: Mapping[str, str] | None = None, timeout: float = 30,
                 max_retries: int = 5, backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep,
                 name: str = "", session: requests.Session | None = None, min_interval: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.sleep = sleep
        self.name = name  # the source's label, for messages
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "hypercare-sync"})
        self.session.headers.update(dict(auth_headers or {}))
        self.min_interval = min_interval  # seconds between requests: a vendor's documented rate limit
        self.clock = clock
        self._last_sent: float | None = None
        self.requests = 0  # requests sent, retries included
        self.last_headers: Mapping[str, str] = {}  # the last successful response's headers (paging, totals)

    def url(self, path: str) -> str:
        """`path` under the base URL; an absolute URL (a next-page link) as it is, if on the same site."""
        if not urlsplit(path).scheme:
            return urljoin(self.base_url, path.lstrip("/"))
        # A link elsewhere would carry the credentials (every request sends them) to another host.
        mine, theirs = urlsplit(self.base_url), urlsplit(path)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc):
            raise SourceError(f"{self.name or 'source'}: a link points away from {mine.scheme}://{mine.netloc} "
                              f"(to {theirs.scheme}://{theirs.netloc}); not followed")
        return path

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._request("GET", path, params=params)

    def post_json(self, path: str, body: Any) -> Any:
        return self._request("POST", path, body=body)

    def close(self) -> None:
        self.session.close()

    def _pace(self) -> None:
        if self.min_interval > 0 and self._last_sent is not None:
            wait = self._last_sent + self.min_interval - self.clock()
            if wait > 0:
                self.sleep(wait)
        self._last_sent = self.clock()

    def _fail(self, method: str, url: str, reason: str, status: int | None = None) -> SourceError:
        where = f"{self.name}: " if self.name else ""
        return SourceError(f"{where}{method} {urlsplit(url).path}: {reason}", status)

    def _request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
        url = self.url(path)
        attempt = 0
        while True:
            self._pace()
            self.requests += 1
            try:
                response = self.session.request(method, url, params=params, json=body, timeout=self.timeout)
                text = response.content  # read it all here: a connection dying mid-body raises now
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
                reason = "timed out" if isinstance(error, requests.Timeout) else "connection failed"
                wait = self.backoff * 2 ** attempt
            else:
                status = response.status_code
                if status < 300:
                    self.last_headers = response.headers
                    return self._json(method, url, status, text)
                phrase = f"HTTP {status} {response.reason or ''}".rstrip()
                if status == 429:
                    reason = phrase
                    told = retry_after(response.headers.get("Retry-After"))
                    wait = self.backoff * 2 ** attempt if told is None else min(told, MAX_RETRY_AFTER)
                elif status in RETRY_STATUSES:
                    reason, wait = phrase, self.backoff * 2 ** attempt
                else:
                    hint = HINTS.get(status)
                    raise self._fail(method, url, f"{phrase} ({hint})" if hint else phrase, status)
            if attempt >= self.max_retries:
                raise self._fail(method, url, f"{reason}, gave up after {attempt + 1} attempts")
            attempt += 1
            self.sleep(wait)

    def _json(self, method: str, url: str, status: int, content: bytes) -> Any:
        if status == 204:
            return None
        try:
            return json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise self._fail(method, url, f"HTTP {status} but the body is not complete JSON "
                                          f"({len(content):,} bytes, {error.__class__.__name__})") from None


__all__ = ["HttpClient", "retry_after"]
