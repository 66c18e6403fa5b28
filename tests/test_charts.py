"""Charts are DataFrame -> figure functions: titles, traces, colours and text alternatives."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from analytics.charts import overview


def _contrast(hex_colour: str, background: str) -> float:
    def lum(h: str) -> float:
        c = [int(h.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
        c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted([lum(hex_colour), lum(background)], reverse=True)
    return (hi + 0.05) / (lo + 0.05)


@pytest.fixture
def volume() -> pd.DataFrame:
    return pd.DataFrame({"day": [date(2026, 9, 7), date(2026, 9, 8), date(2026, 9, 9)],
                         "tickets": [5, 0, 12]})


@pytest.fixture
def ageing() -> pd.DataFrame:
    return pd.DataFrame({"bucket": ["<1 d", "1–3 d", "3–7 d", "7–30 d", ">30 d"],
                         "tickets": [3, 5, 0, 1200, 2]})


@pytest.fixture
def mix() -> pd.DataFrame:
    return pd.DataFrame({"severity": ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "Unmapped"],
                         "tickets": [1, 2, 3, 4, 0], "percent": [10.0, 20.0, 30.0, 40.0, 0.0]})


@pytest.fixture
def weekly() -> pd.DataFrame:
    weeks = [date(2026, 9, 7), date(2026, 9, 14)]
    return pd.DataFrame({"week": [w for w in weeks for _ in range(3)],
                         "severity": ["SEV-1", "SEV-3", "Unmapped"] * 2,
                         "tickets": [1, 10, 0, 0, 7, 2]})


def test_volume_by_day_chart(volume):
    fig = overview.volume_by_day_chart(volume)
    assert fig.layout.title.text == "Daily ticket volume"
    assert [t.type for t in fig.data] == ["bar"]
    assert list(fig.data[0].y) == [5, 0, 12]
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "Tickets"


def test_ageing_chart_prints_counts(ageing):
    fig = overview.ageing_chart(ageing)
    assert fig.layout.title.text == "Open backlog by age"
    assert list(fig.data[0].x) == list(ageing.bucket)
    assert list(fig.data[0].text) == ["3", "5", "0", "1,200", "2"]


def test_severity_mix_chart_labels_each_bar(mix):
    fig = overview.severity_mix_chart(mix)
    assert fig.layout.title.text == "Severity mix"
    (bar,) = fig.data
    assert list(bar.y) == list(mix.severity)  # severity named on the axis, not only by colour
    assert list(bar.text) == ["1 (10.0 %)", "2 (20.0 %)", "3 (30.0 %)", "4 (40.0 %)", "0 (0.0 %)"]
    assert list(bar.marker.color) == [overview.SEVERITY_COLOURS[s] for s in mix.severity]
    drawn = [p for p, n in zip(bar.marker.pattern.shape, mix.tickets) if n]
    assert len(set(drawn)) == 4  # each drawn bar its own pattern (the empty Unmapped bar has none to draw)
    assert fig.layout.xaxis.range[1] > 4  # room for the labels


def test_weekly_chart_has_one_stacked_trace_per_severity(weekly):
    fig = overview.weekly_severity_chart(weekly)
    assert fig.layout.title.text == "Weekly ticket volume by severity"
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["SEV-1", "SEV-3", "Unmapped"]
    assert [t.marker.pattern.shape for t in fig.data] == ["x", "", "-"]
    assert list(fig.layout.xaxis.ticktext) == ["7 Sep", "14 Sep"]
    assert sum(sum(t.y) for t in fig.data) == weekly.tickets.sum()


def test_weekly_chart_with_many_weeks_uses_default_ticks():
    weeks = pd.date_range("2026-01-05", periods=30, freq="7D").date
    fig = overview.weekly_severity_chart(pd.DataFrame({"week": weeks, "severity": "SEV-2", "tickets": 1}))
    assert fig.layout.xaxis.tickvals is None


@pytest.mark.parametrize("build,columns", [
    (overview.volume_by_day_chart, ["day", "tickets"]),
    (overview.ageing_chart, ["bucket", "tickets"]),
    (overview.severity_mix_chart, ["severity", "tickets", "percent"]),
    (overview.weekly_severity_chart, ["week", "severity", "tickets"]),
], ids=["volume", "ageing", "mix", "weekly"])
def test_charts_accept_empty_frames(build, columns):
    fig = build(pd.DataFrame({c: [] for c in columns}))
    assert fig.layout.title.text
    fig.to_json()  # serialisable, as st.plotly_chart needs


def test_palette_contrast_on_light_and_dark_backgrounds():
    for colour in [*overview.SEVERITY_COLOURS.values(), overview.PRIMARY]:
        assert _contrast(colour, "#FFFFFF") >= 3.0, colour
        assert _contrast(colour, "#0E1117") >= 3.0, colour
    assert len(set(overview.SEVERITY_COLOURS.values())) == len(overview.SEVERITY_COLOURS)


def test_describe_volume(volume):
    assert overview.describe_volume_by_day(volume) == (
        "Daily ticket volume, 7 Sep 2026 to 9 Sep 2026: 17 tickets over 3 days; busiest day "
        "9 Sep 2026 with 12; average 5.7 per day."
    )


def test_describe_ageing(ageing):
    assert overview.describe_ageing(ageing) == (
        "Open backlog by age: <1 d 3, 1–3 d 5, 3–7 d 0, 7–30 d 1,200, >30 d 2 (1,210 open)."
    )


def test_describe_severity_mix(mix):
    assert overview.describe_severity_mix(mix).startswith(
        "Severity mix of 10 tickets: SEV-1 1 (10.0 %), SEV-2 2 (20.0 %)")


def test_describe_weekly(weekly):
    assert overview.describe_weekly(weekly) == (
        "Weekly ticket volume by severity, 2 weeks from 7 Sep 2026: 20 tickets; busiest week "
        "starting 7 Sep 2026 with 11."
    )


@pytest.mark.parametrize("describe,frame", [
    (overview.describe_volume_by_day, pd.DataFrame({"day": [], "tickets": []})),
    (overview.describe_ageing, pd.DataFrame({"bucket": ["<1 d"], "tickets": [0]})),
    (overview.describe_severity_mix, pd.DataFrame({"severity": [], "tickets": [], "percent": []})),
    (overview.describe_weekly, pd.DataFrame({"week": [], "severity": [], "tickets": []})),
], ids=["volume", "ageing", "mix", "weekly"])
def test_describe_nothing(describe, frame):
    assert describe(frame).endswith(": no tickets.") or describe(frame).endswith(": no open tickets.")


def test_count_axes_use_whole_numbers(ageing):
    small = overview.ageing_chart(pd.DataFrame({"bucket": ["<1 d", ">30 d"], "tickets": [0, 4]}))
    assert small.layout.yaxis.dtick == 1 and small.layout.yaxis.tickformat == ",d"
    assert overview.ageing_chart(ageing).layout.yaxis.dtick is None


# --- issue #15, checked by eye in docs/screenshots -------------------------------------------


def _daily(days: int, start: date = date(2010, 2, 8)) -> pd.DataFrame:
    span = pd.date_range(start, periods=days, freq="D").date
    return pd.DataFrame({"day": span, "tickets": [i % 3 for i in range(days)]})


@pytest.mark.parametrize("days,grain,bars", [(120, "day", 120), (121, "week", 18), (730, "week", 105),
                                             (4990, "month", 165)])
def test_a_long_span_is_summed_per_week_or_month(days, grain, bars):
    """13 years of daily bars were a solid block (G): weeks, then months, and the title says so."""
    df = _daily(days)
    fig = overview.volume_by_day_chart(df)
    (bar,) = fig.data
    assert overview.volume_grain(df) == grain and len(bar.x) == bars
    assert sum(bar.y) == df["tickets"].sum()  # nothing lost in the sums
    text = overview.describe_volume_by_day(df)
    if grain == "day":
        assert fig.layout.title.text == "Daily ticket volume" and "summed" not in text
    else:
        assert fig.layout.title.text.startswith("Weekly" if grain == "week" else "Monthly")
        assert "summed" in fig.layout.title.text and grain.capitalize() in fig.layout.xaxis.title.text
        assert f"Drawn summed per {grain}" in text and f"over {days:,} days" in text


def test_weekly_buckets_start_on_monday_and_count_their_days():
    df = _daily(200, start=date(2026, 1, 1))  # a Thursday
    weeks = overview.volume_at(df, "week")
    assert all(pd.Timestamp(d).weekday() == 0 for d in weeks["day"])
    assert weeks["days"].iloc[0] == 4 and weeks["days"].sum() == 200


@pytest.mark.parametrize("build,frame,why", [
    (overview.ageing_chart, pd.DataFrame({"bucket": ["<1 d", "1–3 d", "3–7 d", "7–30 d", ">30 d"], "tickets": [0] * 5}),
     "No ticket is open"),
    (overview.volume_by_day_chart, pd.DataFrame({"day": [date(2026, 9, 1)], "tickets": [0]}), "No ticket was opened"),
    (overview.severity_mix_chart, pd.DataFrame({"severity": ["SEV-1"], "tickets": [0], "percent": [0.0]}),
     "No ticket"),
    (overview.weekly_severity_chart, pd.DataFrame({"week": [date(2026, 9, 7)], "severity": ["SEV-1"], "tickets": [0]}),
     "No ticket was opened"),
], ids=["ageing", "volume", "mix", "weekly"])
def test_a_chart_with_nothing_to_show_says_why(build, frame, why):
    """Nothing open drew an empty 0–1 axis with five "0" bars (S, G)."""
    fig = build(frame)
    assert len(fig.data) == 0 and not fig.layout.xaxis.visible and not fig.layout.yaxis.visible
    assert fig.layout.title.text and why in fig.layout.annotations[0].text.replace("<br>", " ")


def test_severity_mix_labels_stay_in_the_plot_and_slivers_have_no_pattern():
    """ServiceNow's mix: "23,466 (94.2 %" was cut at the right edge; the 1.1 % SEV-1 bar's
    hatching drew as a zig-zag (D, S, G)."""
    from analytics.charts.contrast import contrast_ratio

    mix = pd.DataFrame({"severity": ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "Unmapped"],
                        "tickets": [270, 408, 23466, 774, 0], "percent": [1.1, 1.6, 94.2, 3.1, 0.0]})
    (bar,) = overview.severity_mix_chart(mix).data
    # The longest bar holds its label; the short ones have the room right of them.
    assert list(bar.textposition) == ["outside", "outside", "inside", "outside", "outside"]
    assert bar.insidetextanchor == "end"
    # SEV-1 and SEV-2 are slivers (under 4 % of the axis): solid, named by the axis and the label.
    assert list(bar.marker.pattern.shape) == ["", "", "", "", ""]
    big = overview.severity_mix_chart(mix.assign(tickets=[270, 9000, 23466, 774, 0])).data[0]
    assert list(big.marker.pattern.shape)[:2] == ["", "/"] and list(big.textposition)[1] == "outside"
    # An inside label reads on its bar: the pattern lies faintly over the bar's colour (not on the
    # page between its lines) and the label's halo, in that colour, hides it behind the text.
    both = overview.severity_mix_chart(mix.assign(tickets=[10, 10, 900, 1000, 0])).data[0]
    assert both.marker.pattern.fillmode == "overlay" and both.marker.pattern.fgopacity < 0.5
    inside = [(c, p, f, h) for c, p, f, h, w in zip(both.marker.color, both.marker.pattern.shape, both.insidetextfont.color,
                                                   both.insidetextfont.shadow, both.textposition) if w == "inside"]
    assert len(inside) == 2 and any(p for _, p, _, _ in inside)  # SEV-4's dotted bar holds its label
    for colour, _, font, halo in inside:
        assert contrast_ratio(font, colour) >= 4.5 and colour in halo


@pytest.mark.parametrize("build,frame,axis", [
    (overview.volume_by_day_chart, pd.DataFrame({"day": [date(2026, 9, 7)], "tickets": [3]}), "y"),
    (overview.severity_mix_chart, pd.DataFrame({"severity": ["SEV-1"], "tickets": [3], "percent": [100.0]}), "x"),
    (overview.weekly_severity_chart, pd.DataFrame({"week": [date(2026, 9, 7)] * 2, "severity": ["SEV-1", "SEV-2"],
                                                 "tickets": [1, 2]}), "y"),
], ids=["volume", "mix", "weekly"])
def test_every_count_axis_has_whole_ticks(build, frame, axis):
    """A count axis showed 0.5, 1.5 … tickets (G)."""
    ax = build(frame).layout[f"{axis}axis"]
    assert ax.tickformat == ",d" and ax.dtick == 1


def test_weekly_severity_over_years_is_summed_per_month():
    weeks = pd.date_range("2019-01-07", periods=300, freq="7D").date
    df = pd.DataFrame({"week": list(weeks) * 2, "severity": ["SEV-1"] * 300 + ["SEV-3"] * 300,
                       "tickets": [1] * 300 + [2] * 300})
    fig = overview.weekly_severity_chart(df)
    assert "Monthly" in fig.layout.title.text
    months = {d for t in fig.data for d in t.x}
    assert len(months) == len({(w.year, w.month) for w in weeks}) < 80
    assert sum(sum(t.y) for t in fig.data) == int(df["tickets"].sum())  # nothing lost
    assert "months from Jan 2019" in overview.describe_weekly(df)
    short = df[df["week"] < weeks[20]]
    assert overview.weekly_severity_chart(short).layout.title.text == overview.TITLES["weekly_by_severity"]
