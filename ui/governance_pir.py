"""Governance page parts: post-incident reviews (with the PIR register upload) and defect triage."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import streamlit as st

from analytics.governance import defect_triage, pir, pir_register
from analytics.store.auth import Permission
from analytics.store.filters import Filters
from ui import auth as ui_auth
from ui import cache, connection, store_view, widgets


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _pir(_con: duckdb.DuckDBPyConnection, con_key: int, what: str, filters: Filters, as_of: datetime):
    return {"summary": pir.summary, "reviews": pir.reviews, "actions": pir.actions}[what](_con, filters, as_of)


@st.cache_data(show_spinner=False, max_entries=64, ttl=3600)
def _triage(_con: duckdb.DuckDBPyConnection, con_key: int, what: str, filters: Filters, as_of: datetime | None):
    if what == "tag_split":
        return defect_triage.tag_split(_con, filters, as_of)
    return {"summary": defect_triage.summary, "evaluate": defect_triage.evaluate}[what](_con, filters, as_of)


def _pct(value: float | None) -> str:
    return "not measurable" if value is None else f"{value:.1f} %"


def _days(value: float | None) -> str:
    return "none open" if value is None else f"{value:,.1f} days"


def reviews(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> None:
    s = _pir(con, store_view.con_key(con), "summary", filters, as_of)
    st.caption(widgets.escape_markdown(s["definition"]))
    c = st.columns(4)
    c[0].metric("Coverage", _pct(s["coverage_pct"]), help=f"{s['completed']:,} of {s['required']:,} required "
                "reviews completed")
    c[1].metric("On time", _pct(s["on_time_pct"]), help=f"{s['done_on_time']:,} on time; denominator: completed "
                "plus overdue")
    c[2].metric("Overdue", f"{s['overdue']:,}", help=f"{s['not_yet_due']:,} more are not yet due")
    c[3].metric("Action items closed", _pct(s["action_closure_pct"]) if s["actions_total"] else "no items",
                help=f"{s['actions_closed']:,} of {s['actions_total']:,}; open items: median age "
                f"{_days(s['open_action_median_age_days'])}, oldest {_days(s['oldest_open_action_days'])}")
    if s.get("not_measurable_reason"):
        st.info(widgets.escape_markdown(s["not_measurable_reason"]), icon=":material/info:")
    if s["excluded"]:
        st.caption(widgets.escape_markdown("Excluded: " + "; ".join(f"{label}: {n:,}" for label, n in s["excluded"])))
    rows = _pir(con, store_view.con_key(con), "reviews", filters, as_of)
    overdue = rows[rows["state"] == "overdue"]
    tabs = st.tabs([f"Overdue ({len(overdue):,})", f"All required reviews ({len(rows):,})", "Action items"])
    with tabs[0]:
        widgets.table(overdue, alt="Overdue post-incident reviews", key="gov_pir_overdue")
        widgets.download_csv(overdue, "pir_overdue.csv", key="gov_pir_overdue_csv", label="Download overdue (CSV)")
    with tabs[1]:
        widgets.table(rows, alt="Tickets that require a post-incident review", key="gov_pir_all")
        widgets.download_csv(rows, "pir_reviews.csv", key="gov_pir_all_csv", label="Download reviews (CSV)")
    with tabs[2]:
        acts = _pir(con, store_view.con_key(con), "actions", filters, as_of)
        widgets.table(acts, alt="PIR action items", key="gov_pir_actions")
        widgets.download_csv(acts, "pir_actions.csv", key="gov_pir_actions_csv", label="Download actions (CSV)")
    register_upload(con)


def register_upload(con: duckdb.DuckDBPyConnection) -> None:
    with st.expander("PIR register: upload completions and action items", icon=":material/upload_file:"):
        st.caption("CSV with one row per action item: ticket id, completed date, action, owner, due date, "
                   "closed date (a row with only ticket id and completed date is a review without actions). "
                   "The latest register naming a ticket counts; the same file twice changes nothing.")
        may_upload = ui_auth.allowed(Permission.UPLOAD)
        up = st.file_uploader("PIR register (CSV or XLSX)", type=["csv", "xlsx"], key="gov_pir_file",
                              disabled=not may_upload)
        if up is not None and st.button("Load register", key="gov_pir_load", type="primary", disabled=not may_upload):
            try:
                with connection.writing() as w:
                    res = pir_register.ingest_register(w, data=up.getvalue(), name=up.name, actor=ui_auth.actor())
            except (ValueError, PermissionError) as exc:
                st.error(widgets.escape_markdown(exc), icon=":material/error:")
            else:
                cache.data_changed()
                for msg in res.messages:
                    st.info(widgets.escape_markdown(msg), icon=":material/info:")
        regs = pir_register.registers(con)
        widgets.table(regs, alt="Uploaded PIR registers", key="gov_pir_registers")
        if not regs.empty:
            reg_id = st.selectbox("Rejected rows of register", regs["register_id"].tolist(), key="gov_pir_reg")
            rej = pir_register.rejects(con, int(reg_id))
            widgets.table(rej, alt="Rows of the register that could not be loaded", key="gov_pir_rejects")


def triage(con: duckdb.DuckDBPyConnection, filters: Filters, as_of: datetime) -> None:
    st.caption(widgets.escape_markdown(defect_triage.DEFINITION))
    summary = _triage(con, store_view.con_key(con), "summary", filters, as_of)
    summary = summary.assign(excluded=summary["excluded"].map(
        lambda pairs: "; ".join(f"{label}: {n:,}" for label, n in pairs) or "none"))
    widgets.table(summary, alt="Defect triage targets met per class", key="gov_triage")
    widgets.download_csv(summary, "defect_triage.csv", key="gov_triage_csv", label="Download triage summary (CSV)")
    st.markdown("**Tickets by tag**")
    split = _triage(con, store_view.con_key(con), "tag_split", filters, as_of)
    widgets.table(split, alt="Tickets by tag bug, enhancement, question", key="gov_tags")
    with st.expander("Defects, one row each"):
        rows: pd.DataFrame = _triage(con, store_view.con_key(con), "evaluate", filters, as_of)
        widgets.table(rows, alt="Defects with their triage targets", key="gov_defects")
        widgets.download_csv(rows, "defects.csv", key="gov_defects_csv", label="Download defects (CSV)")
