"""The Jira Cloud connector against tests/connectors/jira_server.py, which serves the Apache issues
of the real Public Jira Dataset subset: a sync gives the tickets, history, KPIs and SLA verdicts
of the same issues uploaded as Jira's CSV export (the default shape) or as the dataset's extract
(export_shape public-dataset); incremental syncs. Faults: test_jira_faults.py."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analytics import uploads
from analytics.connectors import jira, sync
from analytics.connectors.base import OVERLAP, SourceError, Watermark
from analytics.connectors.jira_render import PUBLIC_COLUMNS, SHAPES
from analytics.kpi import kpis, trends
from analytics.kpi.facts import period_of
from analytics.sla import cache
from analytics.sla.compliance import counts
from analytics.sla.engine import evaluate
from analytics.sla.policy import default_policy
from analytics.store.filters import Filters
from tests.connectors.conftest import snapshot, table
from tests.connectors.jira_server import JiraServer, parse_time, utc

SUBSET = "jira-public-dataset-subset/jira_issues_timeestimate_subset.csv.gz"
PUBLIC = {"export_shape": "public-dataset"}
INSTANCE = "Apache"  # one Jira instance of the export = one site
AS_OF = datetime(2022, 6, 1)
ZONE = "America/Chicago"  # the server's account zone
TIME_COLUMNS = ("created", "updated", "resolutiondate")
LISTED_TIMES = ("comment_datetime", "updated_datetime")


@pytest.fixture(scope="module")
def export(real_data) -> tuple[list[str], list[dict[str, str]]]:
    """The subset's header and its Apache rows, untouched."""
    text = gzip.decompress((real_data / SUBSET).read_bytes()).decode("utf-8")
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), [r for r in reader if r["repo_name"] == INSTANCE]


@pytest.fixture(scope="module")
def site(export):
    """A server whose issues nobody changes (a test that changes them uses `fresh`)."""
    with JiraServer(export[1]) as server:
        yield server


@pytest.fixture(scope="module")
def first(site):
    """A first pull from `site`, clean, in the default shape (Jira's CSV export)."""
    return pull(site)


@pytest.fixture(scope="module")
def public(site):
    """A first pull from `site`, clean, in the Public Jira Dataset's shape."""
    return pull(site, **PUBLIC)


@pytest.fixture
def fresh(site):
    """A server of the test's own, with `site`'s issues."""
    with site.clone() as server:
        yield server


def settings(server: JiraServer, **extra: str) -> dict[str, str]:
    keys = sorted({i["fields"]["project"]["key"] for i in server.issues.values()})
    return {"site_url": server.site_url, "email": server.email, "api_token": server.token,
            "jql": f"project in ({', '.join(keys)})", "instance": INSTANCE, **extra}


def client(config: dict[str, str], sleeps: list[float] | None = None):
    made = jira.CONNECTOR.make_client(config)
    made.sleep = (sleeps if sleeps is not None else []).append
    return made


def pull(server: JiraServer, since: Watermark = Watermark(), sleeps: list[float] | None = None, **extra: str):
    config = settings(server, **extra)
    return jira.CONNECTOR.pull(client(config, sleeps), config, since)


def run_sync(con, server: JiraServer, operator, sleeps: list[float] | None = None, **extra: str) -> sync.SyncResult:
    config = settings(server, **extra)
    return sync.sync(con, "jira", started_by=operator, client=client(config, sleeps), config=config)


def _rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def _instants(value: str) -> list[datetime]:
    text = value.strip("[]").replace("'", "")
    return [utc(t.strip()) for t in text.split(",") if t.strip()]


def test_rendered_issues_are_the_public_dataset_rows(public, export):
    header, rows = export
    got = {r["id"]: r for r in _rows(public.files[0].data)}
    assert list(PUBLIC_COLUMNS) == header and len(got) == len(rows)
    for want in rows:
        row = got[want["id"]]
        for col in header:
            if col in TIME_COLUMNS:  # Jira writes them in the account's zone: the same instant
                assert (row[col] and utc(row[col])) == (want[col] and utc(want[col])), (want["id"], col)
            elif col in LISTED_TIMES:
                assert _instants(row[col]) == _instants(want[col]), (want["id"], col)
            elif col != "log_change_count":  # the changelog is read for status changes only
                assert row[col] == want[col], (want["id"], col, row[col], want[col])


