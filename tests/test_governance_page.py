"""The Governance page and the closure-criteria editor, driven headless through the router with AppTest."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.governance import closure, closure_rules, pir_register, portfolio, signoff
from analytics.store import audit, db
from analytics.store.filters import Filters
from tests.helpers import app_using

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TABS = ["Closure scorecard", "Sign-off", "Post-incident reviews", "Defect triage", "Monthly report", "Audit trail"]


@pytest.fixture
def store(demo_file, tmp_path):
    copy = tmp_path / "gov.duckdb"
    copy.write_bytes(demo_file.read_bytes())
    with app_using(copy) as path:
        yield path


def _page(tab: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/governance.py").run()
    if tab:
        at.session_state["gov_tab"] = tab
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _plain(text: str) -> str:
    return " ".join(str(text).replace("\\", "").split())


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _read(path, fn, *args):
    con = db.connect(path)
    try:
        return fn(con, *args)
    finally:
        con.close()


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_every_tab_renders_and_only_the_open_one_runs(store):
    at = _page()
    assert [t.label for t in at.tabs] == TABS
    # the scorecard shows the core's verdicts, one row per criterion, as words with a symbol
    shown = at.dataframe[0].value
    # evaluated at the default as-of: the end of the hypercare window or the last event, whichever is earlier
    as_of = _read(store, portfolio.governance_as_of)
    card = _read(store, closure.evaluate, as_of, Filters())
    assert list(shown["criterion"]) == list(card["criterion"])
    assert [s.split(" ", 1)[1] for s in shown["status"]] == list(card["status"])
    # one line per criterion in the table (wrapped, a missing value as "—"); the whole reason
    # once, in the criterion's expander
    assert list(shown["detail"]) == [closure.first_sentence(d) for d in card["detail"]]
    assert at.dataframe[0].proto.placeholder == "—" and at.dataframe[0].proto.row_height > 64
    full = [m.value.replace("\\", "") for e in at.expander for m in e.markdown]
    assert all(any(_plain(d) in _plain(f) for f in full) for d in card["detail"])
    # the verdict on top, as on the report's first page: the core's, from the same scorecard
    word, why = closure.verdict(card)
    assert f"Ready to exit hypercare? {word.capitalize()}" in [h.value for h in at.subheader]
    assert any(why in m.value.replace("\\", "") for m in at.markdown)
    assert not any(m.label.startswith("Coverage") for m in at.metric)  # PIR tab not open: not computed
    for tab in TABS[1:]:
        at.session_state["gov_tab"] = tab
        at.run()
        assert not at.exception, (tab, [e.message for e in at.exception])
    at.session_state["gov_tab"] = "Post-incident reviews"
    at.run()
    summary = _read(store, lambda con: __import__("analytics.governance.pir", fromlist=["summary"]).summary(
        con, Filters(), as_of))
    coverage = next(m for m in at.metric if m.label == "Coverage").value
    assert coverage == f"{summary['coverage_pct']:.1f} %"


@pytest.mark.slow
def test_sign_off_and_revocation_through_the_forms_reach_the_audit_trail(store):
    at = _page("Sign-off")
    at.selectbox(key="gov_so_role").set_value("Operations Lead")
    at.text_input(key="gov_so_name").set_value("Ada Lovelace")
    at.text_area(key="gov_so_comment").set_value("Metrics reviewed in the November board")
    _button(at, "Record sign-off").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    now = _read(store, signoff.current).set_index("role")
    assert now.loc["Operations Lead", "state"] == "signed" and now.loc["Operations Lead", "name"] == "Ada Lovelace"
    trail = _read(store, audit.trail)
    assert trail.iloc[0]["action"] == audit.SIGNOFF_RECORD and trail.iloc[0]["actor"]

    # a revocation without a reason is refused with a message, and nothing is written
    recorded = len(_read(store, signoff.history))  # the demo's own sign-offs and this one
    at.selectbox(key="gov_rv_role").set_value("Operations Lead")
    _button(at, "Revoke sign-off").click().run()
    assert at.error and "reason" in at.error[0].value.lower()
    assert len(_read(store, signoff.history)) == recorded
    at.text_area(key="gov_rv_reason").set_value("Availability figure was wrong")
    _button(at, "Revoke sign-off").click().run()
    assert _read(store, signoff.current).set_index("role").loc["Operations Lead", "state"] == "revoked"
    assert _read(store, audit.verify) == []


@pytest.mark.slow
def test_pir_register_upload_through_the_page_is_idempotent(store):
    ids = _read(store, lambda con: [r[0] for r in con.execute(
        "SELECT external_id FROM tickets WHERE severity = 'SEV-1' ORDER BY external_id LIMIT 2").fetchall()])
    csv = ("Ticket ID,Completed,Action,Owner,Due,Closed\n"
           f"{ids[0]},2026-10-01,Add a disk alert,Ops,2026-10-15,2026-10-10\n"
           f"{ids[1]},2026-10-02,,,,\n"
           "NOPE-1,2026-10-02,,,,\n").encode()
    at = _page("Post-incident reviews")
    messages = []
    for attempt in range(2):
        at.file_uploader(key="gov_pir_file").set_value(("pir.csv", csv, "text/csv")).run()
        _button(at, "Load register").click().run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        regs = _read(store, pir_register.registers)
        assert len(regs) == 1, attempt  # the same file twice changes nothing
        messages.append(" ".join(i.value for i in at.info))
    assert "NOPE" in messages[0]  # an unknown ticket reference is reported, not dropped
    assert "nothing was written" in messages[1]


@pytest.mark.slow
def test_csv_pack_builds_and_downloads_from_the_page(store):
    at = _page("Monthly report")
    months = at.selectbox(key="gov_report_month").options
    assert "2026-10" in months
    at.selectbox(key="gov_report_month").set_value("2026-10")
    at.radio(key="gov_report_format").set_value("CSV data pack (zip)")
    _button(at, "Build report").click().run()
    assert not at.exception, [e.message for e in at.exception]
    _, name, data, mime, _ = at.session_state["gov_report_file"]
    assert name == "hypercare-report-gov-2026-10.zip" and mime == "application/zip"  # the store's engagement: gov
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert len(z.namelist()) >= 5
        first = pd.read_csv(z.open(z.namelist()[0]))
        assert len(first.columns) >= 1


@pytest.mark.slow
def test_closure_rules_editor_saves_through_the_audit_log(store):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/settings.py").run()
    assert not at.exception, [e.message for e in at.exception]
    at.number_input(key="cr_sla_window").set_value(14)
    at.multiselect(key="cr_roles").set_value(["IT Director", "Support Lead"])
    _button(at, "Save closure criteria").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    rules = _read(store, closure_rules.load_rules)
    assert rules.sla_window_days == 14 and rules.required_roles == ["IT Director", "Support Lead"]
    entry = _read(store, audit.trail).iloc[0]
    assert entry["action"] == audit.CLOSURE_RULES_SAVE and "sla_window_days" in entry["detail"]
    # the scorecard now asks for the two roles only
    detail = _read(store, closure.evaluate, None, Filters()).set_index("key").loc["signoff", "definition"]
    assert "IT Director" in detail and "Engineering Lead" not in detail


def test_the_as_of_is_written_as_the_end_of_the_day_the_picker_shows():
    from ui.governance_views import as_of_day, as_of_text

    midnight = datetime(2026, 11, 16)
    assert as_of_text(midnight) == "the end of 2026-11-15 (2026-11-16 00:00 UTC)"
    assert as_of_day(midnight).isoformat() == "2026-11-15"
    assert as_of_text(datetime(2026, 11, 21, 14, 3)) == "2026-11-21 14:03 UTC"
    assert as_of_day(datetime(2026, 11, 21, 14, 3)).isoformat() == "2026-11-21"


def test_the_page_says_the_end_of_the_picked_day_everywhere_and_the_scorecard_fits(store):
    at = _page()
    as_of = _read(store, portfolio.governance_as_of)
    assert as_of.time() == datetime.min.time()  # the demo's window ends at midnight: the case in question
    day = at.date_input(key="gov_as_of").value
    said = f"the end of {day:%Y-%m-%d} ({as_of:%Y-%m-%d %H:%M} UTC)"
    texts = [_plain(m.value) for m in (*at.markdown, *at.caption)]
    assert any(f"as of {said};" in t for t in texts), texts  # the verdict
    assert any(f"Hypercare closure criteria as of {said}." in t for t in texts), texts  # the scorecard
    assert not any(f"as of {as_of:%Y-%m-%d %H:%M} UTC" in t for t in texts if "Hypercare closure" in t)
    # the reason column within the page, its text wrapped; no column left beyond the right edge
    config = {k.removeprefix("col:name:"): v for k, v in json.loads(at.dataframe[0].proto.columns).items()}
    assert config["detail"]["width"] <= 500 and config["evidence_count"]["type_config"]["format"] == "%,d"
    assert not any(c.value.startswith("Scroll the table sideways") for c in at.caption)
