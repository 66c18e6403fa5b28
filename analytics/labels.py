"""Column headers as words: what a table shows instead of raw column names such as `ticket_id`."""

from __future__ import annotations

import pandas as pd

from . import units

KNOWN = {
    "ticket_id": "Ticket", "n": "n", "id": "Id", "sla_met": "SLA met", "mttr": "MTTR", "mtta": "MTTA",
    "mttd": "MTTD", "mtbf": "MTBF", "pir": "PIR", "kpi": "KPI", "sev": "Severity", "grp": "Group",
    "sla": "SLA", "csv": "CSV", "utc": "UTC", "url": "URL",
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
            return words(stem + "_time") if stem.endswith("business") else words(stem)
    return words(name)


def durations_as_text(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with every `*_minutes` / `*_hours` column written as a duration ("15 h 02 min";
    business time in hours: analytics.units.duration), as a copy; `df` itself when it has none."""
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
