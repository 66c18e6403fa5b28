"""KPI presentation: card texts, the trend chart with target and XmR limits, the hypercare chart.

Charts follow analytics.charts.overview: Okabe–Ito colours, a title, and a `describe_*` sentence as the
text alternative. Status is a word plus an icon, never colour alone; special-cause points are
drawn with their own marker symbol, named in the legend and the hover (text beside each point ran
into its neighbours and past the plot's edge).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.graph_objects as go

from analytics.charts.overview import _whole_numbers, empty_chart
from analytics.kpi import registry as reg
from analytics.kpi.kpis import MET, MISSED, NO_TARGET, NOT_MEASURABLE, KpiResult, small_n
from analytics.store import units

STATUS_ICON = {MET: ":material/check_circle:", MISSED: ":material/cancel:",
               NO_TARGET: ":material/remove:", "not measurable": ":material/help:"}
# Okabe–Ito orange and sky blue darkened (#C27C00, #4A90C8) to reach 3:1 on white (WCAG 1.4.11).
GROUP_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#595959", "#C27C00", "#4A90C8")
TARGET_COLOUR, LIMIT_COLOUR, PREVIOUS_COLOUR = "#D55E00", "#595959", "#767676"
_UNIT_TEXT = {"minutes": "min", "hours": "h", "days": "d", "%": "%", "tickets": ""}
NBSP = "\u00a0"


def fmt(value: float | None, unit: str) -> str:
    """A KPI value in its unit as people write it (analytics.store.units): "15 h 02 min", "78.2 %",
    "1,234"; "n/a" for None."""
    if value is None:
        return "n/a"
    if unit == "tickets":
        return units.count(value)
    if unit == "%":
        return units.percent(value)
    if unit in units.MINUTES_PER:
        return units.duration(value, unit)
    return f"{value:,.1f} {_UNIT_TEXT.get(unit, unit)}".strip()


def change(result: KpiResult) -> tuple[str, bool, bool] | None:
    """The change against the previous period as (signed text, better, unchanged); None when
    there is nothing to compare with. Unchanged: the change shows as nothing ("+0.0 points")."""
    if result.change is None:
        return None
    k = reg.get(result.key)
    # ASCII sign: st.metric reads the arrow direction from a leading "-".
    sign = "+" if result.change >= 0 else "-"
    size = (units.percent(abs(result.change), points=True) if result.unit == "%"
            else fmt(abs(result.change), result.unit))
    unchanged = size == (units.percent(0.0, points=True) if result.unit == "%" else fmt(0.0, result.unit))
    # The word, not only st.metric's green/red, says whether the change is good (WCAG 1.4.1).
    better = result.change > 0 if k.direction == reg.HIGHER else result.change < 0
    return f"{sign}{size}", better, unchanged


def _kept(text: str) -> str:
    """`text` with no-break spaces: a footnote in a narrow card column must not break a value
    ("p90 4 / h 49 min")."""
    return text.replace(" ", NBSP)


def card(result: KpiResult) -> dict[str, str]:
    """Texts of one KPI card: label, value, delta, status, icon, target, footnote, definition."""
    k = reg.get(result.key)
    moved = change(result)
    unchanged = moved is not None and moved[2]
    delta = ""
    if moved is not None and not unchanged:
        delta = f"{moved[0]} vs previous period ({'better' if moved[1] else 'worse'})"
    target = (f"target {'≥' if k.direction == reg.HIGHER else '≤'} {fmt(result.target, result.unit)}"
              if result.target is not None else "no target set (Settings → KPI targets)")
    foot = f"n = {result.n:,}" + (f" (small sample: fewer than {small_n(result.key)})"
                                   if result.small_sample else "")
    if unchanged:
        foot += " · unchanged vs previous period"
    if result.stats.get("median") is not None:
        foot += (f" · {_kept('median ' + fmt(result.stats['median'], result.unit))}"
                 f" · {_kept('p90 ' + fmt(result.stats['p90'], result.unit))}")
    if "services_in_scope" in result.extra and k.kind == "availability":
        foot += f" outages · {result.extra['services_in_scope']:,} services"
    if "lowest_service" in result.extra:
        lowest = result.extra.get("lowest_value")
        foot += f" · lowest: {result.extra['lowest_service']}" + (f" {_kept(fmt(lowest, '%'))}" if lowest is not None else "")
    if result.extra.get("open_breached") is not None:
        foot += f" · {result.extra['open_breached']:,} open clocks already breached at the period's end"
    if result.key == "mtbf":
        mtbsi = [r["mtbsi_hours"] for r in result.extra.get("services", []) if r["mtbsi_hours"]]
        if mtbsi:
            foot += f" · MTBSI (period / failures) {_kept(fmt(min(mtbsi), 'hours'))}"
    # "not measurable" says why (no tickets, no acknowledgement, …), never blaming the target.
    status_text = result.status
    if result.status == NOT_MEASURABLE and result.reason:
        status_text = result.reason.split(". ")[0].rstrip(".")
    return {"label": k.name, "value": fmt(result.value, result.unit), "delta": delta,
            "status": result.status, "status_text": status_text, "icon": STATUS_ICON[result.status], "target": target,
            "footnote": foot, "definition": definition_text(result),
            "delta_colour": "inverse" if k.direction == reg.LOWER else "normal"}


def definition_text(result: KpiResult) -> str:
    """The popover text: definition, cohort, statistic, exclusions with counts, reason."""
    k = reg.get(result.key)
    lines = [f"{k.name}: {k.definition}",
             f"Start: {k.start_event}. End: {k.end_event}. Statistic: {k.statistic}.",
             f"Cohort: {reg.COHORT_TEXT[k.cohort]}"
             + (f", {k.scope_text}" if k.scope_text else "") + ".",
             f"Period: {result.extra.get('period', 'the filtered period')}; n = {result.n:,}."]
    if result.excluded:
        lines += [f"{count:,} {label} excluded." for label, count in result.excluded]
    elif k.exclusions:
        lines.append("No ticket excluded.")
    if result.reason:
        lines.append(result.reason)
    return "\n".join(lines)


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    fig.update_layout(title={"text": title}, xaxis_title=x_title, yaxis_title=y_title,
                      margin={"l": 10, "r": 10, "t": 50, "b": 10}, font={"size": 14},
                      hoverlabel={"font_size": 14}, legend_title_text="")
    return fig


def bounds(unit: str) -> tuple[float, float | None]:
    """The values a KPI in `unit` can take: 0–100 for a %, else from 0 up (durations, counts)."""
    return (0.0, 100.0) if unit == "%" else (0.0, None)


def shown(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """The trend (kpi.trends.trend) as the chart draws it: only the buckets from the first to
    the last with a value (the axis and the centre line start where the points do), and the
    XmR limits clipped to the KPI's possible values (no −2 h control limit)."""
    if df.empty:
        return df
    present = df.loc[df["value"].notna(), "bucket"]
    if present.empty:
        return df.iloc[0:0]
    out = df[df["bucket"].between(present.min(), present.max())].copy()
    lo, hi = bounds(reg.get(key).unit)
    for col in ("ucl", "lcl", "mean"):
        out[col] = out[col].clip(lower=lo, upper=hi)
    return out.reset_index(drop=True)


