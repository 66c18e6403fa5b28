"""Text that came from data, made inert in plotly figures (no links, markup or styles).

Plotly draws a subset of HTML in every label, legend entry and hover text: a service named
`<a href="https://evil.example">…</a>` becomes a clickable link, `<b>` and `<span style=…>`
render. Every data-carrying property of every trace is escaped here (plotly shows the entities
as the characters they stand for); templates written by us (hovertemplate, texttemplate,
titles, annotations) keep their markup.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

# Trace properties that hold values from the data and are drawn as text somewhere.
DATA_PROPERTIES = ("x", "y", "z", "text", "hovertext", "labels", "parents", "ids", "name",
                   "customdata")
AXIS_PROPERTIES = ("categoryarray", "ticktext", "tickvals")  # must match the escaped x / y


def escape(value: object) -> object:
    """`value` with &, < and > as entities when it is text; anything else as it is."""
    return html.escape(value, quote=False) if isinstance(value, str) else value


def _escaped(values: object) -> object:
    if isinstance(values, str):
        return escape(values)
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "OUS":  # numbers and dates hold no markup
            return values
        flat = [_escaped(v) for v in values.ravel().tolist()]
        out = np.empty(len(flat), dtype=object)
        out[:] = flat
        return out.reshape(values.shape)
    if isinstance(values, (list, tuple)):
        return type(values)(_escaped(v) for v in values)
    return values


def inert(fig: go.Figure) -> go.Figure:
    """`fig` (changed in place and returned) with every data text of its traces escaped."""
    for trace in fig.data:
        for prop in DATA_PROPERTIES:
            if prop in trace and trace[prop] is not None:
                value = trace[prop]
                trace[prop] = _escaped(value)
    def axis_text(axis) -> None:
        for prop in AXIS_PROPERTIES:
            if axis[prop] is not None:
                axis[prop] = _escaped(axis[prop])

    fig.for_each_xaxis(axis_text)
    fig.for_each_yaxis(axis_text)
    return fig
