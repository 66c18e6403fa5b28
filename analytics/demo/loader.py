"""Loading the seeded demo data through the real ingest path (so the demo tests ingest too)."""

from __future__ import annotations

import re
import tempfile
from datetime import date, timedelta
from pathlib import Path

from analytics import uploads
from analytics.demo import generator
from analytics.demo.calendar import DEMO_HOLIDAY_COUNTRY, DEMO_TIMEZONE
from analytics.governance import signoff
from analytics.ingest.pipeline import IngestResult
from analytics.ingest.profiles import find_profile
from analytics.sla.policy import business_calendar, default_policy, policy_versions, save_policy
from analytics.store import auth, db, engagements

DEMO_POLICY_VERSION = "demo-us-business-hours"
# Who the demo's own bookkeeping (its policy, its made-up sign-offs) and the app's first-start
# load are recorded as; a person's load passes their own Identity.
DEMO_OPERATOR = auth.local_operator("demo")
# Half the required roles signed in the window's last week: the scorecard's "at risk" example.
DEMO_SIGNOFFS = (  # role, signer, days before the window ends, comment
    ("Support Lead", "Priya Raman", 6, "Backlog back to baseline; the service desk runbook is handed over."),
    ("Operations Lead", "Tom Becker", 3, "Monitoring and on-call rota in place since week 4."),
)
# How load_demo names its uploads and the profiles it loads them with: what tells a demo upload.
_DEMO_FILE = re.compile(r"^demo-\d+-seed\d+-(tickets|history)\.csv$")
_DEMO_PROFILES = ("hypercare-tickets", "hypercare-history")


def is_demo_upload(file_name: str, profile_name: str | None) -> bool:
    return bool(_DEMO_FILE.match(file_name or "")) and profile_name in _DEMO_PROFILES


def demo_policy():
    """The seed targets on the demo's own business calendar (New York hours, US holidays):
    the generator schedules its responders on that calendar, so its breaches fall where a
    real team's would — around weekends and US public holidays."""
    calendar = business_calendar(DEMO_TIMEZONE).model_copy(update={"country": DEMO_HOLIDAY_COUNTRY})
    return default_policy(DEMO_TIMEZONE).model_copy(
        update={"version": DEMO_POLICY_VERSION, "effective_from": date(1970, 1, 1), "calendars": [calendar]})


def load_demo(con, n_tickets: int = 5000, seed: int = 42, *, actor: auth.Identity) -> list[IngestResult]:
    """Generate `n_tickets` demo tickets with their status history and upsert them. A store
    without its own SLA policy, go-live, hypercare window or sign-offs gets the demo's: the
    policy version (named as such), DEFAULT_GO_LIVE, DEMO_WINDOW_DAYS and DEMO_SIGNOFFS.

    `actor` (an auth.Identity) loads them: an upload, analyst or admin; the first-start load
    and the CLI's are DEMO_OPERATOR."""
    actor = auth.require(actor, auth.Permission.UPLOAD)
    if policy_versions(con).empty:
        save_policy(con, demo_policy(), who=DEMO_OPERATOR)
    if db.get_setting(con, "go_live_date") is None:
        # The demo has a go-live, so the Overview's hypercare view has something to show.
        db.set_setting(con, "go_live_date", generator.DEFAULT_GO_LIVE.isoformat())
    if db.get_setting(con, engagements.WINDOW_SETTING) is None:
        db.set_setting(con, engagements.WINDOW_SETTING, str(generator.DEMO_WINDOW_DAYS))
    with tempfile.TemporaryDirectory(prefix="hypercare-demo-") as d:
        tickets_csv, history_csv = generator.write_csvs(Path(d), n_tickets, seed)
        name = f"demo-{n_tickets}-seed{seed}"
        results = [
            uploads.load(con, tickets_csv, name=f"{name}-tickets.csv", profile=find_profile("hypercare-tickets"),
                         uploaded_by=actor, max_bytes=2**40),
            uploads.load(con, history_csv, name=f"{name}-history.csv", profile=find_profile("hypercare-history"),
                         uploaded_by=actor, max_bytes=2**40),
        ]
    _sign_off_some(con)
    return results


def _sign_off_some(con) -> None:
    """Record DEMO_SIGNOFFS, dated before the hypercare window ends, in a store holding only
    demo uploads and no sign-off event yet (not on a second load)."""
    end = engagements.details(None, con).window_end
    uploads = con.cursor().execute("SELECT file_name, profile_name FROM datasets").fetchall()
    # made-up sign-offs must never land in a real engagement, whoever loads the demo there
    if end is None or not signoff.history(con).empty or not all(is_demo_upload(f, p) for f, p in uploads):
        return
    for role, name, days_before, comment in DEMO_SIGNOFFS:
        # never after today: a sign-off records something that has happened
        signoff.record(con, role, name, min(end - timedelta(days=days_before), date.today()), comment,
                       actor=DEMO_OPERATOR)
