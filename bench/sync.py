"""Live-source benchmark (issue #17): a first sync of 100,000 incidents with their history from the
ServiceNow test server, and an incremental sync of 1,000 changed incidents into a 1,000,000-ticket store.

    python bench/sync.py                           # 100,000 incidents; 1,000,000-ticket store; 1,000 changed
    python bench/sync.py --db /tmp/sync1m.duckdb   # build the 1,000,000-ticket store there once, reuse it
    python bench/sync.py --quick                   # 2,000 / 20,000 / 20: a smoke run (tests/test_bench_sync.py)

The source is ServiceNow (analytics/connectors/servicenow.py) against tests/connectors/servicenow_server.py:
of the four test servers it serves 100,000 incidents most cheaply (up to 10,000 per request, the
history in one sys_audit request per 100 incidents; Jira's search pages hold 100 issues and its
stand-in re-sorts every issue per page, PagerDuty pages 100 at 16 requests a second). The real
event log holds 24,918 incidents, too few, so the incidents are synthetic: the seeded demo
generator's tickets and status history (analytics/demo/generator.py, seed 17), written as the rows
of the incident event-log export the server is built from (one row per update: New, Active,
Awaiting User Info / Awaiting Vendor, Resolved, Closed, with the ticket's priority, service as
category, team as assignment group, ...). The server keeps them as ServiceNow does: one incident
record each and a sys_audit record per field each update changed. It runs in a spawned process of
its own, as a remote instance would: its CPU is not this process's (the machine's 2 cores are
shared) and its memory is not in the peak RSS printed.

1. First sync into an empty store: sync.pull (requests, JSON, rendering the export file) then
   sync.apply (staging the file, then the store's write turn: tickets, history, clusters,
   watermark, audit, one transaction), as `python -m analytics sync` runs them.
2. Incremental: the store holds 1,000,000 tickets, the first sync's 100,000 incidents and
   900,000 demo tickets (seed 42, loaded after the sync). 1,000 incidents spread over the
   source change on the server, one update each an hour after the newest (an open one is
   resolved, a resolved or closed one reopened), and one sync runs on a copy of that store,
   in process (split as above), then once more through the command line on a fresh copy
   (`python -m analytics sync --db COPY`, a new process: the cron job's wall time).

For each: seconds (pull vs apply, apply split into staging and the write turn from
IngestResult.timings; of the pull, this process's CPU, the rest being the server's), requests,
records read, tickets inserted/updated/unchanged, and the peak RSS of this process during the
sync (VmHWM reset before it; the incremental's also holds what building the store left, so its
growth is printed, and the command line's run has its own peak from GNU time). Target: the
incremental sync under 10 s. Prints `uptime` before and after (the machine is shared: quote the load).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics import uploads  # noqa: E402
from analytics.connectors import servicenow, sync  # noqa: E402
from analytics.connectors.servicenow_render import COLUMNS  # noqa: E402
from analytics.demo import generator  # noqa: E402
from analytics.demo.loader import DEMO_OPERATOR, load_demo  # noqa: E402
from analytics.store import auth, db  # noqa: E402
from tests.connectors import servicenow_server  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SOURCE = "servicenow"
SOURCE_SEED, DEMO_SEED = 17, 42
TARGET_S = 10.0
OPERATOR = auth.local_operator("bench")
# The demo's statuses as the event log's incident_state (pre-Helsinki names, as the real log).
STATE = {"New": "New", "In Progress": "Active", "Awaiting Customer": "Awaiting User Info",
         "On Hold": "Awaiting Vendor", "Resolved": "Resolved", "Reopened": "Active", "Closed": "Closed",
         "Cancelled": "Closed"}
EMPTY = "?"  # the export's empty cell


# -- the source's data, in the server's process -------------------------------------------------
def _log_time(values: pd.Series) -> pd.Series:
    """Times as the export writes them (D/M/YYYY HH:MM), '?' when missing."""
    t = pd.to_datetime(values)
    text = (t.dt.day.astype("Int64").astype(str) + "/" + t.dt.month.astype("Int64").astype(str) + "/"
            + t.dt.year.astype("Int64").astype(str) + " " + t.dt.strftime("%H:%M"))
    return text.where(t.notna(), EMPTY)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna(EMPTY).replace("", EMPTY).astype(object)


def event_log_rows(n_tickets: int, seed: int = SOURCE_SEED):
    """The demo generator's tickets as the incident event-log export's rows (one per update)."""
    tickets, history = generator.generate(n_tickets, seed)
    h = history.merge(tickets, on="external_id", how="left", suffixes=("", "_ticket"), sort=False)
    h = h.sort_values(["external_id", "event_time"], kind="stable").reset_index(drop=True)
    by = h.groupby("external_id", sort=False)
    previous_team = by["team"].shift()
    resolved = h["resolved_at"].notna() & (h["event_time"] >= h["resolved_at"])
    closed = h["closed_at"].notna() & (h["event_time"] >= h["closed_at"])
    state = h["status"].map(STATE)
    cols = {
        "number": "INC" + h["external_id"].str[3:].str.zfill(7),
        "incident_state": state,
        "active": (state != "Closed").map({True: "true", False: "false"}),
        "reassignment_count": (previous_team.notna() & (h["team"] != previous_team)).groupby(
            h["external_id"], sort=False).cumsum().astype(str),
        "reopen_count": (h["status"] == "Reopened").groupby(h["external_id"], sort=False).cumsum().astype(str),
        "sys_mod_count": by.cumcount().astype(str),
        "made_sla": "true",
        "opened_at": _log_time(h["opened_at"]), "sys_created_at": _log_time(h["opened_at"]),
        "sys_updated_by": "Updated by " + _text(h["tier"]),
        "sys_updated_at": _log_time(h["event_time"]),
        "contact_type": "Self service",
        "category": _text(h["service"]), "subcategory": _text(h["category"]), "cmdb_ci": _text(h["component"]),
        "priority": _text(h["priority_raw"]), "assignment_group": _text(h["team"]),
        "assigned_to": _text(h["assignee"].where(h["status"] != "New")),
        "problem_id": _text(h["problem_id"]), "rfc": _text(h["change_id"]),
        "closed_code": _text(h["root_cause"].where(resolved | closed)),
        "resolved_at": _log_time(h["resolved_at"].where(resolved)),
        "closed_at": _log_time(h["closed_at"].where(closed)),
    }
    lists = [list(cols[c]) if isinstance(cols.get(c), pd.Series) else [cols.get(c, EMPTY)] * len(h)
             for c in COLUMNS]
    del h, tickets, history
    return (dict(zip(COLUMNS, values)) for values in zip(*lists))


def _change(server: servicenow_server.ServiceNowServer, count: int) -> tuple[list[str], str]:
    """One more update of `count` incidents spread over the source, an hour after the newest update."""
    numbers = sorted(server.chains)
    chosen = numbers[:: max(1, len(numbers) // count)][:count]
    newest = max(servicenow_server.log_time(c[-1]["sys_updated_at"]) for c in server.chains.values())
    at = newest + timedelta(hours=1)
    shown = f"{at.day}/{at.month}/{at.year} {at:%H:%M}"
    for number in chosen:
        last = server.chains[number][-1]
        if last["incident_state"] in ("Resolved", "Closed"):  # reopened
            fields = {"incident_state": "Active", "active": "true", "resolved_at": EMPTY, "closed_at": EMPTY,
                      "closed_code": EMPTY, "reopen_count": str(int(last["reopen_count"]) + 1)}
        else:  # resolved
            fields = {"incident_state": "Resolved", "resolved_at": shown, "closed_code": "Solved (Permanently)"}
        server.change([number], at, fields, user="Updated by bench")
    return chosen, at.isoformat()


def serve(conn, n_tickets: int) -> None:
    """The server's process: build, answer requests, obey the pipe (change N, requests, stop)."""
    t0 = time.perf_counter()
    server = servicenow_server.ServiceNowServer(event_log_rows(n_tickets))
    built = time.perf_counter() - t0
    with server:
        conn.send({"instance_url": server.url, "username": server.username, "password": server.password,
                   "incidents": len(server.chains), "audits": len(server.tables["sys_audit"]),
                   "updates": sum(map(len, server.chains.values())), "built_s": built})
        while True:
            command, arg = conn.recv()
            if command == "change":
                conn.send(_change(server, arg))
            elif command == "requests":
                conn.send(len(server.log))
            elif command == "rss":
                conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
            else:
                break


