"""The global filter: one frozen value that yields a SQL clause, a caption and a URL.

Every page reads the same `Filters` (built by the sidebar filter bar) and passes it to the
analytics functions, which put `filters.where()` into their WHERE clause. Values are always
bound parameters; column names come only from `FILTER_COLUMNS`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any

import duckdb

from analytics.store.schema import SEVERITIES, STATUS_CATEGORIES

# Severity filter value meaning "no severity could be mapped" (severity IS NULL).
UNMAPPED = "Unmapped"

# Filter field -> tickets column. The only column names filter SQL is ever built from.
FILTER_COLUMNS: dict[str, str] = {
    "severity": "severity",
    "service": "service",
    "team": "team",
    "source": "source",
    "type": "type",
    "status": "status_category",
}
# Query-parameter names, in URL order: from, to, then one per filter field.
QUERY_KEYS: tuple[str, ...] = ("from", "to", *FILTER_COLUMNS)

# Dates outside this window are treated as typos in a URL and ignored.
MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2100, 12, 31)
_MAX_VALUES = 200  # per field, so a crafted URL can't build a huge IN list
_MAX_VALUE_LEN = 300
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Field -> allowed values; fields not listed accept any (non-empty) text.
_VOCABULARY: dict[str, tuple[str, ...]] = {
    "severity": (*SEVERITIES, UNMAPPED),
    "status": STATUS_CATEGORIES,
}


@dataclass(frozen=True)
class Filters:
    """The active global filters; empty tuples and None dates mean "no restriction"."""

    date_from: date | None = None
    date_to: date | None = None
    severity: tuple[str, ...] = ()
    service: tuple[str, ...] = ()
    team: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    status: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists (e.g. straight from a multiselect) but store tuples, so the value
        # stays hashable and usable as a cache key.
        for name in FILTER_COLUMNS:
            value = getattr(self, name)
            if not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def is_empty(self) -> bool:
        return self.date_from is None and self.date_to is None and not any(
            getattr(self, name) for name in FILTER_COLUMNS
        )

    def values(self, name: str) -> tuple[str, ...]:
        if name not in FILTER_COLUMNS:
            raise KeyError(name)
        return getattr(self, name)

    # --- SQL ----------------------------------------------------------------------------

    def where(self, alias: str = "", codes: Mapping[str, Mapping[str, int]] | None = None,
              name: str = "f") -> tuple[str, dict[str, Any]]:
        """A boolean SQL clause over `tickets` (or `alias`) with named parameters, and their values.

        Dates filter `opened_at`: from the start of `date_from` up to the end of `date_to`
        (inclusive of the whole day). "TRUE" when no filter is set.
        `codes` (column -> value -> integer code): for a table that also holds each of those
        columns as `<column>__code` (analytics.kpi.facts), compare the codes instead: an IN
        over integers costs a fraction of one over text. A value without a code matches nothing.
        `name` prefixes every parameter (`$f_from`, `$f_severity_0`, …): a statement holding two
        different filters names them apart; the same filters twice (two aliases) share values.
        """
        if alias and not _ALIAS.match(alias):
            raise ValueError(f"not a SQL alias: {alias!r}")
        if not _ALIAS.match(name):
            raise ValueError(f"not a parameter name: {name!r}")
        prefix = f"{alias}." if alias else ""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.date_from is not None:
            clauses.append(f"{prefix}opened_at >= ${name}_from")
            params[f"{name}_from"] = datetime.combine(self.date_from, time.min)
        if self.date_to is not None:
            clauses.append(f"{prefix}opened_at < ${name}_to")
            params[f"{name}_to"] = datetime.combine(self.date_to + timedelta(days=1), time.min)
        for field_name, column in FILTER_COLUMNS.items():
            values = list(getattr(self, field_name))
            if not values:
                continue
            col = f"{prefix}{column}"
            want_null = field_name == "severity" and UNMAPPED in values
            values = [v for v in values if not (field_name == "severity" and v == UNMAPPED)]
            parts = []
            if codes is not None and column in codes:
                col = f"{col}__code"
                values = [codes[column][v] for v in values if v in codes[column]]
                if not values and not want_null:
                    parts.append("FALSE")
            if values:
                # One parameter per value: an IN over constants keeps DuckDB's plan for a literal list.
                keys = [f"{name}_{field_name}_{i}" for i in range(len(values))]
                parts.append(f"{col} IN ({', '.join('$' + k for k in keys)})")
                params.update(zip(keys, values, strict=True))
            if want_null:
                parts.append(f"{col} IS NULL")
            clauses.append(parts[0] if len(parts) == 1 else f"({' OR '.join(parts)})")
        return (" AND ".join(clauses) or "TRUE"), params

    # --- caption ------------------------------------------------------------------------

    def caption(self, n_tickets: int | None = None) -> str:
        """Plain text for the page caption, e.g. "Filters: SEV-1, SEV-2 · 7 Sep – 31 Oct
        2026 · service = Payments API · 1,234 tickets". Not escaped: render as text."""
        parts: list[str] = []
        if self.severity:
            parts.append(", ".join(self.severity))
        dates = _date_range_text(self.date_from, self.date_to)
        if dates:
            parts.append(dates)
        for name in ("service", "team", "source", "type", "status"):
            values = getattr(self, name)
            if values:
                parts.append(f"{name} = {', '.join(values)}")
        if not parts:
            parts.append("none (all tickets)")
        if n_tickets is not None:
            parts.append(f"{n_tickets:,} ticket{'' if n_tickets == 1 else 's'}")
        return "Filters: " + " · ".join(parts)

    # --- URL ----------------------------------------------------------------------------

    def to_query_params(self) -> dict[str, str]:
        """Only the active filters: {"from": "2026-09-07", "severity": "SEV-1,SEV-2", ...}."""
        out: dict[str, str] = {}
        if self.date_from is not None:
            out["from"] = self.date_from.isoformat()
        if self.date_to is not None:
            out["to"] = self.date_to.isoformat()
        for name in FILTER_COLUMNS:
            values = getattr(self, name)
            if values:
                out[name] = ",".join(_escape_value(v) for v in values)
        return out

    @classmethod
    def from_query_params(cls, params: Mapping[str, Any]) -> Filters:
        """Read filters from URL query parameters; no URL text makes it raise (a bug still does).

        Unknown keys, unparsable or out-of-range dates and values outside a fixed vocabulary
        (severity, status) are ignored; a reversed date range is swapped.
        """
        try:
            date_from = _parse_date(_first(params.get("from")))
            date_to = _parse_date(_first(params.get("to")))
            if date_from and date_to and date_from > date_to:
                date_from, date_to = date_to, date_from
            kwargs: dict[str, Any] = {}
            for name in FILTER_COLUMNS:
                raw = params.get(name)
                if raw is None:
                    continue
                kwargs[name] = _parse_values(name, raw)
            return cls(date_from=date_from, date_to=date_to, **kwargs)
        except ValueError:  # text the parsers did not foresee: a hostile URL must never break the page
            return cls()

    def with_values(self, **changes: Any) -> Filters:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data.update(changes)
        return Filters(**data)


