"""The report's first page: the verdict, criteria, KPIs with their month-on-month change and
trend, top risks and sign-off state, each checked against an independent computation."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime

import pytest

from analytics.governance import closure, signoff
from analytics.kpi.kpis import results
from analytics.report import summary as summ
from analytics.report.builder import build, month_filters
from analytics.report.model import Spark
from analytics.report.pdf import spark_svg
from analytics.report.sections import month_on_month
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters

AS_OF = datetime(2026, 11, 1)


@pytest.fixture(scope="module")
def demo(demo_file):
    con = db.connect(demo_file)
    yield con
    con.close()


@pytest.fixture(scope="module")
def october(demo):
    return build(demo, "2026-10", as_of=AS_OF)


def test_the_first_section_is_the_decision(october, demo):
    page = october.sections[0]
    assert page.key == "summary"
    card = closure.evaluate(demo, AS_OF, month_filters("2026-10"))
    word, why = closure.verdict(card)
    texts = [b.text for b in page.blocks if hasattr(b, "text")]
    assert texts[0] == f"Ready to exit hypercare?  {summ.VERDICT_MARK[word]} {word.capitalize()}"
    assert why in texts
    criteria = next(t for t in page.tables if t.name == "criteria")
    assert list(criteria.data["status"]) == list(card["status"])
    assert all(v.split(" ", 1)[1] == s for v, s in zip(criteria.view["status"], card["status"]))
    # Provenance moved to the end, in full.
    assert october.sections[-1].key == "provenance"
    assert october.fingerprint in set(october.sections[-1].tables[0].data["value"])


def test_kpi_table_month_values_equal_each_months_own_report(october, demo):
    """The trend's last point is the month's KPI; the change is against the calendar month
    before, computed on its own (not the same-length window the dashboard compares with). The
    demo's September starts at go-live, the 7th: its ticket count is not compared."""
    table = next(t for t in october.sections[0].tables if t.name == "kpis").data.set_index("key")
    september = results(demo, month_filters("2026-09"), AS_OF)
    compared = 0
    for key, r in october.kpis.items():
        row = table.loc[key]
        if r.value is None:
            assert row["2026-10"] is None or row["2026-10"] != row["2026-10"]
        else:
            assert row["2026-10"] == pytest.approx(r.value, rel=1e-9)
        before = september[key].value
        if before is None or r.value is None or key == "tickets":
            assert row["change"] is None or row["change"] != row["change"], key
        else:
            assert row["change"] == pytest.approx(r.value - before, rel=1e-9, abs=1e-9)
            compared += 1
    assert compared >= 10
    notes = [b.text for b in october.sections[0].blocks if hasattr(b, "text")]
    assert any("September 2026 has data from 07 September only" in t for t in notes)


@pytest.mark.parametrize("month, note", [
    ("2026-09", "no data before September 2026: no change to show"),
    ("2026-11", None),
])
def test_month_on_month_says_what_limits_the_comparison(demo, month, note):
    found, why = month_on_month(demo, month_filters(month), AS_OF)
    assert why == note
    if note:
        assert all(r.change is None for r in found.values())


def test_trend_months_start_with_the_data():
    assert summ.trend_months(date(2026, 10, 1)) == [date(2026, m, 1) for m in range(5, 11)]
    assert summ.trend_months(date(2026, 10, 1), data_from=datetime(2026, 9, 7)) == [date(2026, 9, 1),
                                                                                    date(2026, 10, 1)]
    assert summ.trend_months(date(2026, 1, 1), data_from=datetime(2025, 2, 3)) == [
        date(2025, m, 1) for m in range(8, 13)] + [date(2026, 1, 1)]
    assert summ.trend_months(date(2026, 10, 1), data_from=datetime(2026, 12, 1)) == [date(2026, 10, 1)]


# --- risks and sign-off on a store built for them --------------------------------------------


def _ticket(con, tid: str, sev: str, service: str, opened: datetime, resolved: datetime | None) -> None:
    con.execute(
        "INSERT INTO tickets (ticket_id, source, external_id, type, title, severity, status, status_category, "
        "service, opened_at, resolved_at) VALUES ($id, 'test', $ext, 'incident', 'x', $sev, $status, $cat, "
        "$service, $opened, $resolved)",
        {"id": f"test:{tid}", "ext": tid, "sev": sev, "status": "Resolved" if resolved else "Open",
         "cat": "resolved" if resolved else "open", "service": service, "opened": opened, "resolved": resolved})


