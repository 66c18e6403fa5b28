"""Many people on the dashboard at once while the CLI reads and writes the same store.

    python bench/concurrent_people.py --tickets 1000000 --people 10
    python bench/concurrent_people.py --tickets 1000000 --people 20 --servers 2
    python bench/concurrent_people.py --tickets 1000000 --people 20 --client protocol
    python bench/concurrent_people.py --tickets 20000 --people 4 --servers 2 --proxy caddy
    python bench/concurrent_people.py --tickets 20000 --people 5        # a quick check

1. The store: the seeded demo of --tickets tickets (`python -m analytics demo`), built once
   into --cache (default /tmp/hypercare-bench-cache/demo-<N>-seed<S>.duckdb; ~35 s and
   ~2 GB of memory at 1,000,000 on a quiet machine) and copied for each run into a fresh
   working folder, so every run starts from the same store (the run's uploads land in the
   copy). A build that was interrupted is never reused.
2. --servers Streamlit processes (`streamlit run app.py`, each on its own port) on that one
   store. Without --proxy, person i talks to server i mod K directly — what a proxy with
   sticky sessions does; with --proxy caddy|nginx everyone goes through that proxy, run with
   deploy/'s sample configuration (docs/store-sharing.md). Each server is warmed with one
   untimed Overview before the people start (--no-warm: they find it cold).
3. --people people at once, each in their own browser context (own cookies, own Streamlit
   session) of one headless Chromium, all starting at the same moment; each does --rounds
   rounds of: open the Overview (a new session), change one sidebar filter, open SLA
   compliance, KPI trends, Governance, Recurrence (from the sidebar; the filter stays), with a
   pause of --think seconds on average (0.5–1.5×, seeded) after each step. A step is timed in
   the page (performance.now()): from the click (or, for the Overview, from the start of the
   navigation) until the page is ready: a message that a script run has finished came on
   Streamlit's WebSocket after the click (read from the bytes as they arrive) and the app's
   script state is back to notRunning, the page's heading is there, no element is
   stale (left from the run before) or still loading its code (a skeleton), and every plotly
   chart has drawn its SVG. "Of which the script run" is the part until the run's end as the
   browser saw it; the rest is the browser's own work (element code, layout, charts).
   The browsers share the machine's cores with the servers, which real people's browsers do
   not: every Chromium thread is made nice (--browser-nice, 10) so the servers and the CLI
   come first, and the CPU each part used is printed (servers, browser, CLI, the rest).
   --client protocol replaces the browsers with Streamlit's own WebSocket protocol (a rerun
   request with the page and the filter, then every message until the run has finished):
   the same steps, timed until the server has run the page and sent it, with no browser
   taking the servers' cores — the server's side of the figures, whatever the people's
   machines then take to draw the page.
4. Meanwhile a CLI loop runs, one command after another, until the people are done (at least
   one full cycle): `kpis`, `tickets --csv`, `ingest` of a small file of --ingest-rows new
   tickets (seeded demo rows under new ids) and `report --month 2026-10` (--report-format,
   pdf by default) into the same store (--cli-commands: which, in what order); each is timed.

Errors, all of which must be 0: an exception or error box on a page, a JavaScript error, a
step that does not finish within --timeout (300 s; with --keep a screenshot of the page is
left there), a CLI command that exits nonzero or prints a traceback, a traceback in a
server's (or nginx's) log, an upload missing from the store afterwards, or a server whose
fresh page does not show every ticket (the uploads included) at the end.

Prints each server's memory (RSS at start, after its first Overview, at the end, peak) and
threads (each DuckDB database alive has about nine, so a count that grows with every upload
means old copies of the store are kept), p50/p95/max per page and per command (p95:
statistics.quantiles, inclusive; with fewer than 20 samples it lies between the two
largest), the errors, the load average, and a Markdown table for docs/benchmarks.md (also
written to --markdown FILE).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import people_steps as steps  # noqa: E402
from kpis_browser import CHROMIUM, CHROMIUM_ARGS, _options  # noqa: E402
from people_servers import (  # noqa: E402
    Server,
    chromium_cpu_s,
    cpu_s,
    established,
    machine_busy_s,
    renice_chromium,
    rss_mb,
    start_proxy,
    start_servers,
    stop_servers,
    threads,
    uptime,
)
from people_store import cached_store, cli_loop, count_tickets  # noqa: E402


async def people_part(servers: list[Server], bases: list[str], rounds: int, think: float,
                      changes: list[tuple[str, str]], results: steps.Results, warm: bool,
                      started: threading.Event, shots: Path | None,
                      browser_nice: int | None, client: str) -> tuple[list[float], list[int]]:
    """Run everyone (person i on bases[i]) in browsers or over the protocol (`client`);
    returns each server's RSS (MB) after its first load and the most established connections
    each had at one time while people were on."""
    async with contextlib.AsyncExitStack() as stack:
        browser = None
        if client == "browser":
            from playwright.async_api import async_playwright

            p = await stack.enter_async_context(async_playwright())
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            stack.push_async_callback(browser.close)
            if browser_nice is not None:
                async def renice() -> None:
                    while True:
                        renice_chromium(browser_nice)
                        await asyncio.sleep(1)

                renicer = asyncio.create_task(renice())
                stack.callback(renicer.cancel)

        first: list[float] = []
        if warm:
            async def warm_up(s: Server) -> None:
                t0 = time.perf_counter()
                if browser is not None:
                    ctx, page = await steps.new_page(browser)
                    await steps.open_overview(page, s.base)
                    await ctx.close()
                else:
                    one = steps.StreamlitClient(s.base)
                    await steps.open_overview_protocol(one)
                    await one.close()
                print(f"warm-up: {s.base} first Overview {time.perf_counter() - t0:.1f} s", flush=True)

            await asyncio.gather(*(warm_up(s) for s in servers))
            first = [rss_mb(s.proc.pid)[0] for s in servers]
        start = asyncio.Event()
        ready = [asyncio.Event() for _ in bases]
        if browser is not None:
            tasks = [asyncio.create_task(steps.person(i, browser, base, rounds, think, changes, results, ready, start,
                                                shots)) for i, base in enumerate(bases)]
        else:
            tasks = [asyncio.create_task(steps.person_protocol(i, base, rounds, think, changes, results, ready, start))
                     for i, base in enumerate(bases)]
        for r in ready:  # every context and page exists; now everyone at once
            await r.wait()
        ports = [int(s.base.rsplit(":", 1)[1]) for s in servers]
        most = [0] * len(servers)

        async def sample() -> None:
            while True:
                for k, port in enumerate(ports):
                    most[k] = max(most[k], established(port))
                await asyncio.sleep(1)

        sampler = asyncio.create_task(sample())
        cpu0 = ([cpu_s(s.proc.pid) for s in servers], chromium_cpu_s(),
                os.times().children_user + os.times().children_system, machine_busy_s(), time.perf_counter())
        started.set()
        start.set()
        await asyncio.gather(*tasks)
        sampler.cancel()
        cpu1 = ([cpu_s(s.proc.pid) for s in servers], chromium_cpu_s(),
                os.times().children_user + os.times().children_system, machine_busy_s(), time.perf_counter())
        results.cpu = {"servers": [b - a for a, b in zip(cpu0[0], cpu1[0])], "browser": cpu1[1] - cpu0[1],
                       "cli": cpu1[2] - cpu0[2], "machine": cpu1[3] - cpu0[3], "wall": cpu1[4] - cpu0[4]}
        if not warm:
            first = [rss_mb(s.proc.pid)[0] for s in servers]
    return first, most


async def final_check(servers: list[Server], expected: int, results: steps.Results) -> None:
    """A fresh session on each server must show every ticket, the uploads included."""
    for s in servers:
        one = steps.StreamlitClient(s.base)
        try:
            await asyncio.wait_for(steps.open_overview_protocol(one), steps.TIMEOUT_MS / 1000)
            shown = int(re.sub(r"[^\d]", "", one.metrics["Tickets"]))
            if shown != expected:
                results.error(f"{s.base}: a fresh Overview shows {shown:,} tickets, the store holds {expected:,}")
            else:
                print(f"final check: {s.base} shows all {shown:,} tickets")
        except Exception as exc:
            results.error(f"{s.base}: final check failed: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}")
        finally:
            await one.close()


# --- figures ------------------------------------------------------------------------------

def p50_p95_max(ms: list[float]) -> tuple[float, float, float]:
    if len(ms) == 1:
        return ms[0], ms[0], ms[0]
    return statistics.median(ms), statistics.quantiles(ms, n=20, method="inclusive")[18], max(ms)


def seconds(ms: float) -> str:
    return f"{ms / 1000:.2f} s"


def table(results: steps.Results, title: str) -> str:
    lines = [title, "", "| what | n | p50 | p95 | max | of which the script run: p50 | p95 |",
             "|---|---|---|---|---|---|---|"]
    for what in steps.ROWS + steps.COMMANDS:
        ms = results.times[what]
        label = what if what in steps.ROWS else f"CLI `{what}`"
        if not ms:
            lines.append(f"| {label} | 0 | | | | | |")
            continue
        p50, p95, top = p50_p95_max(ms)
        run = ""
        if results.runs.get(what):
            r50, r95, _ = p50_p95_max(results.runs[what])
            run = f" {seconds(r50)} | {seconds(r95)} |"
        else:
            run = " | |"
        lines.append(f"| {label} | {len(ms)} | {seconds(p50)} | {seconds(p95)} | {seconds(top)} |{run}")
    lines.append(f"| **errors** | {len(results.errors)} | | | | | |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--tickets", type=int, default=1_000_000, help="demo tickets in the store (default 1,000,000)")
    ap.add_argument("--seed", type=int, default=42, help="the demo's seed (default 42)")
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hypercare-bench-cache",
                    help="folder for the built store, reused by later runs (default %(default)s)")
    ap.add_argument("--people", type=int, default=10, help="people at once (default 10)")
    ap.add_argument("--servers", type=int, default=1, help="Streamlit processes on the store (default 1)")
    ap.add_argument("--proxy", choices=["none", "caddy", "nginx"], default="none",
                    help="none: person i talks to server i mod K directly (what a sticky proxy does); "
                         "caddy / nginx: everyone through that proxy with deploy/'s sample configuration")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the six steps per person (default 3)")
    ap.add_argument("--think", type=float, default=1.0,
                    help="mean pause in seconds after each step, 0.5–1.5× of it (default 1.0; 0: none)")
    ap.add_argument("--cli", action=argparse.BooleanOptionalAction, default=True,
                    help="run the CLI loop at the same time (default: on)")
    ap.add_argument("--cli-commands", default="kpis,tickets,ingest,report",
                    help="the CLI loop's commands, in this order (default %(default)s)")
    ap.add_argument("--ingest-rows", type=int, default=50, help="new tickets per CLI upload (default 50)")
    ap.add_argument("--report-format", choices=["pdf", "csv", "xlsx"], default="pdf",
                    help="the CLI loop's report (default pdf)")
    ap.add_argument("--warm", action=argparse.BooleanOptionalAction, default=True,
                    help="open one Overview per server before the people start (default: on)")
    ap.add_argument("--client", choices=["browser", "protocol"], default="browser",
                    help="browser: each person in a Chromium context, timed until the page is drawn (default); "
                         "protocol: each person speaks Streamlit's WebSocket protocol, timed until the server's "
                         "run is finished and sent — no browser competes with the servers for the cores")
    ap.add_argument("--browser-nice", type=int, default=10,
                    help="niceness of every Chromium thread (default 10: the servers and the CLI come first, as "
                         "when the browsers run on the people's own machines; -1: leave Chromium's own)")
    ap.add_argument("--timeout", type=float, default=300, help="seconds a step may take before it is an error "
                    "(default 300)")
    ap.add_argument("--settle", type=float, default=0, metavar="S",
                    help="after everything, wait S seconds (past Streamlit's disconnectedSessionTTL, 120 s), "
                         "open one more Overview per server and measure memory and threads again: what the "
                         "closed sessions leave behind (default 0: not measured)")
    ap.add_argument("--keep", type=Path, help="working folder to keep (store copy, logs), else a temporary one")
    ap.add_argument("--markdown", type=Path, help="also write the Markdown table to this file")
    args = ap.parse_args()
    unknown = set(args.cli_commands.split(",")) - {"kpis", "tickets", "ingest", "report"}
    if unknown:
        ap.error(f"--cli-commands: unknown {', '.join(sorted(unknown))}")
    steps.TIMEOUT_MS = int(args.timeout * 1000)

    print(f"load before: {uptime()}")
    source = cached_store(args.cache, args.tickets, args.seed)
    with contextlib.ExitStack() as stack:
        if args.keep:
            work = args.keep
            work.mkdir(parents=True, exist_ok=True)
        else:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hypercare-people-")))
        (work / "uploads").mkdir(exist_ok=True)
        db_path = work / "store.duckdb"
        for suffix in ("", ".wal"):
            Path(str(db_path) + suffix).unlink(missing_ok=True)
        t0 = time.perf_counter()
        shutil.copyfile(source, db_path)
        print(f"store: copied to {db_path} in {time.perf_counter() - t0:.1f} s")
        changes = [c for r in _options(source) for c in r]
        before = count_tickets(db_path)

        results = steps.Results()
        servers = start_servers(db_path, work, args.servers, behind_proxy=args.proxy != "none")
        stack.callback(stop_servers, servers)
        start_rss = [rss_mb(s.proc.pid)[0] for s in servers]
        start_threads = [threads(s.proc.pid) for s in servers]
        print(f"{len(servers)} server(s): " + ", ".join(s.base for s in servers), flush=True)
        if args.proxy == "none":
            bases = [servers[i % len(servers)].base for i in range(args.people)]
        else:
            proxy, proxy_base = start_proxy(args.proxy, servers, work)
            stack.callback(proxy.wait, 10)
            stack.callback(proxy.terminate)
            print(f"{args.proxy}: {proxy_base}", flush=True)
            bases = [proxy_base] * args.people
        stop, started = threading.Event(), threading.Event()
        cycles = [0]
        cli = None
        if args.cli:
            def run_cli() -> None:
                cycles[0] = cli_loop(db_path, work, results, stop, started, args.ingest_rows, args.report_format,
                                     args.cli_commands.split(","))

            cli = threading.Thread(target=run_cli, daemon=True)
            cli.start()
        t_people = time.perf_counter()
        try:
            first_rss, connections = asyncio.run(people_part(servers, bases, args.rounds, args.think, changes,
                                                             results, args.warm, started, args.keep,
                                                             None if args.browser_nice < 0 else args.browser_nice,
                                                             args.client))
        finally:
            started.set()
            stop.set()
        people_s = time.perf_counter() - t_people
        print(f"people done in {people_s:.0f} s; waiting for the CLI loop's current command", flush=True)
        if cli is not None:
            cli.join()
        end_rss = [rss_mb(s.proc.pid) for s in servers]
        end_threads = [threads(s.proc.pid) for s in servers]

        # Every upload is in the store, and every server shows it.
        landed = count_tickets(db_path, "BENCH%")
        if landed != results.ingested:
            results.error(f"uploads: {results.ingested:,} tickets acknowledged, {landed:,} in the store")
        total = count_tickets(db_path)
        if total != before + landed:
            results.error(f"store: {total:,} tickets, expected {before:,} + {landed:,}")
        asyncio.run(final_check(servers, total, results))
        settled = None
        if args.settle > 0:
            print(f"settling {args.settle:.0f} s for the closed sessions to expire …", flush=True)
            time.sleep(args.settle)
            asyncio.run(final_check(servers, total, results))
            settled = [(rss_mb(s.proc.pid)[0], threads(s.proc.pid)) for s in servers]
        for log in [s.log for s in servers] + [work / "nginx-error.log"]:
            text = log.read_text(errors="replace") if log.exists() else ""
            for bad in ("Traceback", "[error]", "[crit]", "[emerg]"):
                if bad in text:
                    results.error(f"{log.name}: {text[text.index(bad):][:1500]}")
                    break

    print(f"load after: {uptime()}")
    for k, s in enumerate(servers):
        now, peak = end_rss[k]
        print(f"server {k} (pid {s.proc.pid}): RSS at start {start_rss[k]:,.0f} MB, after its first Overview "
              f"{first_rss[k]:,.0f} MB, at the end {now:,.0f} MB, peak {peak:,.0f} MB; "
              f"threads {start_threads[k]} at start, {end_threads[k]} at the end; "
              f"at most {connections[k]} connections at once")
        if settled is not None:
            print(f"server {k} after {args.settle:.0f} s settling and one more Overview: RSS {settled[k][0]:,.0f} MB, "
                  f"threads {settled[k][1]}")
    print(f"CLI: {cycles[0]} cycle(s); {results.ingested:,} tickets uploaded, {landed:,} in the store")
    if results.cpu:
        c = results.cpu
        ours = sum(c["servers"]) + c["browser"] + c["cli"]
        print(f"CPU while the people were on ({c['wall']:.0f} s wall, {os.cpu_count()} cores = "
              f"{c['wall'] * os.cpu_count():.0f} core-s): servers " + " + ".join(f"{v:.0f}" for v in c["servers"])
              + f" s, browser {c['browser']:.0f} s, CLI {c['cli']:.0f} s (the CLI commands finished by then), "
              f"everything else (this script, Playwright's driver, other jobs) {max(0.0, c['machine'] - ours):.0f} s")
    for what in steps.ROWS + steps.COMMANDS:
        ms = results.times[what]
        if ms:
            p50, p95, top = p50_p95_max(ms)
            line = f"{what:40} n={len(ms):3}  p50 {seconds(p50):>8}  p95 {seconds(p95):>8}  max {seconds(top):>8}"
            if results.runs.get(what):
                r50, r95, _ = p50_p95_max(results.runs[what])
                line += f"   (script run p50 {seconds(r50)}, p95 {seconds(r95)})"
            print(line)
    print(f"errors: {len(results.errors)}")
    for e in results.errors:
        print(f"  - {e}")
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    via = ("" if args.proxy == "none" else f" behind {args.proxy}") + (
        ", protocol clients (no browser)" if args.client == "protocol" else "")
    title = (f"{args.people} people, {args.servers} server(s){via}, {args.tickets:,} tickets, {args.rounds} rounds, "
             f"think {args.think:g} s, CLI {args.cli_commands if args.cli else 'off'} ({cycles[0]} cycles, report "
             f"{args.report_format}); {when}, load after: {uptime().split('load average:')[-1].strip()}; "
             f"server RSS after first load " + ", ".join(f"{m:,.0f}" for m in first_rss) + " MB, peak "
             + ", ".join(f"{p:,.0f}" for _, p in end_rss) + " MB")
    if results.cpu:
        c = results.cpu
        other = max(0.0, c["machine"] - sum(c["servers"]) - c["browser"] - c["cli"])
        title += (f"; CPU while the people were on ({c['wall'] * os.cpu_count():.0f} core-s): servers "
                  + " + ".join(f"{v:.0f}" for v in c["servers"]) + f" s, browser {c['browser']:.0f} s, "
                  f"CLI {c['cli']:.0f} s, everything else {other:.0f} s")
    md = table(results, title)
    print()
    print(md)
    if args.markdown:
        args.markdown.write_text(md + "\n", encoding="utf-8")
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main())
