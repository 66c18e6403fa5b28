"""Static chart images for the PDF report: plotly figures -> PNG through kaleido (headless Chromium).

Starting Chromium costs 2–3 s and each image about 0.2 s after that, so a report's charts are
rendered together in one browser session; inside `session()` (e.g. several reports in a row)
kaleido's kept-alive server is used instead. Kaleido needs Chrome or Chromium: BROWSER_PATH when
set, else HYPERCARE_CHROMIUM, else Debian's /usr/bin/chromium. A chart that cannot be drawn is
reported, not fatal: the PDF then prints its text alternative and data without the picture.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import plotly.graph_objects as go

CHROMIUM = "/usr/bin/chromium"
WIDTH, HEIGHT, SCALE = 1000, 440, 1.6  # px; 1000 px across an A4 text width is ~140 dpi before scale
TIMEOUT_S = 60


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
    """A copy styled for paper: white background, no hover-only texts, a fixed font size."""
    out = go.Figure(fig)
    out.update_layout(template="plotly_white", paper_bgcolor="white", plot_bgcolor="white",
                      font={"size": 13, "color": "#1A1D23"}, margin={"l": 60, "r": 20, "t": 60, "b": 50})
    return out


def _opts(width: int, height: int, scale: float) -> dict:
    return {"format": "png", "width": width, "height": height, "scale": scale}


async def _batch(figures: Sequence[go.Figure], opts: dict) -> list[bytes]:
    import kaleido

    async with kaleido.Kaleido(n=1, mathjax=False, timeout=TIMEOUT_S) as k:
        return [await k.calc_fig(fig, opts=opts) for fig in figures]


def _server_running() -> bool:
    import kaleido

    return kaleido._global_server.is_running()  # noqa: SLF001 — kaleido has no public query


class EarlyBrowser:
    """A Chromium started now, in a thread of its own, that renders the figures handed to
    `render` later: its start-up then overlaps whatever the caller does meanwhile (gathering
    the report). Use as a context manager, so the browser is closed however the block ends."""

    def __init__(self, wait_s: float = 600):
        self._figures: Future = Future()
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._images = self._pool.submit(asyncio.run, self._serve(wait_s)) if browser_path() else None

    async def _serve(self, wait_s: float) -> list[bytes]:
        import kaleido

        async with kaleido.Kaleido(n=1, mathjax=False, timeout=TIMEOUT_S) as k:
            figures, opts = await asyncio.wait_for(asyncio.wrap_future(self._figures), wait_s)
            return [await k.calc_fig(fig, opts=opts) for fig in figures]

    def render(self, figures: Sequence[go.Figure], **size) -> tuple[list[bytes | None], str | None]:
        return render(figures, browser=self, **size)

    def __enter__(self) -> EarlyBrowser:
        return self

    def __exit__(self, *exc) -> None:
        if not self._figures.done():
            self._figures.set_exception(RuntimeError("no chart to render"))
        self._pool.shutdown(wait=True)


def render(figures: Sequence[go.Figure], *, width: int = WIDTH, height: int = HEIGHT,
           scale: float = SCALE, browser: EarlyBrowser | None = None) -> tuple[list[bytes | None], str | None]:
    """PNG bytes per figure (same order) and None; or Nones and the reason nothing was drawn.

    `browser`: an EarlyBrowser already starting (used once); else a browser of its own, or the
    kept-alive one inside `session()`."""
    if not figures:
        return [], None
    figures = [for_print(f) for f in figures]
    opts = _opts(width, height, scale)
    try:
        if browser_path() is None:
            raise RuntimeError("no Chrome/Chromium found: install chromium (Debian: apt-get install "
                               "chromium) or set BROWSER_PATH")
        if browser is not None and browser._images is not None:  # noqa: SLF001
            browser._figures.set_result((figures, opts))  # noqa: SLF001
            images = browser._images.result()  # noqa: SLF001
        elif _server_running():
            import kaleido

            images = [kaleido.calc_fig_sync(fig, opts=opts) for fig in figures]
        else:
            # A thread of its own: the caller may already run an event loop (Streamlit, pytest).
            with ThreadPoolExecutor(max_workers=1) as pool:
                images = pool.submit(asyncio.run, _batch(figures, opts)).result()
        return list(images), None
    except Exception as exc:  # a missing browser must not cost the report: say why instead
        return [None] * len(figures), f"{type(exc).__name__}: {exc}".strip()


@contextlib.contextmanager
def session() -> Iterator[None]:
    """Keep one Chromium alive for every `render` inside the block (stopped afterwards, unless it
    was already running)."""
    import kaleido

    browser_path()
    started = not _server_running()
    if started:
        kaleido.start_sync_server(n=1, mathjax=False, timeout=TIMEOUT_S, silence_warnings=True)
    try:
        yield
    finally:
        if started:
            kaleido.stop_sync_server(silence_warnings=True)
