"""SLA charts: compliance against target, its trend, and one ticket's clock timeline.

Same rules as analytics/charts/overview.py: Okabe–Ito hues, and never colour alone — response and
resolution differ by pattern / dash / marker too, and every status is written as a word.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from analytics.charts.overview import _layout, empty_chart
from analytics.store import units

CLOCK_STYLE = {  # colour, bar pattern, line dash, marker
    "response": ("#0072B2", "", "solid", "circle"),
    "resolution": ("#D55E00", "/", "dash", "diamond"),
}
TARGET_COLOUR = "#1A1D23"
AXIS_END, LABEL_AT = 135.0, 102.0  # % : the x axis's end; where the label column starts


def compliance_chart(table: pd.DataFrame) -> go.Figure:
    """Horizontal bars of compliance % per severity and clock, Wilson ranges as error bars, the
    target as a vertical line, each bar's label ("92 % missed") in a column right of 100 %; a
    chart with no stopped clock says so instead of empty axes.

    Horizontal, so each bar's label has its own row: side by side in vertical groups the labels of
    neighbouring bars ran into each other. Right of 100 %, because no whisker or target line gets
    there (beside a short bar a whisker struck its label through; inside a bar the hatching did)."""
    fig = go.Figure()
    rows = table[table["severity"] != "All"]
    if rows.empty or rows["compliance_pct"].isna().all():
        return empty_chart("SLA compliance by severity",
                           "No SLA clock has stopped in the filtered period, so there is no compliance to draw.")
    order = list(dict.fromkeys(rows["severity"]))[::-1]  # SEV-1 on top
    n = len(order)
    for metric, (colour, pattern, _, _) in CLOCK_STYLE.items():
        part = rows[rows["metric"] == metric].set_index("severity").reindex(order)
        pct = part["compliance_pct"].astype(float)
        # None, not 0, where a row has no data: plotly then draws no bar stub and no whisker.
        values = [None if pd.isna(v) else float(v) for v in pct]
        high = [None if pd.isna(v) else float(v) for v in part["wilson_high"].astype(float) - pct]
        low = [None if pd.isna(v) else float(v) for v in pct - part["wilson_low"].astype(float)]
        hover = [_label(p, k, s) for p, k, s in zip(part["compliance_pct"], part["n"], part["status"])]
        # One trace per clock holds its bars and, as zero-length bars at LABEL_AT in the same
        # rows (same trace, so the same offset in the group), their labels.
        fig.add_bar(
            name=metric.capitalize(), y=order + order, x=values + [0.0] * n, base=[0.0] * n + [LABEL_AT] * n,
            orientation="h",
            marker={"color": [colour] * n + ["rgba(0,0,0,0)"] * n, "pattern": {"shape": [pattern] * (2 * n)},
                    "line": {"width": 0}},
            # Ranges for the bars only: plotly reads a missing entry as "no whisker" (a None as 0,
            # which still draws a cap: the old "|no data" stub).
            error_x={"type": "data", "symmetric": False, "array": high, "arrayminus": low},
            text=[""] * n + [_short(p, s) for p, s in zip(part["compliance_pct"], part["status"])],
            textposition=["none"] * n + ["outside"] * n, constraintext="none", cliponaxis=False,
            hovertext=hover + hover, hoverinfo="text",
        )
    target = float(table["target_pct"].iloc[0]) if len(table) else 95.0
    # The target's label sits above the plot area, where no bar label can be.
    fig.add_vline(x=target, line={"color": TARGET_COLOUR, "dash": "dot"})
    fig.add_annotation(x=target, y=1.0, xref="x", yref="paper", yanchor="bottom", showarrow=False,
                       text=f"target {target:g} %")
    fig.update_layout(barmode="group", xaxis={"range": [0, AXIS_END], "ticksuffix": " %",
                                              "tickvals": [0, 20, 40, 60, 80, 100]},
                      legend={"traceorder": "normal"}, height=120 + 70 * len(order))
    _layout(fig, "SLA compliance by severity", "Compliance", "Severity")
    fig.update_layout(margin={"l": 10, "r": 10, "t": 80, "b": 10})
    return fig


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


LEGEND_ROW = 19  # px: the height of one legend entry at the charts' 14 px font
STEP = {"week": pd.Timedelta(days=7), "month": pd.Timedelta(days=31)}  # longest gap between neighbours


def _broken(part: pd.DataFrame, grain: str) -> tuple[list, list, list]:
    """x, y and n of one clock's points with a None between periods that are not neighbours,
    so that the line breaks where periods have no stopped clock instead of bridging them."""
    x: list = []
    y: list = []
    n: list = []
    step = STEP.get(grain, pd.Timedelta(days=31))
    for period, pct, count in zip(part["period"], part["compliance_pct"], part["n"]):
        if x and pd.Timestamp(period) - pd.Timestamp(x[-1]) > step:
            x.append(pd.Timestamp(x[-1]) + step / 2)
            y.append(None)
            n.append(None)
        x.append(period)
        y.append(pct)
        n.append(count)
    return x, y, n


def trend_chart(trend: pd.DataFrame, target: float, grain: str) -> go.Figure:
    """Compliance % per period, one line per clock (distinct dash and marker), broken where
    periods have no data, and the target line named beside the legend, clear of the data."""
    if trend.empty:
        return empty_chart(f"SLA compliance by {grain}", "No SLA clock has stopped in the filtered period.")
    fig = go.Figure()
    for metric, (colour, _, dash, symbol) in CLOCK_STYLE.items():
        part = trend[trend["metric"] == metric].sort_values("period")
        if part.empty:  # the legend lists only what is drawn
            continue
        x, y, n = _broken(part, grain)
        fig.add_scatter(name=metric.capitalize(), x=x, y=y, connectgaps=False,
                        mode="lines+markers", line={"color": colour, "dash": dash},
                        marker={"symbol": symbol, "size": 9},
                        customdata=n, hovertemplate="%{y:.1f} % (n=%{customdata:,})")
    fig.add_hline(y=target, line={"color": TARGET_COLOUR, "dash": "dot"})
    # Named as one more legend entry, below the clocks' entries in the margin the legend keeps
    # (also in the report's print margins): on the line itself the text sat on data points.
    fig.add_annotation(text=f"····  target {target:g} %", xref="paper", yref="paper", x=1.02, y=1,
                       xanchor="left", yanchor="top", yshift=-(LEGEND_ROW * len(fig.data) + 6),
                       showarrow=False, align="left")
    fig.update_layout(yaxis={"ticksuffix": " %"}, showlegend=True,
                      legend={"x": 1.02, "y": 1, "xanchor": "left", "yanchor": "top"})
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
    for metric, (colour, pattern, _, _symbol) in CLOCK_STYLE.items():
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