def filter_options(con: duckdb.DuckDBPyConnection) -> dict[str, list[str]]:
    """Distinct values per filter field, from the data.

    Severity and status follow their canonical order; severity lists "Unmapped" last when
    some tickets have no severity. Other fields are sorted case-insensitively.
    """
    out: dict[str, list[str]] = {}
    for name, column in FILTER_COLUMNS.items():
        rows = con.cursor().execute(
            f"SELECT DISTINCT {column} FROM tickets"  # column from FILTER_COLUMNS only
        ).fetchall()
        present = {r[0] for r in rows}
        if name == "severity":
            values = [s for s in SEVERITIES if s in present]
            values += sorted(str(v) for v in present - set(SEVERITIES) - {None})
            if None in present:
                values.append(UNMAPPED)
        elif name == "status":
            values = [s for s in STATUS_CATEGORIES if s in present]
            values += sorted(str(v) for v in present - set(STATUS_CATEGORIES) - {None})
        else:
            values = sorted((str(v) for v in present if v is not None and str(v) != ""),
                            key=lambda v: (v.casefold(), v))
        out[name] = values
    return out


def count_tickets(con: duckdb.DuckDBPyConnection, filters: Filters) -> int:
    """Number of tickets the filters select."""
    clause, params = filters.where()
    return con.cursor().execute(f"SELECT count(*) FROM tickets WHERE {clause}", params).fetchall()[0][0]


