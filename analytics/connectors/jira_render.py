"""Jira Cloud issues and changelogs as export rows: the Public Jira Dataset's columns (profile
jira-public-dataset) and one status-history row per status change (profile jira-changelog).

Times stay Jira's own text (2021-01-08T10:38:15.000-0600, the account's time zone): the
profiles read the offset, as they do in the export. Users are accountIds, Jira Cloud's
stable user id (the export, from Jira Server, held usernames there).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from analytics.connectors.base import utc_naive

ISSUE_PROFILE = "jira-public-dataset"
HISTORY_PROFILE = "jira-changelog"
ISSUE_COLUMNS: tuple[str, ...] = (
    "repo_name", "id", "timespent", "timeestimate", "created", "updated", "resolutiondate", "duedate", "labels",
    "subtasks", "comments", "comment_authors", "comment_datetime", "updated_author", "updated_datetime",
    "issue_link_count", "outward_count", "inward_count", "project_name", "issue_name", "priority", "votes",
    "watches", "log_change_count", "assignee_id", "assignee_active_status", "creator_id", "creator_active_status",
    "reporter_id", "reporter_active_status",
)
# The issue fields the search asks for: what ISSUE_COLUMNS hold, and the current status (the
# history's first status when the changelog has no status change).
FIELDS: tuple[str, ...] = (
    "created", "updated", "resolutiondate", "duedate", "timespent", "timeestimate", "labels", "subtasks", "comment",
    "issuelinks", "project", "issuetype", "priority", "votes", "watches", "assignee", "creator", "reporter", "status",
)
HISTORY_COLUMNS: tuple[str, ...] = (
    "repo_name", "id", "issue_key", "seq", "changelog_id", "created", "author_id", "from_status", "to_status",
)


def jira_time(text: str | None) -> datetime | None:
    """A Jira time (offset without a colon, as Python 3.11 reads it too) as naive UTC."""
    return utc_naive(text) if text else None


def _name(value: Any, key: str = "name") -> str | None:
    return value.get(key) if isinstance(value, Mapping) else None


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


def issue_row(instance: str, issue: Mapping[str, Any]) -> list[str | None]:
    """One issue as the export's row (ISSUE_COLUMNS); log_change_count stays empty (the changelog
    is read for status changes only)."""
    f = issue.get("fields") or {}
    comments = [c for c in ((f.get("comment") or {}).get("comments") or []) if isinstance(c, Mapping)]
    links = [x for x in f.get("issuelinks") or [] if isinstance(x, Mapping)]
    outward = sum(1 for x in links if "outwardIssue" in x)
    users = {role: _user(f.get(role)) for role in ("assignee", "creator", "reporter")}
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
    for role, (account, active) in users.items():
        row[f"{role}_id"], row[f"{role}_active_status"] = account, active
    return [row[c] for c in ISSUE_COLUMNS]


def _status_items(histories: Iterable[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(history, status item) in time order, each history once (a page served twice is no change twice)."""
    unique = {str(h.get("id")): h for h in histories if isinstance(h, Mapping)}
    ordered = sorted(unique.values(), key=lambda h: (jira_time(h.get("created")) or datetime.min,
                                                     len(str(h.get("id"))), str(h.get("id"))))
    return [(h, item) for h in ordered for item in h.get("items") or []
            if isinstance(item, Mapping) and (item.get("fieldId") or item.get("field")) == "status"]


def history_rows(instance: str, issue: Mapping[str, Any], histories: Iterable[Mapping[str, Any]]) -> list[list]:
    """The issue's status history (HISTORY_COLUMNS): the status it was created in, at its
    creation (the changelog records changes only: the first change's from-status, else the
    current status), then one row per status change."""
    f = issue.get("fields") or {}
    changes = _status_items(histories)
    first = changes[0][1].get("fromString") if changes else _name(f.get("status"))
    base = [instance, str(issue.get("id")), issue.get("key")]
    rows = [base + [0, None, f.get("created"), _user(f.get("creator"))[0], None, first]]
    rows += [base + [n, h.get("id"), h.get("created"), _user(h.get("author"))[0], item.get("fromString"),
                     item.get("toString")] for n, (h, item) in enumerate(changes, 1)]
    return rows


__all__ = ["FIELDS", "HISTORY_COLUMNS", "HISTORY_PROFILE", "ISSUE_COLUMNS", "ISSUE_PROFILE", "history_rows",
           "issue_row", "jira_time"]
