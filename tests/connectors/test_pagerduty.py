"""The PagerDuty source against its test server (pagerduty_server.py, 984 incidents from the real
ServiceNow event log): a sync gives the same tickets, status history, KPIs and SLA verdicts as
uploading the same incidents as PagerDuty export files; later syncs read only what changed;
faults leave the store and the watermark as they were, and nothing is lost or doubled."""

from __future__ import annotations

import copy
import csv
import io
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from analytics import uploads
from analytics.connectors import pagerduty, sync
from analytics.connectors.base import SourceError, Watermark
from analytics.kpi import kpis
from analytics.sla.engine import evaluate
from analytics.store.filters import Filters
from tests.connectors.conftest import table
from tests.connectors.pagerduty_server import Account, Incident, PagerDutyServer, ref

AS_OF = datetime(2017, 1, 15)
YEAR = Filters(date_from=date(2016, 1, 1), date_to=date(2017, 3, 31))
N = 984  # incidents the server builds from the event log


@pytest.fixture(scope="module")
def base_account(real_data) -> Account:
    return Account.from_event_log(real_data)


@pytest.fixture(scope="module")
def small_account(base_account) -> Account:
    """Every 100th incident of the event log (of every 25th): for the tests of faults, quicker."""
    return Account([i for i in base_account.incidents.values() if i.number % 100 == 0],
                   [e for e in base_account.entries if e.number % 100 == 0])


@pytest.fixture(scope="module")
def shared(small_account):
    """A server on the unchanged small account, for tests that only read (faults are used up per test)."""
    with PagerDutyServer(small_account) as server:
        yield server


@pytest.fixture(scope="module")
def clean(shared):
    """The files of a full pull of the unchanged account, without faults."""
    return _pull(shared).files


@pytest.fixture
def account(base_account) -> Account:
    return copy.deepcopy(base_account)


@pytest.fixture
def server(account):
    with PagerDutyServer(account) as s:
        yield s


@pytest.fixture
def small(small_account) -> Account:
    return copy.deepcopy(small_account)


@pytest.fixture
def small_server(small):
    with PagerDutyServer(small) as s:
        yield s


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(sync.CONNECTORS, "pagerduty", pagerduty.CONNECTOR)


def _config(server: PagerDutyServer, **extra: str) -> dict[str, str]:
    return {"api_key": server.api_key, "api_url": server.url, "min_interval": "0", **extra}


def _client(config, sleeps: list[float] | None = None):
    client = pagerduty.CONNECTOR.make_client(config)
    client.sleep = (sleeps.append if sleeps is not None else lambda s: None)
    return client


def _pull(server, since=Watermark(), connector=pagerduty.CONNECTOR, **extra):
    config = _config(server, **extra)
    return connector.pull(_client(config), config, since)


def _sync(con, server, operator, sleeps=None, **extra):
    config = _config(server, **extra)
    return sync.sync(con, "pagerduty", started_by=operator, client=_client(config, sleeps), config=config)


# --- the export files, written from the account's records, not by the connector -------------------
def _local(at: datetime | None, zone: str) -> str:
    return "" if at is None else at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(zone)).isoformat()


def _seconds(start: datetime, end: datetime | None) -> str:
    return "" if end is None else str(round((end - start).total_seconds()))


