"""The command line never shows a traceback: every failure is one line and an exit code."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from analytics.cli import main as cli
from analytics.store import db
from analytics.store.auth import local_operator

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(capsys, *argv: str) -> tuple[int, str]:
    try:
        code = cli(list(argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    err = capsys.readouterr().err
    return code, err


@pytest.fixture
def store(tmp_path) -> str:
    path = tmp_path / "s.duckdb"
    db.connect(path).close()
    return str(path)


@pytest.mark.parametrize("argv,code,words", [
    (["ingest", "/nonexistent/x.csv"], 2, "no such file"),
    (["ingest", "{tmp}"], 2, "is a folder"),
    (["ingest", "{deep}"], 1, "deep.json: the input is nested too deeply"),
    # The whole report is built before the write fails: seconds, so only in ./test.sh --all.
    pytest.param(["report", "--month", "2026-09", "--out", "{tmp}/missing/r.pdf"], 2, "no such file",
                 marks=pytest.mark.slow),
    (["sla", "--as-of", "0001-01-01T00:00:00Z"], 2, "outside the range"),
    (["closure", "--as-of", "9999-12-31"], 2, "outside the range"),
    (["kpis", "--from", "0001-01-01"], 2, "outside the range"),
    (["sla", "--as-of", "0001-01-01T00:00:00+05:00"], 2, "outside the range"),
    (["demo", "--tickets", "0"], 2, "no data rows"),
], ids=["missing-file", "folder", "deep-json", "report-missing-folder", "as-of-year-1", "as-of-9999",
        "from-year-1", "as-of-offset-overflow", "demo-zero"])
def test_a_bad_argument_is_one_line(capsys, store, tmp_path, argv, code, words):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    argv = [a.format(tmp=tmp_path, deep=deep) for a in argv]
    got, err = _run(capsys, *argv, "--db", store)
    assert got == code, err
    assert words in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith(("error", "python -m"))]) == 1


def test_a_store_held_by_another_process_is_one_line(capsys, tmp_path):
    path = tmp_path / "held.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); time.sleep(60)"),
        str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        code, err = _run(capsys, "tickets", "--json", "--db", str(path))
    finally:
        holder.kill()
        holder.wait()
    assert "Traceback" not in err and "in use by another process" in err
    assert code == 75


def test_an_internal_error_is_one_line_and_debug_shows_it(capsys, store, monkeypatch):
    from analytics.ingest import tickets_export

    def broken(*_a, **_k):
        raise KeyError("boom")

    monkeypatch.setattr(tickets_export, "tickets_frame", broken)
    code, err = _run(capsys, "tickets", "--json", "--db", store)
    assert code == 1 and "internal error (KeyError" in err and "HYPERCARE_DEBUG" in err
    monkeypatch.setenv("HYPERCARE_DEBUG", "1")
    with pytest.raises(KeyError):
        cli(["tickets", "--json", "--db", store])


def _counts(path: Path) -> tuple[int, int, int]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]  # type: ignore[return-value]
                     for t in ("tickets", "status_history", "datasets"))
    finally:
        con.close()


# From 0.3 s on the program runs (earlier, the interpreter itself is starting: its own
# "Fatal Python error" on Ctrl-C is outside any program).
@pytest.mark.parametrize("delay", [0.4, 1.0, 2.0])
def test_ctrl_c_during_an_ingest_stops_it_and_keeps_the_store_as_it_was(real_data, tmp_path, delay):
    path = tmp_path / "s.duckdb"
    con = db.connect(path)
    from analytics.ingest.pipeline import ingest_file

    ingest_file(con, real_data / "helpdesk-italian" / "helpdesk_finale.csv.gz", uploaded_by=local_operator("local"))
    con.close()
    before = _counts(path)
    big = real_data / "servicenow-incident-event-log" / "incident_event_log.csv.gz"
    proc = subprocess.Popen([sys.executable, "-m", "analytics", "ingest", str(big), "--db", str(path), "--json"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # a background process may inherit SIGINT ignored; a terminal's Ctrl-C is not
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    if proc.returncode == 0:  # the upload had finished: it is complete
        assert out.strip() and _counts(path)[2] == before[2] + 1
    else:
        assert proc.returncode == 130 and "interrupted" in err
        assert _counts(path) == before