class Server:
    """The test server in a spawned process."""

    def __init__(self, n_tickets: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=serve, args=(child, n_tickets), daemon=True)
        self.process.start()
        self.info = self.conn.recv()

    def ask(self, command: str, arg=None):
        self.conn.send((command, arg))
        return self.conn.recv()

    def config(self) -> dict[str, str]:
        # The Table API's largest page (the default is 1,000): the first sync's incidents in 10 requests.
        return {k: self.info[k] for k in ("instance_url", "username", "password")} | {"page_size": "10000"}

    def close(self) -> None:
        self.conn.send(("stop", None))
        self.process.join(timeout=10)


# -- measuring -------------------------------------------------------------------------------------
def reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := the current RSS
    except OSError:
        pass


def peak_rss() -> int:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(match.group(1)) * 1024 if match else 0


def uptime() -> str:
    return os.popen("uptime").read().strip()


def gb(n: float) -> str:
    return f"{n / 2**30:.2f} GiB"


class Recorder:
    """Keeps the IngestResults of the upload path's last apply_all (their timings split the apply)."""

    def __init__(self) -> None:
        self.results: list = []
        self._apply_all = uploads.apply_all
        uploads.apply_all = self  # sync.apply calls uploads.apply_all: a bench-only instrument

    def __call__(self, *args, **kwargs):
        self.results = self._apply_all(*args, **kwargs)
        return self.results


