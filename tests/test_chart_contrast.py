"""Chart text contrast (WCAG 1.4.3) and chart colours (1.4.11): analytics.charts.contrast.

The reference ratios are the published WebAIM / WCAG figures, not values from this code.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import plotly.colors as pc
import plotly.graph_objects as go
import pytest

from analytics.charts import kpi, overview, sla
from analytics.charts import recurrence as rc
from analytics.charts.contrast import (
    BACKGROUND,
    HEATMAP_SCALE,
    HEATMAP_TEXT,
    TEXT_COLOUR,
    contrast_ratio,
    label_colour_on,
    readable,
    relative_luminance,
)
from analytics.demo.loader import load_demo
from analytics.recurrence import patterns
from analytics.store.auth import local_operator
from analytics.store.filters import Filters


@pytest.mark.parametrize("a,b,expected", [
    ("#FFFFFF", "#000000", 21.0),
    ("#000000", "#000000", 1.0),
    ("#767676", "#FFFFFF", 4.54),  # the lightest grey with AA on white (WebAIM)
    ("#777777", "#FFFFFF", 4.48),  # one step lighter fails
    ("#FF0000", "#FFFFFF", 4.00),
    ("#0000FF", "#FFFFFF", 8.59),
])
def test_contrast_ratio_matches_published_values(a, b, expected):
    assert contrast_ratio(a, b) == pytest.approx(expected, abs=0.01)
    assert contrast_ratio(b, a) == pytest.approx(expected, abs=0.01)


def test_colour_notations_agree_and_unknown_ones_are_refused():
    assert relative_luminance("#fff") == relative_luminance("rgb(255, 255, 255)") == pytest.approx(1.0)
    assert relative_luminance("rgba(0,0,0,0.5)") == 0.0  # alpha is ignored: opaque colours only
    with pytest.raises(ValueError, match="not a colour"):
        relative_luminance("white")


@pytest.mark.parametrize("fill,patterned,expected", [
    ("#595959", False, "#FFFFFF"),  # dark grey: white 7.0:1, black 3.0:1
    ("#0072B2", False, "#FFFFFF"),  # blue: white 5.2:1, black 4.0:1
    ("#D55E00", False, "#000000"),  # vermillion: black 5.4:1, white 3.9:1
    ("#0072B2", True, "#000000"),   # hatched: must also read on the white between the lines
    ("#FFFFFF", False, "#000000"),
])
def test_label_colour_on_a_fill(fill, patterned, expected):
    assert label_colour_on(fill, patterned) == expected


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from analytics.store import db
    con = db.connect(tmp_path_factory.mktemp("contrast") / "c.duckdb")
    load_demo(con, n_tickets=600, actor=local_operator("demo"))
    yield con
    con.close()


def _compliance_table() -> pd.DataFrame:
    from analytics.sla import compliance as comp

    counted = pd.DataFrame([{"metric": m, "bucket": None, "grp": sev, "met": 8, "breached": 2, "open_breached": 0,
                             "not_applicable": 0} for m in comp.METRICS for sev in ("SEV-1", "SEV-2")])
    return comp.compliance_table(counted, 95.0)


def _figures(store) -> dict[str, go.Figure]:
    """One figure of each kind the pages draw: bars with outside and inside labels, legends,
    annotations, a second y axis, a heatmap with a colour bar, scatter text."""
    f = Filters()
    volume = pd.DataFrame({"day": [date(2026, 9, 7), date(2026, 9, 8)], "tickets": [5, 12]})
    ageing = pd.DataFrame({"bucket": ["<1 d", ">30 d"], "tickets": [3, 1]})
    trend = pd.DataFrame({"period": [date(2026, 9, 7)] * 2, "metric": ["response", "resolution"],
                          "compliance_pct": [90.0, 80.0], "n": [10, 10]})
    daily = pd.DataFrame({"day": [date(2026, 9, 7), date(2026, 9, 30)], "tickets": [4, 2],
                          "phase": ["hypercare", "after"], "rolling_mean": [4.0, 3.0]})
    t0 = datetime(2026, 9, 7, 9)
    timeline = {
        "ticket_id": "X-1", "as_of": datetime(2026, 9, 8, 9),
        "history": [{"event_time": t0, "status": "New"}],
        "pause_segments": [{"start": datetime(2026, 9, 7, 10), "end": datetime(2026, 9, 7, 12),
                            "status": "On hold"}],
        "running_segments": {"response": [{"start": t0, "end": datetime(2026, 9, 7, 10), "minutes": 60}],
                             "resolution": [{"start": t0, "end": datetime(2026, 9, 8, 9), "minutes": 900}]},
        "clocks": {"resolution": {"breach_at": datetime(2026, 9, 7, 17)}},
    }
    return {
        "volume": overview.volume_by_day_chart(volume),
        "ageing": overview.ageing_chart(ageing),
        "sla_trend": sla.trend_chart(trend, 95.0, "week"),
        "timeline": sla.timeline_chart(timeline),
        "hypercare": kpi.hypercare_chart(daily, date(2026, 9, 7), 14),
        "mix": overview.severity_mix_chart(pd.DataFrame({"severity": ["SEV-3", "SEV-4"], "tickets": [900, 1000],
                                                       "percent": [47.4, 52.6]})),
        "compliance": sla.compliance_chart(_compliance_table()),
        "pareto": rc.pareto_chart(patterns.pareto(store, f, "service", "tickets"), "service"),
        "heatmap": rc.heatmap_chart(patterns.weekday_hour(store, f, "UTC"), "UTC"),
        "reopens": rc.reopen_chart(patterns.reopen_hotspots(store, f), "service"),
    }


def test_readable_sets_every_label_colour_with_aa_contrast(store):
    figs = _figures(store)
    for name, fig in figs.items():
        readable(fig)
        lay = fig.layout
        # Explicit colours win over Streamlit's chart theme (grey #808495, 3.7:1 on white).
        texts = [lay.font.color, lay.title.font.color, lay.legend.font.color]
        for axis in [k for k in lay if k.startswith(("xaxis", "yaxis"))]:
            texts += [lay[axis].tickfont.color, lay[axis].title.font.color]
        texts += [a.font.color for a in lay.annotations]
        for trace in fig.data:
            if trace.type == "bar":
                texts.append(trace.outsidetextfont.color)
                if trace.text is not None and not isinstance(trace.marker.color, str):
                    # Several fills: each inside label's own colour must read on its bar.
                    for ground, inside, where in zip(trace.marker.color, trace.insidetextfont.color or (),
                                                     trace.textposition):
                        if where == "inside":
                            assert contrast_ratio(inside, ground) >= 4.5, (name, ground, inside)
                if isinstance(trace.marker.color, str) and trace.text is not None:
                    ground = trace.marker.color
                    inside = trace.insidetextfont.color
                    assert contrast_ratio(inside, ground) >= 4.5, (name, ground, inside)
                    if trace.marker.pattern.shape:
                        assert contrast_ratio(inside, BACKGROUND) >= 4.5, (name, inside)
            elif trace.type == "scatter" and trace.text is not None:
                texts.append(trace.textfont.color)
            elif trace.type == "heatmap":
                texts += [trace.colorbar.tickfont.color, trace.colorbar.title.font.color]
        assert None not in texts, name
        assert min(contrast_ratio(c, BACKGROUND) for c in texts) >= 4.5, name
    # The kinds of text the test meant to cover are really there.
    assert len(figs["sla_trend"].layout.annotations) == 1
    assert "yaxis2" in figs["pareto"].layout and figs["pareto"].layout.yaxis2.tickfont.color == TEXT_COLOUR
    assert any(t.type == "scatter" and t.text for t in figs["timeline"].data)
    assert any(t.type == "bar" and t.marker.pattern.shape and t.text for t in figs["timeline"].data)


def test_readable_keeps_an_annotation_colour_that_was_chosen():
    fig = go.Figure(go.Scatter(x=[1], y=[1]))
    fig.add_annotation(text="chosen", font={"color": "#000000"})
    fig.add_annotation(text="default")
    readable(fig)
    assert [a.font.color for a in fig.layout.annotations] == ["#000000", TEXT_COLOUR]


def test_heatmap_cell_labels_read_on_every_colour_of_the_scale(store):
    fig = rc.heatmap_chart(patterns.weekday_hour(store, Filters(), "UTC"), "UTC")
    heat = fig.data[0]
    assert heat.textfont.color == HEATMAP_TEXT and heat.texttemplate
    # Plotly interpolates between the stops: sample the scale finely, not just the stops.
    sampled = pc.sample_colorscale([list(s) for s in heat.colorscale], [i / 200 for i in range(201)])
    worst = min(contrast_ratio(c, HEATMAP_TEXT) for c in sampled)
    assert worst >= 4.5, worst
    # Still a scale: its ends differ clearly in lightness.
    assert contrast_ratio(HEATMAP_SCALE[0][1], HEATMAP_SCALE[-1][1]) >= 2.5


def test_series_colours_stand_out_from_the_background():
    """WCAG 1.4.11: lines and bars that carry data have at least 3:1 against white."""
    colours = {*overview.SEVERITY_COLOURS.values(), overview.PRIMARY, overview.OTHER_COLOUR,
               *kpi.GROUP_COLOURS, *rc.SERIES_COLOURS,
               *(style[0] for style in sla.CLOCK_STYLE.values())}
    low = {c: round(contrast_ratio(c, BACKGROUND), 2) for c in colours if contrast_ratio(c, BACKGROUND) < 3}
    assert not low, low


CHART_CALLS = {"plotly_chart", "altair_chart", "vega_lite_chart", "pyplot", "bokeh_chart",
               "line_chart", "bar_chart", "area_chart", "scatter_chart", "pydeck_chart"}


def test_every_chart_on_a_page_goes_through_widgets_chart():
    """ui.widgets.chart is the one place that adds the text alternative (alt text, caption,
    data table) and the readable label colours; no page or helper draws a chart around it."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    direct, through_widgets = [], 0
    for path in [*root.glob("pages/*.py"), *root.glob("ui/*.py"), root / "app.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                st_map = node.func.attr == "map" and getattr(node.func.value, "id", "") == "st"
                if (node.func.attr in CHART_CALLS or st_map) and path.name != "widgets.py":
                    direct.append(f"{path.relative_to(root)}:{node.lineno} {node.func.attr}")
                if node.func.attr == "chart" and getattr(node.func.value, "id", "") == "widgets":
                    through_widgets += 1
    assert not direct, direct
    assert through_widgets >= 10  # the scan sees the pages' charts