@pytest.fixture
def risky(tmp_path):
    con = db.connect(tmp_path / "risks.duckdb")
    _ticket(con, "OLD-2", "SEV-2", "pay", datetime(2026, 9, 20, 8), None)  # opened before the month
    _ticket(con, "NEW-1", "SEV-1", "pay", datetime(2026, 10, 3, 8), None)
    _ticket(con, "DONE-2", "SEV-2", "pay", datetime(2026, 10, 5, 8), datetime(2026, 10, 20, 8))  # late
    _ticket(con, "LOW-3", "SEV-3", "web", datetime(2026, 10, 6, 8), None)  # open, not urgent
    _ticket(con, "FAST-3", "SEV-3", "web", datetime(2026, 10, 7, 8), datetime(2026, 10, 7, 9))
    yield con
    con.close()


def test_risks_name_open_urgent_tickets_oldest_first_and_the_worst_service(risky):
    table = summ.risks(risky, month_filters("2026-10"), AS_OF).set_index("risk")
    urgent = table.loc["Open SEV-1/SEV-2"]
    assert urgent["count"] == 2
    assert urgent["detail"].index("OLD-2 (SEV-2, pay") < urgent["detail"].index("NEW-1 (SEV-1, pay")
    worst = table.loc["Worst breaching service"]
    assert worst["count"] >= 1 and worst["detail"].startswith("pay: ")
    assert "web" not in worst["detail"]  # its one stopped clock was in time
    view = summ.risk_view(table.reset_index())
    assert list(view["state"])[:2] == ["! present", "! present"]


def test_no_risk_says_none(tmp_path):
    con = db.connect(tmp_path / "calm.duckdb")
    _ticket(con, "FAST-3", "SEV-3", "web", datetime(2026, 10, 7, 8), datetime(2026, 10, 7, 9))
    table = summ.risks(con, month_filters("2026-10"), AS_OF)
    con.close()
    assert list(table["count"]) == [0, 0, 0]
    assert list(summ.risk_view(table)["state"]) == ["✓ none"] * 3


def test_signoff_text_names_who_signed_and_who_is_missing(risky):
    assert summ.signoff_text(signoff.current(risky, AS_OF)).startswith(f"0 of {len(signoff.ROLES)} roles signed.")
    signoff.record(risky, signoff.ROLES[0], "Ada Lovelace", date(2026, 10, 30), "ok", local_operator("tester"))
    text = summ.signoff_text(signoff.current(risky, AS_OF))
    assert text.startswith(f"1 of {len(signoff.ROLES)} roles signed.")
    assert f"Signed: {signoff.ROLES[0]} (Ada Lovelace, 2026-10-30)" in text
    assert "Missing: " + ", ".join(signoff.ROLES[1:]) in text


# --- the trend line -------------------------------------------------------------------------


def _shapes(svg: bytes) -> list[str]:
    return [el.tag.split("}")[1] for el in ET.fromstring(svg)]


def test_spark_draws_gaps_the_months_dot_and_the_target():
    assert spark_svg(Spark((None, None))) is None
    # Two runs around a gap, the dashed target first, the report's month as a dot.
    shapes = _shapes(spark_svg(Spark((1.0, 2.0, None, 3.0, 4.0), target=2.5)))
    assert shapes == ["line", "polyline", "polyline", "circle"]
    # A month without a value gets no dot; a lone earlier value is a small dot.
    assert _shapes(spark_svg(Spark((5.0, None)))) == ["circle"]
    assert str(Spark((1.5, None, 12345.0))) == "1.5 · – · 12,345.0"


def test_previous_period_of_outage_kpis_is_the_previous_window(demo):
    """Availability/MTBF/MTBSI compared with the window before: each window read its own
    outages (the previous one once got the current window's, so 100 % and no MTBF)."""
    now = results(demo, month_filters("2026-10"), AS_OF)
    before = results(demo, Filters(date_from=date(2026, 8, 31), date_to=date(2026, 9, 30)), AS_OF)
    assert before["availability"].value < 100.0 and before["mtbf"].value is not None
    for key, r in now.items():
        assert r.previous == pytest.approx(before[key].value, rel=1e-12, abs=1e-12), key


@pytest.mark.parametrize("text, first", [
    ("Missed over 2016-02-01 – 2016-05-01 00:00 UTC: MTTR SEV-1. Availability not measurable: x.",
     "Missed over 2016-02-01 – 2016-05-01 00:00 UTC: MTTR SEV-1. …"),
    ("Below target: response 80.3 % (3,544 of 4,412 met). Target 95 % (SLA policy 'seed').",
     "Below target: response 80.3 % (3,544 of 4,412 met). …"),
    ("0 of 4 required roles signed; not signed: IT Director.", "0 of 4 required roles signed; not signed: IT Director."),
    ("see e.g. the log", "see e.g. the log"),
])
def test_page_one_gives_each_criterion_its_first_sentence(text, first):
    assert closure.first_sentence(text) == first


def test_a_single_month_is_drawn_at_the_right_end():
    circle = ET.fromstring(spark_svg(Spark((3.0,)))).find("{http://www.w3.org/2000/svg}circle")
    assert float(circle.get("cx")) > 50  # width 60: the report's month sits right, as in longer lines
