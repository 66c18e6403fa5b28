"""The sidebar's date filter (issue #15), driven headless with AppTest: two typed-or-picked days whose
pickers span the data's months, follow an engagement switch, an upload or a delete, and never
refuse (or raise on) a day from the address or one chosen before the data changed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.demo.loader import load_demo
from analytics.ingest import datasets
from analytics.ingest.pipeline import ingest_file
from analytics.store import sharing
from analytics.store.auth import local_operator
from analytics.store.filters import MAX_DATE, MIN_DATE
from tests.helpers import app_using
from tests.test_engagement_ui import catalog, two_engagements  # noqa: F401 (fixtures, shared)
from ui import engagement_state
from ui.filter_bar import FROM_KEY, TO_KEY

APP = str(Path(__file__).resolve().parent.parent / "app.py")
SAMPLE = Path(__file__).parent / "fixtures" / "servicenow_event_log_sample.csv"
DEMO_MONTHS = (date(2026, 9, 1), date(2026, 11, 30))  # 300 demo tickets (seed 5): opened 7 Sep – 20 Nov 2026
SAMPLE_MONTH = (date(2016, 2, 1), date(2016, 2, 29))  # the 2-ticket sample: opened 29 Feb 2016


def _run(at: AppTest) -> AppTest:
    """`at`, once it has run, checked to show no exception."""
    assert not at.exception, [e.message for e in at.exception]
    return at


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params.update(query or {})
    return _run(at.run())


def _days(at: AppTest) -> tuple:
    return at.date_input(key=FROM_KEY).value, at.date_input(key=TO_KEY).value


def _bounds(at: AppTest) -> tuple[date, date]:
    """The pickers' (min, max); both pickers have the same."""
    first, last = at.date_input(key=FROM_KEY), at.date_input(key=TO_KEY)
    assert (first.min, first.max) == (last.min, last.max)
    return first.min, first.max


def _caption(at: AppTest) -> str:
    return next(text for c in at.caption if "Filters:" in (text := c.value.replace("\\", "")))


def _url(at: AppTest) -> dict:
    return {k: at.query_params[k] for k in ("from", "to") if k in at.query_params}




def test_typed_days_filter_and_the_pickers_follow_an_engagement_switch(catalog):
    at = _app()
    assert _days(at) == (None, None) and _bounds(at) == DEMO_MONTHS
    at.date_input(key=FROM_KEY).set_value(date(2026, 9, 1))  # before the first ticket: still accepted
    _run(at.date_input(key=TO_KEY).set_value(date(2026, 9, 10)).run())
    assert _url(at) == {"from": "2026-09-01", "to": "2026-09-10"}
    n = int({m.label: m.value for m in at.metric}["Tickets"].replace(",", ""))
    assert 0 < n < 300 and _caption(at).endswith(f"Filters: 1 – 10 Sep 2026 · {n} tickets")

    _run(at.selectbox(key=engagement_state.PICK_KEY).set_value("sn").run())
    assert _days(at) == (None, None) and _url(at) == {}
    assert _bounds(at) == SAMPLE_MONTH
    assert "Filters: none (all tickets) · 2 tickets" in _caption(at)
    _run(at.selectbox(key=engagement_state.PICK_KEY).set_value("demo").run())
    assert _bounds(at) == DEMO_MONTHS


@pytest.mark.parametrize(
    "query,days,bounds,caption",
    [
        ({"engagement": "sn", "from": "2026-09-01", "to": "2026-09-30"}, (date(2026, 9, 1), date(2026, 9, 30)),
         (SAMPLE_MONTH[0], date(2026, 9, 30)), "Filters: 1 – 30 Sep 2026 · 0 tickets"),
        ({"engagement": "sn", "from": "2001-01-01"}, (date(2001, 1, 1), None),
         (date(2001, 1, 1), SAMPLE_MONTH[1]), "Filters: from 1 Jan 2001 · 2 tickets"),
        # A lone "until" was dropped when the filter was one range widget.
        ({"engagement": "demo", "to": "2026-09-07"}, (None, date(2026, 9, 7)), DEMO_MONTHS, "Filters: until 7 Sep 2026"),
    ],
    ids=["range-after-the-data", "from-before-the-data", "until-alone"],
)
def test_days_in_the_address_are_kept_even_outside_the_data(catalog, query, days, bounds, caption):
    at = _app(query)
    assert _days(at) == days and _bounds(at) == bounds
    assert caption in _caption(at)
    assert _url(at) == {k: v for k, v in query.items() if k in ("from", "to")}


def test_a_from_after_the_to_swaps_them(catalog):
    at = _app({"to": "2026-09-10"})
    _run(at.date_input(key=FROM_KEY).set_value(date(2026, 9, 20)).run())
    assert _days(at) == (date(2026, 9, 10), date(2026, 9, 20))
    assert _url(at) == {"from": "2026-09-10", "to": "2026-09-20"}


def test_clear_filters_empties_both_days(catalog):
    at = _app({"from": "2026-09-10", "to": "2026-09-20", "severity": "SEV-1"})
    _run(at.button(key="f_clear").click().run())
    assert _days(at) == (None, None) and _url(at) == {} and "severity" not in at.query_params
    assert "Filters: none (all tickets) · 300 tickets" in _caption(at)


@pytest.mark.slow
def test_a_chosen_day_outside_the_data_after_a_delete_is_kept(tmp_path):
    """The days stay (0 tickets), the pickers widen to them, nothing raises."""
    path = tmp_path / "one.duckdb"
    with app_using(path) as path:
        with sharing.writing(path) as con:
            demo = {r.dataset_id for r in load_demo(con, n_tickets=300, seed=5, actor=local_operator("demo"))}
            ingest_file(con, SAMPLE, uploaded_by=local_operator("tester"))
        at = _app()
        assert _bounds(at) == (SAMPLE_MONTH[0], DEMO_MONTHS[1])
        at.date_input(key=FROM_KEY).set_value(date(2026, 10, 1))
        _run(at.date_input(key=TO_KEY).set_value(date(2026, 10, 31)).run())
        with sharing.writing(path) as con:
            for dataset in demo:
                datasets.delete_dataset(con, dataset, actor=local_operator("tester"))
        _run(at.run())
        assert _days(at) == (date(2026, 10, 1), date(2026, 10, 31))
        assert _bounds(at) == (SAMPLE_MONTH[0], date(2026, 10, 31))
        assert "Filters: 1 – 31 Oct 2026 · 0 tickets" in _caption(at)
        _run(at.button(key="f_clear").click().run())
        assert _bounds(at) == SAMPLE_MONTH  # back to the data's month once the days are gone


def test_an_empty_store_has_pickers_over_the_whole_window(tmp_path):
    with app_using(tmp_path / "empty.duckdb"):
        at = _app({"from": "2026-09-01"})
        assert _bounds(at) == (MIN_DATE, MAX_DATE)
        assert _days(at) == (date(2026, 9, 1), None) and _url(at) == {"from": "2026-09-01"}
