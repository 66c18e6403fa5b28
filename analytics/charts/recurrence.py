"""Recurrence and pattern charts: DataFrame -> plotly figure, plus a text alternative each.

Same rules as analytics/charts/overview.py: Okabe–Ito colours, a title on every chart, values printed
or on an axis so colour is never the only cue (the Pareto's line also has markers and its own
axis; offender lines differ by dash and marker symbol too; heatmap cells print their count).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from analytics.charts.contrast import HEATMAP_SCALE, HEATMAP_TEXT
from analytics.charts.overview import PRIMARY, _layout, _whole_numbers

VERMILLION = "#D55E00"
# Okabe–Ito hues with ≥ 3:1 contrast on white (orange and sky blue darkened to #C27C00 and
# #4A90C8 for it), then grey; dashes and symbols as well.
SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#C27C00", "#4A90C8", "#767676")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot", "solid")
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "cross", "star")
MEASURE_LABELS = {"tickets": "Tickets", "downtime_hours": "Downtime (hours)"}


def pareto_chart(df: pd.DataFrame, dimension: str, measure: str = "tickets") -> go.Figure:
    """Bars of `measure` per value (largest first) and a cumulative % line on a second axis."""
    label = MEASURE_LABELS[measure]
    values = [str(v) for v in df["value"]]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=values, y=list(df[measure]), name=label, marker={"color": PRIMARY},
                         hovertemplate=f"%{{x}}: %{{y:,.1f}} {label.lower()}<extra></extra>"))
    fig.add_trace(go.Scatter(x=values, y=list(df["cumulative_percent"]), name="Cumulative %",
                             yaxis="y2", mode="lines+markers+text",
                             line={"color": VERMILLION, "dash": "dash"},
                             marker={"symbol": "diamond", "size": 8},
                             text=[f"{p:.0f} %" for p in df["cumulative_percent"]],
                             textposition="top center",
                             hovertemplate="%{x}: cumulative %{y:.1f} %<extra></extra>"))
    fig.update_layout(yaxis2={"title": "Cumulative % of total", "overlaying": "y", "side": "right",
                              "range": [0, 110], "ticksuffix": " %"},
                      legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(type="category")
    if measure == "tickets":
        _whole_numbers(fig, df["tickets"].max() if not df.empty else 0)
    return _layout(fig, f"Pareto of {dimension}s by {label.lower()}", dimension.capitalize(), label)


def heatmap_chart(df: pd.DataFrame, tz: str) -> go.Figure:
    """Weekday (rows, Monday on top) × hour (columns); each cell prints its count."""
    names = list(dict.fromkeys(df["weekday_name"]))
    grid = df.pivot(index="weekday_name", columns="hour", values="tickets").reindex(names)
    z = grid.to_numpy()
    fig = go.Figure(go.Heatmap(
        z=z, x=[f"{h:02d}" for h in grid.columns], y=names, colorscale=HEATMAP_SCALE,
        text=z, texttemplate="%{text}", textfont={"color": HEATMAP_TEXT}, colorbar={"title": "Tickets"},
        hovertemplate="%{y} %{x}:00: %{z:,} tickets<extra></extra>"))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(type="category")
    return _layout(fig, f"Tickets by weekday and hour ({tz})", f"Hour opened ({tz})", "Weekday")


def offenders_chart(df: pd.DataFrame) -> go.Figure:
    """One line per service over the weeks; colour, dash and marker differ per service."""
    fig = go.Figure()
    for i, service in enumerate(dict.fromkeys(df["service"])):
        part = df[df["service"] == service]
        k = i % len(SERIES_COLOURS)
        fig.add_trace(go.Scatter(
            x=list(part["week"]), y=list(part["tickets"]), name=str(service), mode="lines+markers",
            line={"color": SERIES_COLOURS[k], "dash": DASHES[k]}, marker={"symbol": SYMBOLS[k], "size": 8},
            hovertemplate=f"{service}, week of %{{x|%d %b %Y}}: %{{y:,}}<extra></extra>"))
    fig.update_xaxes(type="date")
    fig.update_layout(legend_title_text="Service")
    _whole_numbers(fig, df["tickets"].max() if not df.empty else 0)
    return _layout(fig, "Repeat-offender services per week", "Week starting (Monday, UTC)", "Tickets")


def root_cause_chart(df: pd.DataFrame, top: int = 12) -> go.Figure:
    """Horizontal bars per root cause, labelled "n (p %)"."""
    part = df.head(top)
    fig = go.Figure(go.Bar(
        y=[str(v) for v in part["root_cause"]], x=list(part["tickets"]), orientation="h",
        marker={"color": PRIMARY}, name="Tickets",
        text=[f"{n:,} ({p:.1f} %)" for n, p in zip(part["tickets"], part["percent"], strict=True)],
        textposition="outside", cliponaxis=False, hovertemplate="%{y}: %{x:,} tickets<extra></extra>"))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(range=[0, max(int(part["tickets"].max()) if len(part) else 0, 1) * 1.35])
    return _layout(fig, "Root cause / closure code", "Tickets", "Root cause")


def reopen_chart(df: pd.DataFrame, dimension: str) -> go.Figure:
    """Horizontal bars of reopened tickets per value, labelled with the reopen rate."""
    fig = go.Figure(go.Bar(
        y=[str(v) for v in df["value"]], x=list(df["reopened"]), orientation="h",
        marker={"color": VERMILLION, "pattern": {"shape": "/"}}, name="Reopened tickets",
        text=[f"{n:,} of {t:,} ({r:.1%})" for n, t, r in
              zip(df["reopened"], df["tickets"], df["reopen_rate"], strict=True)],
        textposition="outside", cliponaxis=False,
        hovertemplate="%{y}: %{x:,} reopened<extra></extra>"))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(range=[0, max(int(df["reopened"].max()) if len(df) else 0, 1) * 1.5])
    return _layout(fig, f"Reopen hotspots by {dimension}", "Reopened tickets", dimension.capitalize())


# --- text alternatives ------------------------------------------------------------------


def describe_pareto(df: pd.DataFrame, dimension: str, measure: str = "tickets") -> str:
    """E.g. "Pareto of services by tickets: 6 values; the top 2 make up 80 % (Payments, …)."""
    title = f"Pareto of {dimension}s by {MEASURE_LABELS[measure].lower()}"
    if df.empty or float(df[measure].sum()) == 0:
        return f"{title}: nothing to show."
    n80 = int((df["cumulative_percent"] < 80).sum()) + 1
    n80 = min(n80, len(df))
    top = ", ".join(f"{v} ({s:.1f} %)" for v, s in zip(df["value"].head(3), df["share"].head(3), strict=True))
    return (f"{title}: {len(df):,} values; the top {n80:,} make up at least 80 % of the total. "
            f"Largest: {top}.")


