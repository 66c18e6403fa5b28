"""How a table presents its columns: headers as words (never `ticket_id`), durations as text,
numbers with thousands separators, and widths that keep a table within the page."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from analytics.store import units

KNOWN = {
    "ticket_id": "Ticket", "n": "n", "id": "ID", "ids": "IDs", "sla_met": "SLA met", "mttr": "MTTR", "mtta": "MTTA",
    "mttd": "MTTD", "mtbf": "MTBF", "pir": "PIR", "kpi": "KPI", "sev": "Severity", "grp": "Group",
    "sla": "SLA", "csv": "CSV", "utc": "UTC", "url": "URL", "pct": "%", "sha256": "SHA-256",
    "rows_read": "Rows read", "rows_loaded": "Rows loaded", "dataset_id": "Upload",
}
_UNITS = {"_minutes": "minutes", "_hours": "hours"}


def words(column: str) -> str:
    """"rows_read" → "Rows read"; acronyms as people write them."""
    parts = [KNOWN.get(p, p) for p in str(column).replace("_", " ").split(" ")]
    text = " ".join(p for p in parts if p)
    return text[:1].upper() + text[1:]


def header(column: str) -> str:
    """The header a person reads for `column`: "Ticket", "Opened (UTC)", "Business time"."""
    name = str(column)
    if name in KNOWN:
        return KNOWN[name]
    if name.endswith("_at"):
        return f"{words(name[:-3])} (UTC)"
    for suffix in _UNITS:
        if name.endswith(suffix):
            stem = name[: -len(suffix)]
            # "business_minutes" and "calendar_minutes" side by side: "Business time", "Calendar time"
            return words(stem + "_time") if stem.endswith(("business", "calendar")) else words(stem)
    return words(name)


def durations_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with every `*_minutes` / `*_hours` column written as a duration ("15 h 02 min";
    business time in hours: analytics.store.units.duration), as a copy; `df` itself when it has none."""
    found = {c: u for c in df.columns for suffix, u in _UNITS.items()
             if str(c).endswith(suffix) and pd.api.types.is_numeric_dtype(df[c])}
    if not found:  # most tables: no copy
        return df
    out = df.copy()
    for column, unit in found.items():
        business = "business" in str(column)
        out[column] = [units.duration(None if pd.isna(v) else float(v), unit, business=business)
                       for v in df[column]]
    return out


# --- numbers ---------------------------------------------------------------------------------

MAX_DECIMALS = 3


def _is_identifier(column: str) -> bool:
    """Ids and years are names, not quantities: "#1234" and "2026", never "1,234"."""
    name = str(column).lower()
    return name in ("id", "year") or name.endswith(("_id", " id"))


def number_format(column: str, values: pd.Series) -> str | None:
    """The printf format (Streamlit's NumberColumn) a table shows a numeric column in: "%,d" for
    whole numbers, "%,.1f" … "%,.3f" for the fewest decimals (up to three) its values need; None
    for ids, booleans, non-numbers and values too small for three decimals (Streamlit's default)."""
    if (not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
            or _is_identifier(column)):
        return None
    if pd.api.types.is_integer_dtype(values):
        return "%,d"
    finite = values.to_numpy(dtype="float64", na_value=np.nan)
    finite = finite[np.isfinite(finite)]
    shown = finite.round(MAX_DECIMALS)
    if ((finite != 0) & (shown == 0)).any():
        return None  # 0.0004 must not read "0.000"
    decimals = next(d for d in range(MAX_DECIMALS + 1) if (np.abs(finite.round(d) - shown) < 1e-9).all())
    return "%,d" if decimals == 0 else f"%,.{decimals}f"


# --- widths ----------------------------------------------------------------------------------
# Measured in Chromium at 1280 px with the sidebar open (docs/screenshots): a table is 818 px wide
# with its border. Streamlit sizes a column to its header or its widest value, whichever is wider,
# from 50 to 500 px (31.25rem); Source Sans at 14 px, per character class (within 3 % of the
# measured widths of headers and values), plus 18 px of padding in a cell, 24 px in a header.
# A wider table scrolls sideways, which a screenshot and many readers never do.
TABLE_PX = 816
MIN_AUTO_PX, MAX_AUTO_PX = 50, 500
CELL_PAD_PX, HEADER_PAD_PX = 18, 24
MIN_TEXT_PX = 200  # Streamlit's "medium": about 30 characters a line
SLACK_PX = 16  # the estimate's error (about 2 %): a column that far past the edge may still show whole
NAMED_PX = {"small": 75, "medium": 200, "large": 400}
_NARROW, _WIDE = frozenset("iljtfr.,:;'!|()[]- "), frozenset("mwMW%@")
_CANDIDATES = 32  # the longest values measured per column (a table shows up to 10,000 rows)


def text_px(text: str) -> float:
    """Pixels `text` takes in a table cell, padding excluded."""
    return sum(4.0 if ch in _NARROW else 10.0 if ch in _WIDE else 7.5 if ch.isupper()
               else 7.0 if ch.isdigit() else 6.9 for ch in text)


def values_px(values: pd.Series, number_format: str | None = None) -> float:
    """Pixels of the widest value as shown (numbers with separators, times to the second)."""
    present = values[values.notna()]
    if present.empty:
        return 0.0
    if pd.api.types.is_datetime64_any_dtype(values):
        return text_px("2026-11-16 00:00:00")
    if pd.api.types.is_bool_dtype(values):
        return 16.0  # a checkbox
    if pd.api.types.is_numeric_dtype(values):
        largest = float(present.abs().max())
        decimals = int(number_format[-2]) if number_format and number_format.endswith("f") else 0
        return text_px(f"-{largest:,.{decimals}f}") if math.isfinite(largest) else text_px("NaN")
    texts = present.astype(str)
    longest = texts.iloc[texts.str.len().to_numpy().argsort()[-_CANDIDATES:]]
    return max(text_px(t) for t in longest)


def natural_px(header_text: str, value_px: float) -> int:
    """The width Streamlit gives a column with this header and widest value."""
    wanted = max(text_px(header_text) + HEADER_PAD_PX, value_px + CELL_PAD_PX)
    return min(MAX_AUTO_PX, max(MIN_AUTO_PX, math.ceil(wanted)))


def fit(widths: Mapping[str, int], narrowable: Iterable[str],
        budget: int = TABLE_PX) -> tuple[dict[str, int], list[str]]:
    """(new widths, columns still beyond the budget): the widest `narrowable` (text) columns are
    narrowed to one common width, no less than MIN_TEXT_PX, until the columns, in order, fit in
    `budget` pixels; the columns whose right edge still lies beyond it are listed in order."""
    texts = set(narrowable)
    narrow = {c: w for c, w in widths.items() if c in texts and w > MIN_TEXT_PX}
    if sum(widths.values()) <= budget or not narrow:
        return {}, _beyond(widths, budget)
    fixed = sum(w for c, w in widths.items() if c not in narrow)
    cap = max(MIN_TEXT_PX, max(narrow.values()))
    while cap > MIN_TEXT_PX and fixed + sum(min(w, cap) for w in narrow.values()) > budget:
        cap -= 1
    changed = {c: cap for c, w in narrow.items() if w > cap}
    return changed, _beyond({**widths, **changed}, budget)


def _beyond(widths: Mapping[str, int], budget: int) -> list[str]:
    edge, out = 0, []
    for column, width in widths.items():
        edge += width
        if edge > budget + SLACK_PX:
            out.append(column)
    return out
