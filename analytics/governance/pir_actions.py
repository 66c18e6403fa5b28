"""PIR action items: the rows of the latest uploaded register naming each ticket, judged at as_of.

- A ticket's action items come from the latest register that names it (reviews are snapshots:
  an action missing from a newer register is gone, not open).
- State at the as-of day: closed (closed date on or before it), overdue (not closed and the
  as-of day is past its due date), open (otherwise, including items without a due date).
- Age in days: from the review's completed date in that register (else the ticket's resolution
  day) to the closed date, or to the as-of day for items not closed; None without either date.
- Days are local to the working-hours calendar of the SLA policy in force on the as-of day.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import numpy as np
import pandas as pd

from analytics.sla.business_days import local_dates, working_calendar
from analytics.sla.policy import policies as saved_policies
from analytics.sla.policy import policy_in_force
from analytics.store import db
from analytics.store.filters import Filters
from analytics.store.periods import undated

STATES = ("open", "overdue", "closed")
COLUMNS = ("ticket_id", "ticket_ref", "register_id", "register_file", "row_number", "action", "owner",
           "due_on", "closed_on", "state", "age_days")

_ACTIONS_SQL = """
WITH f AS (SELECT ticket_id, external_id, resolved_at FROM tickets WHERE {where} AND opened_at <= $as_of {range_clause}),
k AS (SELECT ticket_id, upper(ticket_id) AS key FROM f
      UNION SELECT ticket_id, upper(external_id) FROM f WHERE external_id IS NOT NULL),
m AS (SELECT k.ticket_id, r.register_id, r.completed_on FROM pir_reviews r JOIN k ON upper(trim(r.ticket_ref)) = k.key),
newest AS (SELECT ticket_id, max(register_id) AS register_id FROM m GROUP BY 1),
latest AS (SELECT ticket_id, register_id, max(m.completed_on) AS review_on FROM m JOIN newest USING (ticket_id, register_id)
           GROUP BY 1, 2)
SELECT l.ticket_id, a.ticket_ref, a.register_id, g.file_name AS register_file, a.row_number, a.action, a.owner,
       a.due_on, a.closed_on, l.review_on, f.resolved_at
FROM latest l
JOIN k ON k.ticket_id = l.ticket_id
JOIN pir_actions a ON a.register_id = l.register_id AND upper(trim(a.ticket_ref)) = k.key
JOIN f ON f.ticket_id = l.ticket_id
JOIN pir_registers g ON g.register_id = a.register_id
ORDER BY l.ticket_id, a.row_number
"""


def action_frame(con, filters: Filters, as_of: datetime, pol) -> pd.DataFrame:
    """The action items (COLUMNS) of the tickets matching the filters' non-date parts, opened by
    `as_of` and, with a date filter, resolved by `as_of` within its UTC days (as pir.reviews)."""
    if not con.cursor().execute("SELECT EXISTS (SELECT 1 FROM pir_actions)").fetchall()[0][0]:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})  # no register yet: skip the scan
    where, params = undated(filters).where()
    range_clause, extra = "", {}
    if filters.date_from or filters.date_to:
        range_clause += " AND resolved_at <= $as_of"
    if filters.date_from:
        range_clause += " AND resolved_at >= $resolved_from"
        extra["resolved_from"] = datetime.combine(filters.date_from, time.min)
    if filters.date_to:
        range_clause += " AND resolved_at < $resolved_to"
        extra["resolved_to"] = datetime.combine(filters.date_to + timedelta(days=1), time.min)
    a = con.cursor().execute(_ACTIONS_SQL.format(where=where, range_clause=range_clause),
                             {**params, "as_of": as_of, **extra}).df()
    tz_default = db.get_setting(con, "default_timezone", "UTC") or "UTC"
    cal = working_calendar(policy_in_force(saved_policies(con), as_of.date()), pol.calendar, tz_default)
    today = local_dates([as_of], cal.timezone)[0]
    due = _days(a["due_on"])
    closed = _days(a["closed_on"])
    review = _days(a["review_on"])
    review = np.where(review <= today, review, np.datetime64("NaT", "D"))
    resolved = local_dates(a["resolved_at"].values, cal.timezone) if len(a) else review
    resolved = np.where(resolved <= today, resolved, np.datetime64("NaT", "D"))
    began = np.where(np.isnat(review), resolved, review)
    is_closed = ~np.isnat(closed) & (closed <= today)
    state = np.where(is_closed, "closed", np.where(~np.isnat(due) & (today > due), "overdue", "open"))
    age = (np.where(is_closed, closed, today) - began).astype("timedelta64[D]").astype("float64")
    out = a.assign(state=state, age_days=np.where(np.isnan(age), np.nan, np.maximum(age, 0)))
    out["due_on"], out["closed_on"] = _objects(due), _objects(closed)
    out["age_days"] = out["age_days"].astype("Int64")
    return out[list(COLUMNS)]


def _days(col: pd.Series) -> np.ndarray:
    return pd.to_datetime(col).values.astype("datetime64[D]")


def _objects(values: np.ndarray) -> list:
    return np.asarray(values, dtype="datetime64[D]").astype(object).tolist()  # NaT → None, else date
