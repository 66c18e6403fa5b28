"""Recognising and parsing source timestamps into UTC, inside DuckDB.

Formats are chosen per column from a sample, then applied to the whole column in SQL. The format
that reads the most sampled values wins: a stray "TBD" among them does not change the choice, it
becomes a rejected row like any other value that does not parse. Day-first and month-first are
decided by the data: a value like 13/10/2016 settles it; when every sampled value fits both, the
guess is day-first and flagged `ambiguous` so the Upload page asks.
"""

from __future__ import annotations

import dataclasses
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

# "iso" is ISO 8601 with or without an offset ("Z", "+01:00", "+0000"), read by DuckDB's cast.
ISO = "iso"
CANDIDATES: tuple[str, ...] = (
    ISO,
    "%Y-%m-%dT%H:%M:%S.%g%z",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y/%m/%d %H:%M:%S.%f",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d/%b/%y %I:%M %p",
    "%d-%b-%Y %H:%M:%S",
    "%d %b %Y %H:%M",
)
# Which day-first format each month-first one competes with.
_SWAPPED = {
    "%m/%d/%Y %H:%M": "%d/%m/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S": "%d/%m/%Y %H:%M:%S",
    "%m/%d/%Y": "%d/%m/%Y",
}
_ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)?$"
)
_OFFSET_RE = re.compile(r"(Z|[+-]\d{2}(:?\d{2})?)$")


_NOT_NAME = re.compile(r"[^a-z0-9_]")


class TimestampFormatError(ValueError):
    pass


def bind(params: dict[str, Any], hint: str, value: Any) -> str:
    """Add `value` to `params` under a new name made from `hint`; returns its placeholder `$name`.

    The SQL builders of ingest (here, transform, events) compose statements from fragments that
    each bind their own values into one dict. DuckDB's parameter names are identifiers and
    case-insensitive, and hints come from profile field names: the hint is lower-cased, any
    other character becomes '_', and a name already in `params` gets a number (_2, _3, …).
    """
    base = _NOT_NAME.sub("_", hint.lower())
    if not base or base[0].isdigit():
        base = "p_" + base
    name, n = base, 1
    while name in params:
        n += 1
        name = f"{base}_{n}"
    params[name] = value
    return "$" + name


@dataclass
class TimestampGuess:
    field: str
    column: str
    format: str
    parsed: int
    total: int
    ambiguous: bool = False
    has_offset: bool = False
    # dataclasses.field in full: the attribute `field` above hides the bare name in this class body.
    examples: list[str] = dataclasses.field(default_factory=list)  # up to 3 sampled values that parse
    unparsed: list[str] = dataclasses.field(default_factory=list)  # up to 3 that do not

    @property
    def share(self) -> float:
        return self.parsed / self.total if self.total else 1.0


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise TimestampFormatError(f"unknown time zone '{name}' (use an IANA name such as Europe/Amsterdam)") from exc
    return name


def parses(cur, fmt: str, values: list[str]) -> list[bool]:
    """Whether each value reads as a timestamp in `fmt`, in order."""
    if fmt == ISO:
        # The cast alone also takes "2026-9-9" or "20260909": ISO here means _ISO_RE's shape too.
        shaped = [_ISO_RE.match(v) is not None for v in values]
        if not any(shaped):
            return shaped
        cast = cur.execute("SELECT list_transform($values::VARCHAR[], "
                           "lambda v: TRY_CAST(v AS TIMESTAMPTZ) IS NOT NULL)", {"values": values}).fetchall()[0][0]
        return [s and ok for s, ok in zip(shaped, cast)]
    return cur.execute("SELECT list_transform($values::VARCHAR[], lambda v: try_strptime(v, $fmt) IS NOT NULL)",
                       {"values": values, "fmt": fmt}).fetchall()[0][0]


def count_parsed(cur, fmt: str, values: list[str]) -> int:
    return sum(parses(cur, fmt, values)) if values else 0


def checked(cur, fmt: str, values: list[str], field_name: str = "", column: str = "",
            ambiguous: bool = False) -> TimestampGuess:
    """`fmt` read against the sampled `values`: how many parse, and examples of both kinds."""
    ok = parses(cur, fmt, values) if values else []
    good = [v for v, o in zip(values, ok) if o]
    bad = [v for v, o in zip(values, ok) if not o]
    return TimestampGuess(field_name, column, fmt, len(good), len(values), ambiguous, has_offset(fmt, good or values),
                          good[:3], bad[:3])


def guess_format(cur, values: list[str], field_name: str = "", column: str = "") -> TimestampGuess:
    """Pick the candidate format that parses the most sampled values (ties: list order)."""
    values = [v.strip() for v in values if v is not None and v.strip()]
    if not values:
        return TimestampGuess(field_name, column, ISO, 0, 0)
    best, best_n = ISO, -1
    counts: dict[str, int] = {}
    for fmt in CANDIDATES:
        n = count_parsed(cur, fmt, values)
        counts[fmt] = n
        if n > best_n:
            best, best_n = fmt, n
        if n == len(values) and fmt not in _SWAPPED.values():
            break
    ambiguous = False
    for month_first, day_first in _SWAPPED.items():
        if best == day_first and counts.get(month_first, count_parsed(cur, month_first, values)) == best_n:
            ambiguous = True
    return checked(cur, best, values, field_name, column, ambiguous)


def has_offset(fmt: str, sample: list[str]) -> bool:
    if fmt == ISO:
        return any(_OFFSET_RE.search(v.strip()) for v in sample if v)
    return "%z" in fmt or "%Z" in fmt


def sql_parse(expr: str, fmt: str, offset: bool, tz: str, params: dict[str, Any], name: str = "ts") -> str:
    """SQL turning text `expr` into a naive UTC TIMESTAMP (NULL where it does not parse).

    Values with an offset are converted by it; naive values are read as wall-clock time in `tz`
    (DST-aware through ICU). The format and zone are bound into `params` under names made from
    `name` (`$ts_fmt`, `$ts_tz`; see bind).
    """
    if fmt == ISO:
        parsed = f"TRY_CAST({expr} AS TIMESTAMPTZ)" if offset else f"TRY_CAST({expr} AS TIMESTAMP)"
    else:
        parsed = f"try_strptime({expr}, {bind(params, name + '_fmt', fmt)})"
    if offset:
        return f"timezone('UTC', {parsed})"
    if tz == "UTC":
        return f"CAST({parsed} AS TIMESTAMP)"
    return f"timezone('UTC', timezone({bind(params, name + '_tz', tz)}, CAST({parsed} AS TIMESTAMP)))"
