"""Jira Cloud: issues by JQL (the enhanced search, token paging) and their status changes from the
changelog (bulk fetch), rendered as Jira's issue CSV export (or the Public Jira Dataset's
extract) and a status history keyed the same way (analytics.connectors.jira_render).

Config `[connectors.jira]`: site_url (https://acme.atlassian.net), email and api_token (basic
auth with an Atlassian API token), jql (the project filter, e.g. `project = ABC`, without ORDER
BY), optional page_size (issues per search page, default 100), export_shape ("jira-csv", the
default: tickets keyed by issue key, as an upload of Jira's CSV export; or "public-dataset")
and instance (public-dataset only: the extract's repo_name, part of every ticket id; default
the site's first host label, e.g. "acme").

JQL compares `updated` to the minute and reads the date in the account's time zone (GET
/myself), so the pull asks from the watermark less OVERLAP, floored to the minute in that zone;
the upload path counts what it re-reads as unchanged. Paging is checked against Jira's
approximate count: fewer issues than it counted means a page was lost, so the search is read
again, and still fewer fails the pull.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from analytics.connectors import jira_render as render
from analytics.connectors.base import (
    JsonClient,
    Progress,
    Pull,
    RenderedFile,
    SourceError,
    Watermark,
    csv_bytes,
    keep_newest,
)
from analytics.connectors.http import HttpClient

API = "/rest/api/3"
MYSELF = f"{API}/myself"
SEARCH = f"{API}/search/jql"
COUNT = f"{API}/search/approximate-count"
BULK_CHANGELOG = f"{API}/changelog/bulkfetch"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 5000  # the enhanced search's documented maximum (it may return fewer)
BULK_ISSUES = 1000  # changelog/bulkfetch takes at most 1000 issues per request
BULK_PAGE = 1000
CATCH_UP_PASSES = 3  # re-reads after issues changed while being paged (each pass: from the earliest)
LABEL = "Jira Cloud"


def _fail(path: str, reason: str) -> SourceError:
    return SourceError(f"{LABEL}: {path}: {reason}")


def _setting(config: Mapping[str, str], key: str) -> str:
    value = (config.get(key) or "").strip()
    if not value:
        raise SourceError(f"{LABEL}: the setting '{key}' is missing ([connectors.jira] or HYPERCARE_JIRA_{key.upper()})")
    return value


def project_filter(config: Mapping[str, str]) -> str:
    """The configured JQL, checked: the connector adds its own ordering."""
    jql = _setting(config, "jql")
    if " order by " in f" {' '.join(jql.lower().split())} ":
        raise SourceError(f"{LABEL}: the jql setting must not have ORDER BY (the sync orders by updated time)")
    return jql


def page_size(config: Mapping[str, str]) -> int:
    text = (config.get("page_size") or "").strip()
    try:
        size = int(text) if text else DEFAULT_PAGE_SIZE
    except ValueError:
        raise SourceError(f"{LABEL}: page_size must be a whole number, not '{text}'") from None
    return max(1, min(size, MAX_PAGE_SIZE))


def export_shape(config: Mapping[str, str]) -> render.Shape:
    """The shape the issues are written in (export_shape, default jira-csv)."""
    name = (config.get("export_shape") or "").strip() or render.DEFAULT_SHAPE
    if name not in render.SHAPES:
        raise SourceError(f"{LABEL}: export_shape must be one of {', '.join(render.SHAPES)}, not '{name}'")
    return render.SHAPES[name]


def instance(config: Mapping[str, str]) -> str:
    """The export's repo_name for this site: the setting, else the site's first host label."""
    host = urlsplit(_setting(config, "site_url")).hostname or "jira"
    return (config.get("instance") or "").strip() or host.split(".")[0]


def account_zone(me: Any) -> ZoneInfo | None:
    """The zone Jira reads JQL dates in (the account's), None when /myself does not say."""
    name = me.get("timeZone") if isinstance(me, Mapping) else None
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def jql_minute(at: datetime, zone: ZoneInfo | None) -> str:
    """`at` (naive UTC) as a JQL date no later than it: to the minute, in the account's zone."""
    if zone is None:  # an unknown zone: a day earlier covers every offset
        return (at - timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    local = at.replace(tzinfo=timezone.utc).astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    # A local time a clock change makes ambiguous (or skips) may be read an hour later: ask an hour earlier.
    latest = max(local.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc) for fold in (0, 1))
    if latest.replace(tzinfo=None) > at:
        local -= timedelta(hours=1)
    return local.strftime("%Y-%m-%d %H:%M")


def search_jql(config: Mapping[str, str], since: Watermark, zone: ZoneInfo | None) -> str:
    """The search: the configured filter, updated since the watermark less OVERLAP, oldest first."""
    start = since.since()
    where = f"({project_filter(config)})"
    if start is not None:
        where += f' AND updated >= "{jql_minute(start, zone)}"'
    return where + " ORDER BY updated ASC, key ASC"


def _issues(client: JsonClient, jql: str, fields: tuple[str, ...], size: int, total: int | None,
            progress: Progress | None) -> list[dict]:
    issues: list[dict] = []
    token: str | None = None
    seen: set[str] = set()
    while True:
        body: dict[str, Any] = {"jql": jql, "fields": list(fields), "maxResults": size}
        if token:
            body["nextPageToken"] = token
        page = client.post_json(SEARCH, body)
        batch = page.get("issues") if isinstance(page, Mapping) else None
        if not isinstance(batch, list) or not all(isinstance(i, Mapping) and i.get("id") for i in batch):
            raise _fail(SEARCH, "the response has no list of issues with ids")
        issues.extend(batch)
        if progress is not None:
            progress(len(issues), total)
        token = page.get("nextPageToken")
        if page.get("isLast") is True or not token:
            return issues
        if token in seen:
            raise _fail(SEARCH, "the API returned the same nextPageToken twice")
        seen.add(token)


def _updated(issue: Mapping[str, Any]) -> datetime | None:
    return render.jira_time((issue.get("fields") or {}).get("updated"))


def _moved(read: list[dict]) -> datetime | None:
    """The earliest updated time, as first read, of an issue one pass read twice changed; else None."""
    first: dict[str, datetime | None] = {}
    moved: list[datetime] = []
    for issue in read:
        key, at = str(issue["id"]), _updated(issue)
        if key not in first:
            first[key] = at
        elif (was := first[key]) is not None and at != was:
            moved.append(was)
    return min(moved) if moved else None


def _changelogs(client: JsonClient, ids: list[str]) -> dict[str, list[dict]]:
    """Every status change of these issues, by issue id (bulk fetch, status items only)."""
    found: dict[str, list[dict]] = {}
    for start in range(0, len(ids), BULK_ISSUES):
        token: str | None = None
        seen: set[str] = set()
        while True:
            body: dict[str, Any] = {"issueIdsOrKeys": ids[start:start + BULK_ISSUES], "fieldIds": ["status"],
                                    "maxResults": BULK_PAGE}
            if token:
                body["nextPageToken"] = token
            page = client.post_json(BULK_CHANGELOG, body)
            logs = page.get("issueChangeLogs") if isinstance(page, Mapping) else None
            if not isinstance(logs, list):
                raise _fail(BULK_CHANGELOG, "the response has no issueChangeLogs list")
            for log in logs:
                if isinstance(log, Mapping):
                    found.setdefault(str(log.get("issueId")), []).extend(log.get("changeHistories") or [])
            token = page.get("nextPageToken")
            if not token:
                break
            if token in seen:
                raise _fail(BULK_CHANGELOG, "the API returned the same nextPageToken twice")
            seen.add(token)
    return found


def _approximate_count(client: JsonClient, config: Mapping[str, str], since: Watermark,
                       zone: ZoneInfo | None) -> int | None:
    """About how many issues the pull will read (Jira's estimate); None when the site cannot say."""
    jql = search_jql(config, since, zone).rsplit(" ORDER BY ", 1)[0]
    try:
        answer = client.post_json(COUNT, {"jql": jql})
    except SourceError:
        return None  # an older site without the endpoint: no total for the bar, no check of the pages
    count = answer.get("count") if isinstance(answer, Mapping) else None
    return count if isinstance(count, int) else None


class JiraCloud:
    """The Jira Cloud connector (analytics.connectors.base.Connector)."""

    name = "jira"
    label = LABEL
    required: tuple[tuple[str, ...], ...] = (("site_url", "email", "api_token", "jql"),)

    def make_client(self, config: Mapping[str, str]) -> HttpClient:
        pair = f"{_setting(config, 'email')}:{_setting(config, 'api_token')}".encode()
        return HttpClient(_setting(config, "site_url"), name=LABEL,
                          auth_headers={"Authorization": "Basic " + base64.b64encode(pair).decode()})

    def check(self, client: JsonClient, config: Mapping[str, str]) -> str:
        me = client.get_json(MYSELF)
        zone = account_zone(me)
        # One issue of the real search: the JQL is valid and the account may read what it selects.
        client.post_json(SEARCH, {"jql": search_jql(config, Watermark(), zone), "fields": ["updated"], "maxResults": 1})
        count = _approximate_count(client, config, Watermark(), zone)
        who = me.get("displayName") or me.get("emailAddress") if isinstance(me, Mapping) else None
        matches = f"about {count:,} issues match the JQL" if count is not None else "the JQL was not counted"
        return (f"{LABEL} {urlsplit(_setting(config, 'site_url')).hostname}: signed in as {who or 'unknown'} "
                f"(time zone {zone.key if zone else 'unknown'}); {matches}")

    def pull(self, client: JsonClient, config: Mapping[str, str], since: Watermark,
             progress: Progress | None = None) -> Pull:
        zone = account_zone(client.get_json(MYSELF))
        shape, repo = export_shape(config), instance(config)
        total = _approximate_count(client, config, since, zone)
        issues = _read(client, config, since, zone, shape, total, progress, 0)
        if total is not None and len(issues) < total:
            # Issues only move forward in `updated`, so fewer than counted means a page was lost
            # (skipped, or one served instead of another): read again. (Or issues left the JQL's
            # selection, or the estimate lags: then the next sync's count agrees.)
            again = _read(client, config, since, zone, shape, None, progress, len(issues))
            issues = keep_newest(issues + again, key=lambda i: str(i["id"]), updated=_updated)
            if len(issues) < total:
                raise _fail(SEARCH, f"Jira counted about {total:,} issues but the pages held {len(issues):,}, "
                                    "twice; nothing was loaded (the next sync reads again)")
        if not issues:
            return Pull(files=[], records_read=0, watermark=since)
        logs = _changelogs(client, [str(i["id"]) for i in issues])
        watermark = since
        ticket_rows, history_rows = [], []
        for issue in issues:
            watermark = watermark.advance(_updated(issue), str(issue.get("key") or issue["id"]))
            ticket_rows.append(shape.issue_row(repo, issue))
            history_rows += render.history_rows(shape.issue_ids(repo, issue), issue, logs.get(str(issue["id"]), []))
        files = [RenderedFile(shape.issue_profile, f"{shape.issue_profile}-sync.csv",
                              csv_bytes(shape.issue_columns, ticket_rows)),
                 RenderedFile(shape.history_profile, f"{shape.history_profile}-sync.csv",
                              csv_bytes(shape.history_columns, history_rows))]
        changes = len(history_rows) - len(issues)  # the first row of each issue is no changelog entry
        return Pull(files=files, records_read=len(issues) + changes, watermark=watermark)


def _read(client: JsonClient, config: Mapping[str, str], since: Watermark, zone: ZoneInfo | None,
          shape: render.Shape, total: int | None, progress: Progress | None, done: int) -> list[Mapping[str, Any]]:
    """Every issue the search selects since `since`, each once at its newest (`done`: issues
    already read, for the progress bar)."""
    size = page_size(config)

    def counted(start: int, of: int | None) -> Progress | None:
        return None if progress is None else (lambda n, _total: progress(start + n, of))

    passes = [_issues(client, search_jql(config, since, zone), shape.fields, size, total, counted(done, total))]
    for _ in range(CATCH_UP_PASSES):
        moved = _moved(passes[-1])
        if moved is None:
            break
        # An issue changed while being paged moved behind the pages read, and the pages
        # after its old place may have shifted past us: read again from there.
        again, read = search_jql(config, Watermark(moved), zone), done + sum(map(len, passes))
        passes.append(_issues(client, again, shape.fields, size, None, counted(read, None)))
    # An issue changed while being paged comes twice: its newer self wins.
    return keep_newest([i for one in passes for i in one], key=lambda i: str(i["id"]), updated=_updated)


CONNECTOR = JiraCloud()

__all__ = ["CONNECTOR", "JiraCloud", "account_zone", "export_shape", "instance", "jql_minute", "page_size",
           "project_filter", "search_jql"]