def _kpis(con) -> dict:
    return {k: asdict(v) for k, v in kpis.results(con, Filters(), AS_OF, previous=False).items()}


def _sla(con):
    cache.clear()
    frame = evaluate(con, as_of=AS_OF, policies=[default_policy()]).set_index("ticket_id").sort_index()
    compliance = counts(con, Filters(), period_of(con, Filters(), AS_OF), split="severity")
    return frame, compliance.sort_values(list(compliance.columns[:2])).reset_index(drop=True)


def _jira_export(server: JiraServer, when=lambda text: text or "") -> bytes:
    """The server's issues as Jira's "Export CSV (all fields)" writes them: some of its columns,
    a multi-valued field repeated per value as Jira does; times (Jira's own text) through `when`."""
    header = ["Summary", "Issue key", "Issue id", "Issue Type", "Status", "Project key", "Project name", "Priority",
              "Resolution", "Assignee", "Reporter", "Created", "Updated", "Resolved", "Fix Version/s",
              "Fix Version/s", "Component/s", "Component/s", "Due Date"]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for issue in server.issues.values():
        f = issue["fields"]
        versions, components = ([v["name"] for v in f[k]] + ["", ""] for k in ("fixVersions", "components"))
        writer.writerow([f["summary"], issue["key"], issue["id"], f["issuetype"]["name"], f["status"]["name"],
                         f["project"]["key"], f["project"]["name"], (f["priority"] or {}).get("name"),
                         (f["resolution"] or {}).get("name"), (f["assignee"] or {}).get("displayName"),
                         (f["reporter"] or {}).get("displayName"), when(f["created"]), when(f["updated"]),
                         when(f["resolutiondate"]), *versions[:2], *components[:2], f["duedate"]])
    return out.getvalue().encode()


def _changelog(server: JiraServer) -> bytes:
    """The server's changelogs as status-history rows by issue key (profile jira-changelog-keys):
    the status each issue was created in, then every status change."""
    out = io.StringIO()
    writer = csv.DictWriter(out, ["Issue key", "seq", "changelog_id", "created", "author_id", "from_status",
                                  "to_status"])
    writer.writeheader()
    for issue in server.issues.values():
        f, key = issue["fields"], issue["key"]
        changes = [(h, i) for h in server.histories[issue["id"]] for i in h["items"] if i["field"] == "status"]
        first = changes[0][1]["fromString"] if changes else f["status"]["name"]
        writer.writerow({"Issue key": key, "seq": 0, "created": f["created"], "to_status": first,
                         "author_id": (f["creator"] or {}).get("accountId")})
        writer.writerows({"Issue key": key, "seq": n, "changelog_id": h["id"], "created": h["created"],
                          "author_id": h["author"]["accountId"], "from_status": i["fromString"],
                          "to_status": i["toString"]} for n, (h, i) in enumerate(changes, 1))
    return out.getvalue().encode()


def _minute(text: str | None) -> str:
    """A Jira time as its CSV export writes it by default: dd/MMM/yy h:mm a, in the account's zone."""
    return "" if not text else parse_time(text).astimezone(ZoneInfo(ZONE)).strftime("%d/%b/%y %-I:%M %p")


