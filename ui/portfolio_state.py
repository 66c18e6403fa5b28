"""Portfolio page parts: the engagements' rows (cached per store copy), the table shown, deleting the demo."""

from __future__ import annotations

import contextlib
from datetime import datetime

import pandas as pd
import streamlit as st

from analytics import engagements, portfolio
from analytics.engagements import Engagement
from ui import engagement_state, state, store_view

# Shown columns: name -> (label, column config). Units are in the labels.
COLUMNS = {
    "engagement": st.column_config.TextColumn("Engagement"),
    "go_live": st.column_config.DateColumn("Go-live", format="YYYY-MM-DD"),
    "days_since_go_live": st.column_config.NumberColumn("Days since go-live", format="%d"),
    "data_from": st.column_config.DateColumn("Data from", format="YYYY-MM-DD"),
    "data_to": st.column_config.DateColumn("Data to", format="YYYY-MM-DD"),
    "tickets": st.column_config.NumberColumn("Tickets", format="localized"),
    "open_sev12": st.column_config.NumberColumn("Open SEV-1/2 at as-of", format="localized"),
    "resolution_sla": st.column_config.TextColumn("Resolution SLA met (%, n)"),
    "mttr": st.column_config.TextColumn("MTTR median (hours, n)"),
    "criteria": st.column_config.TextColumn("Closure criteria passing"),
    "signoffs": st.column_config.TextColumn("Sign-offs signed"),
    "as_of": st.column_config.DatetimeColumn("Governance as-of (UTC)", format="YYYY-MM-DD HH:mm"),
}


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


def _with_n(value, n: int, digits: int) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:,.{digits}f} (n = {n:,})"


def shown(df: pd.DataFrame) -> pd.DataFrame:
    """The rows as the page shows them: one column per COLUMNS entry, counts as "k of n"."""
    out = pd.DataFrame({
        "engagement": [f"{n} (demo data)" if d else n for n, d in zip(df["name"], df["is_demo"])],
        **{c: df[c] for c in ("go_live", "days_since_go_live", "data_from", "data_to", "tickets", "open_sev12")},
        "resolution_sla": [_with_n(v, n, 1) for v, n in zip(df["resolution_sla_pct"], df["resolution_sla_n"])],
        "mttr": [_with_n(v, n, 1) for v, n in zip(df["mttr_median_h"], df["mttr_n"])],
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
