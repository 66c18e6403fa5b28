"""Jira Cloud issues and changelogs as export rows, in one of two shapes: Jira's issue CSV export
(profile jira-csv, keyed by issue key; the default) or the Public Jira Dataset's extract (profile
jira-public-dataset, keyed by instance and issue id); and one status-history row per status
change, keyed as the shape keys its issues (jira-changelog-keys or jira-changelog).

Times stay Jira's own text (2021-01-08T10:38:15.000-0600, the account's time zone, to the
millisecond): the profiles read the offset. A Jira CSV export has them to the minute in the
exporter's zone, so an export uploaded over a synced ticket is older and leaves it as it is
(unless it was updated on the exact minute). In the public-dataset shape users are accountIds,
Jira Cloud's stable user id (the dataset, from Jira Server, held usernames there); in the CSV
shape the display name, as Jira exports it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics.connectors.base import utc_naive

PUBLIC_COLUMNS: tuple[str, ...] = (
    "repo_name", "id", "timespent", "timeestimate", "created", "updated", "resolutiondate", "duedate", "labels",
    "subtasks", "comments", "comment_authors", "comment_datetime", "updated_author", "updated_datetime",
    "issue_link_count", "outward_count", "inward_count", "project_name", "issue_name", "priority", "votes",
    "watches", "log_change_count", "assignee_id", "assignee_active_status", "creator_id", "creator_active_status",
    "reporter_id", "reporter_active_status",
)
# Exactly what jira-csv reads, named and ordered as Jira's "Export CSV (all fields)" has them.
CSV_COLUMNS: tuple[str, ...] = (
    "Summary", "Issue key", "Issue Type", "Status", "Project name", "Priority", "Assignee", "Created", "Updated",
    "Resolved", "Fix Version/s", "Component/s", "Due Date",
)
_CHANGE = ("seq", "changelog_id", "created", "author_id", "from_status", "to_status")
# The issue fields the search asks for: what the columns hold, and the current status (the
# history's first status when the changelog has no status change).
PUBLIC_FIELDS: tuple[str, ...] = (
    "created", "updated", "resolutiondate", "duedate", "timespent", "timeestimate", "labels", "subtasks", "comment",
    "issuelinks", "project", "issuetype", "priority", "votes", "watches", "assignee", "creator", "reporter", "status",
)
CSV_FIELDS: tuple[str, ...] = (
    "summary", "issuetype", "status", "project", "priority", "assignee", "created", "updated", "resolutiondate",
    "fixVersions", "components", "duedate", "creator",
)


@dataclass(frozen=True)
class Shape:
    """One export shape: its profiles, columns and the fields it needs."""

    name: str  # the export_shape setting
    issue_profile: str
    history_profile: str
    issue_columns: tuple[str, ...]
    history_columns: tuple[str, ...]
    fields: tuple[str, ...]

    def issue_row(self, instance: str, issue: Mapping[str, Any]) -> dict[str, Any]:
        return csv_row(issue) if self.name == "jira-csv" else public_row(instance, issue)

    def issue_ids(self, instance: str, issue: Mapping[str, Any]) -> dict[str, Any]:
        """The history columns that name the issue as its tickets file does."""
        if self.name == "jira-csv":
            return {"Issue key": issue.get("key")}
        return {"repo_name": instance, "id": str(issue.get("id")), "issue_key": issue.get("key")}


SHAPES = {s.name: s for s in (
    Shape("jira-csv", "jira-csv", "jira-changelog-keys", CSV_COLUMNS, ("Issue key",) + _CHANGE, CSV_FIELDS),
    Shape("public-dataset", "jira-public-dataset", "jira-changelog", PUBLIC_COLUMNS,
          ("repo_name", "id", "issue_key") + _CHANGE, PUBLIC_FIELDS),
)}
DEFAULT_SHAPE = "jira-csv"


def jira_time(text: str | None) -> datetime | None:
    """A Jira time (offset without a colon, as Python 3.11 reads it too) as naive UTC."""
    return utc_naive(text) if text else None


def _name(value: Any, key: str = "name") -> str | None:
    return value.get(key) if isinstance(value, Mapping) else None


def _first(values: Any) -> str | None:
    # Jira's CSV repeats the column for each value (Component/s, Component/s); an upload reads the first.
    names = [_name(v) for v in values or [] if _name(v)]
    return names[0] if names else None


def csv_row(issue: Mapping[str, Any]) -> dict[str, Any]:
    """One issue as a row of Jira's CSV export (CSV_COLUMNS); the due date a date, as Jira has it."""
    f = issue.get("fields") or {}
    return {"Summary": f.get("summary"), "Issue key": issue.get("key"), "Issue Type": _name(f.get("issuetype")),
            "Status": _name(f.get("status")), "Project name": _name(f.get("project")),
            "Priority": _name(f.get("priority")), "Assignee": _name(f.get("assignee"), "displayName"),
            "Created": f.get("created"), "Updated": f.get("updated"), "Resolved": f.get("resolutiondate"),
            "Fix Version/s": _first(f.get("fixVersions")), "Component/s": _first(f.get("components")),
            "Due Date": f.get("duedate")}