def test_sync_gives_the_tickets_history_kpis_and_sla_of_a_jira_csv_export(site, first, new_store, operator):
    """The default shape. The export here keeps Jira's times to the millisecond with their offset
    (the API's precision; a site's date format may); in Jira's default format, to the minute in
    the exporter's zone, the same issues are the same tickets, older than the synced ones."""
    uploaded, synced = new_store("uploaded"), new_store("synced")
    tickets = uploads.load(uploaded, data=_jira_export(site), name="jira.csv", tz=ZONE, uploaded_by=operator)
    history = uploads.load(uploaded, data=_changelog(site), name="changelog.csv", tz=ZONE, uploaded_by=operator)
    n = len(site.issues)
    assert (tickets.profile_name, history.profile_name) == ("jira-csv", "jira-changelog-keys")  # detected
    assert (tickets.rows_loaded, tickets.rows_rejected, history.rows_rejected) == (n, 0, 0)
    result = run_sync(synced, site, operator)
    assert result.ok, result.error
    assert [f["profile"] for f in result.files] == ["jira-csv", "jira-changelog-keys"]
    assert [f.name for f in first.files] == ["jira-csv-sync.csv", "jira-changelog-keys-sync.csv"]
    assert (result.tickets_inserted, result.rows_rejected) == (n, 0)

    assert table(synced, "tickets", "ticket_id") == table(uploaded, "tickets", "ticket_id")
    assert table(synced, "status_history", "ticket_id, seq") == table(uploaded, "status_history", "ticket_id, seq")
    keys = {f"jira:{k}" for k in site.issues}
    assert {r[0] for r in synced.execute("SELECT DISTINCT ticket_id FROM status_history").fetchall()} == keys
    filled = synced.execute("SELECT count(*) FILTER (ticket_id IN (SELECT unnest($k))), count(title), count(status), "
                            "count(component), count(target_release), count(due_at) FROM tickets",
                            {"k": sorted(keys)}).fetchall()[0]
    assert filled[:3] == (n, n, n) and all(0 < c < n for c in filled[3:]), filled
    assert {k: (t, s) for k, t, s in synced.execute("SELECT external_id, title, status FROM tickets").fetchall()} == \
        {k: (i["fields"]["summary"], i["fields"]["status"]["name"]) for k, i in site.issues.items()}
    assert _kpis(synced) == _kpis(uploaded)
    assert trends.cli_table(synced, Filters(), AS_OF) == trends.cli_table(uploaded, Filters(), AS_OF)
    (sla_s, comp_s), (sla_u, comp_u) = _sla(synced), _sla(uploaded)
    assert sla_s.equals(sla_u) and comp_s.equals(comp_u)

    # Only an issue updated on the minute is no older in the default format: it takes the export's times.
    held = {row[0]: row for row in table(synced, "tickets", "ticket_id")}
    default = uploads.load(synced, data=_jira_export(site, _minute), name="jira-default.csv", tz=ZONE,
                           uploaded_by=operator)
    assert (default.profile_name, default.rows_rejected, default.tickets_inserted) == ("jira-csv", 0, 0)
    moved = {row[0] for row in table(synced, "tickets", "ticket_id") if row != held[row[0]]}
    assert moved == {f"jira:{k}" for k, i in site.issues.items() if utc(i["fields"]["updated"]).second == 0}


def _reopened(con) -> set[str]:
    """Tickets whose history leaves a resolved or closed status for an open one."""
    return {r[0] for r in con.execute(
        "SELECT DISTINCT ticket_id FROM (SELECT ticket_id, status_category, lag(status_category) OVER "
        "(PARTITION BY ticket_id ORDER BY event_time, seq) AS before FROM status_history) "
        "WHERE status_category = 'open' AND before IN ('resolved', 'closed')").fetchall()}


