"""Text from the data never becomes markup in a chart (plotly draws a subset of HTML)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from analytics.charts import recurrence
from analytics.charts.text import escape, inert
from analytics.store.auth import local_operator

HOSTILE = '<a href="https://evil.example/phish">Payments</a>'
SAFE = "&lt;a href=\"https://evil.example/phish\"&gt;Payments&lt;/a&gt;"


@pytest.mark.parametrize("value,expected", [
    (HOSTILE, SAFE), ("<b>bold</b>", "&lt;b&gt;bold&lt;/b&gt;"), ("A & B", "A &amp; B"),
    ("plain", "plain"), (3, 3), (None, None)])
def test_escape(value, expected):
    assert escape(value) == expected


def _texts(fig: go.Figure) -> list[str]:
    """Every string in the figure's traces and axes, as plotly would get it."""
    out: list[str] = []

    def walk(v):
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple, np.ndarray)):
            for x in (v.ravel().tolist() if isinstance(v, np.ndarray) else v):
                walk(x)

    walk(fig.to_plotly_json()["data"])
    walk({k: v for k, v in fig.to_plotly_json()["layout"].items() if k.startswith(("xaxis", "yaxis"))})
    return out


def test_every_data_property_is_escaped_and_our_templates_are_kept():
    fig = go.Figure([
        go.Bar(x=[HOSTILE, "b"], y=[1, 2], name=HOSTILE, text=[HOSTILE, "x"],
               hovertemplate="%{x}<br>%{y} tickets<extra></extra>"),
        go.Scatter(x=np.array([HOSTILE, "b"], dtype=object), y=[1, 2],
                   customdata=np.array([[HOSTILE, 1], ["c", 2]], dtype=object)),
        go.Pie(labels=[HOSTILE], values=[1]),
    ])
    fig.update_xaxes(categoryarray=[HOSTILE, "b"])
    texts = _texts(inert(fig))
    assert not any("<a " in t or "<b>" in t or "</a>" in t for t in texts)
    assert SAFE in texts
    assert fig.data[0].hovertemplate == "%{x}<br>%{y} tickets<extra></extra>"
    assert list(fig.data[0].y) == [1, 2]


def test_a_hostile_service_name_in_the_recurrence_pareto_is_plain_text(con):
    import json

    from analytics.ingest.pipeline import ingest_file
    from analytics.recurrence import patterns
    from analytics.store.filters import Filters

    rows = [{"external_id": f"T-{i}", "title": "Login fails", "severity": "SEV-3", "status": "Open",
             "service": HOSTILE if i % 2 else "<b>Billing</b>", "opened_at": f"2026-09-0{i + 1}T10:00:00Z"}
            for i in range(4)]
    ingest_file(con, data="\n".join(json.dumps(r) for r in rows).encode(), name="hostile.jsonl",
                uploaded_by=local_operator("local"))
    frame = patterns.pareto(con, Filters(), "service")
    assert HOSTILE in set(frame["value"])  # stored as it came
    texts = _texts(inert(recurrence.pareto_chart(frame, "service")))
    assert SAFE in texts and "&lt;b&gt;Billing&lt;/b&gt;" in texts
    assert not any("<a " in t or "<b>" in t for t in texts)
