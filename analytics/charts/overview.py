"""Charts: functions DataFrame -> plotly figure, plus a one-sentence text alternative each.

Colours: the Okabe–Ito colour-blind-safe palette, restricted to the hues with at least 3:1
contrast against both a white and Streamlit's dark background (WCAG 1.4.11). Colour is never
the only cue: severities are on the axis or in the legend, stacked segments also carry a fill
pattern, and every chart has a title and a `describe_*` sentence the page shows as alt text.
"""

from __future__ import annotations

import textwrap
from datetime import date

import pandas as pd
import plotly.graph_objects as go

from analytics.charts.contrast import label_colour_on
from analytics.store.filters import UNMAPPED

# Okabe–Ito: vermillion, reddish purple, blue, bluish green; grey (4.5:1) for unmapped.
SEVERITY_COLOURS: dict[str, str] = {
    "SEV-1": "#D55E00",
    "SEV-2": "#CC79A7",
    "SEV-3": "#0072B2",
    "SEV-4": "#009E73",
    UNMAPPED: "#767676",
}
# Fill patterns so stacked severities differ without colour.
SEVERITY_PATTERNS: dict[str, str] = {
    "SEV-1": "x",
    "SEV-2": "/",
    "SEV-3": "",
    "SEV-4": ".",
    UNMAPPED: "-",
}
PRIMARY = "#0072B2"
OTHER_COLOUR = "#595959"

TITLES = {
    "volume_by_day": "Daily ticket volume",
    "ageing": "Open backlog by age",
    "severity_mix": "Severity mix",
    "weekly_by_severity": "Weekly ticket volume by severity",
}


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(
        title={"text": title},
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        font={"size": 14},
        hoverlabel={"font_size": 14},
        bargap=0.15,
    )
    return fig


def _whole_numbers(fig: go.Figure, top: float, axis: str = "y") -> None:
    """Counts: no 0.5 ticks when the largest value is small."""
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    update(rangemode="tozero", tickformat=",d")
    if top < 10:  # plotly's automatic step falls to 0.5 below about 8
        update(dtick=1)


EMPTY_LINE = 38  # characters per line of an empty chart's reason: it fits a half-width chart


def empty_chart(title: str, why: str) -> go.Figure:
    """A chart that has nothing to draw: its title and why (wrapped), no axes."""
    fig = go.Figure()
    # Wrapped by us: plotly never wraps an annotation, and one line ran past both edges.
    fig.add_annotation(text="<br>".join(textwrap.wrap(why, EMPTY_LINE)), x=0.5, y=0.5, xref="paper",
                       yref="paper", showarrow=False, font={"size": 15})
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=220)
    return _layout(fig, title, "", "")


# Longest span (days) drawn one bar per day, then one per week; longer spans are summed by month.
DAILY_UP_TO, WEEKLY_UP_TO = 120, 730
GRAIN_WORDS = {"day": ("Daily", "Day opened (UTC)"), "week": ("Weekly", "Week opened (UTC, weeks from Monday)"),
               "month": ("Monthly", "Month opened (UTC)")}


def volume_grain(df: pd.DataFrame) -> str:
    """"day", "week" or "month": the grain the daily volume is drawn at (a bar per day over
    years is a solid block)."""
    days = len(df)
    return "day" if days <= DAILY_UP_TO else "week" if days <= WEEKLY_UP_TO else "month"


