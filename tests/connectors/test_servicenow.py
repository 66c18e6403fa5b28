"""ServiceNow: a sync from the Table API and sys_audit gives what uploading the event-log export
gives (the first 1,500 incidents of the real log); incremental syncs change only what changed."""

from __future__ import annotations

import collections
import csv
import gzip
import io
import shutil
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from analytics import uploads
from analytics.connectors import servicenow, servicenow_render, sync
from analytics.connectors.base import Pull, SourceError, Watermark
from analytics.connectors.http import HttpClient
from analytics.kpi import trends
from analytics.sla import engine
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from tests.connectors.conftest import snapshot, table
from tests.connectors.servicenow_server import ServiceNowServer, sys_id

EXPORT = Path("servicenow-incident-event-log") / "incident_event_log.csv.gz"
INCIDENTS = 1500
AS_OF = datetime(2017, 3, 2)
CHANGED_AT = datetime(2017, 3, 1, 9, 30)


@pytest.fixture(scope="module")
def log(real_data) -> tuple[list[str], list[dict[str, str]]]:
    """The export's header and the rows of its first INCIDENTS incidents (the file is sorted by number)."""
    rows: list[dict[str, str]] = []
    numbers: set[str] = set()
    with gzip.open(real_data / EXPORT, "rt", encoding="ascii", newline="") as f:
        reader = csv.DictReader(f)
        for row in reader:
            numbers.add(row["number"])
            if len(numbers) > INCIDENTS:
                break
            rows.append(row)
    return list(reader.fieldnames or []), rows


class Recording(servicenow.ServiceNow):
    """The connector, keeping what it pulled."""

    def __init__(self) -> None:
        self.pulls: list[Pull] = []

    def pull(self, *args, **kwargs) -> Pull:
        self.pulls.append(super().pull(*args, **kwargs))
        return self.pulls[-1]


def config(server: ServiceNowServer, **extra: str) -> dict[str, str]:
    return {"instance_url": server.url, "username": server.username, "password": server.password, **extra}


def client(server: ServiceNowServer, sleeps: list[float] | None = None, **extra: str) -> HttpClient:
    return HttpClient(server.url, auth_headers=servicenow.auth_headers(config(server, **extra)), name="ServiceNow",
                      sleep=(sleeps if sleeps is not None else []).append)


