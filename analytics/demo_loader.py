"""Loading the seeded demo data through the real ingest path (so the demo tests ingest too)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from datetime import date

from . import auth, db, demo
from .ingest import IngestResult, ingest_file
from .profiles import find_profile
from .sla_policy import business_calendar, default_policy, policy_versions, save_policy

DEMO_POLICY_VERSION = "demo-us-business-hours"


def demo_policy():
    """The seed targets on the demo's own business calendar (New York hours, US holidays):
    the generator schedules its responders on that calendar, so its breaches fall where a
    real team's would — around weekends and US public holidays."""
    calendar = business_calendar(demo.DEMO_TIMEZONE).model_copy(update={"country": demo.DEMO_HOLIDAY_COUNTRY})
    return default_policy(demo.DEMO_TIMEZONE).model_copy(
        update={"version": DEMO_POLICY_VERSION, "effective_from": date(1970, 1, 1), "calendars": [calendar]})


def load_demo(con, n_tickets: int = 5000, seed: int = 42,
              actor: auth.Identity | str = "demo") -> list[IngestResult]:
    """Generate `n_tickets` demo tickets with their status history and upsert them; a store
    with no SLA policy of its own also gets the demo's policy version (named as such).

    `actor` loads them (an upload: analyst or admin); the first-start load is "demo"."""
    actor = auth.require(actor, auth.Permission.UPLOAD)
    if policy_versions(con).empty:
        save_policy(con, demo_policy(), who="demo")
    if db.get_setting(con, "go_live_date") is None:
        # The demo has a go-live, so the Overview's hypercare view has something to show.
        db.set_setting(con, "go_live_date", demo.DEFAULT_GO_LIVE.isoformat())
    with tempfile.TemporaryDirectory(prefix="hypercare-demo-") as d:
        tickets_csv, history_csv = demo.write_csvs(Path(d), n_tickets, seed)
        name = f"demo-{n_tickets}-seed{seed}"
        results = [
            ingest_file(con, tickets_csv, name=f"{name}-tickets.csv", profile=find_profile("hypercare-tickets"),
                        uploaded_by=actor, max_bytes=2**40),
            ingest_file(con, history_csv, name=f"{name}-history.csv", profile=find_profile("hypercare-history"),
                        uploaded_by=actor, max_bytes=2**40),
        ]
    return results