def _marks(fig: go.Figure, rows: pd.DataFrame, name: str, symbol: str, colour: str, unit: str, what: str) -> None:
    """Markers (no text: labels of neighbouring points ran into each other and into the plot's
    edge) with a legend entry, and the reason in the hover."""
    fig.add_trace(go.Scatter(
        x=list(rows["bucket"]), y=list(rows["value"]), mode="markers", name=name,
        customdata=[fmt(v, unit) for v in rows["value"]],
        hovertemplate=f"%{{x|%d %b %Y}}: %{{customdata}} — {what}<extra></extra>",
        marker={"symbol": symbol, "size": 16 if symbol.startswith("diamond") else 14, "color": colour,
                "line": {"width": 2}}))


def trend_chart(df: pd.DataFrame, key: str, target: float | None, grain: str) -> go.Figure:
    """Lines per group (df from kpi.trends.trend), previous period dotted, the target dashed,
    XmR centre and limits for a single group, special causes as diamonds in the legend."""
    k = reg.get(key)
    title = f"{k.name} per {grain}"
    data = shown(df, key)
    if data.empty:
        reasons = [r for r in df.get("reason", pd.Series(dtype=object)).dropna().unique() if r]
        return empty_chart(title, f"No {grain} has a value" + (f": {reasons[0]}" if reasons else "."))
    fig = go.Figure()
    groups = list(dict.fromkeys(data["group"]))
    for i, g in enumerate(groups):
        part = data[data["group"] == g]
        colour = GROUP_COLOURS[i % len(GROUP_COLOURS)]
        fig.add_trace(go.Scatter(x=list(part["bucket"]), y=list(part["value"]), name=str(g),
                                 mode="lines+markers", line={"color": colour, "width": 3},
                                 marker={"symbol": "circle", "size": 7}))
        cut = part[part["partial"] & part["value"].notna()] if "partial" in part else part.iloc[0:0]
        if len(cut):
            _marks(fig, cut, f"{g}: partial {grain} (the period cuts it short)", "circle-open", colour, k.unit,
                   f"partial {grain}, not in the control limits")
        special = part[part["special_cause"]]
        if len(special):
            _marks(fig, special, f"{g}: special cause (outside XmR limits)", "diamond-open", "#000000", k.unit,
                   "special cause (outside the XmR limits)")
    if len(groups) == 1:
        # The legend lists only what is drawn: a line without a single value is left out.
        if data["previous"].notna().any():
            fig.add_trace(go.Scatter(x=list(data["bucket"]), y=list(data["previous"]),
                                     name="previous period", mode="lines",
                                     line={"color": PREVIOUS_COLOUR, "dash": "dot", "width": 2}))
        for col, name in (("mean", "XmR centre (mean)"), ("ucl", "upper control limit"),
                          ("lcl", "lower control limit")):
            if data[col].isna().all():
                continue
            fig.add_trace(go.Scatter(x=list(data["bucket"]), y=list(data[col]), name=name,
                                     mode="lines", line={"color": LIMIT_COLOUR, "width": 1,
                                                         "dash": "solid" if col == "mean" else "dashdot"}))
    if target is not None:
        fig.add_hline(y=target, line={"color": TARGET_COLOUR, "dash": "dash", "width": 2},
                      annotation_text=f"target {fmt(target, k.unit)}", annotation_position="top left")
    fig.update_xaxes(type="date")
    if k.unit == "tickets":
        _whole_numbers(fig, float(data["value"].max()))
    else:
        fig.update_yaxes(rangemode="nonnegative")
    return _layout(fig, title, f"{grain.capitalize()} (UTC)", f"{k.name} ({k.unit})")