def upload(con, header: list[str], rows: list[dict[str, str]], path: Path, operator) -> None:
    """Upload `rows` as the export file would hold them."""
    with open(path, "w", encoding="ascii", newline="") as f:
        writer = csv.DictWriter(f, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    uploads.load(con, path, source=servicenow_render.PROFILE, uploaded_by=operator)


def same_store(a, b, figures: bool = True) -> None:
    """The same tickets and history and (`figures`) KPIs and SLA verdicts, whatever load wrote them."""
    assert table(a, "tickets", "ticket_id") == table(b, "tickets", "ticket_id")
    assert table(a, "status_history", "ticket_id, seq") == table(b, "status_history", "ticket_id, seq")
    if not figures:
        return  # the figures are computed from these two tables alone
    for by in (None, "severity", "month"):
        assert trends.cli_table(a, Filters(), AS_OF, by=by) == trends.cli_table(b, Filters(), AS_OF, by=by)
    pd.testing.assert_frame_equal(engine.evaluate(a, as_of=AS_OF), engine.evaluate(b, as_of=AS_OF))


@pytest.fixture(scope="module")
def first_sync(log, tmp_path_factory):
    """The log served, synced into a fresh store (closed: tests copy it) and uploaded as a file into another."""
    header, rows = log
    operator = local_operator("test")
    folder = tmp_path_factory.mktemp("servicenow")
    source = Recording()
    with ServiceNowServer(rows) as server, pytest.MonkeyPatch.context() as mp:
        mp.setitem(sync.CONNECTORS, "servicenow", source)
        synced = db.connect(folder / "synced.duckdb")
        result = sync.sync(synced, "servicenow", started_by=operator, config=config(server, page_size="5000"))
        synced.close()
    uploaded = db.connect(folder / "uploaded.duckdb")
    upload(uploaded, header, rows, folder / "export.csv", operator)
    uploaded.close()
    return result, source.pulls[0], folder


def test_the_rendered_log_is_the_export_every_cell(log, first_sync):
    """Incident records and their audit trail, rendered, are the export's rows (every cell, every row)."""
    header, rows = log
    _, pulled, _ = first_sync
    (rendered,) = pulled.files
    assert rendered.profile == "servicenow-event-log"
    got = list(csv.reader(io.StringIO(rendered.data.decode())))
    assert got[0] == header
    assert collections.Counter(map(tuple, got[1:])) == collections.Counter(tuple(r[c] for c in header) for r in rows)
    assert pulled.watermark == Watermark(datetime(2017, 2, 7, 18, 0), sys_id("incident", "INC0001839"))


def test_a_sync_gives_the_same_store_as_uploading_the_export(first_sync, operator):
    result, pulled, folder = first_sync
    assert result.ok, result.error
    assert (result.tickets_inserted, result.rows_read, result.rows_rejected) == (INCIDENTS, 10383, 0)
    assert result.records_read == pulled.records_read > 10383
    synced, uploaded = db.connect(folder / "synced.duckdb"), db.connect(folder / "uploaded.duckdb")
    try:
        same_store(synced, uploaded)
        (figures,) = trends.cli_table(synced, Filters(), AS_OF)
        assert figures["tickets"] == INCIDENTS and figures["mttr_median_hours"] and figures["mtta_median_minutes"]
        verdicts = engine.evaluate(synced, as_of=AS_OF)["resolution_status"].astype(str).value_counts()
        assert verdicts["met"] > 100 and verdicts["breached"] > 100
        assert sync.watermark(synced, "servicenow") == pulled.watermark
        trail = synced.execute("SELECT actor, action, object FROM audit_log ORDER BY seq").fetchall()
        assert trail == [("test", "upload", "dataset:1"), ("test", "sync", "source:servicenow")]
    finally:
        synced.close()
        uploaded.close()


def test_incremental_sync_updates_exactly_what_changed(log, first_sync, tmp_path, new_store, operator):
    header, rows = log
    _, pulled, folder = first_sync
    shutil.copy(folder / "synced.duckdb", tmp_path / "incremental.duckdb")
    con = db.connect(tmp_path / "incremental.duckdb")
    # Incidents within OVERLAP of the watermark (2017-02-07 18:00) are read again, unchanged.
    overlap = {r["number"] for r in rows if datetime.strptime(r["sys_updated_at"], "%d/%m/%Y %H:%M")
               >= datetime(2017, 2, 7, 17, 55)}
    try:
        with ServiceNowServer(rows) as server:
            numbers = sorted({r["number"] for r in rows})[::300]
            for number in numbers:  # each reassigned to another group, as ServiceNow counts it
                last = server.chains[number][-1]
                server.change([number], CHANGED_AT, {"assignment_group": "Group 70", "reassignment_count":
                                                     str(int(last["reassignment_count"]) + 1)})
            version = db.store_version(con)
            second = sync.sync(con, "servicenow", started_by=operator, config=config(server))
            assert second.ok, second.error
            assert (second.tickets_inserted, second.tickets_updated, second.tickets_unchanged) == (0, 5, len(overlap))
            asked = [p["sysparm_query"] for path, p in server.log if path.endswith("/incident")]
            assert asked == ["sys_updated_on>=2017-02-07 17:55:00^ORDERBYsys_updated_on^ORDERBYsys_id"]
            assert db.store_version(con) == version + 1  # one transaction
            assert sync.watermark(con, "servicenow") == Watermark(CHANGED_AT, max(sys_id("incident", n)
                                                                                  for n in numbers))
            teams = dict(con.execute("SELECT external_id, team FROM tickets").fetchall())
            assert {teams[n] for n in numbers} == {"Group 70"}

            before = snapshot(con)
            third = sync.sync(con, "servicenow", started_by=operator, config=config(server))
            assert third.ok and (third.tickets_updated, third.tickets_unchanged, third.dataset_ids) == (0, 5, [])
            strip = lambda s: {**s, "settings": [r for r in s["settings"]  # noqa: E731
                                                 if r[0] != "connector.servicenow.last_sync"]}
            assert strip(snapshot(con)) == strip(before)
            changed_export = server.rows()
        # The same as uploading the export the instance would give now.
        fresh = new_store("fresh")
        upload(fresh, header, changed_export, tmp_path / "changed.csv", operator)
        same_store(con, fresh, figures=False)
    finally:
        con.close()


@pytest.fixture(scope="module")
def small(log) -> list[dict[str, str]]:
    """The rows of the first 120 incidents: enough for paging and faults."""
    numbers = sorted({r["number"] for r in log[1]})[:120]
    return [r for r in log[1] if r["number"] in set(numbers)]


def test_paging_survives_faults_and_changes_between_pages(log, small, new_store, operator, tmp_path):
    """429 with Retry-After, 500, a connection dropped mid-body, a page answered twice, a page out of
    order and an incident updated between pages: nothing lost, nothing doubled."""
    con, sleeps = new_store(), []
    with ServiceNowServer(small) as server:
        first = min(server.tables["incident"].values(), key=lambda r: (r["sys_updated_on"], r["sys_id"]))["number"]
        incident, audit = "/api/now/table/incident", "/api/now/table/sys_audit"
        server.fail(429, incident, retry_after="7")
        server.fail("shuffle", incident, skip=1)
        server.fail("repeat", incident, skip=2)
        server.fail(500, audit, skip=1)
        server.fail("die", audit, skip=3)
        seen: list[str] = []

        def update_the_first_read(path: str, params: dict[str, str]) -> None:
            seen.append(path)
            if seen.count(incident) == 3:  # page 1 read: its first incident moves to the end
                server.change([first], CHANGED_AT, {"incident_state": "Active"})

        server.before = update_the_first_read
        shown: list[tuple[int, int | None]] = []
        result = sync.sync(con, "servicenow", started_by=operator, config=config(server, page_size="50"),
                           client=client(server, sleeps), progress=lambda n, total: shown.append((n, total)))
        assert result.ok, result.error
        assert shown[0] == (50, 120) and shown[-1][0] == result.records_read
        assert result.tickets_inserted == 120 and not server.faults
        assert 7.0 in sleeps and len(sleeps) == 3  # the 429 as told, the 500 and the dropped connection backed off
        queries = [p["sysparm_query"] for path, p in server.log if path == incident]
        assert any("^sys_id>" in q for q in queries)  # paged by key: within one update time, then after it
        assert not any("sysparm_offset" in p for path, p in server.log if path == incident)
        export = server.rows()
    assert con.execute("SELECT status FROM tickets WHERE external_id = $n", {"n": first}).fetchall() == [("Active",)]
    fresh = new_store("fresh")
    upload(fresh, log[0], export, tmp_path / "export.csv", operator)
    same_store(con, fresh, figures=False)


def test_a_skipped_page_or_broken_json_loads_nothing(small, new_store, operator):
    con = new_store()
    with ServiceNowServer(small) as server:
        server.fail("skip", "/api/now/table/incident", times=100)  # every page: listing again does not help
        result = sync.sync(con, "servicenow", started_by=operator, config=config(server, page_size="50"))
        assert not result.ok and "counted 120 incidents" in result.error and ", twice" in result.error
        server.faults.clear()
        server.fail("truncated", "/api/now/table/sys_audit")
        result = sync.sync(con, "servicenow", started_by=operator, config=config(server, page_size="50"))
        assert not result.ok and "GET /api/now/table/sys_audit" in result.error and "not complete JSON" in result.error
    assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(0,)]
    assert sync.watermark(con, "servicenow") == Watermark()


