"""Streamlit edge for the KPI cards and trends: cached calls into analytics.kpi.kpis / kpi_trends."""

from __future__ import annotations

from datetime import datetime

import duckdb
import streamlit as st

from analytics.kpi import kpis, registry, trends
from analytics.store.filters import Filters
from ui.store_view import con_key

_CACHE = {"show_spinner": False, "max_entries": 64, "ttl": 3600}


@st.cache_data(**_CACHE)
def _results(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, as_of: datetime) -> dict:
    return kpis.results(_con, filters, as_of, keys=registry.CARD_KEYS)


def card_results(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> dict:
    """The Overview's KPI cards for the filtered period (cached per filter and minute)."""
    return _results(con, con_key(con), filters, as_of)


@st.cache_data(**_CACHE)
def _trend(_con: duckdb.DuckDBPyConnection, con_key: int, filters: Filters, key: str, grain: str, split: str,
           as_of: datetime):
    return trends.trend(_con, filters, key, grain, split, as_of)


def trend(con: duckdb.DuckDBPyConnection, filters: Filters, key: str, grain: str, split: str, as_of: datetime):
    return _trend(con, con_key(con), filters, key, grain, split, as_of)


@st.cache_data(show_spinner=False, max_entries=8, ttl=3600)
def _targets(_con: duckdb.DuckDBPyConnection, con_key: int) -> dict:
    return registry.targets(_con)


def targets(con: duckdb.DuckDBPyConnection) -> dict:
    return _targets(con, con_key(con))