def timed_sync(con, server: Server, recorder: Recorder, label: str) -> sync.SyncResult:
    config = server.config()
    client = servicenow.CONNECTOR.make_client(config)
    recorder.results = []
    before = server.ask("requests")
    reset_peak()
    start_rss = peak_rss()
    t0, c0 = time.perf_counter(), time.process_time()
    result = sync.begin(SOURCE, OPERATOR)
    pulled = sync.pull(SOURCE, sync.watermark(con, SOURCE), client=client, config=config)
    t1, c1 = time.perf_counter(), time.process_time()
    sync.apply(con, pulled, started_by=OPERATOR, result=result)
    t2 = time.perf_counter()
    peak = peak_rss()
    assert result.ok, result.error
    write = max((r.timings.get("store", 0.0) for r in recorder.results), default=0.0)
    stages = {}
    for r in recorder.results:
        for k, v in r.timings.items():
            if k != "store":
                stages[k] = stages.get(k, 0.0) + v
    print(f"{label}: {t2 - t0:.2f} s  (pull {t1 - t0:.2f} s: {client.requests:,} requests "
          f"[server counted {server.ask('requests') - before:,}], {result.records_read:,} records read, "
          f"{sum(len(f.data) for f in pulled.files) / 1e6:,.1f} MB rendered; "
          f"apply {t2 - t1:.2f} s: staging {t2 - t1 - write:.2f} s, write turn {write:.2f} s)")
    print(f"    pull: this process's CPU {c1 - c0:.2f} s (JSON, rendering), the rest waiting for the server")
    print(f"    {result.rows_read:,} rows read, {result.rows_loaded:,} loaded, {result.rows_rejected:,} rejected; "
          f"tickets {result.tickets_inserted:,} inserted, {result.tickets_updated:,} updated, "
          f"{result.tickets_unchanged:,} unchanged; peak RSS {gb(peak)} (+{gb(peak - start_rss)} during the sync)")
    print("    upload stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))
    return result


def cli_sync(server: Server, path: Path) -> None:
    """The same sync as `python -m analytics sync` in a new process: the cron job's wall time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERCARE_")}
    env.update({f"HYPERCARE_SERVICENOW_{k.upper()}": v for k, v in server.config().items()})
    env["HYPERCARE_SECRETS"] = str(path.with_suffix(".no-secrets.toml"))
    before = server.ask("requests")
    t0 = time.perf_counter()
    # GNU time for the command's own peak RSS (a forked child's ru_maxrss counts its parent's pages).
    timer = ["/usr/bin/time", "-v"] if Path("/usr/bin/time").exists() else []
    done = subprocess.run([*timer, sys.executable, "-m", "analytics", "sync", "--db", str(path), "--source", SOURCE],
                          cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    assert done.returncode == 0, done.stderr
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"], result
    print(f"incremental, `python -m analytics sync` (new process, end to end): {seconds:.2f} s  "
          f"({server.ask('requests') - before:,} requests; {result['tickets_updated']:,} tickets updated; "
          f"its own duration_s {result['duration_s']:.2f} s; "
          f"peak RSS {gb(int(peak.group(1)) * 1024) if peak else 'not measured (no /usr/bin/time)'})")


def copy_store(src: Path, dst: Path) -> None:
    for suffix in ("", ".wal"):
        if Path(f"{src}{suffix}").exists():
            shutil.copyfile(f"{src}{suffix}", f"{dst}{suffix}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--source-tickets", type=int, default=100_000, help="incidents on the test server")
    p.add_argument("--store-tickets", type=int, default=1_000_000, help="tickets in the incremental's store")
    p.add_argument("--changed", type=int, default=1_000, help="incidents changed before the incremental sync")
    p.add_argument("--db", help="the incremental's store: built there if it does not hold it yet, else reused")
    p.add_argument("--quick", action="store_true", help="2,000 / 20,000 / 20: a smoke run")
    p.add_argument("--no-cli", action="store_true", help="skip the incremental through `python -m analytics sync`")
    args = p.parse_args()
    if args.quick:
        args.source_tickets, args.store_tickets, args.changed = 2_000, 20_000, 20
    print(f"load before: {uptime()}")
    recorder = Recorder()
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-sync-") as d:
        work = Path(d)
        t0 = time.perf_counter()
        server = Server(args.source_tickets)
        info = server.info
        print(f"test server: {info['incidents']:,} incidents, {info['updates']:,} updates, "
              f"{info['audits']:,} sys_audit records; built in {time.perf_counter() - t0:.1f} s "
              f"(server process {info['built_s']:.1f} s)")
        try:
            base = Path(args.db) if args.db else work / "base.duckdb"
            con = db.connect(base)
            reuse = db.ticket_count(con) == args.store_tickets and sync.watermark(con, SOURCE).updated_at
            if not reuse and db.ticket_count(con):
                p.error(f"--db {base} holds {db.ticket_count(con):,} tickets: give a new file, or one this "
                        f"benchmark built with the same sizes")
            first = con if not reuse else db.connect(work / "first.duckdb")
            timed_sync(first, server, recorder, f"first sync into an empty store ({args.source_tickets:,} incidents)")
            if reuse:
                first.close()
                print(f"store: {base} reused ({args.store_tickets:,} tickets)")
            else:
                t1 = time.perf_counter()
                load_demo(con, n_tickets=args.store_tickets - db.ticket_count(con), seed=DEMO_SEED,
                          actor=DEMO_OPERATOR)
                print(f"store: {db.ticket_count(con):,} tickets (the sync's + demo seed {DEMO_SEED}, loaded in "
                      f"{time.perf_counter() - t1:.1f} s)")
            con.close()
            numbers, at = server.ask("change", args.changed)
            print(f"changed on the server: {len(numbers):,} incidents ({numbers[0]} … {numbers[-1]}) at {at}")
            copy_store(base, work / "incremental.duckdb")
            con = db.connect(work / "incremental.duckdb")
            print(f"store before the incremental: {db.ticket_count(con):,} tickets, "
                  f"{(work / 'incremental.duckdb').stat().st_size / 1e6:,.0f} MB file")
            result = timed_sync(con, server, recorder, f"incremental sync ({args.changed:,} changed) into "
                                                      f"{args.store_tickets:,} tickets")
            con.close()
            verdict = "met" if result.duration_s < TARGET_S else "NOT met"
            print(f"incremental end to end (SyncResult.duration_s): {result.duration_s:.2f} s "
                  f"[target < {TARGET_S:.0f} s: {verdict}]")
            if not args.no_cli:
                copy_store(base, work / "cli.duckdb")
                cli_sync(server, work / "cli.duckdb")
            print(f"test server peak RSS: {gb(server.ask('rss'))}")
        finally:
            server.close()
    print(f"load after: {uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
