"""The append-only audit log: hash chain, tamper detection, no update/delete path, and the
records uploads, deletions, policy saves and settings changes leave."""

from __future__ import annotations

import ast
import hashlib
import json
import re
from datetime import date
from pathlib import Path

import pytest

from analytics.ingest import datasets, pipeline
from analytics.ingest.stage import IngestError
from analytics.sla.policy import PolicyError, default_policy, save_policy
from analytics.store import audit, db
from analytics.store.auth import local_operator
from tests.helpers import snapshot, write_csv

ROOT = Path(__file__).resolve().parent.parent
PROTECTED = ("audit_log", "signoff_events")


def _rows(con):
    return con.cursor().execute("SELECT seq, recorded_at, actor, action, object, detail, prev_hash, hash "
                                "FROM audit_log ORDER BY seq").fetchall()


def test_chain_links_each_record_to_the_one_before(con):
    audit.append(con, "alice", audit.SETTING_CHANGE, "setting:x", {"b": 2, "a": 1})
    audit.append(con, "bob", audit.UPLOAD, None, None)
    audit.append(con, "carol", audit.SIGNOFF_RECORD, "signoff:IT Director", {"name": "Ann", "on": date(2026, 10, 1)})
    rows = _rows(con)
    assert [r[0] for r in rows] == [1, 2, 3]
    # Independent recomputation: sha256(prev_hash + canonical JSON of the record).
    prev = "0" * 64
    for seq, at, actor, action, obj, detail, stored_prev, stored in rows:
        body = json.dumps({"seq": seq, "recorded_at": at.isoformat(timespec="microseconds"), "actor": actor,
                           "action": action, "object": obj, "detail": detail},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        assert stored_prev == prev
        assert stored == hashlib.sha256((prev + body).encode()).hexdigest()
        prev = stored
    assert json.loads(rows[0][5]) == {"a": 1, "b": 2} and rows[0][5] == '{"a":1,"b":2}'
    assert json.loads(rows[2][5])["on"] == "2026-10-01"
    assert audit.verify(con) == []
    assert db.get_setting(con, audit.HEAD_SETTING) == f"3:{rows[2][7]}"


def test_verify_detects_an_edited_record(con):
    for who in ("a", "b", "c"):
        audit.append(con, who, audit.SETTING_CHANGE, "setting:k", {"new": who})
    con.execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2")  # tampering, from outside the code
    problems = audit.verify(con)
    assert len(problems) == 1 and problems[0].startswith("record 2") and "changed" in problems[0]


def test_verify_detects_an_edited_detail_even_with_a_recomputed_own_hash(con):
    for who in ("a", "b", "c"):
        audit.append(con, who, audit.SETTING_CHANGE, "setting:k", {"new": who})
    seq, at, actor, action, obj, _detail, prev, _h = _rows(con)[1]
    forged = audit._hash(prev, seq, at, actor, action, obj, '{"new":"z"}')
    con.execute("UPDATE audit_log SET detail = '{\"new\":\"z\"}', hash = ? WHERE seq = 2", [forged])
    problems = audit.verify(con)
    assert any(p.startswith("record 3") and "link" in p for p in problems)


def test_verify_detects_a_deleted_record(con):
    for who in ("a", "b", "c"):
        audit.append(con, who, audit.SETTING_CHANGE, "setting:k", {"new": who})
    con.execute("DELETE FROM audit_log WHERE seq = 2")
    problems = audit.verify(con)
    assert any("record 2 missing" in p for p in problems)
    assert any(p.startswith("record 3") and "link" in p for p in problems)


def test_verify_detects_removed_newest_records_and_a_missing_head(con):
    for who in ("a", "b", "c"):
        audit.append(con, who, audit.SETTING_CHANGE, "setting:k", {"new": who})
    con.execute("DELETE FROM audit_log WHERE seq = 3")
    assert any("newest" in p for p in audit.verify(con))
    con.execute("DELETE FROM settings WHERE key = ?", [audit.HEAD_SETTING])
    assert any("head marker" in p for p in audit.verify(con))


def test_empty_log_verifies(con):
    assert audit.verify(con) == []
    assert list(audit.trail(con).columns) == audit.TRAIL_COLUMNS and audit.trail(con).empty


def test_trail_is_newest_first_and_filters(con):
    audit.append(con, "a", audit.UPLOAD, "dataset:1")
    audit.append(con, "b", audit.SETTING_CHANGE, "setting:x")
    audit.append(con, "a", audit.UPLOAD, "dataset:2")
    t = audit.trail(con)
    assert list(t["seq"]) == [3, 2, 1] and list(t.columns) == audit.TRAIL_COLUMNS
    assert list(audit.trail(con, action=audit.UPLOAD)["object"]) == ["dataset:2", "dataset:1"]
    assert list(audit.trail(con, limit=1)["seq"]) == [3]
    assert list(audit.trail(con, actor="b")["seq"]) == [2]


def test_record_needs_an_actor_and_an_action(con):
    with pytest.raises(ValueError, match="actor"):
        audit.append(con, " ", audit.UPLOAD)
    with pytest.raises(ValueError, match="action"):
        audit.append(con, "a", "")
    assert audit.trail(con).empty


def test_a_rolled_back_transaction_leaves_no_record(con):
    with pytest.raises(RuntimeError):
        with audit.transaction(con) as cur:
            audit.record(cur, "a", audit.UPLOAD)
            raise RuntimeError("boom")
    assert audit.trail(con).empty and db.get_setting(con, audit.HEAD_SETTING) is None


def test_set_setting_records_old_and_new_values_only_on_change(con):
    assert audit.set_setting(con, "go_live_date", "2026-09-07", local_operator("alice")) is True
    assert audit.set_setting(con, "go_live_date", "2026-09-07", local_operator("alice")) is False  # unchanged: nothing
    assert audit.set_setting(con, "go_live_date", "2026-09-14", local_operator("bob")) is True
    assert audit.set_setting(con, "go_live_date", None, local_operator("bob")) is True
    assert db.get_setting(con, "go_live_date") is None
    t = audit.trail(con, action=audit.SETTING_CHANGE)
    assert [json.loads(d) for d in t["detail"]][::-1] == [
        {"key": "go_live_date", "old": None, "new": "2026-09-07"},
        {"key": "go_live_date", "old": "2026-09-07", "new": "2026-09-14"},
        {"key": "go_live_date", "old": "2026-09-14", "new": None}]
    assert list(t["actor"])[::-1] == ["alice", "bob", "bob"]
    with pytest.raises(ValueError):
        audit.set_setting(con, audit.HEAD_SETTING, "1:x", local_operator("mallory"))
    assert audit.verify(con) == []


def test_set_settings_is_one_transaction_with_a_record_per_changed_key(con):
    db.set_setting(con, "default_timezone", "UTC")
    changed = audit.set_settings(con, {"default_timezone": "UTC", "max_upload_mb": "50",
                                       "kpi_target.mttd": "10", "demo_autoloaded": "x"}, local_operator("alice"))
    assert changed == ["max_upload_mb", "kpi_target.mttd", "demo_autoloaded"]
    assert sorted(audit.trail(con)["object"]) == ["setting:kpi_target.mttd", "setting:max_upload_mb"]


# --- no update or delete path -----------------------------------------------------------

_MUTATION = re.compile(
    r"\b(?:UPDATE|DELETE\s+FROM|DROP\s+TABLE(?:\s+IF\s+EXISTS)?|TRUNCATE(?:\s+TABLE)?|ALTER\s+TABLE"
    r"|INSERT\s+OR\s+REPLACE\s+INTO)\s+[\"']?(?:main\.)?(audit_log|signoff_events)\b", re.IGNORECASE)


@pytest.mark.parametrize("text, hit", [
    ("UPDATE audit_log SET actor = 'x'", True), ("delete from signoff_events where 1", True),
    ("DROP TABLE IF EXISTS audit_log", True), ("TRUNCATE audit_log", True),
    ("ALTER TABLE signoff_events ADD COLUMN x INT", True), ("INSERT OR REPLACE INTO audit_log VALUES (1)", True),
    ("INSERT INTO audit_log VALUES (?)", False), ("SELECT * FROM audit_log", False),
    ("DELETE FROM settings WHERE key = ?", False),
])
def test_mutation_pattern_itself(text, hit):
    assert bool(_MUTATION.search(text)) is hit


def _sources():
    for folder in ("analytics", "pages", "ui"):
        yield from sorted((ROOT / folder).rglob("*.py"))
    yield ROOT / "app.py"


def test_no_code_updates_or_deletes_audit_or_signoff_rows():
    offenders = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in _sources()
                 for m in _MUTATION.finditer(p.read_text(encoding="utf-8"))]
    assert not offenders, f"audit_log and signoff_events are append-only: {offenders}"