def date_bounds(con: duckdb.DuckDBPyConnection) -> tuple[date | None, date | None]:
    """First and last opened_at day from MIN_DATE to MAX_DATE in the store (None, None when none)."""
    # Days outside the window (a typo, an 'infinity' a file spelled out) would stretch the date
    # pickers to year 1 or 9999; the filter treats such days as typos too.
    lo, hi = con.cursor().execute(
        "SELECT min(opened_at)::DATE, max(opened_at)::DATE FROM tickets "
        "WHERE opened_at >= $lo AND opened_at < $hi",
        {"lo": datetime.combine(MIN_DATE, time.min), "hi": datetime.combine(MAX_DATE + timedelta(days=1), time.min)},
    ).fetchall()[0]
    return lo, hi


def picker_bounds(first: date | None, last: date | None, *chosen: date | None) -> tuple[date, date]:
    """The date pickers' (min, max): the data's first to last whole month, widened to any chosen day."""
    # Whole months: a picker refuses a typed day outside its bounds, and people type the 1st of
    # a month when the data starts on the 7th. A picker opens on today moved into its bounds:
    # on the data's last month when the data is older.
    if first is None or last is None:  # no data
        lo, hi = MIN_DATE, MAX_DATE
    else:
        lo = first.replace(day=1)
        hi = last.replace(day=calendar.monthrange(last.year, last.month)[1])
    # A chosen day outside them (a bookmark; a day chosen before an upload or a delete changed
    # the data) stays as it was: outside its bounds Streamlit raises, or drops it silently.
    for day in chosen:
        if day is not None:
            lo, hi = min(lo, day), max(hi, day)
    return lo, hi


def days_text(start: date | None, end: date | None) -> str:
    """The days from `start` to `end` as the caption writes them, e.g. "7 Sep – 21 Nov 2026"."""
    return _date_range_text(start, end)


# --- helpers ----------------------------------------------------------------------------


def _date_range_text(start: date | None, end: date | None) -> str:
    if start and end:
        if start == end:
            return _day(start)
        if start.year == end.year:
            if start.month == end.month:
                return f"{start.day} – {_day(end)}"
            return f"{start.day} {start:%b} – {_day(end)}"
        return f"{_day(start)} – {_day(end)}"
    if start:
        return f"from {_day(start)}"
    if end:
        return f"until {_day(end)}"
    return ""


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def _escape_value(value: str) -> str:
    # A comma separates values in the URL; keep commas inside a value recoverable.
    return value.replace("%", "%25").replace(",", "%2C")


def _unescape_value(value: str) -> str:
    return value.replace("%2C", ",").replace("%2c", ",").replace("%25", "%")


def _first(raw: Any) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, (list, tuple)):
        return str(raw[-1]) if raw else None
    return str(raw)


def _parse_date(raw: str | None) -> date | None:
    if not raw:
        return None
    try:
        value = date.fromisoformat(raw.strip()[:10])
    except ValueError:
        return None
    return value if MIN_DATE <= value <= MAX_DATE else None


def _parse_values(name: str, raw: Any) -> tuple[str, ...]:
    chunks: Iterable[Any] = raw if isinstance(raw, (list, tuple)) else [raw]
    allowed = _VOCABULARY.get(name)
    out: list[str] = []
    for chunk in chunks:
        for part in str(chunk).split(","):
            value = _unescape_value(part).strip()
            if not value or len(value) > _MAX_VALUE_LEN or value in out:
                continue
            if allowed is not None and value not in allowed:
                continue
            out.append(value)
            if len(out) >= _MAX_VALUES:
                return tuple(out)
    return tuple(out)
