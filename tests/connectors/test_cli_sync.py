"""`python -m analytics sync`: one JSON object per source, exit codes, configuration from env or secrets.toml."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from analytics import cli_parser, cli_sync
from analytics.cli import main
from analytics.connectors import config, statuspage, sync
from analytics.store import db
from tests.connectors.statuspage_server import Faults, serve, synthetic_incidents

REPO = Path(__file__).resolve().parents[2]
INCIDENTS = synthetic_incidents(30)


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No live source configured but what the test sets; a store file to sync into."""
    for key in list(os.environ):
        if any(key.startswith(config.env_prefix(n)) for n in sync.CONNECTORS):
            monkeypatch.delenv(key)
    monkeypatch.setenv(config.SECRETS_ENV, str(tmp_path / "secrets.toml"))
    path = tmp_path / "store.duckdb"
    db.connect(path).close()
    return monkeypatch, path


def configure(monkeypatch, server) -> None:
    for key, value in server.config().items():
        monkeypatch.setenv(f"HYPERCARE_STATUSPAGE_{key.upper()}", value)


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_sync_prints_one_json_object_per_source(env, capsys):
    monkeypatch, path = env
    with serve(INCIDENTS) as server:
        configure(monkeypatch, server)
        assert main(["sync", "--db", str(path)]) == 0
        first = capsys.readouterr()
        assert main(["sync", "--db", str(path), "--source", "statuspage"]) == 0
        second = capsys.readouterr()
        assert main(["sync", "--db", str(path), "--full"]) == 0
        full = json.loads(capsys.readouterr().out)
    # --full reads every incident again (found unchanged); the incremental one only its overlap.
    assert full["ok"] and full["tickets_unchanged"] == 30 and full["tickets_inserted"] == 0
    lines = first.out.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert (result["source"], result["ok"], result["tickets_inserted"]) == ("statuspage", True, 30)
    assert result["started_by"].startswith("cli:") or result["started_by"] == os.environ.get("HYPERCARE_OPERATOR")
    assert "statuspage: 30 records read" in first.err and "30 inserted" in first.err
    again = json.loads(second.out)
    assert again["ok"] and again["tickets_inserted"] == 0 and again["dataset_ids"] == []
    assert server.api_key not in first.out + first.err + second.out + second.err


def test_a_failing_source_exits_1_and_keeps_the_store(env, capsys):
    monkeypatch, path = env
    with serve(INCIDENTS, faults=Faults(unauthorized=True)) as server:
        configure(monkeypatch, server)
        assert main(["sync", "--db", str(path)]) == 1
    out = capsys.readouterr()
    result = json.loads(out.out)
    assert not result["ok"] and "HTTP 401" in result["error"] and "Traceback" not in out.err
    con = db.connect(path)
    try:
        assert db.ticket_count(con) == 0 and sync.watermark(con, "statuspage").updated_at is None
        assert sync.last_sync(con, "statuspage")["error"] == result["error"]
    finally:
        con.close()


def test_nothing_configured_is_a_usage_error(env, capsys):
    _, path = env
    assert main(["sync", "--db", str(path)]) == 2
    assert "no live source is configured" in capsys.readouterr().err
    assert main(["sync", "--db", str(path), "--source", "statuspage"]) == 2
    assert "HYPERCARE_STATUSPAGE_BASE_URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as caught:
        main(["sync", "--db", str(path), "--source", "nope"])
    assert caught.value.code == 2


def test_secrets_toml_configures_and_the_environment_wins(env, tmp_path, capsys):
    monkeypatch, path = env
    with serve(INCIDENTS) as server:
        cfg = server.config()
        (tmp_path / "secrets.toml").write_text(
            "[connectors.statuspage]\n" + "".join(f'{k} = "{v}"\n' for k, v in cfg.items() if k != "api_key")
            + 'api_key = "wrong-key"\n', encoding="utf-8")
        assert config.load("statuspage")["api_key"] == "wrong-key"
        assert main(["sync", "--db", str(path)]) == 1  # the file's key is refused
        assert "HTTP 401" in json.loads(capsys.readouterr().out)["error"]
        monkeypatch.setenv("HYPERCARE_STATUSPAGE_API_KEY", server.api_key)
        assert config.load("statuspage")["api_key"] == server.api_key
        assert main(["sync", "--db", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["tickets_inserted"] == 30


def test_an_unreadable_secrets_file_names_the_file_not_its_content(env, tmp_path, capsys):
    _, path = env
    (tmp_path / "secrets.toml").write_text('[connectors.statuspage]\napi_key = "hunter2\n', encoding="utf-8")
    assert main(["sync", "--db", str(path)]) == 2
    err = capsys.readouterr().err
    assert "secrets.toml: cannot read it as TOML" in err and "hunter2" not in err


def test_the_parser_knows_every_connector():
    assert set(cli_parser.LIVE_SOURCES) == set(sync.CONNECTORS)
    assert statuspage.CONNECTOR.name in cli_parser.LIVE_SOURCES


@pytest.mark.slow
def test_as_a_subprocess_a_failure_is_one_line_and_exit_1(env, tmp_path):
    _, path = env
    with serve(INCIDENTS, faults=Faults(truncated=1)) as server:
        environ = {**os.environ, **{f"HYPERCARE_STATUSPAGE_{k.upper()}": v for k, v in server.config().items()}}
        done = subprocess.run([sys.executable, "-m", "analytics", "sync", "--db", str(path)], cwd=REPO, env=environ,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "not complete JSON" in json.loads(done.stdout)["error"]


def test_progress_is_throttled_and_ends_with_the_total(capsys):
    """A long first sync prints a line every few seconds, not one per page, and always the last."""
    show = cli_sync._progress("jira", every=3600)
    for done in range(100, 1000, 100):
        show(done, 1000)
    show(1000, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["jira: 100 of 1,000 records read (10 %)", "jira: 1,000 of 1,000 records read (100 %)"]


def test_the_demo_engagement_is_refused(env, tmp_path, capsys):
    """Like ingest: the Demo engagement holds only generated data, so no source syncs into it."""
    _, path = env
    catalog = tmp_path / "installation.duckdb"
    assert main(["demo", "--db", str(catalog), "--engagement", "demo", "--tickets", "20"]) == 0
    capsys.readouterr()
    assert main(["sync", "--db", str(catalog), "--engagement", "demo"]) == 2
    err = capsys.readouterr().err
    assert "only the generated demo data: sync live sources into another one" in err and "Traceback" not in err
