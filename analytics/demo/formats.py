"""Output formats of the demo data: the canonical CSV writer, the Arrow column builders the
generator builds its columns with, and vendor-shaped renderings of demo tickets (for importer
round-trip tests and sample uploads).

Each renderer takes the canonical tickets frame (from `demo.generator.generate` or the store) and returns
the frame a vendor's CSV export of the same tickets would hold. They are table-driven: an
ordered mapping of output column → canonical column or a function of the frame, plus the value
maps. Times are UTC in the canonical frame; `tz` renders them as an exporting user would see
them (ServiceNow and Jira print local wall clock without an offset, PagerDuty prints an offset).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

# The demo's on-call zone (same as analytics.demo.calendar.DEMO_TIMEZONE). Defined here because
# analytics.demo.generator imports this module, so this module must not import demo.
PAGERDUTY_TZ = "America/New_York"

Column = str | Callable[[pd.DataFrame], pd.Series]


def canonical_csv_writer(fh, schema: pa.Schema) -> tuple[pacsv.CSVWriter, pa.Schema]:
    """A streaming writer of the canonical CSV format to the binary file `fh`, and the schema
    to cast each table to before `write_table`. The header is written by hand so it is the bare
    field names (Arrow would quote them); timestamp[s] prints as 'YYYY-MM-DD HH:MM:SS'; nulls
    become empty cells; Arrow quotes every string cell, so commas and quotes in titles are safe."""
    out = pa.schema([pa.field(f.name, pa.timestamp("s")) if pa.types.is_timestamp(f.type) else f for f in schema])
    fh.write((",".join(schema.names) + "\n").encode())
    opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    return pacsv.CSVWriter(fh, out, write_options=opts), out


# --- Arrow encoding: building string columns without a Python object per row -------------------

def arrow_strings(codes: np.ndarray, names, mask: np.ndarray | None = None) -> pa.Array:
    """Integer codes → strings through a dictionary; `mask` marks nulls."""
    idx = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(idx, pa.array(list(names), pa.string())).cast(pa.string())


def arrow_concat(*parts) -> pa.Array:
    """Element-wise concatenation of string arrays and scalars."""
    return pc.binary_join_element_wise(*parts, "")


def arrow_int_strings(values: np.ndarray, width: int = 0) -> pa.Array:
    s = pc.cast(pa.array(values), pa.string())
    return pc.utf8_lpad(s, width=width, padding="0") if width else s


def arrow_null_unless(mask: np.ndarray, values: pa.Array) -> pa.Array:
    return pc.if_else(pa.array(mask), values, pa.nulls(len(mask), pa.string()))


def arrow_values(origin: np.datetime64, values, typ: pa.DataType) -> pa.Array:
    """A column of type `typ` from numpy values (an Arrow array passes through); timestamps
    come as float seconds from `origin`, NaN meaning null."""
    if isinstance(values, pa.Array):
        return values
    if pa.types.is_timestamp(typ):
        us = origin.astype("datetime64[us]").astype(np.int64) + np.nan_to_num(values).astype(np.int64) * 10**6
        return pa.array(us, typ, mask=np.isnan(values))
    return pa.array(values, typ)


# --- vendor renderings -----------------------------------------------------------------------

def _render(t: pd.DataFrame, columns: dict[str, Column]) -> pd.DataFrame:
    return pd.DataFrame({name: (t[src] if isinstance(src, str) else src(t)) for name, src in columns.items()},
                        index=t.index).reset_index(drop=True)


def _number(t: pd.DataFrame) -> pd.Series:
    """The trailing number of external_id ("HC-000123" → 123)."""
    return t["external_id"].str.extract(r"(\d+)$", expand=False).astype("int64")


def _local(s: pd.Series, tz: str) -> pd.Series:
    return s.dt.tz_localize("UTC").dt.tz_convert(tz)


def _stamp(col: str, fmt: str = "%Y-%m-%d %H:%M:%S", tz: str = "UTC") -> Callable[[pd.DataFrame], pd.Series]:
    return lambda t: _local(t[col], tz).dt.strftime(fmt)


def _mapped(col: str, mapping: dict) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda t: t[col].map(mapping)


# --- ServiceNow ------------------------------------------------------------------------------
# Based on the incident table's field names (number, short_description, state, priority,
# opened_at, resolved_at, closed_at, assignment_group, assigned_to, category, cmdb_ci,
# business_service, problem_id, rfc, close_code, reopen_count, reassignment_count), which a list
# view's "Export > CSV" uses as the header, and on the display values of the UCI ServiceNow
# event log in shared/data/real ("1 - Critical".."4 - Low") and the incident state choices
# New / In Progress / On Hold / Resolved / Closed / Canceled. u_first_response is a custom
# field (instances commonly add one for the response SLA); sys_created_on mirrors opened_at.
SN_STATE = {"New": "New", "In Progress": "In Progress", "Reopened": "In Progress",
            "Awaiting Customer": "On Hold", "On Hold": "On Hold", "Resolved": "Resolved",
            "Closed": "Closed", "Cancelled": "Canceled"}
SN_PRIORITY = {"SEV-1": "1 - Critical", "SEV-2": "2 - High", "SEV-3": "3 - Moderate", "SEV-4": "4 - Low"}


def _sn_close_code(t: pd.DataFrame) -> pd.Series:
    done = t["status_category"].isin(["resolved", "closed"])
    code = np.select([t["problem_id"].notna(), t["root_cause"].eq("User error")],
                     ["Solved (Work Around)", "Closed/Resolved by Caller"], "Solved (Permanently)")
    return pd.Series(code, index=t.index).where(done)


def to_servicenow_list(tickets: pd.DataFrame, tz: str = "UTC") -> pd.DataFrame:
    """ServiceNow incident list export; times 'YYYY-MM-DD HH:MM:SS' in `tz` (the user's zone)."""
    ts = lambda c: _stamp(c, tz=tz)  # noqa: E731
    return _render(tickets, {
        "number": lambda t: "INC" + _number(t).astype(str).str.zfill(7),
        "short_description": "title",
        "priority": _mapped("severity", SN_PRIORITY),
        "state": _mapped("status", SN_STATE),
        "opened_at": ts("opened_at"),
        "sys_created_on": ts("opened_at"),
        "resolved_at": ts("resolved_at"),
        "closed_at": ts("closed_at"),
        "assignment_group": "team",
        "assigned_to": "assignee",
        "category": "category",
        "cmdb_ci": "component",
        "business_service": "service",
        "reopen_count": "reopen_count",
        "reassignment_count": "reassignment_count",
        "problem_id": "problem_id",
        "rfc": "change_id",
        "close_code": _sn_close_code,
        "u_first_response": ts("acknowledged_at"),
    })


# --- Jira Cloud ----------------------------------------------------------------------------
# Based on the header of Jira's "Export CSV (all fields)" as seen in public importer test
# fixtures copied from real exports (Summary, Issue key, Issue id, Issue Type, Status,
# Project key, Project name, Project type, ..., Priority, Resolution, Assignee, ..., Created,
# Updated, ..., Resolved, Component/s, ..., Labels) with dates like "14/Jul/25 3:42 PM"
# (dd/MMM/yy h:mm a). Real exports repeat multi-value columns (Labels, Labels); we emit one.
JIRA_TYPE = {"incident": "Incident", "defect": "Bug", "enhancement": "Improvement",
             "question": "Question", "service_request": "Task"}
JIRA_STATUS = {"New": "Open", "In Progress": "In Progress", "Reopened": "Reopened",
               "Awaiting Customer": "Waiting for customer", "On Hold": "Pending",
               "Resolved": "Resolved", "Closed": "Closed", "Cancelled": "Canceled"}
JIRA_PRIORITY = {"SEV-1": "Highest", "SEV-2": "High", "SEV-3": "Medium", "SEV-4": "Low"}
JIRA_RESOLUTION = {"Resolved": "Done", "Closed": "Done", "Cancelled": "Won't Do"}
JIRA_DATE = "%d/%b/%y %I:%M %p"


def _jira_date(s: pd.Series, tz: str) -> pd.Series:
    # %I pads the hour ("09:05 AM"); Jira prints "9:05 AM".
    return _local(s, tz).dt.strftime(JIRA_DATE).str.replace(r" 0(\d:)", r" \1", regex=True)


def _jira_priority(t: pd.DataFrame) -> pd.Series:
    # Enhancements parked for a later release get Jira's bottom priority.
    low = t["severity"].eq("SEV-4") & t["type"].eq("enhancement")
    return t["severity"].map(JIRA_PRIORITY).mask(low, "Lowest")


def _jira_updated(t: pd.DataFrame) -> pd.Series:
    return t[["opened_at", "acknowledged_at", "resolved_at", "closed_at", "mitigated_at"]].max(axis=1)


def to_jira_csv(tickets: pd.DataFrame, tz: str = "UTC") -> pd.DataFrame:
    """Jira Cloud "Export CSV (all fields)" shape; dates "dd/MMM/yy h:mm a" in `tz`."""
    # Jira stamps a resolution date on Won't Do too, so cancelled tickets carry one.
    resolved = lambda t: t["resolved_at"].where(t["status"] != "Cancelled", t["closed_at"])  # noqa: E731
    return _render(tickets, {
        "Summary": "title",
        "Issue key": lambda t: "HC-" + _number(t).astype(str),
        "Issue id": lambda t: _number(t) + 10000,
        "Issue Type": _mapped("type", JIRA_TYPE),
        "Status": _mapped("status", JIRA_STATUS),
        "Project key": lambda t: pd.Series("HC", index=t.index),
        "Project name": lambda t: pd.Series("Hypercare", index=t.index),
        "Project type": lambda t: pd.Series("service_desk", index=t.index),
        "Priority": _jira_priority,
        "Resolution": _mapped("status", JIRA_RESOLUTION),
        "Assignee": "assignee",
        "Created": lambda t: _jira_date(t["opened_at"], tz),
        "Updated": lambda t: _jira_date(_jira_updated(t), tz),
        "Resolved": lambda t: _jira_date(resolved(t), tz),
        "Component/s": "component",
        "Labels": lambda t: t["service"].str.lower().str.replace(" ", "-"),
    })


# --- PagerDuty -----------------------------------------------------------------------------
# Based on PagerDuty's incidents report CSV as read by PagerDuty's own reporting samples
# (id, incident_number, description, service_id/service_name, escalation_policy, created_on,
# resolved_on, urgency, seconds_to_first_ack, seconds_to_resolve) and the incident object of the
# REST API (title, status triggered/acknowledged/resolved, urgency high/low, priority P1..P5,
# teams). PagerDuty holds incidents only, so other ticket types are left out.
PD_PRIORITY = {"SEV-1": "P1", "SEV-2": "P2", "SEV-3": "P3", "SEV-4": "P4"}
_B36 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"))


def _pd_id(t: pd.DataFrame) -> pd.Series:
    # PagerDuty ids look like "Q0RIJJZL24RC6W" / "PT4KHLK": deterministic base-36 scramble here.
    x = (_number(t).to_numpy() * 2_654_435_761) % 36**6
    digits = [_B36[(x // 36**k) % 36] for k in range(5, -1, -1)]
    return pd.Series(["Q"] * len(t), index=t.index).str.cat([pd.Series(d, index=t.index) for d in digits])


def _iso_offset(s: pd.Series, tz: str) -> pd.Series:
    return _local(s, tz).dt.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)(\d\d)$", r"\1:\2", regex=True)


def _pd_status(t: pd.DataFrame) -> pd.Series:
    done = t["status_category"].isin(["resolved", "closed", "cancelled"])
    return pd.Series(np.select([done, t["acknowledged_at"].notna()], ["resolved", "acknowledged"], "triggered"),
                     index=t.index)


def _pd_resolved(t: pd.DataFrame) -> pd.Series:
    # PagerDuty always has a resolve time for a resolved incident (auto-resolve included).
    return t["resolved_at"].fillna(t["closed_at"]).where(t["status_category"] != "open")


def _seconds(a: pd.Series, b: pd.Series) -> pd.Series:
    return ((b - a).dt.total_seconds()).round().astype("Int64")


def to_pagerduty_csv(tickets: pd.DataFrame, tz: str = PAGERDUTY_TZ) -> pd.DataFrame:
    """PagerDuty incidents CSV (incident-type tickets only); times ISO 8601 with the `tz` offset."""
    inc = tickets[tickets["type"] == "incident"]
    return _render(inc, {
        "id": _pd_id,
        "incident_number": _number,
        "title": "title",
        "description": "title",
        "status": _pd_status,
        "urgency": lambda t: pd.Series(np.where(t["severity"].isin(["SEV-1", "SEV-2"]), "high", "low"),
                                       index=t.index),
        # Responders often leave low-urgency incidents without a priority.
        "priority": lambda t: t["severity"].map(PD_PRIORITY).mask(t["severity"].eq("SEV-4") & (_number(t) % 3 == 0)),
        "service_name": "service",
        "escalation_policy": lambda t: t["service"] + " Escalation Policy",
        "team_names": "team",
        "assigned_to": "assignee",
        "created_on": lambda t: _iso_offset(t["opened_at"], tz),
        "acknowledged_on": lambda t: _iso_offset(t["acknowledged_at"], tz),
        "resolved_on": lambda t: _iso_offset(_pd_resolved(t), tz),
        "seconds_to_first_ack": lambda t: _seconds(t["opened_at"], t["acknowledged_at"]),
        "seconds_to_resolve": lambda t: _seconds(t["opened_at"], _pd_resolved(t)),
    })
