"""KPI charts and cards as figure JSON and text: limits in range, the axis on the data, the window."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics.charts import kpi
from analytics.kpi import trends
from analytics.kpi.kpis import KpiResult
from analytics.store import units


def _trend(values, start="2010-01-04", previous=np.nan) -> pd.DataFrame:
    """A one-group trend as kpi.trends.trend returns it, with its XmR limits."""
    buckets = pd.date_range(start, periods=len(values), freq="7D").date
    df = pd.DataFrame({"bucket": buckets, "group": "All", "value": pd.Series(values, dtype="float64"),
                       "n": 1, "previous": previous, "reason": None, "partial": False})
    return df.join(trends.xmr(df["value"])[["mean", "ucl", "lcl", "special_cause"]])


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


@pytest.mark.parametrize("key,values,low,high", [
    ("mttr", [0.5, 0.4, 14.0, 0.3, 0.6, 0.2, 7.0, 0.4], 0.0, None),  # hours: G's LCL was −2 h
    ("reopen_rate", [0.0, 1.0, 9.0, 0.0, 0.5, 7.0, 0.0], 0.0, None),
    ("availability", [100.0, 99.0, 80.0, 100.0, 100.0, 92.0, 100.0], None, 100.0),
])
def test_control_limits_stay_within_the_kpis_possible_values(key, values, low, high):
    df = _trend(values)
    raw = df["lcl"].min() if low is not None else df["ucl"].max()
    assert (raw < low) if low is not None else (raw > high)  # the data really is out of range
    fig = kpi.trend_chart(df, key, None, "week")
    lcl, ucl = _trace(fig, "lower control limit"), _trace(fig, "upper control limit")
    assert min(lcl.y) >= 0 and (high is None or max(ucl.y) <= high)
    assert fig.layout.yaxis.rangemode == "nonnegative" or key == "tickets"
    shown = kpi.shown(df, key)  # the page's data table: the same limits as the chart
    assert shown["lcl"].min() >= 0 and (high is None or shown["ucl"].max() <= high)
    # Clipping never changes which points are special causes.
    assert shown["special_cause"].tolist() == df["special_cause"].tolist()


def test_the_axis_and_centre_line_span_the_buckets_with_values():
    """G: the axis and the centre line started in 2010, MTTR's points in 2019."""
    values = [np.nan] * 470 + [1.0, 2.0, 1.5, 9.0, 1.2] + [np.nan] * 3
    df = _trend(values)
    fig = kpi.trend_chart(df, "mttr", 4.0, "week")
    first, last = df["bucket"].iloc[470], df["bucket"].iloc[474]
    for trace in fig.data:
        assert min(trace.x) >= first and max(trace.x) <= last, trace.name
    assert "5 weeks" in kpi.describe_trend(df, "mttr", 4.0, "week")


def test_special_causes_and_partial_buckets_are_marks_without_text():
    """"special cause" labels overlapped one another and were clipped ("pecial cause")."""
    df = _trend([1.0, 1.1, 0.9, 1.0, 1.05, 0.95, 1.0, 1.1, 0.9, 1.0, 30.0, 1.0])
    df.loc[df.index[-1], "partial"] = True
    fig = kpi.trend_chart(df, "mttr", None, "week")
    assert all(t.text is None for t in fig.data)
    assert all(t.mode in ("lines", "lines+markers", "markers") for t in fig.data)
    special = _trace(fig, "All: special cause (outside XmR limits)")
    assert len(special.x) == int(df["special_cause"].sum()) and "special cause" in special.hovertemplate
    assert special.customdata[0] == kpi.fmt(df.loc[df["special_cause"], "value"].iloc[0], "hours")


def test_the_caption_mentions_the_previous_period_line_only_when_it_is_drawn():
    """The caption promised a dotted line that was never drawn (D, S, G)."""
    without = _trend([1.0, 2.0, 3.0])
    text = kpi.trend_definition(without, "mttr", "week")
    assert "no previous-period line" in text and "the dotted line" not in text
    assert "previous period" not in {t.name for t in kpi.trend_chart(without, "mttr", None, "week").data}
    drawn = _trend([1.0, 2.0, 3.0], previous=2.0)
    assert "the dotted line is the same week one period earlier" in kpi.trend_definition(drawn, "mttr", "week")
    assert "previous period" in {t.name for t in kpi.trend_chart(drawn, "mttr", None, "week").data}


def test_a_count_trend_has_whole_ticks_and_an_empty_one_says_why():
    fig = kpi.trend_chart(_trend([1.0, 2.0, 3.0]), "tickets", None, "day")
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.yaxis.dtick == 1
    empty = _trend([np.nan, np.nan]).assign(reason="no tickets in this bucket")
    fig = kpi.trend_chart(empty, "mttr", None, "week")
    assert len(fig.data) == 0 and "no tickets in this bucket" in fig.layout.annotations[0].text.replace("<br>", " ")


def _daily(days: int) -> pd.DataFrame:
    volume = pd.DataFrame({"day": pd.date_range("2026-09-07", periods=days).date, "tickets": [i % 4 for i in range(days)]})
    from analytics.kpi import overview
    return overview.hypercare_from(volume, date(2026, 9, 7), 70)


def test_the_hypercare_chart_shades_and_names_the_engagements_window():
    """The chart hatched 14 days and said "end of hypercare (2 weeks)" whatever the window (D: 70 days)."""
    df = _daily(90)
    fig = kpi.hypercare_chart(df, date(2026, 9, 7), 70)
    hatched = _trace(fig, "tickets (hypercare)")
    assert len(hatched.x) == 70 and max(hatched.x) == date(2026, 11, 15)
    (line,) = fig.layout.shapes
    assert pd.Timestamp(line.x0, unit="ms") == pd.Timestamp("2026-11-15 12:00")
    # Named on the side of the line with room: 70 of 90 days lie left of it (a label running
    # past the last day made plotly stretch the axis by weeks).
    (label,) = fig.layout.annotations
    assert label.text == "end of hypercare (70 days)" and label.xanchor == "right"
    early = kpi.hypercare_chart(df, date(2026, 9, 7), 14).layout.annotations[0]
    assert early.text == "end of hypercare (2 weeks)" and early.xanchor == "left"
    assert fig.layout.yaxis.tickformat == ",d" and fig.layout.yaxis.dtick == 1  # G: 0.5, 1.5 tickets
    text = kpi.describe_hypercare(df, date(2026, 9, 7), 70)
    assert "in the 70 days of hypercare" in text and "so far" not in text
    assert "40 of them so far" in kpi.describe_hypercare(_daily(40), date(2026, 9, 7), 70)


def test_card_footnote_values_do_not_break_inside():
    """"p90 4 / h 49 min" (D): each value in the footnote keeps its parts together."""
    result = KpiResult(key="mttr", value=15.05, n=30, unit="hours", target=8.0, status="missed",
                       stats={"median": 1.7, "p90": 4.8167})
    c = kpi.card(result)
    p90 = units.duration(4.8167, "hours")
    assert " " in p90  # units' own text is unchanged: "4 h 49 min"
    assert f"p90{kpi.NBSP}{p90.replace(' ', kpi.NBSP)}" in c["footnote"]
    assert c["value"] == kpi.fmt(15.05, "hours") and kpi.NBSP not in c["value"]