def export_files(account: Account) -> tuple[bytes, bytes]:
    """PagerDuty's incidents CSV export (times with New York's offset, as an exporting user sees
    them) and a log-entries CSV of the status changes (Amsterdam's offset) with the status each
    leaves the incident in, by csv.DictWriter."""
    incidents = io.StringIO()
    writer = csv.DictWriter(incidents, ["id", "incident_number", "title", "description", "status", "urgency",
                                        "priority", "service_name", "escalation_policy", "team_names",
                                        "assigned_to", "created_on", "acknowledged_on", "resolved_on",
                                        "seconds_to_first_ack", "seconds_to_resolve"])
    writer.writeheader()
    for inc in sorted(account.incidents.values(), key=lambda i: i.number):
        ny = "America/New_York"
        writer.writerow({
            "id": inc.id, "incident_number": inc.number, "title": inc.title, "description": inc.title,
            "status": inc.status, "urgency": inc.urgency, "priority": inc.priority or "",
            "service_name": inc.service, "escalation_policy": f"{inc.team or 'Default'} Escalation Policy",
            "team_names": inc.team or "", "assigned_to": inc.user or "", "created_on": _local(inc.created, ny),
            "acknowledged_on": _local(inc.acked, ny), "resolved_on": _local(inc.resolved, ny),
            "seconds_to_first_ack": _seconds(inc.created, inc.acked),
            "seconds_to_resolve": _seconds(inc.created, inc.resolved)})
    entries = io.StringIO()
    writer = csv.DictWriter(entries, ["id", "type", "status", "created_at", "incident_id", "incident_number",
                                      "agent", "summary"])
    writer.writeheader()
    status_after = {"trigger_log_entry": "triggered", "acknowledge_log_entry": "acknowledged",
                    "unacknowledge_log_entry": "triggered", "resolve_log_entry": "resolved"}
    for e in account.entries:
        if e.type in status_after:
            inc = account.incidents[e.number]
            writer.writerow({"id": e.id, "type": e.type, "status": status_after[e.type],
                             "created_at": _local(e.at, "Europe/Amsterdam"),
                             "incident_id": inc.id, "incident_number": e.number,
                             "agent": e.agent or inc.service, "summary": e.type.split("_")[0]})
    return incidents.getvalue().encode(), entries.getvalue().encode()


def _upload_exports(con, account: Account, operator) -> None:
    tickets, history = export_files(account)
    first = uploads.load(con, data=tickets, name="incidents.csv", uploaded_by=operator)
    second = uploads.load(con, data=history, name="log_entries.csv", uploaded_by=operator)
    assert (first.profile_name, second.profile_name) == ("pagerduty-incidents", "pagerduty-log-entries")
    assert (first.rows_rejected, second.rows_rejected, first.tickets_inserted) == (0, 0, len(account.incidents))


def _kpis(con) -> dict:
    return {k: (r.value, r.n, r.status, r.excluded, r.previous, r.stats)
            for k, r in kpis.results(con, YEAR, AS_OF).items()}


def _verdicts(con) -> pd.DataFrame:
    return evaluate(con, as_of=AS_OF).sort_values("ticket_id").reset_index(drop=True)


def _same_store(a, b) -> None:
    assert table(a, "tickets", "ticket_id") == table(b, "tickets", "ticket_id")
    assert table(a, "status_history", "ticket_id, seq") == table(b, "status_history", "ticket_id, seq")


# --- the key test --------------------------------------------------------------------------------
def test_a_sync_gives_what_uploading_the_export_files_gives(new_store, server, account, operator):
    synced, uploaded = new_store("synced"), new_store("uploaded")
    result = _sync(synced, server, operator)
    assert result.ok, result.error
    assert (result.tickets_inserted, result.rows_rejected, len(result.dataset_ids)) == (N, 0, 2)
    _upload_exports(uploaded, account, operator)

    _same_store(synced, uploaded)
    statuses = dict(synced.execute("SELECT status, count(*) FROM tickets GROUP BY 1").fetchall())
    assert statuses == {"resolved": 927, "triggered": 57}
    assert synced.execute("SELECT count(*) FROM tickets WHERE acknowledged_at IS NOT NULL").fetchone()[0] == 676
    # The history speaks PagerDuty's incident statuses, not its log entry types.
    history = dict(synced.execute("SELECT status, status_category FROM status_history GROUP BY ALL").fetchall())
    assert history == {"triggered": "open", "acknowledged": "open", "resolved": "resolved"}
    assert _kpis(synced) == _kpis(uploaded)
    verdicts = _verdicts(synced)
    pd.testing.assert_frame_equal(verdicts, _verdicts(uploaded))
    assert {"met", "breached"} <= set(verdicts["resolution_status"].astype(str))