def trend_definition(df: pd.DataFrame, key: str, grain: str) -> str:
    """The caption under the trend chart: the KPI's definition and what each line and mark is."""
    k = reg.get(key)
    data = shown(df, key)
    single = data["group"].nunique() == 1 if len(data) else False
    previous = (f"the dotted line is the same {grain} one period earlier" if single and data["previous"].notna().any()
                else "no previous-period line: the period before has no value (without a date filter the "
                "period is the data's whole span)" if single
                else "one line per group (the previous period and control limits are drawn without a split)")
    return (f"{k.name}: {k.definition} Cohort: {reg.COHORT_TEXT[k.cohort]}. Each point is one {grain}; "
            f"{previous}. Control limits (XmR): mean ± 2.66 × mean moving range, within the KPI's possible "
            "values; points outside them are special causes (open diamonds).")


def describe_trend(df: pd.DataFrame, key: str, target: float | None, grain: str) -> str:
    """E.g. "MTTR per week, 11 weeks: latest 4.2 h; 1 special-cause point (week of 5 Oct)."."""
    k = reg.get(key)
    df = shown(df, key)
    valued = df.dropna(subset=["value"])
    if valued.empty:
        return f"{k.name} per {grain}: no value in any {grain}."
    parts = []
    for g, part in valued.groupby("group", sort=False):
        last = part.iloc[-1]
        special = [f"{pd.Timestamp(b):%d %b %Y}" for b in part.loc[part["special_cause"], "bucket"]]
        text = f"{g}: latest {fmt(last['value'], k.unit)} ({pd.Timestamp(last['bucket']):%d %b %Y})"
        if special:
            more = f" and {len(special) - 5} more" if len(special) > 5 else ""
            text += f", special causes {', '.join(special[:5])}{more}"
        if "partial" in part and part["partial"].any():
            cut = [f"{pd.Timestamp(b):%d %b %Y}" for b in part.loc[part["partial"], "bucket"]]
            text += f", partial {grain}s {', '.join(cut)} (not in the control limits)"
        parts.append(text)
    tgt = f"; target {fmt(target, k.unit)}" if target is not None else ""
    return f"{k.name} per {grain}, {df['bucket'].nunique():,} {grain}s{tgt}. " + "; ".join(parts) + "."


