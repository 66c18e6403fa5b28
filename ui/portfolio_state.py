"""Portfolio page parts: the engagements' rows (cached per store copy), the table shown, deleting the demo."""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime

import pandas as pd
import streamlit as st

from analytics.charts import kpi as kpi_charts
from analytics.governance import portfolio
from analytics.kpi import registry
from analytics.store import db, engagements, sharing, units
from analytics.store.engagements import Engagement
from ui import auth as ui_auth
from ui import cache, engagement_state, store_view

# The shown columns: the figures first, the engagement's dates (context) last, where a narrow page
# scrolls to them (the table says so). Numbers get thousands separators from widgets.table.
# _DEFINED: the label of each column portfolio.DEFINITIONS defines.
COLUMNS = {
    "engagement": st.column_config.TextColumn("Engagement"),
    "tickets": st.column_config.NumberColumn("Tickets"),
    "open_sev12": st.column_config.NumberColumn("Open SEV-1/2"),
    "resolution_sla": st.column_config.TextColumn(registry.get("resolution_sla").name),
    "mttr": st.column_config.TextColumn(f"{registry.get('mttr').name} median"),
    "criteria": st.column_config.TextColumn("Criteria passing"),
    "signoffs": st.column_config.TextColumn("Sign-offs"),
    "go_live": st.column_config.DateColumn("Go-live", format="YYYY-MM-DD"),
    "days_since_go_live": st.column_config.NumberColumn("Days since go-live"),
    "as_of": st.column_config.DatetimeColumn("As-of (UTC)", format="YYYY-MM-DD HH:mm"),
    "data": st.column_config.TextColumn("Data (first – last event)"),
}
_DEFINED = {key: COLUMNS[key]["label"] for key in COLUMNS} | {
    "data_from / data_to": COLUMNS["data"]["label"], "resolution_sla_pct": COLUMNS["resolution_sla"]["label"],
    "mttr_median_h": COLUMNS["mttr"]["label"], "criteria_passing": COLUMNS["criteria"]["label"], "as_of": "As-of"}


def definitions() -> list[tuple[str, str]]:
    """(column label, definition) for each column of the table, from portfolio.DEFINITIONS."""
    return [(_DEFINED.get(key, key), text) for key, text in portfolio.DEFINITIONS.items()]


# One row per (store file, its version, the engagement's name, the day); a row whose as-of is
# the clock also holds the minute it was computed in. A visit recomputes only the engagements
# whose store changed since, each on a copy taken for it alone and let go of afterwards.
_MAX_ROWS = 256
_row_cache: OrderedDict[tuple, tuple[datetime, dict]] = OrderedDict()
_row_lock = threading.Lock()


def _row(e: Engagement, now: datetime) -> dict:
    own = db.connection_for(e.path)
    if own is not None:  # a test or script holds the file: its connection, no copy, no cache
        return portfolio.row(e, own, now)
    fresh = store_view.view(e.path).fresh()
    con, version = fresh if fresh is not None else (None, sharing.version(e.path))
    key = (str(e.path), version, e.slug, e.name, e.is_demo, now.date())
    with _row_lock:
        hit = _row_cache.get(key)
    if hit is not None and (hit[0] == now or not portfolio.depends_on_now(hit[1], hit[0])):
        return hit[1]
    if con is None:
        con, version = sharing.snapshot(e.path)
        key = (str(e.path), version, *key[2:])
        try:
            r = portfolio.row(e, con, now)
        finally:
            con.close()
    else:
        r = portfolio.row(e, con, now)
    with _row_lock:
        _row_cache[key] = (now, r)
        _row_cache.move_to_end(key)
        while len(_row_cache) > _MAX_ROWS:
            _row_cache.popitem(last=False)
    return r


def rows(found: list[Engagement]) -> pd.DataFrame:
    """portfolio.row of each of `found`, each computed on its own store as it is now."""
    now = cache.as_of_now()  # to the minute: "today" and a clock-bound as-of
    return portfolio.frame(_row(e, now) for e in found)


def forget_rows() -> None:
    """Forget every computed row (tests; a store replaced in place keeps its version otherwise)."""
    with _row_lock:
        _row_cache.clear()


def _with_n(value, n: int, kpi: str) -> str:
    """The KPI's value as the Overview writes it ("21 h 48 min", "96.4 %") with its n beside it."""
    if value is None or pd.isna(value):
        return units.NONE_TEXT
    return f"{kpi_charts.fmt(float(value), registry.get(kpi).unit)} (n {n:,})"


def _span(first, last) -> str:
    return units.NONE_TEXT if first is None or pd.isna(first) else f"{first:%Y-%m-%d} – {last:%Y-%m-%d}"


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as the page shows them: one column per COLUMNS entry, counts as "k of n"."""
    out = pd.DataFrame({
        "engagement": [f"{n} (demo data)" if d else n for n, d in zip(df["name"], df["is_demo"])],
        "go_live": df["go_live"], "days_since_go_live": df["days_since_go_live"],
        "data": [_span(f, t) for f, t in zip(df["data_from"], df["data_to"])],
        "tickets": df["tickets"], "open_sev12": df["open_sev12"],
        "resolution_sla": [_with_n(v, n, "resolution_sla")
                           for v, n in zip(df["resolution_sla_pct"], df["resolution_sla_n"])],
        "mttr": [_with_n(v, n, "mttr") for v, n in zip(df["mttr_median_h"], df["mttr_n"])],
        "criteria": [f"{p} of {t}" for p, t in zip(df["criteria_passing"], df["criteria_total"])],
        "signoffs": [f"{s} of {r}" for s, r in zip(df["signoffs_signed"], df["signoffs_required"])],
        "as_of": df["as_of"],
    })
    return out[list(COLUMNS)]


def delete_demo(e: Engagement) -> str:
    """Delete the catalog's demo engagement `e`; returns what to tell."""
    engagements.delete(e.catalog, e.slug, ui_auth.actor())
    store_view.forget(e.path)
    cache.data_changed()
    return f"Deleted the {e.name} engagement and its demo data."


def demo_of(found: list[Engagement]) -> Engagement | None:
    """The catalog's demo engagement, if it has one (an engagement's own store has no demo to delete)."""
    if not engagement_state.is_catalog():
        return None
    return next((e for e in found if e.is_demo), None)