def test_an_incremental_sync_reads_only_what_changed(new_store, server, account, operator):
    con = new_store()
    assert _sync(con, server, operator).ok
    for step in ("acknowledged", "resolved"):
        server.requests.clear()
        changed = account.change(5)
        result = _sync(con, server, operator)
        assert result.ok, result.error
        assert (result.tickets_inserted, result.tickets_updated) == (0, 5)
        # One page of the log since the watermark, and the changed incidents' own logs: no listing.
        paths = [p for p, _ in server.requests]
        assert paths.count("/log_entries") == 1 and "/incidents" not in paths
        assert len(paths) <= 1 + 5 + 1 and result.records_read < 40
        status = dict(con.execute("SELECT external_id, status FROM tickets").fetchall())
        assert {status[str(n)] for n in changed} == {step}

    fresh = new_store("fresh")  # the incremental store equals a first sync of the changed account
    assert _sync(fresh, server, operator).ok
    _same_store(con, fresh)

    before = {t: table(con, t, "ALL", set()) for t in ("tickets", "status_history", "datasets")}
    mark = sync.watermark(con, "pagerduty")
    again = _sync(con, server, operator)
    assert again.ok and (again.tickets_inserted, again.tickets_updated, again.dataset_ids) == (0, 0, [])
    assert {t: table(con, t, "ALL", set()) for t in before} == before
    assert sync.watermark(con, "pagerduty") == mark


# --- faults --------------------------------------------------------------------------------------
def test_a_wrong_key_names_path_and_status_never_the_key(new_store, shared, operator):
    con = new_store()
    config = _config(shared, api_key="wrong-secret-key-123")
    result = sync.sync(con, "pagerduty", started_by=operator, client=_client(config), config=config)
    assert not result.ok
    assert "/incidents" in result.error and "401" in result.error and "wrong-secret-key-123" not in result.error
    with pytest.raises(SourceError, match="401") as error:
        pagerduty.CONNECTOR.check(_client(config), config)
    assert "wrong-secret-key-123" not in str(error.value)
    assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0


@pytest.mark.parametrize(("path", "status"), [("/log_entries", 403), ("/incidents", 404)])
def test_a_refusal_halfway_leaves_store_and_watermark_as_they_were(new_store, shared, operator, path, status):
    con = new_store()
    shared.fail(status, path)
    result = _sync(con, shared, operator)
    assert not result.ok and path in result.error and str(status) in result.error
    assert con.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0
    assert sync.watermark(con, "pagerduty") == Watermark()


def test_truncated_json_fails_then_the_next_sync_starts_from_the_same_watermark(new_store, small_server, small,
                                                                              operator):
    con = new_store()
    assert _sync(con, small_server, operator).ok
    mark, before = sync.watermark(con, "pagerduty"), table(con, "tickets", "ticket_id", set())
    small.change(5)
    small_server.truncate("/log_entries")
    failed = _sync(con, small_server, operator)
    assert not failed.ok and "JSON" in failed.error and "/log_entries" in failed.error
    assert sync.watermark(con, "pagerduty") == mark and table(con, "tickets", "ticket_id", set()) == before
    retried = _sync(con, small_server, operator)
    assert retried.ok and retried.tickets_updated == 5


def test_429_5xx_and_dropped_connections_are_waited_out(shared, clean, small_account):
    shared.fail(429, "/incidents", retry_after="7")
    shared.fail(500, "/log_entries")
    shared.fail(0, "/log_entries")
    sleeps: list[float] = []
    seen: list[tuple[int, int | None]] = []
    config = _config(shared)
    pulled = pagerduty.CONNECTOR.pull(_client(config, sleeps), config, Watermark(), lambda *n: seen.append(n))
    assert 7.0 in sleeps and len(sleeps) == 3
    assert pulled.files == clean
    # Progress: records read so far, with the total while the incidents are listed.
    assert seen[0] == (100, len(small_account.incidents)) and [n for n, _ in seen] == sorted(n for n, _ in seen)
    assert seen[-1][0] == pulled.records_read


def test_a_page_skipped_or_served_twice_loses_and_doubles_nothing(shared, clean):
    shared.shift(1, "/incidents")
    shared.shift(-1, "/log_entries")
    assert _pull(shared).files == clean


def test_log_entry_queries_stay_under_the_offset_cap(shared, clean):
    shared.cap, shared.requests = 200, []
    try:
        pulled = _pull(shared, connector=pagerduty.PagerDutyConnector(max_records=200))
    finally:
        shared.cap = 10_000
    offsets = [int(q["offset"][0]) + int(q["limit"][0]) for p, q in shared.requests if p == "/log_entries"]
    assert len(offsets) > 10 and max(offsets) <= 200
    assert pulled.files == clean


