"""Statuspage: a sync from the API gives what uploading the export gives; incremental syncs change only what changed."""

from __future__ import annotations

import gzip
import io
from datetime import datetime

import pandas as pd
import pytest

from analytics import uploads
from analytics.connectors import statuspage, sync
from analytics.connectors.base import Watermark
from analytics.kpi import trends
from analytics.sla import engine
from analytics.store import db
from analytics.store.filters import Filters
from tests.connectors.conftest import snapshot, table
from tests.connectors.statuspage_server import change, real_incidents, serve, synthetic_incidents

EXPORT = "github-status-incidents"
AS_OF = datetime(2023, 10, 7)


@pytest.fixture(scope="module")
def incidents(real_data):
    return real_incidents(real_data)


def same_store(a, b) -> None:
    """The same tickets, history, KPIs and SLA verdicts, whatever load wrote them."""
    assert table(a, "tickets", "ticket_id") == table(b, "tickets", "ticket_id")
    assert table(a, "status_history", "ticket_id, seq") == table(b, "status_history", "ticket_id, seq")
    assert trends.cli_table(a, Filters(), AS_OF) == trends.cli_table(b, Filters(), AS_OF)
    assert trends.cli_table(a, Filters(), AS_OF, by="severity") == trends.cli_table(b, Filters(), AS_OF, by="severity")
    pd.testing.assert_frame_equal(engine.evaluate(a, as_of=AS_OF), engine.evaluate(b, as_of=AS_OF))


def test_rendering_reproduces_the_export_files(real_data, incidents):
    """The raw JSONL is the API's JSON: rendered, it gives the export's rows (every cell)."""
    files = statuspage.render(incidents)
    for rendered, name in zip(files, ("githubstatus_incidents.csv.gz", "githubstatus_incident_updates.csv.gz")):
        with gzip.open(real_data / EXPORT / name, "rb") as f:
            expected = pd.read_csv(f, dtype=str, keep_default_na=False)
        got = pd.read_csv(io.BytesIO(rendered.data), dtype=str, keep_default_na=False)
        pd.testing.assert_frame_equal(got, expected)


def test_a_sync_gives_the_same_store_as_uploading_the_export(real_data, incidents, new_store, operator):
    synced, uploaded = new_store("synced"), new_store("uploaded")
    with serve(incidents) as server:
        result = sync.sync(synced, "statuspage", started_by=operator, config=server.config())
    assert result.ok, result.error
    assert (result.tickets_inserted, result.rows_rejected, len(result.dataset_ids)) == (1282, 0, 2)
    assert result.records_read == 1282 + 2801
    for name in ("githubstatus_incidents.csv.gz", "githubstatus_incident_updates.csv.gz"):
        uploads.load(uploaded, real_data / EXPORT / name, uploaded_by=operator)
    same_store(synced, uploaded)
    # The sync's outcome is in the store with its watermark, and audited with who started it.
    assert sync.watermark(synced, "statuspage") == Watermark(datetime(2023, 10, 6, 2, 59, 36, 329000), "w554d74dv18j")
    assert sync.last_sync(synced, "statuspage")["tickets_inserted"] == 1282
    trail = synced.execute("SELECT actor, action, object FROM audit_log ORDER BY seq").fetchall()
    assert trail == [("test", "upload", "dataset:1"), ("test", "upload", "dataset:2"),
                     ("test", "sync", "source:statuspage")]


def test_incremental_sync_updates_exactly_what_changed(incidents, new_store, operator):
    subset = incidents[-300:]  # the newest: every one has a real status history
    con = new_store("incremental")
    with serve(subset) as server:
        first = sync.sync(con, "statuspage", started_by=operator, config=server.config())
        assert first.ok and first.tickets_inserted == 300
        version = db.store_version(con)
        changed = [server.incidents[i] for i in (10, 150, 200)]
        for n, incident in enumerate(changed):
            change(incident, f"2023-10-07T0{n}:00:00.000Z")
        second = sync.sync(con, "statuspage", started_by=operator, config=server.config())
        assert second.ok, second.error
        # The 3 changed, and the one incident within OVERLAP of the old watermark, read again unchanged.
        assert (second.tickets_inserted, second.tickets_updated, second.tickets_unchanged) == (0, 3, 1)
        assert second.files[0]["rows_read"] == 4
        assert db.store_version(con) == version + 1  # one transaction
        assert sync.watermark(con, "statuspage").updated_at == datetime(2023, 10, 7, 2)
        names = dict(con.execute("SELECT external_id, title FROM tickets").fetchall())
        assert all(names[i["id"]].endswith("(updated)") for i in changed)

        before = snapshot(con)
        third = sync.sync(con, "statuspage", started_by=operator, config=server.config())
        assert third.ok and (third.tickets_updated, third.tickets_unchanged, third.dataset_ids) == (0, 1, [])
        after = snapshot(con)
        last = [k for k in ("connector.statuspage.last_sync",)]
        strip = lambda s: {**s, "settings": [r for r in s["settings"] if r[0] not in last]}  # noqa: E731
        assert strip(after) == strip(before)  # nothing but the last-sync record; no cache goes stale

        # Syncing the changed server into a fresh store in one go gives the same store.
        fresh = new_store("fresh")
        assert sync.sync(fresh, "statuspage", started_by=operator, config=server.config()).ok
    same_store(con, fresh)


def test_the_public_page_gives_the_50_most_recent(new_store, operator):
    con = new_store()
    with serve(synthetic_incidents(80)) as server:
        assert "public page" in sync.check("statuspage", config=server.config(public=True))
        result = sync.sync(con, "statuspage", started_by=operator, config=server.config(public=True))
        assert result.ok and result.tickets_inserted == 50
        assert server.requests == ["/api/v2/incidents.json", "/api/v2/incidents.json"]
    newest = sorted(i["id"] for i in synthetic_incidents(80)[-50:])
    assert [r[0] for r in con.execute("SELECT external_id FROM tickets ORDER BY 1").fetchall()] == newest


def test_the_manage_api_is_paged_and_read_twice(new_store, operator):
    con = new_store()
    with serve(synthetic_incidents(250)) as server:
        assert "page GitHub (manage API)" in sync.check("statuspage", config=server.config())
        server.requests.clear()
        result = sync.sync(con, "statuspage", started_by=operator, config=server.config())
        assert result.ok and result.tickets_inserted == 250
        pages = [p for p in server.requests if "/incidents?" in p]
        assert pages == [f"/v1/pages/testpage/incidents?page={n}&per_page=100" for n in (1, 2, 3)] * 2


def test_configuration_alternatives_and_describe():
    from analytics.connectors import config

    c = statuspage.CONNECTOR
    assert config.configured(c, {"base_url": "https://status.example.com"})
    assert config.configured(c, {"api_key": "k", "page_id": "p"})
    assert config.missing(c, {"api_key": "k"}) == ["page_id"]
    text = config.describe(c, {"api_key": "secret-value", "page_id": "p"})
    assert text == "Statuspage: configured (api_key, page_id)" and "secret-value" not in text
    assert "HYPERCARE_STATUSPAGE_BASE_URL" in config.describe(c, {})
