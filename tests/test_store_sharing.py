"""Several processes on one store file: writes take turns, reads wait for a write, nobody fails."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from analytics.cli import main as cli
from analytics.demo import generator
from analytics.store import db, sharing

pytestmark = pytest.mark.slow  # ./test.sh's quick run leaves it out; --all and CI run it

REPO_ROOT = Path(__file__).resolve().parent.parent


def _cli(*argv: str, env: dict | None = None) -> subprocess.Popen:
    import os

    return subprocess.Popen([sys.executable, "-m", "analytics", *argv], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def _hold(path: Path, write: bool, seconds: float) -> subprocess.Popen:
    """Another process holding the store's turn for `seconds`."""
    code = ("import sys, time; from analytics.store import sharing; "
            f"ctx = sharing.writing(sys.argv[1]) if {write} else sharing.reading(sys.argv[1]); "
            "con = ctx.__enter__(); print('holding', flush=True); "
            f"time.sleep({seconds}); ctx.__exit__(None, None, None)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == "holding"
    return proc


@pytest.fixture
def demo_csvs(tmp_path):
    out = []
    for seed in (1, 2):
        folder = tmp_path / f"seed{seed}"
        folder.mkdir()
        tickets, _ = generator.write_csvs(folder, 300, seed=seed)
        renamed = folder / f"tickets-{seed}.csv"
        # Different ids per file, so both uploads add tickets.
        renamed.write_text(tickets.read_text().replace("HC-", f"S{seed}-"))
        out.append(renamed)
    return out


def test_a_read_waits_for_a_write_in_another_process_then_answers(tmp_path, capsys):
    path = tmp_path / "s.duckdb"
    db.connect(path).close()
    holder = _hold(path, write=True, seconds=1.5)
    started = time.monotonic()
    try:
        assert cli(["kpis", "--json", "--db", str(path)]) == 0
    finally:
        holder.wait()
    out = capsys.readouterr()
    assert time.monotonic() - started >= 1.0  # it waited its turn
    assert "waiting for the store" in out.err and "Traceback" not in out.err
    assert json.loads(out.out)[0]["tickets"] == 0


def test_a_write_gives_up_after_the_wait_with_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "s.duckdb"
    db.connect(path).close()
    monkeypatch.setenv(sharing.WAIT_ENV, "0.5")
    holder = _hold(path, write=False, seconds=3)
    try:
        code = cli(["demo", "--tickets", "100", "--db", str(path)])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert code == 75 and "stayed in use by another process" in err and "Traceback" not in err


def test_concurrent_cli_uploads_all_land(tmp_path, demo_csvs):
    path = tmp_path / "s.duckdb"
    for _round in range(3):
        procs = [_cli("ingest", str(f), "--db", str(path), "--json") for f in demo_csvs]
        outs = [p.communicate(timeout=120) for p in procs]
        for p, (_out, err) in zip(procs, outs, strict=True):
            assert p.returncode == 0, err
            assert "Traceback" not in err
    con = db.connect(path)
    try:
        assert con.execute("SELECT count(*) FROM tickets").fetchall()[0][0] == 600
        assert con.execute("SELECT count(DISTINCT file_name) FROM datasets").fetchall()[0][0] == 2
    finally:
        con.close()


def test_readers_keep_reading_while_uploads_land_and_a_writer_is_not_starved(tmp_path, demo_csvs):
    path = tmp_path / "s.duckdb"
    db.connect(path).close()
    errors: list[BaseException] = []
    stop = threading.Event()
    reads = [0]

    def reader():
        while not stop.is_set():
            try:
                with sharing.reading(path) as con:
                    con.execute("SELECT count(*) FROM tickets").fetchall()
                reads[0] += 1
            except BaseException as exc:  # noqa: BLE001 - any failure is the test's finding
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for f in demo_csvs:
            proc = _cli("ingest", str(f), "--db", str(path), "--json")
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert reads[0] > 0


def test_a_snapshot_is_a_full_copy_and_its_version_moves_with_each_write(tmp_path):
    path = tmp_path / "s.duckdb"
    con = db.connect(path)
    con.execute("INSERT INTO settings VALUES ('a', '1')")
    con.close()
    mem, v1 = sharing.snapshot(path)
    assert mem.cursor().execute("SELECT value FROM settings WHERE key = 'a'").fetchall() == [("1",)]
    assert sharing.version(path) == v1
    with sharing.writing(path) as w:
        w.execute("UPDATE settings SET value = '2' WHERE key = 'a'")
    assert sharing.version(path) != v1
    assert mem.execute("SELECT value FROM settings WHERE key = 'a'").fetchall() == [("1",)]  # a copy, not a view
    fresh, _ = sharing.snapshot(path)
    assert fresh.execute("SELECT value FROM settings WHERE key = 'a'").fetchall() == [("2",)]


def test_a_dashboard_keeps_its_copy_instead_of_waiting_while_another_process_writes(tmp_path):
    """A copy taken without waiting gives up at once while a write is under way elsewhere (its
    schema check used to wait the full HYPERCARE_STORE_WAIT_S for the write's turn), and the
    dashboard's view goes on serving its last copy, then takes the new one."""
    from ui.store_view import StoreView

    path = tmp_path / "s.duckdb"
    con = db.connect(path)
    con.execute("INSERT INTO settings VALUES ('a', '1')")
    con.close()
    view = StoreView(path)
    first = view.current()
    holder = _hold(path, write=True, seconds=3)
    try:
        started = time.monotonic()
        with pytest.raises(sharing.StoreBusy):
            sharing.snapshot(path, wait_s=0)
        view.version = (0, 0, 0, 0)  # as when the file changed under the running write
        assert view.current() is first  # the last copy, at once
        assert time.monotonic() - started < 1.5
    finally:
        holder.wait()
    assert view.current() is not first  # the write is over: a new copy


def test_a_new_or_old_store_is_created_or_upgraded_before_a_read(tmp_path):
    path = tmp_path / "new" / "s.duckdb"
    with sharing.reading(path) as con:
        assert con.execute("SELECT count(*) FROM tickets").fetchall() == [(0,)]
    raw = __import__("duckdb").connect(str(path))
    raw.execute("ALTER TABLE tickets DROP COLUMN source_sla_met")
    raw.close()
    assert sharing.schema_outdated(path)
    with sharing.reading(path) as con:
        names = {r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                           "WHERE table_name = 'tickets'").fetchall()}
    assert "source_sla_met" in names


