"""The SLA page and the policy editor, driven headless through the router with AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.demo.loader import load_demo
from analytics.ingest.pipeline import ingest_file
from analytics.sla.policy import policy_versions
from analytics.store import db
from analytics.store.auth import local_operator
from tests.helpers import app_using

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def store(tmp_path):
    with app_using(tmp_path / "sla.duckdb") as path:
        yield path


def _page(page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(page).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def test_servicenow_awaiting_states_pause_the_clock_in_the_timeline(store, real_data):
    con = db.connect(store)
    ingest_file(con, real_data / "servicenow-incident-event-log/incident_event_log.csv.gz",
                uploaded_by=local_operator("local"))
    awaiting = {r[0] for r in con.execute(
        "SELECT DISTINCT ticket_id FROM status_history WHERE status LIKE 'Awaiting%'").fetchall()}
    con.close()
    at = _page("pages/sla.py")
    assert any("policy versions used: seed-default" in c.value.replace("\\", "") for c in at.caption)
    # Breached tickets are offered for drill-down; take one that waited on the customer or vendor.
    ticket = next(t for t in at.selectbox(key="sla_ticket").options if t in awaiting)
    at.selectbox(key="sla_ticket").set_value(ticket).run()
    assert not at.exception, [e.message for e in at.exception]
    history = at.dataframe[-1].value  # the drill-down's status history is the last table
    awaiting = history[history["status"].str.startswith("Awaiting")]
    assert len(awaiting) and awaiting["pauses_clock"].all()
    assert not history[~history["status"].str.startswith("Awaiting")]["pauses_clock"].any()
    at.session_state["sla_timeline_data"] = True  # open the timeline's (lazy) data table
    at.run()
    summary = next(c.value.replace("\\", "") for c in at.caption if "status changes; paused" in c.value.replace("\\", ""))
    paused = float(summary.split("paused ")[1].split(" calendar")[0].replace(",", ""))
    assert paused > 0


@pytest.mark.slow
def test_policy_editor_saves_a_new_version_and_explains_errors(store):
    con = db.connect(store)
    load_demo(con, n_tickets=300, actor=local_operator("demo"))
    assert list(policy_versions(con)["version"]) == ["demo-us-business-hours"]
    con.close()
    at = _page("pages/settings.py")
    at.text_input(key="policy_hours").set_value("nine to five")
    at.button[[b.label for b in at.button].index("Save as new version")].click().run()
    assert any("working hours" in e.value for e in at.error), [e.value for e in at.error]
    at.text_input(key="policy_hours").set_value("08:00-16:00")
    at.text_input(key="policy_version").set_value("v2-eight-to-four")
    at.button[[b.label for b in at.button].index("Save as new version")].click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Saved version" in s.value for s in at.success), [s.value for s in at.success]
    from ui.connection import get_connection
    versions = policy_versions(get_connection())
    assert list(versions["version"]) == ["demo-us-business-hours", "v2-eight-to-four"]


@pytest.mark.slow
def test_not_measured_and_paused_by_are_shown(store):
    con = db.connect(store)
    load_demo(con, n_tickets=300, actor=local_operator("demo"))
    con.close()
    at = _page("pages/sla.py")
    assert any(e.label.startswith("Not measured (") for e in at.expander)
    at.toggle(key="sla_paused_toggle").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    paused = next(d.value for d in at.dataframe if "hours" in d.value.columns)
    assert set(paused["clock"]) <= {"response", "resolution"} and (paused["hours"] > 0).all()
    assert any(c.value.replace("\\", "").startswith("Paused by: ") for c in at.caption)