def _float(value: Any) -> str | None:
    # The export writes its numbers as floats: 3600.0
    return None if value is None or value == "" else str(float(value))


def _user(value: Any) -> tuple[str | None, str | None]:
    """(accountId, "True" when active else empty), as the export writes them."""
    if not isinstance(value, Mapping):
        return None, None
    return value.get("accountId"), "True" if value.get("active") else None


def _listed(values: list) -> str:
    return repr([str(v) for v in values])  # the export's Python list notation: ['a', 'b']


def public_row(instance: str, issue: Mapping[str, Any]) -> dict[str, Any]:
    """One issue as the Public Jira Dataset's row (PUBLIC_COLUMNS); log_change_count stays empty
    (the changelog is read for status changes only)."""
    f = issue.get("fields") or {}
    comments = [c for c in ((f.get("comment") or {}).get("comments") or []) if isinstance(c, Mapping)]
    links = [x for x in f.get("issuelinks") or [] if isinstance(x, Mapping)]
    outward = sum(1 for x in links if "outwardIssue" in x)
    labels = [str(x) for x in f.get("labels") or []]
    row: dict[str, Any] = {
        "repo_name": instance, "id": str(issue.get("id")), "timespent": _float(f.get("timespent")),
        "timeestimate": _float(f.get("timeestimate")), "created": f.get("created"), "updated": f.get("updated"),
        "resolutiondate": f.get("resolutiondate"), "duedate": f.get("duedate"),
        "labels": _listed(labels) if labels else None, "subtasks": str(len(f.get("subtasks") or [])),
        "comments": str((f.get("comment") or {}).get("total", len(comments))),
        "comment_authors": _listed([_user(c.get("author"))[0] for c in comments]),
        "comment_datetime": _listed([c.get("created") for c in comments]),
        "updated_author": _listed([_user(c.get("updateAuthor"))[0] for c in comments]),
        "updated_datetime": _listed([c.get("updated") for c in comments]),
        "issue_link_count": str(len(links)), "outward_count": str(outward), "inward_count": str(len(links) - outward),
        "project_name": _name(f.get("project")), "issue_name": _name(f.get("issuetype")),
        "priority": _name(f.get("priority")), "votes": _float(_name(f.get("votes"), "votes")),
        "watches": _float(_name(f.get("watches"), "watchCount")), "log_change_count": None,
    }
    for role in ("assignee", "creator", "reporter"):
        row[f"{role}_id"], row[f"{role}_active_status"] = _user(f.get(role))
    return row


def _status_items(histories: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(history, status item) in time order, each history once (a page served twice is no change twice)."""
    unique = {str(h.get("id")): h for h in histories if isinstance(h, Mapping)}
    ordered = sorted(unique.values(), key=lambda h: (jira_time(h.get("created")) or datetime.min,
                                                     len(str(h.get("id"))), str(h.get("id"))))
    return [(h, item) for h in ordered for item in h.get("items") or []
            if isinstance(item, Mapping) and (item.get("fieldId") or item.get("field")) == "status"]


def history_rows(ids: Mapping[str, Any], issue: Mapping[str, Any],
                 histories: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The issue's status history (a shape's history_columns; `ids` its issue columns): the status
    it was created in, at its creation (the changelog records changes only: the first change's
    from-status, else the current status), then one row per status change."""
    f = issue.get("fields") or {}
    changes = _status_items(histories)
    first = changes[0][1].get("fromString") if changes else _name(f.get("status"))
    rows = [{**ids, "seq": 0, "created": f.get("created"), "author_id": _user(f.get("creator"))[0],
             "to_status": first}]
    rows += [{**ids, "seq": n, "changelog_id": h.get("id"), "created": h.get("created"),
              "author_id": _user(h.get("author"))[0], "from_status": item.get("fromString"),
              "to_status": item.get("toString")} for n, (h, item) in enumerate(changes, 1)]
    return rows


__all__ = ["CSV_COLUMNS", "DEFAULT_SHAPE", "PUBLIC_COLUMNS", "SHAPES", "Shape", "csv_row", "history_rows",
           "jira_time", "public_row"]
