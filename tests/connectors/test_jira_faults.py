"""The Jira Cloud connector when its server misbehaves: refusals, rate limits, 5xx, a connection
dropped mid-body, truncated JSON, search pages skipped, served twice, reordered, or shifted by an
issue changed between them. Either nothing is lost and nothing doubled (the store is the clean
sync's), or the sync fails, leaving the store and the watermark as they were, and the next one
gets everything."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest

from analytics.connectors import jira, sync
from analytics.connectors.base import SourceError, Watermark
from tests.connectors.conftest import snapshot, table
from tests.connectors.jira_server import JiraServer, parse_time, utc
from tests.connectors.test_jira import (  # noqa: F401 (export, first, fresh, site: fixtures, shared)
    _rows,
    client,
    export,
    first,
    fresh,
    pull,
    run_sync,
    settings,
    site,
)

SEARCH, BULK = "/rest/api/3/search/jql", "/rest/api/3/changelog/bulkfetch"
LATE = datetime(2023, 1, 1, tzinfo=timezone.utc)


def _project(server: JiraServer) -> tuple[dict[str, str], list[str]]:
    """The settings that select the site's largest project (104 issues) in pages of 10, and its keys."""
    keys: dict[str, list[str]] = {}
    for key, issue in server.issues.items():
        keys.setdefault(issue["fields"]["project"]["key"], []).append(key)
    project = max(keys, key=lambda p: len(keys[p]))
    return {"jql": f"project = {project}", "page_size": "10"}, keys[project]


def _stored(con) -> tuple[list[tuple], list[tuple]]:
    return table(con, "tickets", "ticket_id"), table(con, "status_history", "ticket_id, seq")


def _but_settings(con) -> dict:
    return {k: v for k, v in snapshot(con).items() if k != "settings"}


def test_an_issue_changed_between_pages_is_neither_lost_nor_doubled(fresh):  # noqa: F811
    server = fresh
    first_page = sorted(server.issues.values(), key=lambda i: parse_time(i["fields"]["updated"]))[0]["key"]
    # Before page 3: an issue of page 1 changes, moves behind the last page, and every page
    # after its old place shifts by one (a token that counts positions skips an issue).
    server.before_page[3] = lambda: server.change([first_page], LATE)
    got = {r["Issue key"]: r for r in _rows(pull(server, page_size="100").files[0].data)}
    assert len(got) == len(server.issues)
    assert utc(got[first_page]["Updated"]) == LATE.replace(tzinfo=None)


def test_pages_reordered_served_twice_or_skipped_once_lose_and_double_nothing(site, new_store, operator):  # noqa: F811
    """Jira's search has no total and opaque tokens: a skipped page shows only against its
    approximate count (taken before paging; issues only move forward in `updated`, so the pages
    hold at least as many), and then the search is read again."""
    config, keys = _project(site)
    clean = new_store("clean")
    assert run_sync(clean, site, operator, **config).tickets_inserted == len(keys)
    site.fail("shuffle", SEARCH)  # page 1 in reverse
    site.fail("again", SEARCH, skip=1)  # page 3 is page 2 once more (with a token of its own)
    site.fail("skip", SEARCH, skip=2)  # page 6 is page 7: page 6's issues are never served
    site.fail("die", SEARCH, skip=1)  # page 8 breaks off mid-body, and is asked again
    site.fail("die", BULK)
    asked, sleeps = len(site.log), []
    con = new_store()
    result = run_sync(con, site, operator, sleeps, **config)
    assert result.ok, result.error
    assert (result.tickets_inserted, result.rows_rejected) == (len(keys), 0)
    assert not any(f.times for f in site.faults)
    assert _stored(con) == _stored(clean)
    searches = [path for _, path, _ in site.log[asked:] if path == SEARCH]
    pages = -(-len(keys) // 10)
    # One page twice, one retried, one never served; then, short of the count, the search again.
    assert len(searches) == (pages + 2 - 1) + pages
    assert len(sleeps) == 2  # the dropped connections backed off and retried


def test_rate_limits_and_server_errors_are_waited_out(site, first):  # noqa: F811
    clean = first.files
    sleeps: list[float] = []
    site.fail(429, SEARCH, skip=2)  # the third page: Retry-After 1
    site.fail(500, BULK)
    assert pull(site, sleeps=sleeps).files == clean
    assert 1.0 in sleeps and len(sleeps) == 2


@pytest.mark.parametrize("kind, path, skip, times, error", [
    ("truncated", BULK, 0, 1, r"/rest/api/3/changelog/bulkfetch: HTTP 200 but the body is not complete JSON"),
    # Page 2 is page 1's answer again, its token too: following it would never end.
    ("repeat", SEARCH, 1, 1, r"/rest/api/3/search/jql: the API returned the same nextPageToken twice"),
    # Every page is the one after it: reading again loses the same issues.
    ("skip", SEARCH, 0, 100, r"Jira counted about (\d+) issues but the pages held [1-9]\d*, twice; nothing was loaded"),
], ids=["truncated", "repeated-token", "skipped-every-time"])
def test_a_failed_sync_leaves_store_and_watermark_as_they_were(fresh, new_store, operator,  # noqa: F811
                                                               kind, path, skip, times, error):
    con, server = new_store(), fresh
    config, keys = _project(server)
    assert run_sync(con, server, operator, **config).ok
    mark = sync.watermark(con, "jira")
    overlap = {k for k in keys if utc(server.issues[k]["fields"]["updated"]) >= mark.since()}
    changed = [k for k in keys if k not in overlap][:8]
    server.change(changed, LATE)
    held = _but_settings(con)
    server.fail(kind, path, times=times, skip=skip)
    failed = run_sync(con, server, operator, **{**config, "page_size": "2"})  # 4 pages or more
    assert not failed.ok and re.search(error, failed.error or ""), failed.error
    assert _but_settings(con) == held and sync.watermark(con, "jira") == mark
    server.faults.clear()
    retried = run_sync(con, server, operator, **config)
    assert retried.ok and (retried.tickets_updated, retried.tickets_unchanged) == (len(changed), len(overlap))
    assert sync.watermark(con, "jira").updated_at == LATE.replace(tzinfo=None)


def test_unauthorised_names_the_path_and_status_never_the_token(site, new_store, operator):  # noqa: F811
    con = new_store()
    bad = settings(site, api_token="wrong-token-987")
    with pytest.raises(SourceError) as raised:
        jira.CONNECTOR.pull(client(bad), bad, Watermark())
    message = str(raised.value)
    assert "/rest/api/3/myself" in message and "401" in message
    assert "wrong-token-987" not in message and site.token not in message and site.email not in message
    held = snapshot(con)
    result = sync.sync(con, "jira", started_by=operator, client=client(bad), config=bad)
    assert not result.ok and "401" in (result.error or "") and "wrong-token-987" not in (result.error or "")
    assert snapshot(con)["tickets"] == held["tickets"] and sync.watermark(con, "jira") == Watermark()


def test_refusals_fail_at_once(site):  # noqa: F811
    site.fail(403, BULK)
    with pytest.raises(SourceError, match="/rest/api/3/changelog/bulkfetch: HTTP 403"):
        pull(site)
    config = settings(site, site_url=site.site_url + "/jira")  # not where the site is
    with pytest.raises(SourceError, match="/jira/rest/api/3/myself: HTTP 404"):
        jira.CONNECTOR.check(client(config), config)
