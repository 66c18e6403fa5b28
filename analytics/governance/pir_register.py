"""Uploading a post-incident review (PIR) register: one CSV (or XLSX/JSON) row per action item.

Columns, matched case-insensitively and ignoring spaces, "_" and "-" (see HEADERS): ticket id
and completed date (both required), action, owner, due date and closed date (optional). A row
with only a ticket id and a completed date is a review without action items.

- An upload is one register and one transaction: the register row, its reviews, actions,
  rejected rows and the audit record are written together or not at all.
- The same file again (same sha256) writes nothing. A file that cannot be read at all (empty,
  broken CSV, no ticket or completed column, no loadable row) raises RegisterError naming the
  file (and row); the store is left as it was. Text that starts like a spreadsheet formula is
  stored as it is, counted in `messages`, and neutralised by every CSV download.
- Rows that cannot be loaded are kept in `pir_rejects` with their row number and reason.
- References that match no ticket (by ticket_id or external id, case-insensitive) are kept
  and listed in `unknown_refs`: a register may arrive before the tickets it names.
- Dates: YYYY-MM-DD (a time after it is ignored), YYYY/MM/DD, D.M.YYYY, "5 Oct 2026",
  "Oct 5, 2026", and D/M/YYYY or M/D/YYYY — day-first unless a value such as 10/25/2026 shows
  the file is month-first (a file with both kinds keeps day-first and rejects the others).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import pandas as pd

from analytics.ingest.file_limits import FileRejected
from analytics.ingest.readers import load_raw, read_bytes
from analytics.ingest.stage import formula_warnings, max_upload_bytes
from analytics.ingest.transform import qident
from analytics.store import audit, auth, db

FIELDS = ("ticket_ref", "completed_on", "action", "owner", "due_on", "closed_on")
# Accepted header spellings per field, compared after lower-casing and dropping non-alphanumerics.
HEADERS: dict[str, tuple[str, ...]] = {
    "ticket_ref": ("ticket id", "ticket", "ticket ref", "ticket reference", "ticket number", "ticket no",
                   "incident", "incident id", "incident number", "incident ref", "number", "key", "issue key"),
    "completed_on": ("completed", "completed on", "completed at", "completed date", "completion date",
                     "date completed", "pir date", "pir completed", "pir completed on", "review date",
                     "reviewed on", "review completed"),
    "action": ("action", "action item", "actions", "action items", "follow up", "follow up action"),
    "owner": ("owner", "action owner", "assignee", "responsible"),
    "due_on": ("due", "due on", "due date", "due at", "action due"),
    "closed_on": ("closed", "closed on", "closed at", "closed date", "date closed", "action closed"),
}
_MAX_LEN = {"ticket_ref": 200, "owner": 200, "action": 2000}
_ISO = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ].*)?$")
_NUMERIC = re.compile(r"^(\d{1,2})([/.-])(\d{1,2})\2(\d{4})(?:\s.*)?$")
_NAMED = ("%d %b %Y", "%d %B %Y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%B %d, %Y", "%b %d %Y", "%B %d %Y")


class RegisterError(ValueError):
    """The register file was refused; str() names the file (and row) and the reason."""


@dataclass
class RegisterResult:
    register_id: int | None  # None when nothing was written (the same file again)
    file_name: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    unknown_refs: list[str] = field(default_factory=list)
    unchanged: bool = False
    messages: list[str] = field(default_factory=list)
    reviews: int = 0  # tickets the register names
    actions: int = 0
    duplicate_of: int | None = None

    def summary(self) -> str:
        if self.unchanged:
            return f"{self.file_name}: identical to register {self.duplicate_of}; nothing was written"
        return (f"Loaded PIR register {self.file_name}: {self.rows_read:,} rows read · {self.rows_loaded:,} loaded · "
                f"{self.rows_rejected:,} rejected · {self.reviews:,} tickets · {self.actions:,} action items · "
                f"{len(self.unknown_refs):,} unknown ticket references")


def _key(header: str) -> str:
    return re.sub(r"[^0-9a-z]", "", header.lower())


_LOOKUP = {_key(h): f for f, names in HEADERS.items() for h in names}


def match_columns(name: str, columns: list[str]) -> dict[str, str]:
    """field -> file column; RegisterError when a required one is missing or one is given twice."""
    found: dict[str, str] = {}
    for col in columns:
        f = _LOOKUP.get(_key(col))
        if f is None:
            continue
        if f in found:
            raise RegisterError(f"{name}: columns {found[f]!r} and {col!r} both look like the {f} column; "
                                "rename or remove one")
        found[f] = col
    missing = [f for f in ("ticket_ref", "completed_on") if f not in found]
    if missing:
        want = " and ".join(f"a {f.replace('_', ' ')} column (e.g. {HEADERS[f][0]!r})" for f in missing)
        raise RegisterError(f"{name}: needs {want}; the file's columns are: {', '.join(columns[:20])}")
    return found


def day_first(values: list[str]) -> bool:
    """False only when some D/M/YYYY-looking value can only be month-first and none only day-first."""
    firsts = [_NUMERIC.match(v) for v in values]
    parts = [(int(m.group(1)), int(m.group(3))) for m in firsts if m and m.group(2) != "."]
    return not (any(b > 12 for _, b in parts) and not any(a > 12 for a, _ in parts))


def parse_day(text: str, dayfirst: bool = True) -> date:
    """One date cell → date; ValueError with the reason otherwise."""
    value = text.strip()
    try:
        m = _ISO.match(value)
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = _NUMERIC.match(value)
        if m:
            a, b, y = int(m.group(1)), int(m.group(3)), int(m.group(4))
            day, month = (a, b) if dayfirst or m.group(2) == "." else (b, a)
            return date(y, month, day)
    except ValueError:
        raise ValueError(f"{value!r} is not a real date") from None
    for fmt in _NAMED:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date (use YYYY-MM-DD)")


def _parse_rows(rows: list[tuple], cols: dict[str, str], header: list[str]):
    """(reviews {ref_key: [ref, completed, rows]}, actions, rejects, messages) from raw rows."""
    pos = {f: header.index(c) for f, c in cols.items()}
    dates = [r[pos[f] + 1] for r in rows for f in ("completed_on", "due_on", "closed_on")
             if f in pos and r[pos[f] + 1] is not None]
    dayfirst = day_first([str(v).strip() for v in dates])
    reviews: dict[str, list] = {}
    actions, rejects = [], []
    for r in rows:
        row_no = int(r[0])
        cell = {f: (None if r[i + 1] is None or not str(r[i + 1]).strip() else str(r[i + 1]).strip())
                for f, i in pos.items()}
        try:
            rec = _check_row(cell, dayfirst)
        except ValueError as exc:
            rejects.append((row_no, str(exc), json.dumps(dict(zip(header, r[1:])), ensure_ascii=False)))
            continue
        entry = reviews.setdefault(rec["ticket_ref"].upper(), [rec["ticket_ref"], set(), []])
        if rec["completed_on"] is not None:
            entry[1].add(rec["completed_on"])
        entry[2].append(row_no)
        if rec.get("action"):
            actions.append((row_no, rec["ticket_ref"], rec["action"], rec.get("owner"), rec.get("due_on"),
                            rec.get("closed_on")))
    messages = []
    for ref, done, row_nos in reviews.values():
        if len(done) > 1:
            messages.append(f"{ref}: rows {', '.join(map(str, row_nos))} give different completed dates; "
                            f"the latest, {max(done).isoformat()}, counts")
    if not dayfirst:
        messages.append("dates such as 10/25/2026 show the file is month-first: D/M dates read as M/D")
    return reviews, actions, rejects, messages


def _check_row(cell: dict[str, str | None], dayfirst: bool) -> dict:
    if cell.get("ticket_ref") is None:
        raise ValueError("no ticket id")
    for f, limit in _MAX_LEN.items():
        if (value := cell.get(f)) is not None and len(value) > limit:
            raise ValueError(f"{f.replace('_', ' ')} is longer than {limit} characters")
    rec: dict = {"ticket_ref": cell["ticket_ref"], "action": cell.get("action"), "owner": cell.get("owner")}
    for f in ("completed_on", "due_on", "closed_on"):
        try:
            rec[f] = parse_day(day, dayfirst) if (day := cell.get(f)) else None
        except ValueError as exc:
            raise ValueError(f"{f.replace('_', ' ')}: {exc}") from None
    if not rec["action"] and any(cell.get(f) for f in ("owner", "due_on", "closed_on")):
        raise ValueError("owner, due or closed date given without an action")
    return rec


def ingest_register(con, path=None, *, data: bytes | None = None, name: str | None = None,
                    actor: auth.Identity) -> RegisterResult:
    """Load one PIR register into the store (see the module docstring)."""
    label = auth.require(actor, auth.Permission.UPLOAD).label
    if data is None and path is None:
        raise RegisterError("no register file given")
    display, raw = read_bytes(data if data is not None else path, name)
    sha = hashlib.sha256(raw).hexdigest()
    with db.write_lock:
        cur = con.cursor()
        same = cur.execute("SELECT register_id, rows_read, rows_loaded, rows_rejected FROM pir_registers "
                           "WHERE sha256 = $sha ORDER BY register_id LIMIT 1", {"sha": sha}).fetchall()
        if same:
            rid, n_read, n_loaded, n_rej = same[0]
            return RegisterResult(None, display, n_read, n_loaded, n_rej, unchanged=True, duplicate_of=rid,
                                  messages=[f"identical to register {rid}; nothing was written"])
        table = f"_pir_raw_{uuid.uuid4().hex[:12]}"
        try:
            try:
                rf = load_raw(cur, display, raw, table=table, max_bytes=max_upload_bytes(con))
            except FileRejected as exc:
                raise RegisterError(str(exc)) from exc
            cols = match_columns(display, rf.columns)
            rows = cur.execute(f"SELECT __row, * EXCLUDE (__row) FROM {qident(table)} ORDER BY __row").fetchall()
        finally:
            cur.execute(f"DROP TABLE IF EXISTS {qident(table)}")
        result = _store(con, cur, display, sha, rf.columns, rows, cols, label)
        result.messages += formula_warnings(rf.formula_cells)
        return result


def _store(con, cur, display: str, sha: str, header: list[str], rows: list[tuple], cols: dict[str, str],
           actor: str) -> RegisterResult:
    reviews, actions, rejects, messages = _parse_rows(rows, cols, header)
    if not reviews:  # (the reader already refuses a file without data rows)
        first = f"first problem, row {rejects[0][0]}: {rejects[0][1]}" if rejects else "no rows"
        raise RegisterError(f"{display}: none of the {len(rows):,} rows could be loaded ({first})")
    review_rows = [(ref, max(done) if done else None) for ref, done, _ in reviews.values()]
    known = _known_refs(cur, [ref for ref, _ in review_rows])
    unknown = sorted(ref for ref, _ in review_rows if ref.upper() not in known)
    result = RegisterResult(None, display, len(rows), len(rows) - len(rejects), len(rejects), unknown_refs=unknown,
                            messages=messages, reviews=len(review_rows), actions=len(actions))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        result.messages.append(f"{len(unknown)} ticket reference(s) match no ticket in the store (kept): {shown}")
    with audit.transaction(con) as tx:
        rid = tx.execute("SELECT coalesce(max(register_id), 0) + 1 FROM pir_registers").fetchall()[0][0]
        tx.execute("INSERT INTO pir_registers VALUES ($rid, $name, $sha, $actor, $at, $read, $loaded, $rejected)",
                   {"rid": rid, "name": display, "sha": sha, "actor": actor,
                    "at": datetime.now(timezone.utc).replace(tzinfo=None), "read": result.rows_read,
                    "loaded": result.rows_loaded, "rejected": result.rows_rejected})
        _insert(tx, "pir_reviews", ["register_id", "ticket_ref", "completed_on"],
                [(rid, ref, done) for ref, done in review_rows])
        _insert(tx, "pir_actions", ["register_id", "row_number", "ticket_ref", "action", "owner", "due_on",
                                    "closed_on"], [(rid, *a) for a in actions])
        _insert(tx, "pir_rejects", ["register_id", "row_number", "reason", "raw"], [(rid, *r) for r in rejects])
        audit.record(tx, actor, audit.PIR_REGISTER_UPLOAD, obj=display, detail={
            "register_id": rid, "sha256": sha, "rows_read": result.rows_read, "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected, "tickets": result.reviews, "actions": result.actions,
            "unknown_refs": len(unknown)})
    result.register_id = int(rid)
    return result


def _insert(cur, table: str, cols: list[str], rows: list[tuple]) -> None:
    if rows:
        frame = pd.DataFrame(rows, columns=cols).astype(object)
        cur.register("_pir_rows", frame)
        try:
            cur.execute(f"INSERT INTO {qident(table)} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM _pir_rows")
        finally:
            cur.unregister("_pir_rows")


def _known_refs(cur, refs: list[str]) -> set[str]:
    """The upper-cased references among `refs` that name a ticket (ticket_id or external id)."""
    keys = sorted({r.upper() for r in refs})
    found = cur.execute(
        "SELECT DISTINCT k FROM unnest($keys::VARCHAR[]) AS u(k) WHERE EXISTS (SELECT 1 FROM tickets t WHERE "
        "upper(t.ticket_id) = u.k) OR EXISTS (SELECT 1 FROM tickets t WHERE upper(t.external_id) = u.k)",
        {"keys": keys}).fetchall()
    return {r[0] for r in found}


def registers(con) -> pd.DataFrame:
    """Every uploaded register, newest first, with the tickets and action items it holds."""
    return con.cursor().execute(
        "SELECT g.register_id, g.file_name, g.uploaded_by, g.uploaded_at, g.rows_read, g.rows_loaded, "
        "g.rows_rejected, (SELECT count(*) FROM pir_reviews r WHERE r.register_id = g.register_id) AS tickets, "
        "(SELECT count(*) FROM pir_actions a WHERE a.register_id = g.register_id) AS actions, g.sha256 "
        "FROM pir_registers g ORDER BY g.register_id DESC").df()


def rejects(con, register_id: int) -> pd.DataFrame:
    """The rows of one register that could not be loaded: row_number, reason, raw (JSON of the row)."""
    return con.cursor().execute("SELECT row_number, reason, raw FROM pir_rejects WHERE register_id = $register_id "
                                "ORDER BY row_number", {"register_id": register_id}).df()