def _window_text(window_days: int) -> str:
    return "2 weeks" if window_days == 14 else f"{window_days} days"


def hypercare_chart(df: pd.DataFrame, go_live: date, window_days: int) -> go.Figure:
    """Daily tickets since go-live (bars, the hypercare window's days hatched) and the 7-day
    rolling mean; df from overview.hypercare_from (phase by the engagement's window)."""
    title = "Daily tickets since go-live"
    if df.empty:
        return empty_chart(title, f"No ticket was opened on or after the go-live date ({go_live:%d %b %Y}).")
    fig = go.Figure()
    for phase, pattern, colour in (("hypercare", "/", "#0072B2"), ("after", "", "#4A90C8")):
        part = df[df["phase"] == phase]
        fig.add_trace(go.Bar(x=list(part["day"]), y=list(part["tickets"]),
                             name=f"tickets ({phase})", marker={"color": colour,
                                                               "pattern": {"shape": pattern}},
                             hovertemplate="%{x|%a %d %b %Y}: %{y:,} tickets<extra></extra>"))
    fig.add_trace(go.Scatter(x=list(df["day"]), y=list(df["rolling_mean"]), mode="lines",
                             name="7-day rolling mean", line={"color": "#D55E00", "width": 3}))
    end = go_live + timedelta(days=window_days)
    # Between the window's last day and the next: a day's bar is centred on its midnight.
    line = pd.Timestamp(end) - pd.Timedelta(hours=12)
    # The label on the side of the line with more room: plotly widens the x axis to fit an
    # annotation, so one running past the last day stretched the axis by weeks.
    days = pd.to_datetime(pd.Series(list(df["day"])))
    room_left = line - days.min() > days.max() - line
    fig.add_vline(x=line.timestamp() * 1000, line={"dash": "dash", "color": "#595959"},
                  annotation_text=f"end of hypercare ({_window_text(window_days)})",
                  annotation_position="top left" if room_left else "top right")
    fig.update_xaxes(type="date")
    fig.update_layout(barmode="overlay")
    _whole_numbers(fig, float(df["tickets"].max()))
    return _layout(fig, title, "Day opened (UTC)", "Tickets")


def describe_hypercare(df: pd.DataFrame, go_live: date, window_days: int) -> str:
    """E.g. "Daily tickets since go-live on 07 Sep 2026: 3,200 in the 70 days of hypercare (…)"."""
    if df.empty:
        return "Daily tickets since go-live: no tickets."
    hc, after = df[df["phase"] == "hypercare"], df[df["phase"] == "after"]
    so_far = "" if len(hc) >= window_days else f", {len(hc):,} of them so far"
    text = (f"Daily tickets since go-live on {go_live:%d %b %Y}: {int(hc['tickets'].sum()):,} in the "
            f"{_window_text(window_days)} of hypercare{so_far} ({hc['tickets'].mean():,.1f} per day)")
    if len(after):
        text += f", {int(after['tickets'].sum()):,} after ({after['tickets'].mean():,.1f} per day)"
    return text + f"; 7-day rolling mean on the last day {df['rolling_mean'].iloc[-1]:,.1f}."


def service_table(result: KpiResult) -> pd.DataFrame:
    """Per-service availability, MTBF and MTBSI rows of an availability/MTBF result."""
    cols = ["service", "failures", "downtime_hours", "period_hours", "availability_pct",
            "mtbf_hours", "mtbsi_hours", "mtbf_reason"]
    return pd.DataFrame(result.extra.get("services", []), columns=cols)
