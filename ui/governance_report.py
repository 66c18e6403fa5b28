"""Governance page part: build and download the monthly report (PDF, CSV pack, XLSX pack)."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd
import streamlit as st

from analytics.kpi.facts import period_of
from analytics.report import builder, pack, pdf
from analytics.store.filters import Filters
from ui import cache, engagement_state, page, widgets

_FORMATS = {
    "PDF report": ("pdf", "application/pdf"),
    "CSV data pack (zip)": ("zip", "application/zip"),
    "Excel data pack (xlsx)": ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}


def _months(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every month of the data's span (kpi.facts.period_of: first to last event of any kind),
    latest first: a month with resolutions but no openings has a report too."""
    if not con.cursor().execute("SELECT count(opened_at) FROM tickets").fetchall()[0][0]:
        return []
    period = period_of(con, Filters(), cache.as_of_now())
    last = period.end - timedelta(microseconds=1)
    months = pd.period_range(period.start, last, freq="M")
    return [f"{m:%Y-%m}" for m in reversed(months)]


def _whose() -> str:
    e = engagement_state.current()
    return f"{e.slug}-" if e is not None else ""


def monthly_report(con: duckdb.DuckDBPyConnection, filters: Filters) -> None:
    st.caption(widgets.escape_markdown(page.engagement_prefix()) +
               "The month's figures for the governance board. Page 1 is the decision: ready to exit hypercare?, "
               "the closure criteria, the KPIs against targets with their trend, the top risks and the sign-offs. "
               "Then the KPI detail, SLA compliance, trends, recurring clusters, PIR compliance, defect triage, "
               "the closure scorecard and every definition; the last page holds the provenance (inputs and "
               "their sha256). The same data, month, filters and as-of time give the same numbers, and the "
               "same inputs fingerprint.")
    months = _months(con)
    if not months:
        st.info("No dated tickets: nothing to report.", icon=":material/info:")
        return
    month = st.selectbox("Month", months, key="gov_report_month")
    used = {k: filters.values(k) for k in ("severity", "service", "team")}
    ignored = [k for k in ("source", "type", "status") if filters.values(k)]
    st.caption(widgets.escape_markdown(
        "Report filters (from the sidebar): " + (", ".join(f"{k} = {', '.join(v)}" for k, v in used.items() if v)
                                                 or "none") + "; the month replaces the sidebar's date range."
        + (f" Not applied to the report: {', '.join(ignored)}." if ignored else "")))
    fmt = st.radio("Format", list(_FORMATS), horizontal=True, key="gov_report_format")
    if st.button("Build report", key="gov_report_build", type="primary", icon=":material/description:"):
        ext, mime = _FORMATS[fmt]
        with st.spinner("Building the report (charts take a few seconds)…"):
            if ext == "pdf":  # Chromium (for the charts) starts while the figures are gathered
                _rep, data, error = pdf.build_pdf(con, month, **used)
                if error:
                    st.warning(widgets.escape_markdown(f"Charts could not be drawn ({error}); the PDF has "
                                                       "their data tables instead."), icon=":material/warning:")
            elif ext == "zip":
                data = pack.to_csv_zip(builder.build(con, month, **used))
            else:
                data = pack.to_xlsx(builder.build(con, month, **used))
        st.session_state["gov_report_file"] = (_whose(), f"hypercare-report-{_whose()}{month}.{ext}", data, mime, fmt)
    built = st.session_state.get("gov_report_file")
    if built and built[0] == _whose():  # a report built for another engagement is not offered here
        _, name, data, mime, label = built
        st.download_button(f"Download {label} ({len(data) / 1024:,.0f} KB)", data=data, file_name=name, mime=mime,
                           key="gov_report_download", icon=":material/download:", on_click="ignore")
        st.caption(widgets.escape_markdown(f"Built {name} on {date.today():%Y-%m-%d}."))
