"""The append-only audit log: who uploaded, deleted, changed a policy or setting, signed off.

Each record carries the hash of the one before it: hash = sha256(prev_hash + canonical JSON of
the record (seq, recorded_at, actor, action, object, detail)); the first record's prev_hash is
64 zeros. `verify()` recomputes the chain, so an edited or removed row shows up. The newest
record's seq and hash are also kept as the setting "audit_head", which is how removing the
newest records (which leaves a valid shorter chain) is noticed.

Nothing in the code updates or deletes audit rows (tests/test_audit.py greps for it). Anyone
who can write the database file can still rewrite the whole chain: the log makes tampering
evident to `verify()`, it does not make it impossible.

`record()` writes on a cursor inside the caller's transaction, so a write that rolls back
leaves no audit record; `transaction()` opens one for callers that have none.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from analytics.store import auth, db

UPLOAD = "upload"
DATASET_DELETE = "dataset.delete"
POLICY_SAVE = "policy.save"
SETTING_CHANGE = "setting.change"
SIGNOFF_RECORD = "signoff.record"
SIGNOFF_REVOKE = "signoff.revoke"
CLOSURE_RULES_SAVE = "closure_rules.save"
PIR_REGISTER_UPLOAD = "pir_register.upload"
ENGAGEMENT_CREATE = "engagement.create"
ENGAGEMENT_DELETE = "engagement.delete"
STORE_UPGRADE = "store.upgrade"
SOURCE_SYNC = "sync"
ACTIONS: tuple[str, ...] = (UPLOAD, DATASET_DELETE, POLICY_SAVE, SETTING_CHANGE, SIGNOFF_RECORD,
                            SIGNOFF_REVOKE, CLOSURE_RULES_SAVE, PIR_REGISTER_UPLOAD, ENGAGEMENT_CREATE,
                            ENGAGEMENT_DELETE, STORE_UPGRADE, SOURCE_SYNC)
ACTION_TEXT: dict[str, str] = {
    UPLOAD: "an export was loaded (a re-upload that changed nothing writes nothing and is not recorded)",
    DATASET_DELETE: "a dataset and the tickets it last wrote were deleted",
    POLICY_SAVE: "an SLA policy version was saved",
    SETTING_CHANGE: "a setting (go-live date, time zone, upload limit, KPI target, …) changed",
    SIGNOFF_RECORD: "a stakeholder sign-off was recorded",
    SIGNOFF_REVOKE: "a stakeholder sign-off was revoked",
    CLOSURE_RULES_SAVE: "the closure-criteria rules were saved",
    PIR_REGISTER_UPLOAD: "a post-incident review register was uploaded",
    ENGAGEMENT_CREATE: "an engagement (one go-live and its hypercare) was created",
    ENGAGEMENT_DELETE: "an engagement and its store were deleted",
    STORE_UPGRADE: "a store made by an earlier version was upgraded into engagements",
    SOURCE_SYNC: "a live source (ServiceNow, Jira, PagerDuty, Statuspage) was synced: what it read and changed",
}
GENESIS = "0" * 64
HEAD_SETTING = "audit_head"  # "<seq>:<hash>" of the newest record
TRAIL_COLUMNS = ["seq", "recorded_at", "actor", "action", "object", "detail"]
# Settings that are bookkeeping, not decisions: written without an audit record.
UNAUDITED_SETTINGS = frozenset({HEAD_SETTING, "demo_autoloaded"})


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _json(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, dates as ISO text."""
    def default(v: Any) -> str:
        return v.isoformat() if isinstance(v, (date, datetime)) else str(v)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


def _hash(prev_hash: str, seq: int, recorded_at: datetime, actor: str, action: str,
          obj: str | None, detail: str | None) -> str:
    body = _json({"seq": int(seq), "recorded_at": recorded_at.isoformat(timespec="microseconds"),
                  "actor": actor, "action": action, "object": obj, "detail": detail})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def record(cur, actor: auth.Identity | str, action: str, obj: str | None = None,
           detail: dict | None = None) -> int:
    """Append one record on `cur` (inside the caller's open transaction); returns its seq.

    `actor` is who did it: the Identity a write checked (its label is recorded), or that label.
    This is the log itself, not a write that needs a permission: it grants nothing and checks
    nothing, so the write that calls it has already called auth.require on a typed Identity."""
    label = actor.label if isinstance(actor, auth.Identity) else actor
    if not str(label or "").strip():
        raise ValueError("an audit record needs an actor (who did it)")
    if not str(action or "").strip():
        raise ValueError("an audit record needs an action")
    last = cur.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchall()
    seq, prev = (last[0][0] + 1, last[0][1]) if last else (1, GENESIS)
    at = _now()
    text = None if detail is None else _json(detail)
    digest = _hash(prev, seq, at, label, action, obj, text)
    cur.execute(
        "INSERT INTO audit_log (seq, recorded_at, actor, action, object, detail, prev_hash, hash) "
        "VALUES ($seq, $at, $label, $action, $obj, $text, $prev, $digest)", {"seq": seq, "at": at, "label": label, "action": action, "obj": obj, "text": text, "prev": prev, "digest": digest})
    _upsert(cur, HEAD_SETTING, f"{seq}:{digest}")
    return int(seq)