# --- the write turn covers the comparison and the commit, not reading and checking the file ----

_STALLED_UPLOAD = """
import pathlib, sys, time
from analytics.ingest import stage as ingest_stage
from analytics.cli import main

file, db_path, stage, started, release = sys.argv[1:]
real = getattr(ingest_stage, stage)

def stalled(*args, **kwargs):
    pathlib.Path(started).touch()
    deadline = time.monotonic() + 60
    while not pathlib.Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return real(*args, **kwargs)

setattr(ingest_stage, stage, stalled)
sys.exit(main(["ingest", file, "--db", db_path, "--json"]))
"""


@pytest.mark.parametrize("stage", ["load_raw_path", "plan"], ids=["reading the file", "checking the file"])
def test_reading_and_checking_a_file_keep_no_other_writer_waiting(tmp_path, demo_csvs, stage, monkeypatch):
    """One upload stalls while it reads (or checks) its file; meanwhile another process's upload
    and a settings change land at once, and the stalled upload still lands afterwards."""
    path = tmp_path / "s.duckdb"
    db.connect(path).close()
    started, release = tmp_path / "started", tmp_path / "release"
    slow = subprocess.Popen([sys.executable, "-c", _STALLED_UPLOAD, str(demo_csvs[0]), str(path), stage,
                             str(started), str(release)], cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert slow.poll() is None and time.monotonic() < deadline, slow.communicate()
            time.sleep(0.05)
        monkeypatch.setenv(sharing.WAIT_ENV, "10")  # far less than the stall: waiting for it would fail
        small = _cli("ingest", str(demo_csvs[1]), "--db", str(path), "--json", env={sharing.WAIT_ENV: "10"})
        out, err = small.communicate(timeout=120)
        assert small.returncode == 0, err
        with sharing.writing(path, wait_s=10) as con:
            db.set_setting(con, "default_timezone", "Europe/Amsterdam")
        assert slow.poll() is None  # still stalled: nobody waited for it
    finally:
        release.touch()
        out, err = slow.communicate(timeout=120)
    assert slow.returncode == 0, err
    assert json.loads(out)["tickets_inserted"] == 300
    con = db.connect(path)
    try:
        assert con.execute("SELECT count(*) FROM tickets").fetchall()[0][0] == 600
        assert db.get_setting(con, "default_timezone") == "Europe/Amsterdam"
    finally:
        con.close()
