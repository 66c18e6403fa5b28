"""Two engagements, two real exports: every page, the CLI and the PDF show each its own data only
(issue #13). One engagement is made through the Upload page, the other by the CLI."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from analytics.store import engagements
from tests.browser.conftest import REPO_ROOT, launch_streamlit, page_factory
from tests.browser.driving import assert_no_exception, go_to, open_app, wait_until_idle
from tests.browser.test_app_browser import into_new_engagement, name_new_engagement, tickets_value

pytestmark = pytest.mark.browser

HELPDESK = ("helpdesk-italian", "helpdesk_finale.csv.gz")  # 4,580 tickets (its README)
JIRA = ("jira-public-dataset-subset", "jira_issues_timeestimate_subset.csv.gz")  # 2,480 issues
FILTERED_PAGES = ["Overview", "SLA compliance", "KPI trends", "Recurrence", "Governance"]


def _cli(db: Path, *argv: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "analytics", *argv, "--db", str(db)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "Traceback" not in done.stderr, f"{argv}: {done.stderr}"
    return done


def _distinct_tickets(db: Path, slug: str) -> int:
    """The engagement's tickets, counted on its own store file (not through the app)."""
    from analytics.store import sharing

    with sharing.reading(engagements.resolve(db, slug).path) as con:
        return con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]


def _caption(page: Page):
    return page.get_by_test_id("stCaptionContainer").filter(has_text=re.compile(r"^Engagement: ")).first


def _every_page_shows(page: Page, name: str, n: int, window: str) -> None:
    for title in FILTERED_PAGES:
        go_to(page, title)
        assert_no_exception(page)
        expect(_caption(page)).to_contain_text(f"Engagement: {name} · Filters: none (all tickets) · {n:,} tickets")
    expect(page.get_by_text(re.compile(re.escape(f"hypercare window {window}")))).to_be_visible()


def test_two_engagements_each_show_their_own_data_everywhere(browser, screenshots, request, tmp_path, real_data):
    db = tmp_path / "browser.duckdb"
    with launch_streamlit(tmp_path) as (base, _port), \
            page_factory(browser, base, screenshots, request) as open_page:
        page = open_page()
        # The first through the Upload page, into a new engagement.
        open_app(page)
        go_to(page, "Upload & data")
        into_new_engagement(page)
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(real_data.joinpath(*HELPDESK))
        wait_until_idle(page)
        name_new_engagement(page, "Helpdesk go-live")
        page.get_by_role("button", name="Load into Hypercare").click()
        expect(page.get_by_test_id("stAlert").filter(has_text="inserted")).to_be_visible(timeout=120_000)
        assert_no_exception(page)
        # The second by the CLI, with its own go-live.
        _cli(db, "ingest", str(real_data.joinpath(*JIRA)), "--engagement", "jira", "--create",
             "--name", "Jira go-live", "--go-live", "2015-03-02")

        helpdesk, jira = engagements.resolve(db, "helpdesk-go-live"), engagements.resolve(db, "jira")
        own = {"helpdesk-go-live": _distinct_tickets(db, "helpdesk-go-live"), "jira": _distinct_tickets(db, "jira")}
        assert own == {"helpdesk-go-live": 4580, "jira": 2480}
        windows = {}
        for e in (helpdesk, jira):
            d = engagements.details(e)
            windows[e.slug] = f"{d.go_live:%Y-%m-%d} – {d.window_end:%Y-%m-%d}"
        assert windows["jira"] == "2015-03-02 – 2015-03-16"

        # Every page of each shows its data only, and its own hypercare window.
        open_app(page, "/?engagement=helpdesk-go-live")
        _every_page_shows(page, "Helpdesk go-live", own["helpdesk-go-live"], windows["helpdesk-go-live"])
        page.screenshot(path=screenshots / "engagement-helpdesk-governance.png")

        # Switching in the sidebar switches everything, and the address with it.
        pick = page.locator(".st-key-engagement_pick").get_by_role("combobox")
        pick.click()
        page.get_by_role("option", name="Jira go-live").click()
        wait_until_idle(page)
        expect(page).to_have_url(re.compile(r"[?&]engagement=jira(&|$)"))
        _every_page_shows(page, "Jira go-live", own["jira"], windows["jira"])
        page.screenshot(path=screenshots / "engagement-jira-governance.png")

        # A bookmarked address reopens the same engagement, in a new session.
        again = open_page()
        open_app(again, "/?engagement=helpdesk-go-live")
        expect(again.locator(".st-key-engagement_pick").get_by_role("combobox")).to_have_value("Helpdesk go-live")
        expect(tickets_value(again)).to_have_text(f"{own['helpdesk-go-live']:,}")

    # The CLI and the PDF of each: its own figures and name only.
    for e in (helpdesk, jira):
        other = jira if e is helpdesk else helpdesk
        kpis = json.loads(_cli(db, "kpis", "--engagement", e.slug, "--json").stdout)
        assert next(k for k in kpis if k["group"] == "All")["tickets"] == own[e.slug]
        sla = _cli(db, "sla", "--engagement", e.slug, "--json").stdout
        assert len({r["ticket_id"] for r in json.loads(sla)}) == own[e.slug]
        closure = json.loads(_cli(db, "closure", "--engagement", e.slug, "--json").stdout)
        assert closure, "no closure criteria evaluated"
        with_dates = _cli(db, "tickets", "--engagement", e.slug, "--json").stdout
        month = min(t["opened_at"] for t in json.loads(with_dates) if t.get("opened_at"))[:7]
        pdf = tmp_path / f"{e.slug}.pdf"
        _cli(db, "report", "--engagement", e.slug, "--month", month, "--out", str(pdf))
        text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.read_bytes())).pages)
        assert e.name in text and other.name not in text
        assert f"{e.name} ({e.slug})" in text