# The one write transaction (defined in db, below this module, so that db's own schema upgrade
# can use it too): a cursor under the write lock, committed on success, else rolled back.
transaction = db.transaction


def append(con, actor: auth.Identity | str, action: str, obj: str | None = None, detail: dict | None = None) -> int:
    """`record()` in a transaction of its own (for a record that goes with no other write)."""
    with transaction(con) as cur:
        return record(cur, actor, action, obj, detail)


def _upsert(cur, key: str, value: str) -> None:
    cur.execute("INSERT INTO settings VALUES ($key, $value) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                {"key": key, "value": value})


def set_settings(con, values: Mapping[str, str | None], actor: auth.Identity) -> list[str]:
    """Save several settings in one transaction, one SETTING_CHANGE record per changed key.

    A value of None removes the setting. Unchanged keys are neither written nor recorded.
    Returns the keys that changed. Raises auth.PermissionDenied, before writing anything,
    when the actor may not change one of the keys (`auth.setting_permission`)."""
    who = auth.as_identity(actor)
    for key in values:
        auth.require(who, auth.setting_permission(key))
    label = who.label
    changed: list[str] = []
    with transaction(con) as cur:
        for key, value in values.items():
            old = cur.execute("SELECT value FROM settings WHERE key = $key", {"key": key}).fetchall()
            before = old[0][0] if old else None
            after = None if value is None else str(value)
            if before == after:
                continue
            if after is None:
                cur.execute("DELETE FROM settings WHERE key = $key", {"key": key})
            else:
                _upsert(cur, key, after)
            if key not in UNAUDITED_SETTINGS:
                record(cur, label, SETTING_CHANGE, f"setting:{key}", {"key": key, "old": before, "new": after})
            changed.append(key)
    return changed


def set_setting(con, key: str, value: str | None, actor: auth.Identity) -> bool:
    """Save one setting with an audit record (None removes it); False when nothing changed."""
    if key == HEAD_SETTING:
        raise ValueError(f"'{HEAD_SETTING}' is kept by the audit log itself")
    return bool(set_settings(con, {key: value}, actor))


def save_role_map(con, mapping: Mapping[str, Iterable[str]], actor: auth.Identity) -> None:
    """Replace the installation's e-mail → roles map, auth.role_map (admins only)."""
    auth.require(actor, auth.Permission.MANAGE_ROLES)
    set_setting(con, auth.ROLE_MAP_SETTING, auth.role_map_json(mapping), actor)


def trail(con, limit: int | None = None, action: str | None = None, actor: str | None = None) -> pd.DataFrame:
    """Audit records, newest first (columns TRAIL_COLUMNS); optionally one action or actor only."""
    clauses: list[str] = []
    params: dict[str, str | int] = {}
    if action:
        clauses.append("action = $action")
        params["action"] = action
    if actor:
        clauses.append("actor = $actor")
        params["actor"] = actor
    where_sql = " AND ".join(clauses) or "TRUE"
    limit_sql = "LIMIT $limit" if limit is not None else ""
    if limit is not None:
        params["limit"] = int(limit)
    return con.cursor().execute(
        f"SELECT seq, recorded_at, actor, action, object, detail FROM audit_log WHERE {where_sql} "
        f"ORDER BY seq DESC {limit_sql}", params).df()


def verify(con) -> list[str]:
    """Problems in the chain, in order; an empty list means every record is as it was written."""
    cur = con.cursor()
    rows = cur.execute("SELECT seq, recorded_at, actor, action, object, detail, prev_hash, hash "
                       "FROM audit_log ORDER BY seq").fetchall()
    problems: list[str] = []
    prev_seq, prev_hash = 0, GENESIS
    for seq, at, actor, action, obj, detail, stored_prev, stored in rows:
        if seq != prev_seq + 1:
            gap = f"record {prev_seq + 1}" if seq == prev_seq + 2 else f"records {prev_seq + 1}–{seq - 1}"
            problems.append(f"{gap} missing: the log jumps from {prev_seq} to {seq}")
        if stored_prev != prev_hash:
            problems.append(f"record {seq}: its link to the record before it does not match "
                            "(a record before it was removed or changed)")
        if _hash(stored_prev, seq, at, actor, action, obj, detail) != stored:
            problems.append(f"record {seq} ({action} by {actor}): its content was changed after it was written")
        prev_seq, prev_hash = seq, stored
    head = db.get_setting(con, HEAD_SETTING)
    if head is None:
        if rows:
            problems.append(f"the head marker '{HEAD_SETTING}' is missing; the newest records may have been removed")
        return problems
    head_seq, _, head_hash = head.partition(":")
    if not rows or head_seq != str(prev_seq) or head_hash != prev_hash:
        problems.append(f"the newest record should be {head_seq}, but the log ends at "
                        f"{prev_seq if rows else 'nothing'}: the newest records were removed or changed")
    return problems
