"""SLA engine benchmark: evaluating every ticket against a plain 24x7 elapsed-time query.

    python bench/sla.py                      # 1,000,000 demo tickets, 3 runs each
    python bench/sla.py --tickets 100000 --runs 1
    python bench/sla.py --db existing.duckdb # reuse a store that already holds the demo

Loads the seeded demo (tickets + status history) into a temp DuckDB file, then times
`sla.engine.evaluate` with the seed policy on a business calendar (America/New_York, US public
holidays) and the history's pauses, against `SELECT ticket_id, date_diff('minute', opened_at,
coalesce(resolved_at, ?)) FROM tickets` fetched as a DataFrame. Prints the medians, their
ratio, and the target (≤ 10 s for a million tickets on a 2-core machine).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analytics.demo.calendar import DEMO_HOLIDAY_COUNTRY, DEMO_TIMEZONE  # noqa: E402
from analytics.demo.loader import DEMO_OPERATOR, load_demo  # noqa: E402
from analytics.sla.calendar import Calendar  # noqa: E402
from analytics.sla.engine import evaluate  # noqa: E402
from analytics.sla.policy import default_policy  # noqa: E402
from analytics.store import db

TARGET_SECONDS = 10.0


def policy():
    """The seed policy with its business calendar in the demo's zone and with US holidays."""
    base = default_policy(DEMO_TIMEZONE)
    cal = Calendar(**{**base.calendars[0].model_dump(), "country": DEMO_HOLIDAY_COUNTRY})
    return base.model_copy(update={"calendars": [cal]})


def plain(con, as_of: datetime) -> float:
    start = time.perf_counter()
    frame = con.cursor().execute(
        "SELECT ticket_id, date_diff('minute', opened_at, coalesce(resolved_at, ?)) AS minutes FROM tickets",
        [as_of]).df()
    seconds = time.perf_counter() - start
    assert len(frame)
    return seconds


def engine(con, as_of: datetime, pol) -> tuple[float, int, dict]:
    start = time.perf_counter()
    frame = evaluate(con, as_of=as_of, policies=[pol])
    seconds = time.perf_counter() - start
    summary = {m: frame[f"{m}_status"].value_counts().to_dict() for m in ("response", "resolution")}
    summary["paused tickets"] = int((frame["paused_minutes"] > 0).sum())
    return seconds, len(frame), summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--db", help="an existing store holding the demo (skips generating and loading)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="hypercare-bench-sla-") as tmp:
        path = args.db or str(Path(tmp) / "sla.duckdb")
        con = db.connect(path)
        if not args.db:
            start = time.perf_counter()
            load_demo(con, n_tickets=args.tickets, actor=DEMO_OPERATOR)
            print(f"loaded {args.tickets:,} demo tickets with history in {time.perf_counter() - start:.1f} s")
        n_hist = con.execute("SELECT count(*) FROM status_history").fetchall()[0][0]
        as_of = con.execute("SELECT max(event_time) FROM status_history").fetchall()[0][0] or datetime(2026, 11, 21)
        pol = policy()
        plain_s, engine_s = [], []
        for _ in range(args.runs):  # interleaved, so background load hits both alike
            plain_s.append(plain(con, as_of))
            seconds, n, summary = engine(con, as_of, pol)
            engine_s.append(seconds)
        p, e = statistics.median(plain_s), statistics.median(engine_s)
        print(f"tickets {n:,} · status history rows {n_hist:,} · as_of {as_of:%Y-%m-%d %H:%M} UTC")
        print(f"plain 24x7 elapsed query: {p:.2f} s (median of {args.runs})")
        print(f"SLA evaluation (business calendar, US holidays, pauses): {e:.2f} s (median of {args.runs})")
        print(f"ratio: {e / p:.1f}x · target ≤ {TARGET_SECONDS:.0f} s: {'met' if e <= TARGET_SECONDS else 'MISSED'}")
        for key, value in summary.items():
            print(f"  {key}: {value}")
        con.close()


if __name__ == "__main__":
    main()
