"""Static chart images for the PDF report: plotly figures -> PNG through kaleido (headless Chromium).

Starting Chromium costs 2–3 s and each image about 0.2 s after that, so a report's charts are
rendered together in one browser session, which `EarlyBrowser` can start before the figures
exist (while the report is being gathered). Kaleido needs Chrome or Chromium: BROWSER_PATH when
set, else HYPERCARE_CHROMIUM, else Debian's /usr/bin/chromium. Every wait is bounded, and a chart
that cannot be drawn is reported, not fatal: the PDF then prints its text alternative and data
without the picture.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

import plotly.graph_objects as go

from analytics.charts import text

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT, SCALE = 1000, 440, 1.6  # px; 1000 px across an A4 text width is ~140 dpi before scale
TIMEOUT_S = 60  # kaleido's limit for one image
START_S, PER_CHART_S = 90, 30  # how long a report waits for its images: start-up + per chart


def browser_path() -> str | None:
    """The Chromium kaleido will use (and set BROWSER_PATH to it when it was unset)."""
    if os.environ.get("BROWSER_PATH"):
        return os.environ["BROWSER_PATH"]
    for candidate in (os.environ.get("HYPERCARE_CHROMIUM"), CHROMIUM):
        if candidate and Path(candidate).exists():
            os.environ["BROWSER_PATH"] = candidate
            return candidate
    return None


def for_print(fig: go.Figure) -> go.Figure:
    """A copy styled for paper: white background, a fixed font size and margins."""
    out = text.inert(go.Figure(fig))
    out.update_layout(template="plotly_white", paper_bgcolor="white", plot_bgcolor="white",
                      font={"size": 13, "color": "#1A1D23"}, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return out


def _browser_failures() -> tuple[type[Exception], ...]:
    """What a missing, failing or stuck browser raises; a bug in the figures is not among them."""
    # Evaluated only when something was raised, so kaleido is imported only then (as in _serve).
    from choreographer.protocol import DevtoolsProtocolError
    from kaleido._kaleido_tab import KaleidoError  # (not exported at kaleido's top)

    return (RuntimeError, OSError, TimeoutError, KaleidoError, DevtoolsProtocolError)


class EarlyBrowser:
    """A Chromium started now, on a daemon thread with its own event loop (the caller may run
    one already: Streamlit, pytest), that renders the figures handed to `render` later, so its
    start-up overlaps whatever the caller does meanwhile. One batch per browser. Use as a
    context manager, so the browser is closed however the block ends."""

    def __init__(self):
        self._figures: Future = Future()
        self._images: Future = Future()
        self._thread: threading.Thread | None = None
        if browser_path():
            self._thread = threading.Thread(target=self._main, name="report-charts", daemon=True)
            self._thread.start()

    def _main(self) -> None:
        try:
            self._images.set_result(asyncio.run(self._serve()))
        except BaseException as exc:  # noqa: BLE001 — handed to the waiting caller
            self._images.set_exception(exc)

    async def _serve(self) -> list[bytes]:
        import kaleido  # third-party, ~0.2 s to import: paid only when a chart is drawn

        async with kaleido.Kaleido(n=1, mathjax=False, timeout=TIMEOUT_S) as k:
            figures, opts = await asyncio.wrap_future(self._figures)
            return [await k.calc_fig(fig, opts=opts) for fig in figures]

    def render(self, figures: Sequence[go.Figure], *, width: int = WIDTH, height: int = HEIGHT,
               scale: float = SCALE) -> tuple[list[bytes | None], str | None]:
        """PNG bytes per figure (same order) and None; or Nones and the reason nothing was drawn."""
        if not figures:
            return [], None
        try:
            if self._thread is None:
                raise RuntimeError("no Chrome/Chromium found: install chromium (Debian: apt-get install "
                                   "chromium) or set BROWSER_PATH")
            opts = {"format": "png", "width": width, "height": height, "scale": scale}
            self._figures.set_result(([for_print(f) for f in figures], opts))
            wait = START_S + PER_CHART_S * len(figures)
            try:
                return list(self._images.result(timeout=wait)), None
            except FutureTimeout:
                raise TimeoutError(f"chart images not ready after {wait} s") from None
        except _browser_failures() as exc:  # a missing or stuck browser must not cost the report: say why
            return [None] * len(figures), f"{type(exc).__name__}: {exc}".strip()

    def __enter__(self) -> EarlyBrowser:
        return self

    def __exit__(self, *exc) -> None:
        if not self._figures.done():
            self._figures.set_exception(RuntimeError("no chart to render"))
        if self._thread is not None:
            self._thread.join(timeout=15)  # closing Chromium; a daemon thread never blocks exit


def render(figures: Sequence[go.Figure], *, browser: EarlyBrowser | None = None,
           **size) -> tuple[list[bytes | None], str | None]:
    """PNG bytes per figure (same order) and None; or Nones and the reason nothing was drawn.

    `browser`: an EarlyBrowser already starting (used once); else one is started here."""
    if not figures:
        return [], None
    if browser is not None:
        return browser.render(figures, **size)
    with EarlyBrowser() as own:
        return own.render(figures, **size)