def describe_heatmap(df: pd.DataFrame, tz: str) -> str:
    total = int(df["tickets"].sum()) if not df.empty else 0
    if total == 0:
        return f"Tickets by weekday and hour ({tz}): no tickets."
    peak = df.loc[df["tickets"].idxmax()]
    by_day = df.groupby("weekday_name", sort=False)["tickets"].sum()
    return (f"Tickets by weekday and hour ({tz}): {total:,} tickets; busiest hour {peak['weekday_name']} "
            f"{int(peak['hour']):02d}:00 with {int(peak['tickets']):,}; busiest weekday {by_day.idxmax()} "
            f"({int(by_day.max()):,}), quietest {by_day.idxmin()} ({int(by_day.min()):,}).")


def describe_offenders(df: pd.DataFrame) -> str:
    if df.empty or int(df["tickets"].sum()) == 0:
        return "Repeat-offender services per week: no tickets."
    totals = df.groupby("service", sort=False)["tickets"].sum()
    parts = ", ".join(f"{s} {int(n):,}" for s, n in totals.items())
    return f"Repeat-offender services per week, {df['week'].nunique():,} weeks: {parts} tickets."


def describe_root_causes(df: pd.DataFrame) -> str:
    if df.empty:
        return "Root cause / closure code: no tickets."
    parts = ", ".join(f"{c} {int(n):,} ({p:.1f} %)" for c, n, p in
                      zip(df["root_cause"].head(5), df["tickets"].head(5), df["percent"].head(5), strict=True))
    return f"Root cause / closure code, {len(df):,} values; most frequent: {parts}."


def describe_reopens(df: pd.DataFrame, dimension: str) -> str:
    if df.empty:
        return f"Reopen hotspots by {dimension}: no reopened tickets."
    parts = ", ".join(f"{v} {int(n):,} of {int(t):,} ({r:.1%})" for v, n, t, r in
                      zip(df["value"].head(5), df["reopened"].head(5), df["tickets"].head(5),
                          df["reopen_rate"].head(5), strict=True))
    return f"Reopen hotspots by {dimension}: {parts}."


# --- tables for display and export ------------------------------------------------------


def cluster_choices(df: pd.DataFrame) -> dict[str, str]:
    """{cluster_id: "label · n tickets · service"} for a drill-down picker."""
    return {cid: f"{label} · {n:,} tickets · {service or '(none)'}" for cid, label, n, service in
            zip(df["cluster_id"], df["label"], df["tickets"], df["service"], strict=True)}


def export_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The clusters with list columns joined by "; " (for CSV)."""
    out = df.copy()
    for col in ("services", "severities", "problem_ids", "ticket_ids"):
        out[col] = out[col].map(lambda v: "; ".join(str(x) for x in v))
    return out


def to_json_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-ready rows: timestamps ISO 8601 (UTC), NaN as null, lists as lists."""
    records = []
    for row in df.to_dict(orient="records"):
        rec = {}
        for k, v in row.items():
            if isinstance(v, pd.Timestamp):
                v = v.isoformat()
            elif hasattr(v, "tolist"):
                v = v.tolist()
            elif isinstance(v, float) and v != v:
                v = None
            elif isinstance(v, timedelta):
                v = v.total_seconds()
            rec[k] = v
        records.append(rec)
    return records