def test_public_dataset_shape_gives_the_tickets_kpis_and_sla_of_the_extract(site, public, export, tmp_path: Path,
                                                                             new_store, operator):
    header, rows = export
    path = tmp_path / "jira-apache.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    uploaded, synced = new_store("uploaded"), new_store("synced")
    assert uploads.load(uploaded, path, source="jira-public-dataset", uploaded_by=operator).rows_loaded == len(rows)
    result = run_sync(synced, site, operator, **PUBLIC)
    assert result.ok, result.error
    assert (result.tickets_inserted, result.rows_rejected) == (len(rows), 0)

    # The same tickets, field for field; the changelog re-stamps every resolution from the
    # history (resolved_at_basis 'history') and agrees with the export's resolutiondate.
    basis = {"resolved_at_basis"}
    assert table(synced, "tickets", "ticket_id", basis | {"dataset_id", "loaded_at"}) == \
        table(uploaded, "tickets", "ticket_id", basis | {"dataset_id", "loaded_at"})
    assert synced.execute("SELECT DISTINCT resolved_at_basis FROM tickets").fetchall() == [("history",)]
    kpis_synced = _kpis(synced)
    assert kpis_synced == _kpis(uploaded)

    # The history is the server's changelog: the creation status, then every status change.
    stored = synced.execute("SELECT ticket_id, event_time, status FROM status_history ORDER BY ticket_id, seq").fetchall()
    expected = []
    for issue in site.issues.values():
        f = issue["fields"]
        changes = [(h["created"], i) for h in site.histories[issue["id"]] for i in h["items"] if i["field"] == "status"]
        initial = changes[0][1]["fromString"] if changes else f["status"]["name"]
        tid = f"jira:{INSTANCE}-{issue['id']}"
        expected += [(tid, utc(f["created"]), initial)] + [(tid, utc(at), i["toString"]) for at, i in changes]
    assert stored == sorted(expected, key=lambda r: r[0]) and result.records_read == len(stored)
    # ... consistent with each ticket: opened at its first event, ending in its status category.
    assert synced.execute(
        "SELECT count(*) FROM tickets t JOIN (SELECT ticket_id, min(event_time) AS first, arg_max(status_category, "
        "seq) AS last FROM status_history GROUP BY 1) h USING (ticket_id) WHERE t.opened_at = h.first AND "
        "(h.last IN ('resolved', 'closed')) = (t.resolved_at IS NOT NULL)").fetchall()[0][0] == len(rows)

    # SLA verdicts: the same, except where the changelog shows time spent resolved before a
    # reopening: that time stops the resolution clock, so those tickets used less of it.
    (sla_s, comp_s), (sla_u, _) = _sla(synced), _sla(uploaded)
    reopened = _reopened(synced)
    assert reopened and len(reopened) < len(rows) // 4
    same = sla_s.index.difference(sorted(reopened))
    assert sla_s.loc[same].equals(sla_u.loc[same])
    moved = sla_s.loc[sorted(reopened)]
    before = sla_u.loc[sorted(reopened)]
    assert moved["resolution_stopped_at"].equals(before["resolution_stopped_at"])
    assert (moved["resolution_business_minutes"].fillna(0) <= before["resolution_business_minutes"].fillna(0)).all()
    # Uploading the export and then the rendered changelog as files gives exactly what the sync gave.
    history = public.files[1]
    assert history.profile == SHAPES["public-dataset"].history_profile == "jira-changelog"
    uploads.load(uploaded, data=history.data, name=history.name, source=history.profile, uploaded_by=operator)
    assert table(synced, "tickets", "ticket_id") == table(uploaded, "tickets", "ticket_id")
    assert table(synced, "status_history", "ticket_id, seq") == table(uploaded, "status_history", "ticket_id, seq")
    sla_f, comp_f = _sla(uploaded)
    assert sla_s.equals(sla_f) and comp_s.equals(comp_f) and kpis_synced == _kpis(uploaded)


def test_incremental_sync_reads_and_updates_only_what_changed(fresh, new_store, operator):
    con, server = new_store(), fresh
    assert run_sync(con, server, operator).ok
    mark = sync.watermark(con, "jira")
    assert mark.updated_at == max(utc(i["fields"]["updated"]) for i in server.issues.values())
    before = {r[0]: r for r in table(con, "tickets", "ticket_id")}
    resolved = [k for k, i in server.issues.items() if i["fields"]["resolutiondate"]][:2]
    still_open = [k for k, i in server.issues.items() if not i["fields"]["resolutiondate"]][:2]
    # A minute after the watermark: a JQL date read in the wrong zone would miss them.
    at = (mark.updated_at + timedelta(minutes=1)).replace(tzinfo=timezone.utc)
    server.change(resolved + still_open, at)
    server.served.clear()
    result = run_sync(con, server, operator)
    assert result.ok, result.error
    overlap = {k for k, i in server.issues.items()
               if mark.updated_at - timedelta(minutes=6) <= utc(i["fields"]["updated"]) <= mark.updated_at}
    assert set(server.served) == set(resolved + still_open) | overlap and len(overlap) < 5
    assert (result.tickets_updated, result.tickets_unchanged) == (4, len(overlap))
    after = {r[0]: r for r in table(con, "tickets", "ticket_id")}
    changed = {t for t in after if after[t] != before[t]}
    ids = {f"jira:{k}": k for k in resolved + still_open}  # the default shape: ids are issue keys
    assert changed == set(ids) and len(after) == len(before)
    got = dict(con.execute("SELECT ticket_id, resolved_at FROM tickets WHERE ticket_id IN (SELECT unnest($t))",
                           {"t": list(ids)}).fetchall())
    assert {ids[t] for t, v in got.items() if v is None} == set(resolved)  # reopened: open again
    assert {ids[t] for t, v in got.items() if v == at.replace(tzinfo=None)} == set(still_open)
    assert sync.watermark(con, "jira").updated_at == at.replace(tzinfo=None)

    # Nothing changed since: the overlap is read again, and nothing in the store moves.
    held = snapshot(con)
    again = run_sync(con, server, operator)
    assert again.ok and (again.tickets_updated, again.tickets_inserted) == (0, 0)
    assert {k: v for k, v in snapshot(con).items() if k != "settings"} == \
        {k: v for k, v in held.items() if k != "settings"}
    assert sync.watermark(con, "jira") == Watermark(at.replace(tzinfo=None), sync.watermark(con, "jira").last_id)