def test_wrong_credentials_name_the_path_and_status_never_the_password(small, new_store, operator):
    with ServiceNowServer(small) as server:
        wrong = {**config(server), "password": "not-the-Pa55word"}
        with pytest.raises(SourceError) as caught:
            servicenow.CONNECTOR.pull(servicenow.CONNECTOR.make_client(wrong), wrong, Watermark())
        result = sync.sync(new_store(), "servicenow", started_by=operator, config=wrong)
        bearer = {"instance_url": server.url, "token": server.token}
        assert "120 incidents" in servicenow.CONNECTOR.check(servicenow.CONNECTOR.make_client(bearer), bearer)
    for message in (str(caught.value), result.error):
        assert "GET /api/now/table/incident" in message and "401" in message
        assert "Pa55word" not in message and "hypercare.sync" not in message
    assert not result.ok


def test_without_sys_audit_incidents_load_with_a_warning(small, new_store, operator):
    con = new_store()
    with ServiceNowServer(small) as server:
        server.audit_forbidden = True
        assert "update history NOT readable (sys_audit: HTTP 403)" in servicenow.CONNECTOR.check(
            client(server), config(server))
        pulled = servicenow.CONNECTOR.pull(client(server), config(server), Watermark())
        assert pulled.warnings == [servicenow.NO_HISTORY] and "sys_audit" in pulled.warnings[0]
        result = sync.sync(con, "servicenow", started_by=operator, config=config(server))
    assert result.ok and result.tickets_inserted == 120
    # Opening, resolution and the current state: the resolution time is the export's own.
    rows = con.execute("SELECT count(*), count(*) FILTER (WHERE resolved_at = resolved_at_reported), "
                       "count(*) FILTER (WHERE resolved_at_reported IS NOT NULL) FROM tickets").fetchall()
    assert rows[0][1] == rows[0][2] > 100
    assert con.execute("SELECT max(n) FROM (SELECT count(*) AS n FROM status_history GROUP BY ticket_id)"
                       ).fetchall() == [(3,)]


def test_check_and_configuration(small):
    with ServiceNowServer(small) as server:
        line = servicenow.CONNECTOR.check(client(server), config(server))
        assert line == "ServiceNow: connected; 120 incidents; update history readable"
        q = servicenow.CONNECTOR.check(client(server), config(server, query="priority=1"))
        assert "matching the query" in q
        http = client(server)  # the documented paging headers, for clients that follow them
        http.get_json("api/now/table/sys_audit", {"sysparm_limit": 100, "sysparm_offset": 100})
        assert 'sysparm_limit=100&sysparm_offset=200>;rel="next"' in http.last_headers["Link"]
        assert int(http.last_headers["X-Total-Count"]) == len(server.tables["sys_audit"])
    ok = {"instance_url": "https://acme.service-now.com", "token": "t"}
    assert servicenow.settings(ok) == ("https://acme.service-now.com", 1000, "")
    for bad, says in (({"instance_url": "http://acme.service-now.com"}, "https"),
                      ({"page_size": "20000"}, "page_size"), ({"query": "active=true^ORDERBYnumber"}, "ORDERBY")):
        with pytest.raises(SourceError, match=says):
            servicenow.settings({**ok, **bad})
    with pytest.raises(SourceError, match="username and password, or token"):
        servicenow.auth_headers({"instance_url": "https://acme.service-now.com", "username": "u"})
