"""Stakeholder sign-off of the end of hypercare: one per role, revocable with a reason.

Event-sourced in `signoff_events`: recording a sign-off and revoking one each append a row (kind
"signed" or "revoked") and an audit record in the same transaction; nothing is overwritten. A
revocation row repeats the signer's name and keeps the reason in `comment`.

State as of a moment T: among the events in effect by T — a sign-off from its signed_on day
(the date the stakeholder signed, which may be entered later) or from when it was recorded,
whichever is earlier; a revocation from the moment it was recorded — the one recorded last
decides: "signed", "revoked", or "not signed" when none.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

import pandas as pd

from analytics.store import audit, auth

ROLES: tuple[str, ...] = ("IT Director", "Operations Lead", "Engineering Lead", "Support Lead")
SIGNED, REVOKED, NOT_SIGNED = "signed", "revoked", "not signed"
MAX_NAME, MAX_COMMENT = 200, 4000
CURRENT_COLUMNS = ["role", "state", "name", "signed_on", "comment", "reason", "recorded_by", "recorded_at"]
HISTORY_COLUMNS = ["event_id", "role", "kind", "name", "signed_on", "comment", "recorded_by", "recorded_at"]


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _today() -> date:
    # The later of the machine's date and the UTC date: someone east of UTC signing "today"
    # must not be told their date is in the future.
    return max(date.today(), _now().date())


def _check_role(role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"'{role}' is not a sign-off role; the roles are: {', '.join(ROLES)}")
    return role


def _text(value: str | None, what: str, limit: int, required: bool) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValueError(f"{what} is required")
    if len(text) > limit:
        raise ValueError(f"{what} is too long ({len(text):,} characters; at most {limit:,})")
    return text


def _who(actor: auth.Identity) -> str:
    """The recording user's label; auth.PermissionDenied unless they may sign off."""
    return auth.require(actor, auth.Permission.SIGN_OFF).label


def _latest(cur, role: str) -> tuple | None:
    rows = cur.execute("SELECT kind, name, signed_on, comment FROM signoff_events WHERE role = $role "
                       "ORDER BY event_id DESC LIMIT 1", {"role": role}).fetchall()
    return rows[0] if rows else None


def _append(cur, role: str, kind: str, name: str, signed_on: date | None, comment: str, actor: str) -> int:
    event_id = cur.execute("SELECT coalesce(max(event_id), 0) + 1 FROM signoff_events").fetchall()[0][0]
    cur.execute("INSERT INTO signoff_events (event_id, role, kind, name, signed_on, comment, recorded_by, "
                "recorded_at) VALUES ($event_id, $role, $kind, $name, $signed_on, $comment, $actor, $now)",
                {"event_id": event_id, "role": role, "kind": kind, "name": name, "signed_on": signed_on,
                 "comment": comment, "actor": actor, "now": _now()})
    return int(event_id)


def record(con, role: str, name: str, signed_on: date, comment: str, actor: auth.Identity) -> int:
    """Record that `name` signed off for `role` on `signed_on`; returns the event id.

    A later sign-off for the same role supersedes the earlier one (both stay in the history).
    Raises ValueError with a message for the user: unknown role, empty name, date in the future;
    auth.PermissionDenied when the actor is not an approver."""
    who = _who(actor)
    _check_role(role)
    name = _text(name, "The signer's name", MAX_NAME, required=True)
    comment = _text(comment, "The comment", MAX_COMMENT, required=False)
    if isinstance(signed_on, datetime):
        signed_on = signed_on.date()
    if not isinstance(signed_on, date):
        raise ValueError("The sign-off date is required")
    if signed_on > _today():
        raise ValueError(f"The sign-off date {signed_on:%Y-%m-%d} is in the future; a sign-off records "
                         "something that has happened")
    with audit.transaction(con) as cur:
        event_id = _append(cur, role, SIGNED, name, signed_on, comment, who)
        audit.record(cur, who, audit.SIGNOFF_RECORD, f"signoff:{role}",
                     {"event_id": event_id, "role": role, "name": name, "signed_on": signed_on,
                      "comment": comment})
    return event_id


def revoke(con, role: str, reason: str, actor: auth.Identity) -> int:
    """Revoke the current sign-off of `role`, giving a reason; returns the event id."""
    who = _who(actor)
    _check_role(role)
    reason = _text(reason, "A reason for the revocation", MAX_COMMENT, required=True)
    with audit.transaction(con) as cur:
        latest = _latest(cur, role)
        if latest is None or latest[0] != SIGNED:
            state = "was revoked already" if latest else "has never been signed"
            raise ValueError(f"There is no current sign-off for {role} to revoke: it {state}.")
        event_id = _append(cur, role, REVOKED, latest[1], None, reason, who)
        audit.record(cur, who, audit.SIGNOFF_REVOKE, f"signoff:{role}",
                     {"event_id": event_id, "role": role, "name": latest[1], "signed_on": latest[2],
                      "reason": reason})
    return event_id


def history(con) -> pd.DataFrame:
    """Every sign-off event, newest first (columns HISTORY_COLUMNS)."""
    return con.cursor().execute(
        "SELECT event_id, role, kind, name, signed_on, comment, recorded_by, recorded_at "
        "FROM signoff_events ORDER BY event_id DESC").df()


def current(con, as_of: datetime | None = None) -> pd.DataFrame:
    """One row per role (in ROLES order) with its state as of `as_of` (default: now).

    Columns CURRENT_COLUMNS. For a revoked role: the revoked signer's name, date and comment,
    the reason, and who recorded the revocation when."""
    at = as_of or _now()
    rows = con.cursor().execute(
        "SELECT event_id, role, kind, name, signed_on, comment, recorded_by, recorded_at FROM signoff_events "
        "WHERE recorded_at <= $at OR (kind = $signed AND signed_on <= $day) ORDER BY event_id",
        {"at": at, "signed": SIGNED, "day": at.date()}).fetchall()
    last: dict[str, tuple] = {}
    last_signed: dict[str, tuple] = {}
    for r in rows:
        last[r[1]] = r
        if r[2] == SIGNED:
            last_signed[r[1]] = r
    out: list[dict[str, Any]] = []
    for role in ROLES:
        ev = last.get(role)
        if ev is None:
            out.append({"role": role, "state": NOT_SIGNED})
        elif ev[2] == SIGNED:
            out.append({"role": role, "state": SIGNED, "name": ev[3], "signed_on": ev[4], "comment": ev[5],
                        "recorded_by": ev[6], "recorded_at": ev[7]})
        else:
            signed = last_signed.get(role)
            out.append({"role": role, "state": REVOKED, "name": ev[3],
                        "signed_on": signed[4] if signed else None,
                        "comment": signed[5] if signed else None, "reason": ev[5],
                        "recorded_by": ev[6], "recorded_at": ev[7]})
    return pd.DataFrame(out, columns=CURRENT_COLUMNS).astype(object).where(lambda d: d.notna(), None)
