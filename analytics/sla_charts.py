"""SLA charts: compliance against target, its trend, and one ticket's clock timeline.

Same rules as analytics/charts.py: Okabe–Ito hues, and never colour alone — response and
resolution differ by pattern / dash / marker too, and every status is written as a word.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from . import units
from .charts import _layout

CLOCK_STYLE = {  # colour, bar pattern, line dash, marker
    "response": ("#0072B2", "", "solid", "circle"),
    "resolution": ("#D55E00", "/", "dash", "diamond"),
}
TARGET_COLOUR = "#1A1D23"
INSIDE_FROM = 35.0  # % from which a compliance bar holds its own label


def compliance_chart(table: pd.DataFrame) -> go.Figure:
    """Horizontal bars of compliance % per severity and clock, Wilson ranges as error bars, the
    target as a vertical line; a chart with no stopped clock says so instead of empty axes.

    Horizontal, so each bar's label ("92 % missed") has its own row: side by side in vertical
    groups the labels of neighbouring bars ran into each other."""
    fig = go.Figure()
    rows = table[table["severity"] != "All"]
    if rows.empty or rows["compliance_pct"].isna().all():
        return empty_chart("SLA compliance by severity",
                           "No SLA clock has stopped in the filtered period, so there is no compliance to draw.")
    order = list(dict.fromkeys(rows["severity"]))[::-1]  # SEV-1 on top
    for metric, (colour, pattern, _, _) in CLOCK_STYLE.items():
        part = rows[rows["metric"] == metric].set_index("severity").reindex(order)
        pct = part["compliance_pct"].astype(float)
        fig.add_bar(
            name=metric.capitalize(), y=order, x=list(pct.fillna(0)), orientation="h",
            marker={"color": colour, "pattern": {"shape": pattern}},
            error_x={"type": "data", "symmetric": False,
                     "array": list((part["wilson_high"].astype(float) - pct).fillna(0)),
                     "arrayminus": list((pct - part["wilson_low"].astype(float)).fillna(0))},
            text=[_short(p, s) for p, s in zip(part["compliance_pct"], part["status"])],
            # Inside the bar from its start, clear of the Wilson whisker and the target line at
            # its end; outside only a bar too short to hold its label.
            textposition=["inside" if v >= INSIDE_FROM else "outside" for v in pct.fillna(0)],
            insidetextanchor="start", constraintext="none", cliponaxis=False,
            hovertext=[_label(p, n, s) for p, n, s in zip(part["compliance_pct"], part["n"], part["status"])],
            hoverinfo="text",
        )
    target = float(table["target_pct"].iloc[0]) if len(table) else 95.0
    # The target's label sits above the plot area, where no bar label can be.
    fig.add_vline(x=target, line={"color": TARGET_COLOUR, "dash": "dot"})
    fig.add_annotation(x=target, y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                       text=f"target {target:g} %")
    fig.update_layout(barmode="group", xaxis={"range": [0, 135], "ticksuffix": " %",
                                              "tickvals": [0, 20, 40, 60, 80, 100]},
                      legend={"traceorder": "normal"}, height=120 + 70 * len(order))
    _layout(fig, "SLA compliance by severity", "Compliance", "Severity")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


def empty_chart(title: str, why: str) -> go.Figure:
    """A chart that has nothing to draw: its title and why, no axes."""
    fig = go.Figure()
    fig.add_annotation(text=why, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 15})
    fig.update_layout(xaxis={"visible": False}, yaxis={"visible": False}, height=220)
    return _layout(fig, title, "", "")


def _short(pct, status) -> str:
    return status if pct is None or pd.isna(pct) else f"{units.percent(pct)} {status}"


def _label(pct, n, status) -> str:
    if pct is None or pd.isna(pct):
        return status
    return f"{units.percent(pct)} {status} (n={int(n):,})"


def describe_compliance(table: pd.DataFrame) -> str:
    rows = table[table["severity"] == "All"]
    parts = [f"{r.metric}: {_label(r.compliance_pct, r.n, r.status)}, {r.open_breached:,} open and breached"
             for r in rows.itertuples()]
    return "Overall compliance — " + "; ".join(parts) + "." if parts else "No SLA clock has stopped."


def trend_chart(trend: pd.DataFrame, target: float, grain: str) -> go.Figure:
    """Compliance % per period, one line per clock (distinct dash and marker), target line."""
    fig = go.Figure()
    for metric, (colour, _, dash, symbol) in CLOCK_STYLE.items():
        part = trend[trend["metric"] == metric]
        fig.add_scatter(name=metric.capitalize(), x=list(part["period"]), y=list(part["compliance_pct"]),
                        mode="lines+markers", line={"color": colour, "dash": dash},
                        marker={"symbol": symbol, "size": 9},
                        customdata=list(part["n"]), hovertemplate="%{y:.1f} % (n=%{customdata:,})")
    fig.add_hline(y=target, line={"color": TARGET_COLOUR, "dash": "dot"}, annotation_text=f"target {target:g} %")
    fig.update_layout(yaxis={"ticksuffix": " %"})
    return _layout(fig, f"SLA compliance by {grain}", f"{grain.capitalize()} the clock stopped", "Compliance")


def describe_trend(trend: pd.DataFrame, grain: str) -> str:
    if trend.empty:
        return "No SLA clock has stopped in the filtered tickets."
    parts = []
    for metric in ("response", "resolution"):
        part = trend[trend["metric"] == metric]
        if len(part):
            first, last = part.iloc[0], part.iloc[-1]
            parts.append(f"{metric} from {first.compliance_pct:.1f} % to {last.compliance_pct:.1f} % "
                         f"over {len(part)} {grain}s")
    return "Compliance trend: " + "; ".join(parts) + "."


def timeline_chart(tl: dict) -> go.Figure:
    """One ticket: status history, pauses, and when each clock ran, on a shared time axis."""
    fig = go.Figure()
    hist = tl["history"]
    for i, h in enumerate(hist):
        end = hist[i + 1]["event_time"] if i + 1 < len(hist) else tl["as_of"]
        _span(fig, "Status", h["event_time"], end, h["status"] or "?", "#595959", "")
    for seg in tl["pause_segments"]:
        _span(fig, "Paused", seg["start"], seg["end"], seg["status"], "#C27C00", "x")
    for metric, (colour, pattern, _, symbol) in CLOCK_STYLE.items():
        row = f"{metric.capitalize()} clock running"
        for seg in tl["running_segments"].get(metric, []):
            _span(fig, row, seg["start"], seg["end"], f"{seg['minutes']:.0f} min", colour, pattern)
        clock = tl["clocks"].get(metric)
        if clock and clock.get("breach_at"):
            fig.add_scatter(x=[clock["breach_at"]], y=[row], mode="markers+text", text=["breach"],
                            textposition="top center", marker={"symbol": "x", "size": 14, "color": TARGET_COLOUR},
                            name=f"{metric} breach", showlegend=False)
    fig.update_xaxes(type="date")
    fig.update_layout(barmode="overlay", showlegend=False,
                      yaxis={"categoryorder": "array",
                             "categoryarray": ["Resolution clock running", "Response clock running", "Paused", "Status"]})
    return _layout(fig, f"Timeline of {tl['ticket_id']} (UTC)", "Time (UTC)", "")


def _span(fig: go.Figure, row: str, start, end, label: str, colour: str, pattern: str) -> None:
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    fig.add_bar(y=[row], x=[(end - start).total_seconds() * 1000], base=[start], orientation="h",
                marker={"color": colour, "pattern": {"shape": pattern}, "line": {"color": "white", "width": 1}},
                text=[label], textposition="inside", insidetextanchor="middle",
                hovertemplate=f"{row}: {label}<br>%{{base}} → {end}<extra></extra>")


def describe_timeline(tl: dict) -> str:
    ev = tl["evaluation"]
    paused = sum((pd.Timestamp(s["end"]) - pd.Timestamp(s["start"])).total_seconds() / 60 for s in tl["pause_segments"])
    text = (f"{tl['ticket_id']}: {len(tl['history'])} status changes; paused {paused:,.0f} calendar minutes; "
            f"response {ev['response_status']}, resolution {ev['resolution_status']} "
            f"(policy {tl['policy_version']}).")
    res = tl.get("resolution_time") or {}
    if res.get("used") is not None:
        text += f" Resolution time {pd.Timestamp(res['used']):%Y-%m-%d %H:%M} UTC, from {res['why']}."
    if tl.get("paused_by"):
        text += " Paused by: " + "; ".join(
            f"{p['status']}{' (' + p['reason'] + ')' if p['reason'] else ''} {p['minutes']:,.0f} business min "
            f"on the {p['clock']} clock" for p in tl["paused_by"]) + "."
    return text
