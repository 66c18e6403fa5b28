"""A sync is one transaction: every fault either fails leaving the store as it was, or succeeds
with nothing lost and nothing doubled; the next sync after a failure gets everything."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest

from analytics.connectors import statuspage, sync
from analytics.connectors.base import Pull, RenderedFile, SourceError, Watermark
from analytics.store import auth, db
from tests.connectors.conftest import snapshot, table
from tests.connectors.statuspage_server import Faults, change, serve, synthetic_incidents

N = 250  # three pages of the manage API
INCIDENTS = synthetic_incidents(N)
LAST_SYNC = "connector.statuspage.last_sync"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """What a clean sync of INCIDENTS stores (tickets and history, bookkeeping aside)."""
    con = db.connect(tmp_path_factory.mktemp("reference") / "ref.duckdb")
    with serve(INCIDENTS) as server:
        assert sync.sync(con, "statuspage", started_by=auth.local_operator("ref"), config=server.config()).ok
    yield {"tickets": table(con, "tickets", "ticket_id"), "history": table(con, "status_history", "ticket_id, seq")}
    con.close()


def client_for(server, sleeps: list[float], **options):
    client = statuspage.CONNECTOR.make_client(server.config())
    client.sleep = sleeps.append
    for k, v in options.items():
        setattr(client, k, v)
    return client


def holds(con, reference) -> bool:
    return (table(con, "tickets", "ticket_id") == reference["tickets"]
            and table(con, "status_history", "ticket_id, seq") == reference["history"])


def without_last_sync(state: dict) -> dict:
    return {**state, "settings": [r for r in state["settings"] if r[0] != LAST_SYNC]}


def quick_first(names, quick: int = 2) -> list:
    """The first `quick` of `names` in ./test.sh's quick run, the others in ./test.sh --all only."""
    return [n if i < quick else pytest.param(n, marks=pytest.mark.slow) for i, n in enumerate(names)]


FAILING = {
    "401": (Faults(unauthorized=True), "HTTP 401"),
    "truncated JSON": (Faults(truncated=1), "not complete JSON"),
    "429 for ever": (Faults(rate_limited=1000), "HTTP 429"),
    "500 for ever": (Faults(server_error=1000), "HTTP 500"),
    "dies on every try": (Faults(die_mid_page=1000), "connection failed"),
}


@pytest.mark.parametrize("fault", quick_first(FAILING))
def test_a_failed_sync_leaves_the_store_as_it_was(new_store, operator, reference, fault):
    faults, message = FAILING[fault]
    con = new_store()
    before = snapshot(con)
    sleeps: list[float] = []
    with serve(INCIDENTS, faults=faults) as server:
        result = sync.sync(con, "statuspage", started_by=operator, config=server.config(),
                           client=client_for(server, sleeps, max_retries=2))
        assert not result.ok and message in result.error and server.api_key not in result.error
        assert result.error.startswith("Statuspage: GET /v1/pages/testpage")
        # Byte for byte as before (store version and audit included) but for the failure's own record.
        assert without_last_sync(snapshot(con)) == without_last_sync(before)
        assert sync.watermark(con, "statuspage") == Watermark()
        assert sync.last_sync(con, "statuspage")["error"] == result.error
        server.faults = Faults()
        again = sync.sync(con, "statuspage", started_by=operator, config=server.config())
    assert again.ok and again.tickets_inserted == N and holds(con, reference)
    assert sync.last_sync(con, "statuspage")["error"] is None


def in_a_minute() -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)


RECOVERED = {  # fault, and the waits it causes (None: about a minute)
    "429 with Retry-After in seconds": (lambda: Faults(rate_limited=2, retry_after="3"), [3.0, 3.0]),
    "429 with Retry-After as a date": (lambda: Faults(rate_limited=1, retry_after=in_a_minute()), None),
    "500 once": (lambda: Faults(server_error=1), [0.5]),
    "dies mid-page once": (lambda: Faults(die_mid_page=1), [0.5]),
    "a page served twice": (lambda: Faults(page_twice=1), []),
    "a page skipped": (lambda: Faults(skip_page=2), []),
    "records reordered": (lambda: Faults(reorder=True), []),
}


@pytest.mark.parametrize("fault", quick_first(["a page skipped", "dies mid-page once",
                                               *(k for k in RECOVERED if k not in ("a page skipped", "dies mid-page once"))]))
def test_a_fault_the_sync_gets_over_loses_and_doubles_nothing(new_store, operator, reference, fault):
    faults, waits = RECOVERED[fault]
    con = new_store()
    sleeps: list[float] = []
    with serve(INCIDENTS, faults=faults()) as server:
        result = sync.sync(con, "statuspage", started_by=operator, config=server.config(),
                           client=client_for(server, sleeps))
    assert result.ok, result.error
    assert (result.tickets_inserted, result.rows_rejected) == (N, 0)
    assert holds(con, reference)
    if waits is None:
        assert len(sleeps) == 1 and 50 <= sleeps[0] <= 61
    else:
        assert sleeps == waits


