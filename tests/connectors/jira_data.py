"""The issues and changelogs of the Jira test server (jira_server.py), built from rows of the Public
Jira Dataset export: a status history consistent with each issue, and changes a test makes."""

from __future__ import annotations

import ast
import random
import re
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

API = "/rest/api/3"


def jira_time(at: datetime, zone: ZoneInfo) -> str:
    """Jira's REST time format in `zone`: 2021-01-08T10:38:15.000-0600."""
    local = at.astimezone(zone)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}" + local.strftime("%z")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)  # Python 3.11 reads Jira's 2021-01-08T16:38:15.000+0000


def _user(name: str, active: str = "") -> dict | None:
    # Jira Cloud has no usernames: the dataset's username stands in for the accountId.
    return {"accountId": name, "displayName": f"{name.title()} (Apache)", "active": active == "True",
            "accountType": "atlassian"} if name else None


def _number(text: str) -> int | None:
    return int(float(text)) if text else None


def _project_key(name: str, taken: dict[str, str]) -> str:
    if name not in taken:
        base = re.sub(r"[^A-Z]", "", name.upper())[:8] or "P"
        key, n = base, 1
        while key in taken.values():
            n += 1
            key = f"{base}{n}"
        taken[name] = key
    return taken[name]


def _item(field: str, old: str | None, new: str | None) -> dict:
    return {"field": field, "fieldtype": "jira", "fieldId": field, "from": None, "fromString": old, "to": None,
            "toString": new}


def _category(status: str) -> str:
    return {"Open": "new", "Reopened": "new", "Resolved": "done", "Closed": "done"}.get(status, "indeterminate")


def utc(text: str) -> datetime:
    """A Jira time as naive UTC (what the store holds)."""
    return parse_time(text).astimezone(timezone.utc).replace(tzinfo=None)


