"""Readable chart text: WCAG 2.1 contrast for every label a chart draws (1.4.3, 4.5:1).

Streamlit's plotly theme draws tick labels, axis titles, annotations and bar labels in a grey
(#808495) that has only 3.7:1 against white. `readable(fig)` sets those colours explicitly;
explicit figure values take precedence over the theme's template. axe-core can't judge SVG text
over a chart (it reports it as "incomplete"), so this module is where the contrast is decided
and tests/test_chart_contrast.py checks it.
"""

from __future__ import annotations

import plotly.colors as pc
import plotly.graph_objects as go

BACKGROUND = "#FFFFFF"  # .streamlit/config.toml backgroundColor: charts sit on it
TEXT_COLOUR = "#31333F"  # 12.6:1 on white
HEATMAP_TEXT = "#000000"
# The light half of Cividis (colour-blind safe, monotone lightness): black cell labels keep at
# least 5:1 on every cell, where plotly's automatic white/#444 choice on the full scale falls
# to 2.5:1 on the mid-greys.
HEATMAP_SCALE: list[list] = [
    [i / 10, pc.sample_colorscale("Cividis", 0.5 + i / 20)[0]] for i in range(11)
]


def _channels(colour: str) -> tuple[float, float, float]:
    """(r, g, b) in 0–255 from "#RRGGBB", "#RGB" or "rgb(r, g, b)"."""
    c = colour.strip()
    if c.startswith("#"):
        h = c[1:]
        if len(h) == 3:
            h = "".join(ch * 2 for ch in h)
        return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    if c.startswith("rgb"):
        parts = c[c.index("(") + 1:c.rindex(")")].split(",")[:3]
        return tuple(float(p) for p in parts)  # type: ignore[return-value]
    raise ValueError(f"not a colour this module reads: {colour!r}")


def relative_luminance(colour: str) -> float:
    """WCAG 2.1 relative luminance of an sRGB colour."""
    def linear(v: float) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(v) for v in _channels(colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio (1–21) between two opaque colours."""
    hi, lo = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def label_colour_on(fill: str, patterned: bool = False) -> str:
    """Black or white, whichever reads better on `fill`; a hatched fill (plotly draws the
    pattern in `fill` over the page background) must read on both."""
    grounds = [fill, BACKGROUND] if patterned else [fill]
    return max(("#000000", "#FFFFFF"), key=lambda c: min(contrast_ratio(c, g) for g in grounds))


def readable(fig: go.Figure) -> go.Figure:
    """Give every text the chart draws on the page background a colour with ≥ 4.5:1."""
    font = {"color": TEXT_COLOUR}
    fig.update_layout(font=font, title_font=font, legend_font=font, legend_title_font=font)
    fig.update_xaxes(tickfont=font, title_font=font)
    fig.update_yaxes(tickfont=font, title_font=font)
    for annotation in fig.layout.annotations:
        annotation.font.color = annotation.font.color or TEXT_COLOUR
    for trace in fig.data:
        if trace.type == "bar":
            # Labels outside a bar sit on the background, inside ones on the bar: plotly's own
            # pick there (white or #444 by brightness) gives 3.9:1 on vermillion.
            trace.outsidetextfont = {"color": TEXT_COLOUR}
            fill = trace.marker.color
            if isinstance(fill, str) and trace.text is not None:
                trace.insidetextfont = {"color": label_colour_on(fill, bool(trace.marker.pattern.shape))}
        elif trace.type == "scatter" and trace.text is not None and not trace.textfont.color:
            trace.textfont = {"color": TEXT_COLOUR}
        elif trace.type == "heatmap":
            trace.colorbar.tickfont = font
            trace.colorbar.title.font = font
    return fig
