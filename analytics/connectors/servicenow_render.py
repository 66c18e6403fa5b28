"""ServiceNow incidents and their audit records → the rows of the incident event-log export that
the built-in profile servicenow-event-log reads: one row per update of an incident, carrying the
incident's fields as that update left them.

The incident record holds the fields after its last update. sys_audit holds, per update, the
fields it changed (oldvalue, newvalue) under the update's time (sys_created_on) and number
(record_checkpoint = the record's sys_mod_count then): walking the updates back from the record
and putting each changed field back to its oldvalue gives the fields after every earlier update.
Fields the audit does not track (opened_at, say) keep the record's value on every row, as the
export has them. Values are internal (a reference's sys_id, a choice's value, a UTC
"YYYY-MM-DD HH:MM:SS") until `Names` shows them as the export does (names, labels, D/M/YYYY HH:MM).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from analytics.connectors.base import RenderedFile, csv_bytes

PROFILE = "servicenow-event-log"
FILE_NAME = "servicenow-event-log-sync.csv"
# The export's columns, in its order; two carry other names than the fields they hold.
COLUMNS = ("number", "incident_state", "active", "reassignment_count", "reopen_count", "sys_mod_count",
           "made_sla", "caller_id", "opened_by", "opened_at", "sys_created_by", "sys_created_at",
           "sys_updated_by", "sys_updated_at", "contact_type", "location", "category", "subcategory",
           "u_symptom", "cmdb_ci", "impact", "urgency", "priority", "assignment_group", "assigned_to",
           "knowledge", "u_priority_confirmation", "notify", "problem_id", "rfc", "vendor", "caused_by",
           "closed_code", "resolved_by", "resolved_at", "closed_at")
FIELD_OF = {"sys_updated_at": "sys_updated_on", "sys_created_at": "sys_created_on"}
FIELDS = tuple(FIELD_OF.get(c, c) for c in COLUMNS)
DATETIMES = frozenset({"opened_at", "sys_created_on", "sys_updated_on", "resolved_at", "closed_at"})
# Reference fields: the table each points to and that table's display field.
REFERENCES: dict[str, tuple[str, str]] = {
    "caller_id": ("sys_user", "name"), "opened_by": ("sys_user", "name"), "assigned_to": ("sys_user", "name"),
    "resolved_by": ("sys_user", "name"), "location": ("cmn_location", "name"), "cmdb_ci": ("cmdb_ci", "name"),
    "assignment_group": ("sys_user_group", "name"), "problem_id": ("problem", "number"),
    "rfc": ("change_request", "number"), "caused_by": ("change_request", "number")}
CHOICES = ("incident_state", "priority", "impact", "urgency", "contact_type", "category", "subcategory",
           "u_symptom", "notify", "closed_code")
# incident_state values every instance shares: New, Resolved, Closed.
NEW, RESOLVED, CLOSED = "1", "6", "7"
EMPTY = "?"  # the export's empty cell


@dataclass
class Update:
    """One update of an incident as sys_audit tells it: when, its number, who, and what it changed."""

    at: str  # sys_created_on, internal UTC
    checkpoint: str  # record_checkpoint (the record's sys_mod_count after this update)
    user: str
    old: dict[str, str] = field(default_factory=dict)  # field → its value before this update

    @property
    def key(self) -> tuple[str, float]:
        try:
            return self.at, float(self.checkpoint)
        except ValueError:
            return self.at, float("inf")


def updates(record: Mapping[str, str], audits: Iterable[Mapping[str, str]]) -> list[Update]:
    """The record's updates, oldest first, up to the record's own (later ones are the next pull's)."""
    found: dict[tuple[str, str], Update] = {}
    for a in audits:
        at, checkpoint = a.get("sys_created_on") or "", a.get("record_checkpoint") or ""
        update = found.setdefault((at, checkpoint), Update(at, checkpoint, a.get("user") or ""))
        if a.get("fieldname") in FIELDS:
            update.old.setdefault(a["fieldname"], a.get("oldvalue") or "")
    mine = Update(record.get("sys_updated_on") or "", record.get("sys_mod_count") or "", "")
    # An audit written after the record was read belongs to an update this record does not show yet.
    kept = sorted((u for u in found.values() if u.key <= mine.key), key=lambda u: u.key)
    if not kept or kept[-1].key != mine.key:
        kept.append(mine)  # the record's last update changed nothing the audit tracks
    return kept


def events(record: Mapping[str, str], audits: Iterable[Mapping[str, str]]) -> list[dict[str, str]]:
    """The incident's fields (internal values) after each of its updates, oldest first."""
    values = {f: record.get(f) or "" for f in FIELDS}
    out: list[dict[str, str]] = []
    for update in reversed(updates(record, audits)):
        row = dict(values)
        if out:  # the newest row is the record itself
            row.update(sys_updated_on=update.at, sys_mod_count=update.checkpoint, sys_updated_by=update.user)
        out.append(row)
        values.update(update.old)
    return out[::-1]


def lifecycle(record: Mapping[str, str]) -> list[dict[str, str]]:
    """Without the audit: rows at opening (New) and at resolution (Resolved), then the record itself."""
    values = {f: record.get(f) or "" for f in FIELDS}
    opened, resolved, last = values["opened_at"], values["resolved_at"], values["sys_updated_on"]
    out: list[dict[str, str]] = []
    if opened and opened < last:
        out.append({**values, "incident_state": NEW, "sys_updated_on": opened, "sys_mod_count": "0",
                    "sys_updated_by": values["sys_created_by"]})
    if resolved and values["incident_state"] in (RESOLVED, CLOSED) and opened <= resolved < last:
        out.append({**values, "incident_state": RESOLVED, "sys_updated_on": resolved})
    return out + [values]


@lru_cache(maxsize=65536)  # the same times recur on every row of an incident
def export_time(value: str) -> str:
    """An internal UTC time as the export writes it: 29/2/2016 01:16 (its precision is the minute)."""
    at = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
    return f"{at.day}/{at.month}/{at.year} {at:%H:%M}"


@dataclass
class Names:
    """How the export shows internal values: a reference's name, a choice's label."""

    references: dict[str, str] = field(default_factory=dict)  # sys_id → name
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (field, value) → label

    def learn(self, fld: str, value: str, shown: str) -> None:
        """A pair the API showed (sysparm_display_value=all)."""
        if not value or shown == value:
            return
        if fld in REFERENCES:
            self.references.setdefault(value, shown)
        elif fld in CHOICES:
            self.labels.setdefault((fld, value), shown)

    def missing(self, rows: Iterable[Mapping[str, str]]) -> dict[str, set[str]]:
        """Referenced sys_ids with no name yet, by table."""
        out: dict[str, set[str]] = {}
        for row in rows:
            for fld, (table, _) in REFERENCES.items():
                value = row.get(fld)
                if value and value not in self.references:
                    out.setdefault(table, set()).add(value)
        return out

    def show(self, fld: str, value: str) -> str:
        if not value:
            return EMPTY
        if fld in DATETIMES:
            return export_time(value)
        if fld in REFERENCES:
            return self.references.get(value, value)
        # A choice value with no label is shown as it is, as ServiceNow does.
        return self.labels.get((fld, value), value) if fld in CHOICES else value


def render(histories: Iterable[list[dict[str, str]]], names: Names) -> RenderedFile:
    """The event-log file: each incident's rows, oldest first."""
    rows = ([names.show(f, row.get(f) or "") for f in FIELDS] for history in histories for row in history)
    return RenderedFile(PROFILE, FILE_NAME, csv_bytes(COLUMNS, rows))


__all__ = ["CHOICES", "COLUMNS", "DATETIMES", "FIELDS", "FILE_NAME", "PROFILE", "REFERENCES", "Names", "Update",
           "events", "export_time", "lifecycle", "render", "updates"]
