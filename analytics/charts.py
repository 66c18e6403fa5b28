"""Charts: functions DataFrame -> plotly figure, plus a one-sentence text alternative each.

Colours: the Okabe–Ito colour-blind-safe palette, restricted to the hues with at least 3:1
contrast against both a white and Streamlit's dark background (WCAG 1.4.11). Colour is never
the only cue: severities are on the axis or in the legend, stacked segments also carry a fill
pattern, and every chart has a title and a `describe_*` sentence the page shows as alt text.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from .filters import UNMAPPED

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
    if top < 10:
        update(dtick=1)


def volume_by_day_chart(df: pd.DataFrame) -> go.Figure:
    """Bars of tickets per day; `df` from overview.volume_by_day (day, tickets)."""
    fig = go.Figure(
        go.Bar(
            x=list(df["day"]),
            y=list(df["tickets"]),
            name="Tickets",
            marker={"color": PRIMARY},
            hovertemplate="%{x|%a %d %b %Y}: %{y:,} tickets<extra></extra>",
        )
    )
    fig.update_xaxes(type="date")
    _whole_numbers(fig, df["tickets"].max() if not df.empty else 0)
    return _layout(fig, TITLES["volume_by_day"], "Day opened (UTC)", "Tickets")


def ageing_chart(df: pd.DataFrame) -> go.Figure:
    """Bars of open tickets per age bucket, counts printed on the bars."""
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


def severity_mix_chart(df: pd.DataFrame) -> go.Figure:
    """Horizontal bars per severity labelled "n (p %)"; severity names on the axis."""
    labels = list(df["severity"])
    fig = go.Figure(
        go.Bar(
            y=labels,
            x=list(df["tickets"]),
            orientation="h",
            name="Tickets",
            marker={
                "color": [SEVERITY_COLOURS.get(s, OTHER_COLOUR) for s in labels],
                "pattern": {"shape": [SEVERITY_PATTERNS.get(s, "") for s in labels]},
            },
            text=[f"{n:,} ({p:.1f} %)" for n, p in zip(df["tickets"], df["percent"], strict=True)],
            textposition="outside",
            hovertemplate="%{y}: %{x:,} tickets<extra></extra>",
        )
    )
    fig.update_traces(cliponaxis=False)
    fig.update_yaxes(type="category", autorange="reversed")
    top = int(df["tickets"].max()) if not df.empty else 0
    # Room on the right for the "n (p %)" labels.
    fig.update_xaxes(range=[0, max(top, 1) * 1.35])
    return _layout(fig, TITLES["severity_mix"], "Tickets", "Severity")


def weekly_severity_chart(df: pd.DataFrame) -> go.Figure:
    """Stacked bars per week, one trace per severity (df: week, severity, tickets)."""
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
                hovertemplate=f"{severity}, week of %{{x|%d %b %Y}}: %{{y:,}}<extra></extra>",
            )
        )
    fig.update_layout(barmode="stack", legend_title_text="Severity")
    weeks = sorted(set(df["week"]))
    if 0 < len(weeks) <= 26:  # one labelled tick per bar, on its Monday
        fig.update_xaxes(type="date", tickvals=weeks, ticktext=[f"{w.day} {w:%b}" for w in weeks])
    else:
        fig.update_xaxes(type="date")
    return _layout(fig, TITLES["weekly_by_severity"], "Week starting (Monday, UTC)", "Tickets")


# --- text alternatives ------------------------------------------------------------------


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


def describe_volume_by_day(df: pd.DataFrame) -> str:
    """E.g. "Daily ticket volume, 7 Sep 2026 to 31 Oct 2026: 1,234 tickets; busiest day
    14 Sep 2026 with 87; average 22.4 per day."""
    if df.empty or int(df["tickets"].sum()) == 0:
        return f"{TITLES['volume_by_day']}: no tickets."
    total = int(df["tickets"].sum())
    peak = df.loc[df["tickets"].idxmax()]
    return (
        f"{TITLES['volume_by_day']}, {_day(df['day'].iloc[0])} to {_day(df['day'].iloc[-1])}: "
        f"{total:,} tickets over {len(df):,} days; busiest day {_day(peak['day'])} with "
        f"{int(peak['tickets']):,}; average {total / len(df):,.1f} per day."
    )


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
    per_week = df.groupby("week", sort=True)["tickets"].sum()
    return (
        f"{TITLES['weekly_by_severity']}, {len(per_week):,} weeks from {_day(per_week.index[0])}: "
        f"{int(per_week.sum()):,} tickets; busiest week starting {_day(per_week.idxmax())} "
        f"with {int(per_week.max()):,}."
    )
