"""Browser part of bench/kpis.py: time from a filter change in the sidebar until the Overview
has re-rendered, in a real `streamlit run app.py` and Debian's Chromium (Playwright).

A change is a click on an option of one of the sidebar's filter multiselects (severity, team,
service, ticket type, status), the real user path. Timing runs in the page: a capture-phase
click listener stamps the click (performance.now()), a MutationObserver on the app root
stamps the moment its script state turns back to notRunning after the rerun that click
started, and two animation frames later (the result painted) is the end. Each timed change
makes a filter combination not seen before, so no Streamlit cache answers it; between rounds
the unfiltered Overview is reopened (untimed).
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("HYPERCARE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WARM_UP = 3
TIMEOUT_MS = 120_000

# Installed once per page load: stamps clicks and the script state's return to notRunning.
_PROBE_JS = """() => {
  const w = window;
  w.__hc = {armed: false, t0: null, sawRunning: false, tRun: null, tDone: null, t1: null};
  document.addEventListener('click', () => {
    if (w.__hc.armed && w.__hc.t0 === null) { w.__hc.t0 = performance.now(); }
  }, true);
  const app = document.querySelector('[data-testid=stApp]');
  new MutationObserver(() => {
    const s = app.getAttribute('data-test-script-state');
    if (w.__hc.t0 === null) return;
    if (s === 'running') { if (!w.__hc.sawRunning) { w.__hc.tRun = performance.now(); } w.__hc.sawRunning = true; }
    else if (s === 'notRunning' && w.__hc.sawRunning && w.__hc.tDone === null) {
      w.__hc.tDone = performance.now();
      requestAnimationFrame(() => requestAnimationFrame(() => { w.__hc.t1 = performance.now(); }));
    }
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _options(db_path: Path) -> list[tuple[str, str]]:
    """(widget key, option) in the order the rounds use them; values that exist in the store."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        top = {c: [r[0] for r in con.execute(
            f"SELECT {c} FROM tickets WHERE {c} IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 4").fetchall()]
            for c in ("team", "service", "type")}
    finally:
        con.close()
    team, svc, typ = top["team"], top["service"], top["type"]
    # Mostly broadening (each filter narrows to one value first, then takes more), with a
    # few cross-field steps; every state selects thousands of tickets at a million.
    rounds = [
        [("f_severity", "SEV-1"), ("f_severity", "SEV-2"), ("f_severity", "SEV-3"), ("f_severity", "SEV-4")],
        [("f_service", svc[0]), ("f_service", svc[1]), ("f_service", svc[2]), ("f_service", svc[3])],
        [("f_team", team[0]), ("f_team", team[1]), ("f_team", team[2]), ("f_severity", "SEV-3")],
        [("f_type", typ[0]), ("f_type", typ[1]), ("f_type", typ[2]), ("f_severity", "SEV-4")],
        [("f_status", "closed"), ("f_status", "resolved"), ("f_status", "open"), ("f_team", team[0])],
        [("f_severity", "SEV-2"), ("f_team", team[1]), ("f_severity", "SEV-1"), ("f_type", typ[0])],
        [("f_service", svc[1]), ("f_severity", "SEV-3"), ("f_status", "closed"), ("f_team", team[0])],
    ]
    return rounds


def _start_server(db_path: Path, tmp: Path, demo: bool = False) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free loopback port with its own store; `demo`: a first start
    into a missing store loads the demo data (scripts/screenshots.py), else it stays empty."""
    port = _free_port()
    secrets = tmp / "secrets.toml"
    secrets.write_text("", encoding="utf-8")  # local mode, whatever the developer's secrets say
    env = {**os.environ, "HYPERCARE_DB": str(db_path), "HYPERCARE_NO_DEMO": "1",
           "HYPERCARE_PROFILES": str(tmp / "profiles")}
    if demo:
        del env["HYPERCARE_NO_DEMO"]
    log = (tmp / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1",
         "--browser.gatherUsageStats", "false", "--secrets.files", str(secrets)],
        cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, base
        except OSError:
            time.sleep(0.25)
        if proc.poll() is not None:
            break
    proc.terminate()
    raise RuntimeError(f"streamlit did not start; see {tmp / 'streamlit.log'}")


def _idle(page) -> None:
    page.wait_for_selector("[data-testid=stApp][data-test-script-state=notRunning]", timeout=TIMEOUT_MS)


def _click_and_wait(page, target) -> tuple[float, float, float]:
    """Click `target`, wait for the rerun it starts to finish and paint; (click → painted, of
    which the script run, and the paint after it) in ms."""
    page.evaluate("() => Object.assign(window.__hc, {armed: true, t0: null, sawRunning: false, tRun: null, "
                  "tDone: null, t1: null})")
    target.click()
    page.wait_for_function("() => window.__hc.t1 !== null", timeout=TIMEOUT_MS)
    t0, t_run, t_done, t1 = page.evaluate("() => [window.__hc.t0, window.__hc.tRun, window.__hc.tDone, window.__hc.t1]")
    return t1 - t0, t_done - t_run, t1 - t_done


def _change(page, key: str, option: str) -> tuple[float, float, float]:
    """Pick `option` in the multiselect `key` (see _click_and_wait)."""
    page.locator(f".st-key-{key}").get_by_role("combobox").click()
    item = page.get_by_role("option", name=option, exact=True)
    item.wait_for(timeout=TIMEOUT_MS)
    times = _click_and_wait(page, item)
    page.keyboard.press("Escape")
    _idle(page)
    if page.get_by_test_id("stException").count():
        raise RuntimeError(page.get_by_test_id("stException").first.inner_text())
    return times


def _open(page, base: str) -> None:
    """Untimed: a fresh session on the unfiltered Overview, with the timing probe installed."""
    page.goto(base, timeout=TIMEOUT_MS)
    _idle(page)
    page.get_by_test_id("stMetric").first.wait_for(timeout=TIMEOUT_MS)
    page.evaluate(_PROBE_JS)


def browser_part(db_path: Path, changes: int, tmp: Path) -> list[float]:
    """ms from click to painted result per timed filter change (`changes` of them, after
    WARM_UP untimed ones)."""
    from playwright.sync_api import sync_playwright

    rounds = _options(db_path)
    proc, base = _start_server(db_path, tmp)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            t0 = time.perf_counter()
            _open(page, base)
            print(f"browser: first Overview load {time.perf_counter() - t0:.1f} s (builds the caches)")
            times: list[tuple[float, float, float]] = []
            plan = [c for r in rounds for c in [*r, None]]  # None: a fresh unfiltered page between rounds
            done = 0
            for step in plan:
                if done >= WARM_UP + changes:
                    break
                if step is None:
                    _open(page, base)
                    continue
                ms = _change(page, *step)
                if done >= WARM_UP:
                    times.append(ms)
                done += 1
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("browser, click → painted: " + " ".join(f"{t[0]:.0f}" for t in times) + " ms")
    med = [statistics.median(t[i] for t in times) for i in range(3)]
    print(f"browser, medians: click → painted {med[0]:.0f} ms, of which the script run (server) "
          f"{med[1]:.0f} ms and painting after it {med[2]:.0f} ms")
    return [t[0] for t in times]