def test_small_pages_give_the_same_pull_and_order_by_is_refused(site, first):
    config, seen = settings(site, page_size="40"), []
    asked = len(site.log)
    small = jira.CONNECTOR.pull(client(config), config, Watermark(), progress=lambda n, total: seen.append((n, total)))
    assert small.files == first.files
    pages = [body for _, path, body in site.log[asked:] if path.endswith("/search/jql")]
    assert len(pages) == -(-len(site.issues) // 40) and all(p["maxResults"] == 40 for p in pages)
    assert seen[-1] == (len(site.issues), len(site.issues)) and len(seen) == len(pages)
    config = settings(site, jql="project = GROOVY ORDER BY created DESC")
    with pytest.raises(SourceError, match="ORDER BY"):
        jira.CONNECTOR.pull(client(config), config, Watermark())


def test_check_and_a_single_project(site):
    config = settings(site, jql="project = GROOVY")
    line = jira.CONNECTOR.check(client(config), config)
    groovy = sum(1 for i in site.issues.values() if i["fields"]["project"]["key"] == "GROOVY")
    assert "Sync Bot" in line and "America/Chicago" in line and f"about {groovy:,} issues" in line
    assert len(_rows(pull(site, jql="project = GROOVY").files[0].data)) == groovy
    wrong = settings(site, jql="assignee = bob")  # JQL this site refuses (400)
    with pytest.raises(SourceError, match="/rest/api/3/search/jql: HTTP 400"):
        jira.CONNECTOR.check(client(wrong), wrong)


@pytest.mark.parametrize("at, zone, text", [
    (datetime(2021, 6, 1, 12, 34, 56), "America/Chicago", "2021-06-01 07:34"),
    (datetime(2021, 11, 7, 6, 30), "America/Chicago", "2021-11-07 00:30"),  # 01:30 CDT: 01:30 comes twice
    (datetime(2021, 11, 7, 7, 30), "America/Chicago", "2021-11-07 01:30"),  # 01:30 CST, the second one
    (datetime(2021, 6, 1, 12, 0), None, "2021-05-31 12:00"),  # zone unknown: a day earlier
])
def test_jql_dates_are_minutes_in_the_account_zone_never_after_the_watermark(at, zone, text):
    tz = ZoneInfo(zone) if zone else None
    assert jira.jql_minute(at, tz) == text
    # The search asks from the watermark less the overlap.
    assert jira.search_jql({"jql": "project = A"}, Watermark(at + OVERLAP), tz) == \
        f'(project = A) AND updated >= "{text}" ORDER BY updated ASC, key ASC'


def test_config_is_checked():
    base = {"site_url": "https://acme.atlassian.net", "email": "a@b.c", "api_token": "t", "jql": "project = A"}
    assert jira.instance(base) == "acme" and jira.page_size(base) == jira.DEFAULT_PAGE_SIZE
    assert jira.page_size({**base, "page_size": "99999"}) == jira.MAX_PAGE_SIZE
    with pytest.raises(SourceError, match="page_size"):
        jira.page_size({**base, "page_size": "ten"})
    with pytest.raises(SourceError, match="jql"):
        jira.project_filter({**base, "jql": ""})
    assert jira.export_shape(base).issue_profile == "jira-csv"
    assert jira.export_shape({**base, "export_shape": " public-dataset "}).history_profile == "jira-changelog"
    with pytest.raises(SourceError, match="export_shape must be one of jira-csv, public-dataset, not 'csv'"):
        jira.export_shape({**base, "export_shape": "csv"})
