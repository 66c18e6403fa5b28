"""The people of bench/concurrent_people.py: one person's session in a browser (Playwright) or
over Streamlit's own WebSocket protocol, and how each of its steps is timed."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT_MS = 300_000  # a step that takes longer is an error (concurrent_people.py --timeout)
VIEWPORT = {"width": 1400, "height": 1800}
PAGES = ["SLA compliance", "KPI trends", "Governance", "Recurrence"]
FIRST_OPEN = "Overview: first open (all at once)"
OPEN_AGAIN = "Overview: opened again"
FILTER = "Overview: filter change"
ROWS = [FIRST_OPEN, OPEN_AGAIN, FILTER, *PAGES]
COMMANDS = ["kpis", "tickets --csv", "ingest", "report"]

# Installed at the start of every document (a context's init script). A step is armed just
# before its click (t0: the click, stamped in the capture phase); a navigation's t0 is its
# start (0). tFin: when the last message saying a script run has finished (ForwardMsg field 6,
# script_finished) arrived on Streamlit's WebSocket after t0 — read from the bytes, before the
# page handles them, so neither React's batching of the running/notRunning state nor the
# drawing that follows can hide or delay it.
_PROBE_JS = """(() => {
  const w = window;
  w.__hc = {armed: false, t0: 0, tFin: null};
  document.addEventListener('click', () => {
    if (w.__hc.armed && w.__hc.t0 === null) { w.__hc.t0 = performance.now(); }
  }, true);
  const fields = (buffer) => {
    const b = new Uint8Array(buffer); let i = 0; const out = [];
    const varint = () => {
      let x = 0, m = 1, c;
      do { c = b[i++]; x += (c & 127) * m; m *= 128; } while (c & 128 && i < b.length);
      return x;
    };
    while (i < b.length) {
      const tag = varint(), wire = tag % 8; out.push(Math.floor(tag / 8));
      if (wire === 0) varint(); else if (wire === 2) { const n = varint(); i += n; }
      else if (wire === 1) i += 8; else if (wire === 5) i += 4; else break;
    }
    return out;
  };
  const seen = (data) => {
    const now = performance.now();
    if (w.__hc.t0 !== null && fields(data).includes(6)) w.__hc.tFin = now;
  };
  const Base = w.WebSocket;
  w.WebSocket = class extends Base {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (e) => {
        if (e.data instanceof ArrayBuffer) seen(e.data);
        else if (e.data instanceof Blob) e.data.arrayBuffer().then(seen);
      });
    }
  };
})();"""

# Ready: a script run has finished since t0, the page's script state is notRunning, the main
# area has its heading, no element is stale (left from the run before) or still loading its
# code (a skeleton), every plotly chart has drawn its SVG, and (for a page link) that page is
# the current one and its heading is the page's title. Returns [ms from t0 to ready, ms from t0
# to the run's end as it arrived], else false.
_READY_JS = """(title) => {
  const h = window.__hc;
  if (h.t0 === null || h.tFin === null) return false;
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const main = document.querySelector('[data-testid=stMain]');
  const heading = main && main.querySelector('[data-testid=stHeading]');
  if (!heading) return false;
  if (document.querySelector('[data-stale=true], [data-testid=stSkeleton]')) return false;
  for (const c of main.querySelectorAll('[data-testid=stPlotlyChart]')) {
    if (!c.querySelector('.main-svg')) return false;
  }
  if (title) {
    const cur = document.querySelector('[data-testid=stSidebarNav] a[aria-current=page]');
    if (!cur || !cur.textContent.includes(title) || !heading.textContent.includes(title)) return false;
  }
  return [performance.now() - h.t0, h.tFin - h.t0];
}"""

_PAGE_ERRORS_JS = """() => Array.from(document.querySelectorAll(
  '[data-testid=stException], [data-testid=stAlertContentError]')).map(e => e.innerText.slice(0, 400))"""


@dataclass
class Results:
    times: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in ROWS + COMMANDS})
    runs: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in ROWS})  # to the run's end
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ingested: int = 0  # rows of successful uploads
    cpu: dict = field(default_factory=dict)  # CPU seconds while the people were on (people_part)

    def add(self, what: str, ms: float, run_ms: float | None = None) -> None:
        with self.lock:
            self.times[what].append(ms)
            if run_ms is not None:
                self.runs[what].append(run_ms)

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)
        print(f"ERROR: {text}", flush=True)


# --- in a browser -------------------------------------------------------------------------------

async def _ready(page, title: str | None = None) -> tuple[float, float]:
    handle = await page.wait_for_function(_READY_JS, arg=title, timeout=TIMEOUT_MS, polling="raf")
    ready, run = await handle.json_value()
    return ready, run


async def _page_errors(page) -> list[str]:
    return await page.evaluate(_PAGE_ERRORS_JS)


async def open_overview(page, base: str) -> tuple[float, float]:
    """(ms to ready, ms to the script run's end) from the start of the navigation."""
    await page.goto(base, timeout=TIMEOUT_MS)
    await page.get_by_test_id("stMetric").first.wait_for(timeout=TIMEOUT_MS)
    return await _ready(page)


async def _arm(page) -> None:
    await page.evaluate("() => Object.assign(window.__hc, {armed: true, t0: null, tFin: null})")


async def _disarm(page) -> None:
    await page.evaluate("() => { window.__hc.armed = false; }")


async def change_filter(page, key: str, option: str) -> tuple[float, float]:
    """Pick `option` in the sidebar multiselect `key`: (ms to ready, ms to the run's end)
    from the click."""
    await page.locator(f".st-key-{key}").get_by_role("combobox").click()
    item = page.get_by_role("option", name=option, exact=True)
    await item.wait_for(timeout=TIMEOUT_MS)
    await _arm(page)
    await item.click()
    times = await _ready(page)
    await _disarm(page)
    await page.keyboard.press("Escape")
    return times


async def go_to(page, title: str) -> tuple[float, float]:
    """Open `title` from the sidebar: (ms to ready, ms to the run's end) from the click."""
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    await _arm(page)
    await link.click()
    times = await _ready(page, title)
    await _disarm(page)
    return times


async def new_page(browser):
    context = await browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    await context.add_init_script(_PROBE_JS)
    return context, await context.new_page()


# --- people without a browser: Streamlit's own WebSocket protocol --------------------------

class StreamlitClient:
    """One Streamlit session spoken to over its WebSocket (/_stcore/stream) as the browser
    does, without drawing anything: a rerun request (BackMsg.rerun_script with the page and
    the widget states), then every ForwardMsg until script_finished. It measures the server's
    part of a step, including sending the page; nothing of the browser's."""

    def __init__(self, base: str) -> None:
        self.url = base.replace("http://", "ws://", 1) + "/_stcore/stream"
        self.ws = None
        self.pages: dict[str, str] = {}  # page title -> page_script_hash
        self.widgets: dict[str, str] = {}  # widget key (f_severity) -> widget id
        self.metrics: dict[str, str] = {}  # metric label -> value, of the last run
        self.headings: list[str] = []
        self.errors: list[str] = []

    async def connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(self.url, subprotocols=["streamlit"], max_size=None,
                                           open_timeout=TIMEOUT_MS / 1000, ping_interval=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    async def run(self, page: str = "", widgets: dict[str, list[str]] | None = None) -> float:
        """One script run of `page` (title; "" the default) with these multiselect values;
        ms from the request until script_finished."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = self.pages.get(page, "")
        for key, values in (widgets or {}).items():
            state = msg.rerun_script.widget_states.widgets.add()
            state.id = self.widgets[key]
            state.string_array_value.data.extend(values)
        self.metrics, self.headings, self.errors = {}, [], []
        t0 = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        while True:
            fm = ForwardMsg()
            fm.ParseFromString(await self.ws.recv())
            kind = fm.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in fm.navigation.app_pages}
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                element = fm.delta.new_element
                which = element.WhichOneof("type")
                if which == "multiselect":
                    self.widgets[element.multiselect.id.rsplit("-", 1)[-1]] = element.multiselect.id
                elif which == "metric":
                    self.metrics[element.metric.label] = element.metric.body
                elif which == "heading":
                    self.headings.append(element.heading.body)
                elif which == "exception":
                    self.errors.append(f"{element.exception.type}: {element.exception.message}"[:400])
                elif which == "alert" and element.alert.format == 1:  # ERROR
                    self.errors.append(element.alert.body[:400])
            elif kind == "script_finished":
                return (time.perf_counter() - t0) * 1000


async def open_overview_protocol(client: StreamlitClient) -> tuple[float, float]:
    """A new session on the Overview: ms from opening the WebSocket until its first run has
    finished (twice: the script run is all of it)."""
    t0 = time.perf_counter()
    await client.connect()
    await client.run()
    if "Tickets" not in client.metrics:
        raise RuntimeError(f"the Overview shows no Tickets metric (headings: {client.headings[:3]})")
    ms = (time.perf_counter() - t0) * 1000
    return ms, ms


async def person_protocol(i: int, base: str, rounds: int, think: float, changes: list[tuple[str, str]],
                          results: Results, ready: list[asyncio.Event], start: asyncio.Event) -> None:
    """person() without a browser: the same steps, each a script run over the protocol."""
    rng = random.Random(i)
    ready[i].set()

    async def step(what: str, client: StreamlitClient, coro) -> bool:
        try:
            ms, run_ms = await asyncio.wait_for(coro, TIMEOUT_MS / 1000)
        except Exception as exc:
            why = (f"not ready after {TIMEOUT_MS / 1000:.0f} s" if isinstance(exc, asyncio.TimeoutError)
                   else f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
            results.error(f"person {i} ({base}), {what}: {why}")
            return False
        for text in client.errors:
            results.error(f"person {i} ({base}), {what}: the page shows an error: {text!r}")
        results.add(what, ms, None)
        if think > 0:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))
        return not client.errors

    async def timed(coro) -> tuple[float, float]:
        ms = await coro
        return ms, ms

    await start.wait()
    for r in range(rounds):
        client = StreamlitClient(base)
        try:
            if not await step(FIRST_OPEN if r == 0 else OPEN_AGAIN, client, open_overview_protocol(client)):
                continue
            key, option = changes[(i * rounds + r) % len(changes)]
            widgets = {key: [option]}
            if not await step(FILTER, client, timed(client.run("Overview", widgets))):
                continue
            for title in PAGES:
                ok = await step(title, client, timed(client.run(title, widgets)))
                if ok and title not in client.headings:
                    results.error(f"person {i} ({base}), {title}: no heading {title!r} (got {client.headings[:3]})")
                if not ok:
                    break
            print(f"person {i}: round {r + 1} of {rounds} done", flush=True)
        finally:
            await client.close()


async def person(i: int, browser, base: str, rounds: int, think: float, changes: list[tuple[str, str]],
                 results: Results, ready: list[asyncio.Event], start: asyncio.Event, shots: Path | None) -> None:
    """One person's session; a step that fails leaves a screenshot in `shots` (if given)."""
    rng = random.Random(i)
    context, page = await new_page(browser)
    page.on("pageerror", lambda exc: results.error(f"person {i}: JavaScript error: {exc}"))
    ready[i].set()

    async def pause() -> None:
        if think > 0:
            await asyncio.sleep(think * rng.uniform(0.5, 1.5))

    async def step(what: str, ms_coro) -> bool:
        try:
            ms, run_ms = await asyncio.wait_for(ms_coro, TIMEOUT_MS / 1000)
        except Exception as exc:  # a timeout or a vanished element: an error, go on with the next round
            why = (f"not ready after {TIMEOUT_MS / 1000:.0f} s" if isinstance(exc, asyncio.TimeoutError)
                   else f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
            results.error(f"person {i} ({base}), {what}: {why}")
            if shots is not None:
                with contextlib.suppress(Exception):
                    await page.screenshot(path=shots / f"failed-person{i}-{re.sub(r'[^a-z0-9]+', '-', what.lower())}"
                                                   f"-{len(results.errors)}.png", timeout=30_000)
            return False
        shown = await _page_errors(page)
        for text in shown:
            results.error(f"person {i} ({base}), {what}: the page shows an error: {text!r}")
        results.add(what, ms, run_ms)
        return not shown

    await start.wait()
    try:
        for r in range(rounds):
            if not await step(FIRST_OPEN if r == 0 else OPEN_AGAIN, open_overview(page, base)):
                continue
            await pause()
            key, option = changes[(i * rounds + r) % len(changes)]
            if not await step(FILTER, change_filter(page, key, option)):
                continue
            await pause()
            for title in PAGES:
                if not await step(title, go_to(page, title)):
                    break
                await pause()
            print(f"person {i}: round {r + 1} of {rounds} done", flush=True)
    finally:
        await context.close()
