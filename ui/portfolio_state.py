"""Portfolio page parts: the engagements' rows (cached per store copy), the table shown, deleting the demo."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pandas as pd
import streamlit as st

from analytics import engagements, portfolio
from analytics.engagements import Engagement
from ui import engagement_state, state, store_view

# The shown columns, units in the labels: the figures first, the data's dates (context) last, where
# a narrow screen scrolls to them. _DEFINED: the label of each column portfolio.DEFINITIONS defines.
COLUMNS = {
    "engagement": st.column_config.TextColumn("Engagement"),
    "go_live": st.column_config.DateColumn("Go-live", format="YYYY-MM-DD"),
    "days_since_go_live": st.column_config.NumberColumn("Days since go-live", format="%d"),
    "tickets": st.column_config.NumberColumn("Tickets", format="localized"),
    "open_sev12": st.column_config.NumberColumn("Open SEV-1/2", format="localized"),
    "resolution_sla": st.column_config.TextColumn("Resolution SLA met"),
    "mttr": st.column_config.TextColumn("MTTR median"),
    "criteria": st.column_config.TextColumn("Criteria passing"),
    "signoffs": st.column_config.TextColumn("Sign-offs"),
    "as_of": st.column_config.DatetimeColumn("As-of (UTC)", format="YYYY-MM-DD HH:mm"),
    "data": st.column_config.TextColumn("Data (first – last event)"),
}
_DEFINED = {"go_live": "Go-live", "days_since_go_live": "Days since go-live",
            "data_from / data_to": "Data (first – last event)", "tickets": "Tickets", "open_sev12": "Open SEV-1/2",
            "resolution_sla_pct": "Resolution SLA met", "mttr_median_h": "MTTR median",
            "criteria_passing": "Criteria passing", "signoffs": "Sign-offs", "as_of": "As-of"}


def definitions() -> list[tuple[str, str]]:
    """(column label, definition) for each column of the table, from portfolio.DEFINITIONS."""
    return [(_DEFINED.get(key, key), text) for key, text in portfolio.DEFINITIONS.items()]


@st.cache_data(show_spinner=False, max_entries=32, ttl=3600)
def _rows(_found: tuple[Engagement, ...], _cons: tuple, keys: tuple, minute: datetime) -> pd.DataFrame:
    by_slug = dict(zip((e.slug for e in _found), _cons))
    return portfolio.table(_found, lambda e: contextlib.nullcontext(by_slug[e.slug]))


def rows(found: list[Engagement]) -> pd.DataFrame:
    """portfolio.table over `found`, each computed on this process's copy of its own store."""
    cons = tuple(store_view.view(e.path).current() for e in found)
    # A new copy of any store (an upload, a sign-off) is a new key; the minute bounds "today".
    keys = tuple((e.slug, e.name, e.is_demo, state.con_key(c)) for e, c in zip(found, cons))
    return _rows(tuple(found), cons, keys, state.as_of_now())


def _with_n(value, n: int, unit: str) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:,.1f} {unit} (n {n:,})"


def _span(first, last) -> str:
    return "—" if first is None or pd.isna(first) else f"{first:%Y-%m-%d} – {last:%Y-%m-%d}"


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as the page shows them: one column per COLUMNS entry, counts as "k of n"."""
    out = pd.DataFrame({
        "engagement": [f"{n} (demo data)" if d else n for n, d in zip(df["name"], df["is_demo"])],
        "go_live": df["go_live"], "days_since_go_live": df["days_since_go_live"],
        "data": [_span(f, t) for f, t in zip(df["data_from"], df["data_to"])],
        "tickets": df["tickets"], "open_sev12": df["open_sev12"],
        "resolution_sla": [_with_n(v, n, "%") for v, n in zip(df["resolution_sla_pct"], df["resolution_sla_n"])],
        "mttr": [_with_n(v, n, "h") for v, n in zip(df["mttr_median_h"], df["mttr_n"])],
        "criteria": [f"{p} of {t}" for p, t in zip(df["criteria_passing"], df["criteria_total"])],
        "signoffs": [f"{s} of {r}" for s, r in zip(df["signoffs_signed"], df["signoffs_required"])],
        "as_of": df["as_of"],
    })
    return out[list(COLUMNS)]


def delete_demo(e: Engagement) -> str:
    """Delete the catalog's demo engagement `e`; returns what to tell."""
    engagements.delete(e.catalog, e.slug, state.actor())
    store_view.forget(e.path)
    state.data_changed()
    return f"Deleted the {e.name} engagement and its demo data."


def demo_of(found: list[Engagement]) -> Engagement | None:
    """The catalog's demo engagement, if it has one (an engagement's own store has no demo to delete)."""
    if not engagement_state.is_catalog():
        return None
    return next((e for e in found if e.is_demo), None)