class IssueData:
    """A site's issues (by key) and changelogs (by issue id, oldest first), in the account's zone."""

    def __init__(self, rows: list[dict[str, str]], zone: ZoneInfo) -> None:
        self.zone = zone
        self.lock = threading.Lock()
        self.issues: dict[str, dict] = {}
        self.histories: dict[str, list[dict]] = {}
        self._history_id = 100_000
        projects: dict[str, str] = {}
        counters: dict[str, int] = {}
        for row in sorted(rows, key=lambda r: parse_time(r["created"])):
            pkey = _project_key(row["project_name"], projects)
            counters[pkey] = counters.get(pkey, 0) + 1
            self._add(row, pkey, counters[pkey])

    def _add(self, row: dict[str, str], pkey: str, number: int) -> None:
        z = self.zone
        created, updated = parse_time(row["created"]), parse_time(row["updated"])
        resolved = parse_time(row["resolutiondate"]) if row["resolutiondate"] else None
        authors = ast.literal_eval(row["comment_authors"] or "[]")
        comments = [{"id": str(i), "author": _user(a), "created": jira_time(parse_time(c), z),
                     "updateAuthor": _user(ua), "updated": jira_time(parse_time(u), z)}
                    for i, (a, c, ua, u) in enumerate(zip(authors, *(ast.literal_eval(row[k] or "[]") for k in (
                        "comment_datetime", "updated_author", "updated_datetime"))))]
        links = [{"id": str(i), "type": {"name": "Relates"}, "outwardIssue": {"key": "X-1"}}
                 for i in range(int(row["outward_count"] or 0))]
        links += [{"id": str(100 + i), "type": {"name": "Relates"}, "inwardIssue": {"key": "X-2"}}
                  for i in range(int(row["inward_count"] or 0))]
        key, issue_id = f"{pkey}-{number}", row["id"]
        statuses = self._changelog(issue_id, created, resolved, updated)
        final = statuses[-1] if statuses else "Open"
        # The dataset has no components or fix versions: up to two of each, drawn per issue.
        rng = random.Random(-int(issue_id))
        components = [{"id": str(n), "name": f"{pkey.lower()}-{n}"} for n in rng.sample(range(1, 6), rng.randrange(3))]
        versions = [{"id": str(n), "name": f"{n}.0", "released": True} for n in sorted(rng.sample(range(1, 9), 2))]
        self.issues[key] = {"id": issue_id, "key": key, "self": f"{API}/issue/{issue_id}", "fields": {
            "summary": f"{row['issue_name']} {key}", "issuetype": {"name": row["issue_name"]},
            "project": {"key": pkey, "name": row["project_name"]},
            "priority": {"name": row["priority"]} if row["priority"] else None,
            "status": {"name": final, "statusCategory": {"key": _category(final)}},
            "resolution": {"name": "Fixed"} if resolved else None,
            "created": jira_time(created, z), "updated": jira_time(updated, z),
            "resolutiondate": jira_time(resolved, z) if resolved else None,
            "duedate": row["duedate"] or None, "timespent": _number(row["timespent"]),
            "timeestimate": _number(row["timeestimate"]),
            "labels": ast.literal_eval(row["labels"]) if row["labels"] else [],
            "subtasks": [{"id": f"{issue_id}{i}", "key": f"{key}.{i}"} for i in range(int(row["subtasks"] or 0))],
            "comment": {"comments": comments, "maxResults": len(comments), "total": len(comments), "startAt": 0},
            "issuelinks": links, "components": components, "fixVersions": versions[:rng.randrange(3)],
            "votes": {"votes": _number(row["votes"]), "hasVoted": False} if row["votes"] else None,
            "watches": {"watchCount": _number(row["watches"]), "isWatching": False} if row["watches"] else None,
            **{role: _user(row[f"{role}_id"], row[f"{role}_active_status"])
               for role in ("assignee", "creator", "reporter")},
        }}

    def _changelog(self, issue_id: str, created: datetime, resolved: datetime | None, updated: datetime) -> list[str]:
        """A status history consistent with the issue: Open at creation, maybe In Progress, a
        reopened resolution now and then, Resolved at its resolution date (Closed after it
        when it was updated later); unresolved issues end in an open status. Returns the
        statuses entered, in order. Histories also carry non-status items (assignee, resolution)."""
        rng = random.Random(int(issue_id))
        end = resolved or max(updated, created)
        span = end - created
        at = lambda f: created + span * f  # noqa: E731
        steps: list[tuple[datetime, str, list[dict]]] = []
        if rng.random() < 0.3:
            steps.append((at(0.05), "", [_item("assignee", None, "someone")]))
        if rng.random() < 0.6:
            steps.append((at(0.2), "In Progress", []))
        if resolved is not None:
            fix = [_item("resolution", None, "Fixed")]
            if rng.random() < 0.15 and span > timedelta(minutes=10):
                steps += [(at(0.5), "Resolved", fix), (at(0.7), "Reopened", [_item("resolution", "Fixed", None)])]
            steps.append((resolved, "Resolved", fix))
            if updated > resolved and rng.random() < 0.5:
                steps.append((updated, "Closed", []))
        elif steps and rng.random() < 0.2:
            steps.append((at(0.9), "Reopened", []))
        history, current, entered = [], "Open", []
        for when, status, other in steps:
            items = list(other)
            if status:
                items.insert(0, _item("status", current, status))
                current = status
                entered.append(status)
            history.append(self._history(when, items))
        self.histories[issue_id] = history
        return entered

    def _history(self, when: datetime, items: list[dict]) -> dict:
        self._history_id += 1
        return {"id": str(self._history_id), "author": _user("jira-bot", "True"), "created": jira_time(when, self.zone),
                "items": items}

    def change(self, keys: list[str], at: datetime) -> None:
        """Each issue updated at `at` with a transition: a resolved one reopens, an open one is resolved."""
        with self.lock:
            for key in keys:
                fields = self.issues[key]["fields"]
                before = fields["status"]["name"]
                after = "Reopened" if fields["resolutiondate"] else "Resolved"
                items = [_item("status", before, after),
                         _item("resolution", *(("Fixed", None) if after == "Reopened" else (None, "Fixed"))),
                         _item("priority", fields["priority"] and fields["priority"]["name"], "Critical")]
                self.histories[self.issues[key]["id"]].append(self._history(at, items))
                fields.update(status={"name": after, "statusCategory": {"key": _category(after)}},
                              updated=jira_time(at, self.zone), priority={"name": "Critical"},
                              resolution=None if after == "Reopened" else {"name": "Fixed"},
                              resolutiondate=None if after == "Reopened" else jira_time(at, self.zone))