def test_incidents_changing_while_a_sync_pages_are_read_as_they_end(new_store, small_server, small, operator):
    server, account = small_server, small

    def change_once(prefix, n):
        def hook(path, query):
            if path.startswith(prefix) and path.endswith("log_entries") and not changed:
                changed.extend(account.change(n))
        changed: list[int] = []
        server.on_request = hook
        return changed

    con = new_store()
    # Three acknowledged after the first sync listed them: their tickets are read again next time.
    acked = change_once("/log_entries", 3)
    assert _sync(con, server, operator).ok and len(acked) == 3
    server.on_request = None
    assert _sync(con, server, operator).tickets_updated == 3
    # Two resolved after an incremental sync read their embedded copies: read again at once.
    resolved, server.requests = change_once("/incidents/", 2), []
    assert _sync(con, server, operator).tickets_updated == 2 and resolved == acked[:2]
    assert len([p for p, _ in server.requests if p.count("/") == 2 and p.startswith("/incidents/")]) == 2
    server.on_request = None
    assert _sync(con, server, operator).tickets_updated == 0
    fresh = new_store("fresh")
    assert _sync(fresh, server, operator).ok
    _same_store(con, fresh)



def test_a_title_or_priority_edit_waits_for_a_logged_action_or_a_watermark_reset(new_store, small_server, small,
                                                                               operator):
    """PagerDuty writes no log entry for an edit of the title or the priority (docs/connectors.md,
    Limits): later syncs miss it; after a watermark reset the next sync reads it."""
    con = new_store()
    assert _sync(con, small_server, operator).ok
    inc = next(i for i in small.incidents.values() if i.priority != "P1")
    small.now += timedelta(minutes=10)
    inc.title, inc.priority, inc.updated = "Edited title", "P1", small.now
    missed = _sync(con, small_server, operator)
    assert missed.ok and missed.tickets_updated == 0
    sync.reset_watermark(con, "pagerduty", actor=operator)
    again = _sync(con, small_server, operator)
    assert again.ok and (again.tickets_inserted, again.tickets_updated) == (0, 1)
    stored = con.execute("SELECT title, priority_raw FROM tickets WHERE external_id = $n", {"n": str(inc.number)})
    assert stored.fetchone() == ("Edited title", "P1")

# --- settings --------------------------------------------------------------------------------------
def test_service_and_team_filters(shared, small_account):
    inc: Incident = small_account.incidents[min(small_account.incidents)]
    service, team = ref("service", inc.service, "PS")["id"], ref("team", inc.team, "PT")["id"]
    want = sorted(i.number for i in small_account.incidents.values() if i.service == inc.service
                  and i.team == inc.team)
    shared.requests = []
    pulled = _pull(shared, service_ids=f"{service}, PNOTHERE", team_ids=team)
    rows = list(csv.DictReader(io.StringIO(pulled.files[0].data.decode())))
    assert sorted(int(r["incident_number"]) for r in rows) == want
    listing = next(q for p, q in shared.requests if p == "/incidents")
    assert listing["service_ids[]"] == ["PNOTHERE", service] and listing["team_ids[]"] == [team]
    assert all(q.get("team_ids[]") == [team] for p, q in shared.requests if p == "/log_entries")


def test_check_and_the_client(shared, small_account):
    config = _config(shared)
    want = f"PagerDuty answers: {len(small_account.incidents):,} incidents"
    assert pagerduty.CONNECTOR.check(_client(config), config) == want
    client = pagerduty.CONNECTOR.make_client({"api_key": "k"})
    assert client.base_url == "https://api.pagerduty.com/" and client.min_interval == 60 / 960
    assert client.session.headers["Authorization"] == "Token token=k"
    assert client.session.headers["Accept"] == "application/vnd.pagerduty+json;version=2"


def test_history_rows_carry_the_status_each_entry_leaves():
    """Unacknowledged (an acknowledgement timed out) is triggered again; other entries are left out."""
    incident = {"id": "Q1", "incident_number": 7}
    kinds = ("trigger", "notify", "acknowledge", "unacknowledge", "annotate", "acknowledge", "resolve")
    entries = [{"id": f"R{k}", "type": f"{kind}_log_entry", "created_at": f"2017-01-02T10:0{k}:00Z",
                "summary": kind} for k, kind in enumerate(kinds)]
    rows = pagerduty.entry_rows(incident, entries[::-1])
    assert [(r["type"].removesuffix("_log_entry"), r["status"]) for r in rows] == [
        ("trigger", "triggered"), ("acknowledge", "acknowledged"), ("unacknowledge", "triggered"),
        ("acknowledge", "acknowledged"), ("resolve", "resolved")]
