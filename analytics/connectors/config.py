"""A connector's settings and credentials: `[connectors.<name>]` of .streamlit/secrets.toml, and
environment variables HYPERCARE_<NAME>_<KEY>, which win.

Never stored in the database, never logged, never shown: `describe` names the keys, not their values.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path

from analytics.connectors.base import Connector

DEFAULT_SECRETS = Path(__file__).resolve().parents[2] / ".streamlit" / "secrets.toml"
SECRETS_ENV = "HYPERCARE_SECRETS"  # another secrets.toml (tests, a deployment elsewhere)


class ConfigError(Exception):
    """The secrets file cannot be read: says where, never what it holds."""


def secrets_path() -> Path:
    return Path(os.environ.get(SECRETS_ENV) or DEFAULT_SECRETS)


def env_prefix(name: str) -> str:
    return f"HYPERCARE_{name.upper()}_"


def _from_file(name: str, path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        # The parser's message can quote the line, and the line can hold a secret.
        raise ConfigError(f"{path}: cannot read it as TOML ({error.__class__.__name__})") from None
    section = (data.get("connectors") or {}).get(name) or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{path}: [connectors.{name}] is not a table")
    return {str(k).lower(): str(v) for k, v in section.items() if not isinstance(v, (Mapping, list))}


def load(name: str, *, path: str | os.PathLike | None = None,
         environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The settings of connector `name` (keys lower case); empty values count as absent."""
    values = _from_file(name, Path(path) if path is not None else secrets_path())
    prefix = env_prefix(name)
    for key, value in (os.environ if environ is None else environ).items():
        if key.upper().startswith(prefix) and len(key) > len(prefix):
            values[key[len(prefix):].lower()] = value
    return {k: v.strip() for k, v in values.items() if v and v.strip()}


def missing(connector: Connector, values: Mapping[str, str]) -> list[str]:
    """The keys still needed for the nearest complete set of the connector's required keys ([] if configured)."""
    # Fewest missing; on a tie the set already begun (api_key given: page_id is what is missing).
    options = [([k for k in keys if not values.get(k)], -sum(bool(values.get(k)) for k in keys))
               for keys in connector.required]
    options.sort(key=lambda o: (len(o[0]), o[1]))
    return options[0][0] if options else []


def configured(connector: Connector, values: Mapping[str, str]) -> bool:
    return not missing(connector, values)


def describe(connector: Connector, values: Mapping[str, str]) -> str:
    """One line for people: configured or not, and which keys are set — never a value."""
    need = missing(connector, values)
    if need:
        keys = ", ".join(f"{env_prefix(connector.name)}{k.upper()}" for k in need)
        return f"{connector.label}: not configured (needs {keys} or [connectors.{connector.name}] in secrets.toml)"
    return f"{connector.label}: configured ({', '.join(sorted(values))})"


__all__ = ["DEFAULT_SECRETS", "SECRETS_ENV", "ConfigError", "configured", "describe", "env_prefix", "load",
           "missing", "secrets_path"]