def test_a_record_changed_between_pages_is_kept_at_its_newest(new_store, operator, reference):
    con = new_store()
    target = INCIDENTS[-1]["id"]  # the newest: on page 1, served before the change
    with serve(INCIDENTS) as server:
        edit = lambda incidents: change(next(i for i in incidents if i["id"] == target),  # noqa: E731
                                        "2024-01-01T00:00:00.000Z", name="Changed while paged")
        server.faults = Faults(change_after_page=(1, edit))
        result = sync.sync(con, "statuspage", started_by=operator, config=server.config())
        assert result.ok and result.tickets_inserted == N
        # Read again on the second pass: the newest version is what is stored.
        title = con.execute("SELECT title FROM tickets WHERE external_id = $id", {"id": target}).fetchall()
        assert title == [("Changed while paged",)]
        assert sync.watermark(con, "statuspage") == Watermark(datetime(2024, 1, 1), target)
        assert sync.sync(con, "statuspage", started_by=operator, config=server.config()).tickets_updated == 0


def test_a_failure_after_the_rows_rolls_everything_back(new_store, operator, monkeypatch):
    con = new_store()
    before = snapshot(con)
    real = sync.audit.record

    def failing(cur, actor, action, *args, **kwargs):
        if action == sync.SYNC:
            raise RuntimeError("disk full")
        return real(cur, actor, action, *args, **kwargs)

    monkeypatch.setattr(sync.audit, "record", failing)
    with serve(INCIDENTS[:20]) as server, pytest.raises(RuntimeError, match="disk full"):
        sync.sync(con, "statuspage", started_by=operator, config=server.config())
    assert snapshot(con) == before  # the tickets, history, datasets and upload records went too


class Broken:
    """A connector whose history file cannot load: the tickets file before it must not stay."""

    name, label, required = "statuspage", "Statuspage", (("base_url",),)

    def make_client(self, config):
        raise AssertionError("not used")

    def check(self, client, config):
        return "ok"

    def pull(self, client, config, since, progress=None):
        good = statuspage.render(INCIDENTS[:5])
        orphan = statuspage.render([dict(INCIDENTS[9], id="not-there")])[1]
        return Pull([good[0], RenderedFile(orphan.profile, orphan.name, orphan.data)], 6,
                    Watermark(datetime(2030, 1, 1), "x"))


def test_a_file_that_cannot_load_fails_the_whole_sync(new_store, operator, monkeypatch):
    con = new_store()
    before = snapshot(con)
    monkeypatch.setitem(sync.CONNECTORS, "statuspage", Broken())
    result = sync.sync(con, "statuspage", started_by=operator, config={"base_url": "x"}, client=object())
    assert not result.ok and "none of the" in result.error and "upload the tickets file first" in result.error
    assert without_last_sync(snapshot(con)) == without_last_sync(before)


def test_nothing_configured_is_a_failed_sync_naming_what_is_missing(new_store, operator, monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("HYPERCARE_STATUSPAGE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HYPERCARE_SECRETS", "/nonexistent/secrets.toml")
    result = sync.sync(new_store(), "statuspage", started_by=operator)
    assert not result.ok and "not configured" in result.error
    with pytest.raises(SourceError, match="no source named 'nope'"):
        sync.sync(new_store("other"), "nope", started_by=operator)


def test_a_viewer_may_not_sync(new_store):
    viewer = auth.Identity(name="v@example.com", roles=frozenset({"viewer"}), mode="shared")
    with pytest.raises(auth.PermissionDenied):
        sync.sync(new_store(), "statuspage", started_by=viewer, config={"base_url": "x"})


def test_result_json_round_trip():
    result = sync.SyncResult(source="statuspage", ok=True, started_at="2024-01-01T00:00:00", started_by="t",
                             tickets_inserted=3, dataset_ids=[1, 2])
    import json
    assert json.loads(result.to_json())["dataset_ids"] == [1, 2]
    assert "3 inserted" in result.summary()


def test_a_transaction_on_a_cursor_already_in_one_joins_it(new_store):
    con = new_store()
    version = db.store_version(con)
    cur = con.cursor()
    with db.transaction(cur, new_cursor=False):
        cur.execute("INSERT INTO settings VALUES ('a', '1')")
        with db.transaction(cur, new_cursor=False):  # joined: no BEGIN, COMMIT or bump of its own
            cur.execute("INSERT INTO settings VALUES ('b', '2')")
    assert db.store_version(con) == version + 1
    with pytest.raises(ValueError), db.transaction(cur, new_cursor=False):
        cur.execute("INSERT INTO settings VALUES ('c', '3')")
        with db.transaction(cur, new_cursor=False):
            cur.execute("INSERT INTO settings VALUES ('d', '4')")
        raise ValueError("after the inner one")
    assert db.get_settings(con, ["a", "b", "c", "d"]) == {"a": "1", "b": "2"}
    with db.transaction(con, bump_version=False) as other:
        other.execute("INSERT INTO settings VALUES ('e', '5')")
    assert db.store_version(con) == version + 1 and db.get_setting(con, "e") == "5"
    cur.close()