def _strings(path: Path) -> list[tuple[str, bool]]:
    """(text, inside a tuple/list/set literal) for each string constant of a module (f-string
    parts included), docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    in_seq = {id(e) for n in ast.walk(tree) if isinstance(n, (ast.Tuple, ast.List, ast.Set)) for e in n.elts}
    return [(n.value, id(n) in in_seq) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_protected_tables_are_only_read_or_appended_to():
    # Statements naming the tables must read (SELECT/FROM/WITH) — only the two owners insert —
    # and no collection of table names may include them (a delete looping over a list of tables
    # would escape the pattern above).
    owners = {"analytics/store/audit.py", "analytics/governance/signoff.py"}
    seen = set()
    for p in _sources():
        rel = str(p.relative_to(ROOT))
        if rel == "analytics/store/schema.py":
            continue  # the CREATE TABLE statements
        for text, in_collection in _strings(p):
            if not any(t in text for t in PROTECTED):
                continue
            assert not in_collection, f"{rel}: an append-only table in a list of names: {text!r}"
            if text.strip() in PROTECTED:
                continue  # a name passed to a lookup, e.g. "does the table exist"
            verb = text.split()[0].upper()
            allowed = {"SELECT", "FROM", "WITH"} | ({"INSERT"} if rel in owners else set())
            assert verb in allowed, f"{rel}: {text!r}"
            seen.add((rel, verb))
    assert ("analytics/store/audit.py", "INSERT") in seen and ("analytics/governance/signoff.py", "INSERT") in seen


# --- what writes the log ----------------------------------------------------------------

HEADER = ["external_id", "type", "title", "severity", "status", "opened_at", "resolved_at"]
ROWS = [["A-1", "incident", "Login fails", "SEV-1", "Resolved", "2026-09-08T09:00:00Z", "2026-09-08T10:00:00Z"],
        ["A-2", "defect", "Slow report", "SEV-3", "Open", "2026-09-09T09:00:00Z", ""]]


def test_upload_records_who_loaded_what(con, tmp_path):
    path = tmp_path / "export.csv"
    write_csv(path, HEADER, ROWS)
    r = pipeline.ingest_file(con, path, uploaded_by=local_operator("alice"))
    t = audit.trail(con)
    assert len(t) == 1 and t.loc[0, "action"] == "upload" and t.loc[0, "actor"] == "alice"
    assert t.loc[0, "object"] == f"dataset:{r.dataset_id}"
    detail = json.loads(t.loc[0, "detail"])
    assert detail["file_name"] == "export.csv" and detail["rows_read"] == 2 and detail["tickets_inserted"] == 2
    assert detail["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # The very same file again writes nothing, so it records nothing either.
    again = pipeline.ingest_file(con, path, uploaded_by=local_operator("bob"))
    assert again.duplicate_of == r.dataset_id and len(audit.trail(con)) == 1
    assert audit.verify(con) == []


def test_refused_upload_leaves_no_audit_record(con, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("external_id,opened_at\n", encoding="utf-8")  # header only
    before = snapshot(con)
    with pytest.raises(IngestError):
        pipeline.ingest_file(con, path, uploaded_by=local_operator("alice"))
    assert audit.trail(con).empty and snapshot(con) == before


def test_upload_failing_after_its_audit_record_rolls_both_back(con, tmp_path, monkeypatch):
    path = tmp_path / "export.csv"
    write_csv(path, HEADER, ROWS)
    real = audit.record

    def record_then_fail(cur, *args, **kwargs):
        real(cur, *args, **kwargs)  # the record is written on the upload's cursor …
        raise RuntimeError("disk full")  # … and the transaction then fails

    monkeypatch.setattr(audit, "record", record_then_fail)
    with pytest.raises(RuntimeError):
        pipeline.ingest_file(con, path, uploaded_by=local_operator("alice"))
    assert audit.trail(con).empty and db.ticket_count(con) == 0
    assert con.execute("SELECT count(*) FROM datasets").fetchall()[0][0] == 0


def test_dataset_delete_is_recorded_and_a_missing_one_is_not(con, tmp_path):
    path = tmp_path / "export.csv"
    write_csv(path, HEADER, ROWS)
    r = pipeline.ingest_file(con, path, uploaded_by=local_operator("alice"))
    assert datasets.delete_dataset(con, r.dataset_id, actor=local_operator("bob")) == 2
    assert datasets.delete_dataset(con, 999, actor=local_operator("bob")) == 0
    t = audit.trail(con)
    assert list(t["action"]) == [audit.DATASET_DELETE, audit.UPLOAD]
    assert t.loc[0, "actor"] == "bob" and json.loads(t.loc[0, "detail"])["tickets_removed"] == 2
    assert audit.verify(con) == []


def test_policy_save_is_recorded_and_a_refused_one_is_not(con):
    policy = default_policy().model_copy(update={"version": "v2", "effective_from": date(2026, 10, 1)})
    save_policy(con, policy, local_operator("carol"))
    with pytest.raises(PolicyError):
        save_policy(con, policy, local_operator("carol"))  # a version is never overwritten
    t = audit.trail(con)
    assert len(t) == 1 and t.loc[0, "action"] == audit.POLICY_SAVE and t.loc[0, "object"] == "policy:v2"
    stored = con.execute("SELECT policy_toml FROM sla_policies").fetchall()[0][0]
    assert json.loads(t.loc[0, "detail"])["sha256"] == hashlib.sha256(stored.encode()).hexdigest()


def test_settings_page_saves_through_the_audit_log(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.helpers import app_using

    path = tmp_path / "app.duckdb"
    db.connect(path).close()
    monkeypatch.setenv("HYPERCARE_OPERATOR", "erin")
    with app_using(path):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
        at.switch_page("pages/settings.py").run()
        assert not at.exception
        at.date_input(key="set_go_live").set_value(date(2026, 9, 7))
        next(b for b in at.button if b.label == "Save settings").click().run()
        assert not at.exception
    con = db.connect(path)
    try:
        t = audit.trail(con, action=audit.SETTING_CHANGE)
        by_key = {json.loads(d)["key"]: (a, json.loads(d)["new"]) for a, d in zip(t["actor"], t["detail"])}
        assert by_key["go_live_date"][1] == "2026-09-07" and by_key["go_live_date"][0]
        assert audit.verify(con) == []
    finally:
        con.close()