def volume_at(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    """The daily volume summed per `grain`: columns day (first day of the bucket), tickets, days
    (how many days of the volume the bucket holds: fewer in a first or last part-bucket)."""
    if grain == "day" or df.empty:
        return df.assign(days=1)[["day", "tickets", "days"]]
    when = pd.to_datetime(df["day"])
    start = (when - pd.to_timedelta(when.dt.day_of_week, unit="D") if grain == "week"
             else when.dt.to_period("M").dt.start_time)
    out = df.assign(bucket=start.dt.date).groupby("bucket", sort=True).agg(
        tickets=("tickets", "sum"), days=("tickets", "size"))
    return out.rename_axis("day").reset_index()


def _volume_title(grain: str) -> str:
    return TITLES["volume_by_day"] if grain == "day" else f"{GRAIN_WORDS[grain][0]} ticket volume (daily counts summed)"


def volume_by_day_chart(df: pd.DataFrame) -> go.Figure:
    """Bars of tickets per day, or per week / month when the span is long (volume_grain); `df`
    from overview.volume_by_day (day, tickets)."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return empty_chart(TITLES["volume_by_day"], "No ticket was opened in the filtered period.")
    grain = volume_grain(df)
    shown = volume_at(df, grain)
    when = {"day": "%{x|%a %d %b %Y}", "week": "week of %{x|%d %b %Y}", "month": "%{x|%b %Y}"}[grain]
    fig = go.Figure(
        go.Bar(
            x=list(shown["day"]),
            y=list(shown["tickets"]),
            customdata=list(shown["days"]),
            name="Tickets",
            marker={"color": PRIMARY},
            hovertemplate=f"{when}: %{{y:,}} tickets"
            + ("" if grain == "day" else " (%{customdata} days)") + "<extra></extra>",
        )
    )
    fig.update_xaxes(type="date")
    _whole_numbers(fig, int(shown["tickets"].max()))
    return _layout(fig, _volume_title(grain), GRAIN_WORDS[grain][1],
                   "Tickets" if grain == "day" else f"Tickets per {grain}")


def ageing_chart(df: pd.DataFrame) -> go.Figure:
    """Bars of open tickets per age bucket, counts printed on the bars."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return empty_chart(TITLES["ageing"], "No ticket is open at the end of the period: there is no backlog to age.")
    fig = go.Figure(
        go.Bar(
            x=list(df["bucket"]),
            y=list(df["tickets"]),
            name="Open tickets",
            marker={"color": PRIMARY},
            text=[f"{n:,}" for n in df["tickets"]],
            textposition="outside",
            hovertemplate="%{x}: %{y:,} open tickets<extra></extra>",
        )
    )
    fig.update_xaxes(type="category")
    _whole_numbers(fig, df["tickets"].max() if not df.empty else 0)
    return _layout(fig, TITLES["ageing"], "Age at as-of time", "Open tickets")


# A bar shorter than this share of the axis draws no fill pattern: a pattern on a sliver is a
# zig-zag, not a hatch; the severity on the axis and the bar's label name it anyway.
PATTERN_FROM = 0.04
# A bar at least this share of the largest holds its label inside, so that no label runs past
# the plot's right edge (the room a label needs is in pixels, the axis is in tickets).
LABEL_INSIDE_FROM = 0.6
MIX_RANGE = 1.35  # the x axis reaches this × the largest bar: room for the outside labels
PATTERN_OPACITY = 0.45  # of the white pattern over a severity's colour


def _halo(colour: str) -> str:
    """A CSS text-shadow: a solid 1 px outline in `colour` and a soft edge around it."""
    solid = ", ".join(f"{dx}px {dy}px 0 {colour}" for dx in (-1, 0, 1) for dy in (-1, 0, 1) if dx or dy)
    return f"{solid}, 0 0 3px {colour}"


def severity_mix_chart(df: pd.DataFrame) -> go.Figure:
    """Horizontal bars per severity labelled "n (p %)"; severity names on the axis."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return empty_chart(TITLES["severity_mix"], "No ticket in the filtered period: no severity to count.")
    labels = list(df["severity"])
    counts = [int(n) for n in df["tickets"]]
    top = max(counts)
    colours = [SEVERITY_COLOURS.get(s, OTHER_COLOUR) for s in labels]
    shapes = [SEVERITY_PATTERNS.get(s, "") if n >= PATTERN_FROM * top * MIX_RANGE else ""
              for s, n in zip(labels, counts, strict=True)]
    inside = [n >= LABEL_INSIDE_FROM * top for n in counts]
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=counts,
            orientation="h",
            name="Tickets",
            # Overlay: the bar keeps its solid colour under a faint pattern, so that a label inside
            # reads on the colour (on a pattern over the page, its lines crossed the text).
            marker={"color": colours, "pattern": {"shape": shapes, "fillmode": "overlay", "fgcolor": "#FFFFFF",
                                                  "fgopacity": PATTERN_OPACITY}},
            text=[f"{n:,} ({p:.1f} %)" for n, p in zip(counts, df["percent"], strict=True)],
            textposition=["inside" if i else "outside" for i in inside],
            insidetextanchor="end",
            # Per bar: black or white, whichever reads on the fill (readable() can pick one colour
            # only for a one-colour trace), with a halo of the fill that hides the pattern behind it.
            insidetextfont={"color": [label_colour_on(c) for c in colours],
                            "shadow": [_halo(c) for c in colours]},
            hovertemplate="%{y}: %{x:,} tickets<extra></extra>",
        )
    )
    fig.update_traces(cliponaxis=False)
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(range=[0, top * MIX_RANGE])
    _whole_numbers(fig, top, axis="x")
    return _layout(fig, TITLES["severity_mix"], "Tickets", "Severity")


def severity_grain(df: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The weekly volume by severity as drawn: per week, or summed per month over more than
    about two years of weeks (700 weekly bars are a solid block), and the grain ("week"/"month")."""
    weeks = df["week"].nunique() if len(df) else 0
    if weeks * 7 <= WEEKLY_UP_TO:
        return df, "week"
    month = pd.to_datetime(df["week"]).dt.to_period("M").dt.start_time.dt.date
    out = df.assign(week=month).groupby(["week", "severity"], sort=False, as_index=False)["tickets"].sum()
    return out.sort_values("week", kind="stable").reset_index(drop=True), "month"


def _severity_title(grain: str) -> str:
    return TITLES["weekly_by_severity"] if grain == "week" else "Monthly ticket volume by severity (weeks summed)"


def weekly_severity_chart(df: pd.DataFrame) -> go.Figure:
    """Stacked bars per week (per month over long spans: severity_grain), one trace per severity
    (df: week, severity, tickets)."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return empty_chart(TITLES["weekly_by_severity"], "No ticket was opened in the filtered period.")
    df, grain = severity_grain(df)
    when = "week of %{x|%d %b %Y}" if grain == "week" else "%{x|%b %Y}"
    fig = go.Figure()
    for severity in dict.fromkeys(df["severity"]):
        part = df[df["severity"] == severity]
        fig.add_trace(
            go.Bar(
                x=list(part["week"]),
                y=list(part["tickets"]),
                name=str(severity),
                marker={
                    "color": SEVERITY_COLOURS.get(severity, OTHER_COLOUR),
                    "pattern": {"shape": SEVERITY_PATTERNS.get(severity, "")},
                    "line": {"color": "#FFFFFF", "width": 1},
                },
                hovertemplate=f"{severity}, {when}: %{{y:,}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend_title_text="Severity")
    _whole_numbers(fig, int(df.groupby("week")["tickets"].sum().max()))
    weeks = sorted(set(df["week"]))
    if grain == "week" and 0 < len(weeks) <= 26:  # one labelled tick per bar, on its Monday
        fig.update_xaxes(type="date", tickvals=weeks, ticktext=[f"{w.day} {w:%b}" for w in weeks])
    else:
        fig.update_xaxes(type="date")
    return _layout(fig, _severity_title(grain), "Week starting (Monday, UTC)" if grain == "week" else
                   "Month (UTC; weeks by their Monday)", "Tickets" if grain == "week" else "Tickets per month")


# --- text alternatives ------------------------------------------------------------------


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def describe_volume_by_day(df: pd.DataFrame) -> str:
    """E.g. "Daily ticket volume, 7 Sep 2026 to 31 Oct 2026: 1,234 tickets; busiest day
    14 Sep 2026 with 87; average 22.4 per day.", naming the week or month the chart sums by."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return f"{TITLES['volume_by_day']}: no tickets."
    total = int(df["tickets"].sum())
    peak = df.loc[df["tickets"].idxmax()]
    text = (
        f"{TITLES['volume_by_day']}, {_day(df['day'].iloc[0])} to {_day(df['day'].iloc[-1])}: "
        f"{total:,} tickets over {len(df):,} days; busiest day {_day(peak['day'])} with "
        f"{int(peak['tickets']):,}; average {total / len(df):,.1f} per day."
    )
    grain = volume_grain(df)
    if grain != "day":
        per = volume_at(df, grain)
        busiest = per.loc[per["tickets"].idxmax()]
        when = f"week starting {_day(busiest['day'])}" if grain == "week" else f"{busiest['day']:%b %Y}"
        text += (f" Drawn summed per {grain} ({len(df):,} days are too many bars to read): busiest {when} "
                 f"with {int(busiest['tickets']):,}.")
    return text


def describe_ageing(df: pd.DataFrame) -> str:
    """E.g. "Open backlog by age: <1 d 3, 1–3 d 5, … (40 open)."""
    total = int(df["tickets"].sum()) if not df.empty else 0
    if total == 0:
        return f"{TITLES['ageing']}: no open tickets."
    parts = ", ".join(f"{b} {int(n):,}" for b, n in zip(df["bucket"], df["tickets"], strict=True))
    return f"{TITLES['ageing']}: {parts} ({total:,} open)."


def describe_severity_mix(df: pd.DataFrame) -> str:
    """E.g. "Severity mix of 1,234 tickets: SEV-1 12 (1.0 %), …"."""
    total = int(df["tickets"].sum()) if not df.empty else 0
    if total == 0:
        return f"{TITLES['severity_mix']}: no tickets."
    parts = ", ".join(
        f"{s} {int(n):,} ({p:.1f} %)"
        for s, n, p in zip(df["severity"], df["tickets"], df["percent"], strict=True)
    )
    return f"{TITLES['severity_mix']} of {total:,} tickets: {parts}."


def describe_weekly(df: pd.DataFrame) -> str:
    """E.g. "Weekly ticket volume by severity, 8 weeks from 7 Sep 2026: 1,234 tickets;
    busiest week 14 Sep 2026 with 210."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return f"{TITLES['weekly_by_severity']}: no tickets."
    df, grain = severity_grain(df)
    per = df.groupby("week", sort=True)["tickets"].sum()
    if grain == "month":
        return (f"{_severity_title(grain)}, {len(per):,} months from {per.index[0]:%b %Y}: "
                f"{int(per.sum()):,} tickets; busiest month {per.idxmax():%b %Y} with {int(per.max()):,}.")
    return (
        f"{TITLES['weekly_by_severity']}, {len(per):,} weeks from {_day(per.index[0])}: "
        f"{int(per.sum()):,} tickets; busiest week starting {_day(per.idxmax())} "
        f"with {int(per.max()):,}."
    )
