"""The Recurrence page lists the most impactful clusters and problem candidates first, and all
of them on request, in the core's order."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.recurrence import clustering, rank
from analytics.store import db
from analytics.store.filters import Filters
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


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_top_twenty_first_then_all_in_the_cores_order(store):
    con = db.connect(store)
    everything = clustering.clusters(con, Filters(), window_days=clustering.DEFAULT_WINDOW_DAYS)
    con.close()
    clusters = clustering.recurring(everything)
    candidates = clustering.problem_candidates(everything, clustering.DEFAULT_MIN_TICKETS)
    assert len(candidates) > rank.TOP_CLUSTERS  # the demo has more: the test can see the cut
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/recurrence.py").run()
    assert not at.exception, [e.message for e in at.exception]
    for key, frame, toggle in (("rc_clusters", clusters, "rc_show_all"),
                               ("rc_candidates", candidates, "rc_show_all_candidates")):
        shown = _frame(at, key)
        assert list(shown["cluster_id"]) == list(frame["cluster_id"].head(rank.TOP_CLUSTERS)), key
        at.toggle(key=toggle).set_value(True).run()
        assert list(_frame(at, key)["cluster_id"]) == list(frame["cluster_id"]), key


def test_kinds_per_service_name_the_tickets_without_a_service():
    import pandas as pd

    frame = pd.DataFrame({"service": ["Actions", "", "  ", None, "Actions"],
                          "kind": ["rare", "frequent", "rare", "rare", "new"]})
    kinds = clustering.kinds_by_service(frame).set_index("service")
    assert list(kinds.index) == ["(no service)", "Actions"]  # never an empty name
    assert kinds.loc["(no service)", ["frequent", "rare", "clusters"]].tolist() == [1, 2, 3]


def test_the_clusters_table_shows_figures_first_without_internal_ids(store):
    import json

    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/recurrence.py").run()
    assert not at.exception, [e.message for e in at.exception]
    element = next(d for d in at.dataframe if d.proto.alt.startswith(ALT["rc_clusters"]))
    config = {k.removeprefix("col:name:"): v for k, v in json.loads(element.proto.columns).items()}
    assert config["cluster_id"]["hidden"] and config["ticket_ids"]["hidden"]  # in the CSV, not on screen
    assert list(element.proto.column_order)[:6] == ["label", "service", "component", "tickets", "impact", "kind"]
    assert config["impact"]["type_config"]["format"] == "%,.1f"  # "2,834.0"
    assert config["tickets"]["type_config"]["format"] == "%,d"
    # durations are written as text ("16 h 37 min"), so the column is text, not a number format
    assert config["mtbf_hours"]["type_config"]["type"] == "text" and config["mtbf_hours"]["label"] == "MTBF"
    kinds = next(d for d in at.dataframe if d.proto.alt.startswith("Frequent, rare and new"))
    assert "" not in set(kinds.value["service"])
