"""SLA charts as figure JSON: labels clear of whiskers and the target, no stubs, broken lines."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.charts import sla
from analytics.charts.contrast import BACKGROUND, contrast_ratio, readable
from analytics.sla import compliance as comp

# ServiceNow's figures (S): short bars with wide ranges, and a severity without data.
MET_BREACHED = {("response", "SEV-1"): (97, 107), ("response", "SEV-2"): (92, 154),
                ("response", "SEV-3"): (11150, 2901), ("response", "SEV-4"): (413, 73),
                ("resolution", "SEV-1"): (68, 202), ("resolution", "SEV-2"): (141, 267),
                ("resolution", "SEV-3"): (17460, 4527), ("resolution", "SEV-4"): (0, 0)}


@pytest.fixture
def table() -> pd.DataFrame:
    counted = pd.DataFrame([{"metric": m, "bucket": None, "grp": s, "met": met, "breached": br,
                             "open_breached": 0, "not_applicable": 0}
                            for (m, s), (met, br) in MET_BREACHED.items()])
    return comp.compliance_table(counted, 95.0)


def _points(fig):
    """(trace, index, x, base, text, textposition) of every bar point."""
    for trace in fig.data:
        for i, (x, base, text, where) in enumerate(zip(trace.x, trace.base, trace.text, trace.textposition)):
            yield trace, i, x, base, text, where


def test_every_label_sits_right_of_100_where_no_whisker_or_target_reaches(table):
    """Whiskers struck through the labels of short bars ("25.2 % missed", S)."""
    fig = sla.compliance_chart(table)
    target = fig.layout.shapes[0].x0
    labelled = [(t, i, x, b, text) for t, i, x, b, text, where in _points(fig) if where != "none"]
    assert len(labelled) == 8 and {text for *_, text in labelled} >= {"25.2 % missed", "no data"}
    for _trace, _i, x, base, _ in labelled:
        assert base > 100 >= target and x == 0  # a zero-length bar: its outside text starts at base
    whisker_ends = [v + (h or 0) for t in fig.data for v, h in zip(t.x, t.error_x.array) if v is not None]
    assert max(whisker_ends) <= 100
    assert fig.layout.xaxis.range[1] > min(b for *_, b, _ in labelled)  # the column is inside the plot


def test_a_row_without_data_draws_no_bar_and_no_whisker(table):
    """Every "no data" label started with a stub: a zero bar's whisker cap ("|no data", D, S, G)."""
    fig = sla.compliance_chart(table)
    resolution = next(t for t in fig.data if t.name == "Resolution")
    rows = len(resolution.y) // 2
    sev4 = list(resolution.y).index("SEV-4")
    assert resolution.x[sev4] is None
    # Whisker lengths for the bars only: a missing entry draws nothing, a None (read as 0) a cap.
    assert len(resolution.error_x.array) == len(resolution.error_x.arrayminus) == rows
    assert resolution.error_x.array[sev4] is None


def test_labels_read_on_the_page_not_on_hatching(table):
    """White labels on hatched orange bars were hard to read: every label is on the background."""
    fig = readable(sla.compliance_chart(table))
    for trace in fig.data:
        drawn = [w for w, text in zip(trace.textposition, trace.text) if text]
        assert set(drawn) == {"outside"}
        assert contrast_ratio(trace.outsidetextfont.color, BACKGROUND) >= 4.5
        # The label bars are transparent: nothing between the text and the page.
        assert {c for c, w in zip(trace.marker.color, trace.textposition) if w == "outside"} == {"rgba(0,0,0,0)"}


def test_the_legend_names_each_clock_by_its_own_bars(table):
    fig = sla.compliance_chart(table)
    resolution = next(t for t in fig.data if t.name == "Resolution")
    assert resolution.marker.pattern.shape[0] == "/" and resolution.marker.color[0] == "#D55E00"


def _trend(periods, metric="resolution") -> pd.DataFrame:
    return pd.DataFrame({"period": pd.to_datetime(periods), "metric": metric, "met": 9, "n": 10,
                         "compliance_pct": 90.0, "wilson_low": 60.0, "wilson_high": 98.0})


def test_the_trend_line_breaks_where_weeks_have_no_data():
    """A dashed line joined weeks years apart (G)."""
    fig = sla.trend_chart(_trend(["2010-02-08", "2010-02-15", "2019-01-07", "2019-01-14"]), 95.0, "week")
    (line,) = fig.data  # response has no data: not drawn, not in the legend
    assert line.connectgaps is False
    assert list(line.y) == [90.0, 90.0, None, 90.0, 90.0]
    monthly = sla.trend_chart(_trend(["2023-01-01", "2023-02-01", "2023-03-01", "2023-06-01"]), 95.0, "month")
    assert list(monthly.data[0].y).count(None) == 1


def test_the_target_is_named_in_the_legend_margin_not_on_the_data():
    """"target 95 %" sat on the last points (S)."""
    fig = sla.trend_chart(_trend(["2016-03-07", "2016-03-14"]), 95.0, "week")
    (note,) = fig.layout.annotations
    assert "target 95 %" in note.text and note.xref == "paper" and note.x > 1 and note.yref == "paper"
    assert fig.layout.showlegend and fig.layout.shapes[0].y0 == 95.0


def test_an_empty_trend_says_why():
    fig = sla.trend_chart(_trend([]).iloc[0:0], 95.0, "week")
    assert len(fig.data) == 0 and "No SLA clock" in fig.layout.annotations[0].text.replace("<br>", " ")
