"""The dashboard and the command line on one store at once: ten people in their browsers while
the CLI uploads into a new engagement, computes KPIs and writes a report — no error on any side,
no lost upload."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import REPO_ROOT, launch_streamlit, page_factory
from tests.browser.driving import assert_no_exception, open_app, wait_until_idle
from tests.browser.test_app_browser import as_count, tickets_value

pytestmark = pytest.mark.browser
PEOPLE = 10


def _cli(db: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analytics", *argv, "--db", str(db)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def test_ten_people_and_the_cli_share_one_store(browser, screenshots, request, tmp_path, real_data):
    with launch_streamlit(tmp_path) as (base, _port), \
            page_factory(browser, base, screenshots, request) as open_page:
        db = tmp_path / "browser.duckdb"
        pages = [open_page() for _ in range(PEOPLE)]
        for page in pages:
            open_app(page)
        before = as_count(tickets_value(pages[0]).inner_text())

        results: dict[str, subprocess.CompletedProcess] = {}

        def command(name: str, *argv: str) -> None:
            results[name] = _cli(db, *argv)

        jobs = [threading.Thread(target=command, args=args) for args in (
            # The demo engagement takes no uploads: real exports go into an engagement of their own.
            ("ingest", "ingest", str(real_data / "helpdesk-italian" / "helpdesk_finale.csv.gz"), "--json",
             "--engagement", "helpdesk", "--create", "--name", "Helpdesk"),
            ("kpis", "kpis", "--json", "--engagement", "demo"),
            ("report", "report", "--month", "2026-10", "--format", "csv", "--out", str(tmp_path / "r.zip"),
             "--engagement", "demo"),
        )]
        for job in jobs:
            job.start()
        # Meanwhile every person changes a filter and reads the answer.
        for i, page in enumerate(pages):
            page.locator(".st-key-f_severity").get_by_role("combobox").click()
            page.get_by_role("option", name=f"SEV-{i % 4 + 1}", exact=True).click()
            page.keyboard.press("Escape")
        for page in pages:
            wait_until_idle(page)
            assert_no_exception(page)
            expect(tickets_value(page)).to_have_text(re.compile(r"\d"))
        for job in jobs:
            job.join()
        for name, done in results.items():
            assert done.returncode == 0, f"{name}: {done.stderr}"
            assert "Traceback" not in done.stderr
        assert (tmp_path / "r.zip").stat().st_size > 0

        # The upload is there for everyone, at their next page load; the demo is as it was.
        for page in pages[:3]:
            open_app(page, "/?engagement=helpdesk")
            assert_no_exception(page)
            expect(tickets_value(page)).to_have_text("4,580")
        open_app(pages[3], "/")
        assert_no_exception(pages[3])
        expect(tickets_value(pages[3])).to_have_text(f"{before:,}")
        pages[0].screenshot(path=screenshots / "shared-store-after-cli-upload.png")
