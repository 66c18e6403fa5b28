"""Streamlit edge for the SLA page: cached compliance counts, evaluation and ticket timelines."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import streamlit as st

from analytics.kpi.facts import period_of
from analytics.sla import agreement as sla_agreement
from analytics.sla import breakdown, compliance, engine
from analytics.sla import policy as sla_policy
from analytics.sla import timeline as sla_timeline
from analytics.store.filters import Filters
from analytics.store.periods import Period, undated
from ui.store_view import con_key

_CACHE = {"show_spinner": False, "max_entries": 16, "ttl": 600}


def period(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> Period:
    """The period the filters select (kpi.facts.period_of: the data's span without dates)."""
    return period_of(con, filters, as_of)


@st.cache_data(**_CACHE)
def _counts(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, as_of: datetime,
            grain: str | None, split: str | None) -> pd.DataFrame:
    return compliance.counts(_con, filters, period_of(_con, filters, as_of), grain=grain, split=split)


def counts(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime, *, grain: str | None = None,
           split: str | None = None) -> pd.DataFrame:
    """Cached `sla.compliance.counts` over the filters' period (the one SLA-compliance cohort)."""
    return _counts(con, con_key(con), filters, as_of, grain, split)


@st.cache_data(**_CACHE)
def _versions(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, as_of: datetime) -> list[str]:
    return compliance.versions_used(_con, filters, period_of(_con, filters, as_of))


def versions(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> list[str]:
    """Cached `sla.compliance.versions_used` of the filters' period."""
    return _versions(con, con_key(con), filters, as_of)


@st.cache_data(**_CACHE)
def _evaluate(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, as_of: datetime) -> pd.DataFrame:
    clause, params = undated(filters).where()
    end = period_of(_con, filters, as_of).end
    return engine.evaluate(_con, as_of=as_of, where=f"({clause}) AND opened_at < $end", params={**params, "end": end})


def evaluation(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> pd.DataFrame:
    """Cached `sla.engine.evaluate` of the filtered tickets (as_of is to the minute)."""
    return _evaluate(con, con_key(con), filters, as_of)


@st.cache_data(**_CACHE)
def _agreement(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, as_of: datetime,
               _frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    if not sla_agreement.compared_count(_con, filters):
        return None
    return sla_agreement.agreement(_con, filters, as_of, frame=_frame)


def agreement(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime,
              frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Cached `sla.agreement.agreement` from the page's evaluation `frame` (the same filters and
    as_of); None when no filtered ticket carries the source's own verdict."""
    return _agreement(con, con_key(con), filters, as_of, frame)


@st.cache_data(**_CACHE)
def _paused_by(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, as_of: datetime) -> pd.DataFrame:
    clause, params = filters.where()
    return breakdown.paused_by(_con, as_of=as_of, where=clause, params=params)


def paused_by(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> pd.DataFrame:
    """Cached `sla.breakdown.paused_by` of the filtered tickets."""
    return _paused_by(con, con_key(con), filters, as_of)


@st.cache_data(**_CACHE)
def _timeline(_con: duckdb.DuckDBPyConnection, con_key: int, ticket_id: str, as_of: datetime) -> dict:
    return sla_timeline.ticket_timeline(_con, ticket_id, as_of)


def timeline(con: duckdb.DuckDBPyConnection, ticket_id: str, as_of: datetime) -> dict:
    return _timeline(con, con_key(con), ticket_id, as_of)


def policy(con: duckdb.DuckDBPyConnection, day) -> sla_policy.Policy:
    """The policy version in force on `day` (its compliance target, the severities it sets no target for)."""
    return sla_policy.policy_in_force(sla_policy.policies(con), day)
