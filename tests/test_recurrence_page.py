"""The Recurrence page lists the most impactful clusters and problem candidates first, and all
of them on request, in the core's order."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics import db, recurrence
from analytics.filters import Filters
from tests.helpers import app_using

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def store(demo_file, tmp_path_factory):
    copy = tmp_path_factory.mktemp("rc") / "rc.duckdb"
    copy.write_bytes(demo_file.read_bytes())
    with app_using(copy) as path:
        yield path


ALT = {"rc_clusters": "Recurrence clusters", "rc_candidates": "Problem candidates"}


def _frame(at: AppTest, key: str):
    return next(d for d in at.dataframe if d.proto.alt.startswith(ALT[key])).value


def test_top_twenty_first_then_all_in_the_cores_order(store):
    con = db.connect(store)
    everything = recurrence.clusters(con, Filters(), window_days=recurrence.DEFAULT_WINDOW_DAYS)
    con.close()
    clusters = recurrence.recurring(everything)
    candidates = recurrence.problem_candidates(everything, recurrence.DEFAULT_MIN_TICKETS)
    assert len(candidates) > recurrence.TOP_CLUSTERS  # the demo has more: the test can see the cut
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/recurrence.py").run()
    assert not at.exception, [e.message for e in at.exception]
    for key, frame, toggle in (("rc_clusters", clusters, "rc_show_all"),
                               ("rc_candidates", candidates, "rc_show_all_candidates")):
        shown = _frame(at, key)
        assert list(shown["cluster_id"]) == list(frame["cluster_id"].head(recurrence.TOP_CLUSTERS)), key
        at.toggle(key=toggle).set_value(True).run()
        assert list(_frame(at, key)["cluster_id"]) == list(frame["cluster_id"]), key
