"""The Governance page in Chromium: the monthly PDF and CSV pack download, and a sign-off."""

from __future__ import annotations

import io
import zipfile

import pytest
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from tests.browser.driving import assert_no_exception, go_to, open_app, open_list, wait_until_idle

pytestmark = pytest.mark.browser


def _open_tab(page: Page, name: str) -> None:
    page.get_by_role("tab", name=name, exact=True).click()
    wait_until_idle(page)
    assert_no_exception(page)


def _choose(page: Page, key: str, option: str) -> None:
    open_list(page, key)
    page.get_by_role("option", name=option, exact=True).click()
    wait_until_idle(page)


def _build_and_download(page: Page, fmt: str, tmp_path, name: str):
    page.locator(".st-key-gov_report_format").get_by_text(fmt, exact=True).click()
    wait_until_idle(page)
    page.get_by_role("button", name="Build report").click()
    wait_until_idle(page)
    assert_no_exception(page)
    button = page.locator(".st-key-gov_report_download").get_by_role("button")
    expect(button).to_contain_text(fmt)
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename == name
    path = tmp_path / name
    download.save_as(path)
    return path


def test_monthly_pdf_and_csv_pack_download_from_the_governance_page(page: Page, tmp_path, screenshots):
    open_app(page)
    go_to(page, "Governance")
    _open_tab(page, "Monthly report")
    _choose(page, "gov_report_month", "2026-10")

    # The file name, the title and the provenance say whose report it is: the Demo engagement's.
    pdf = _build_and_download(page, "PDF report", tmp_path, "hypercare-report-demo-2026-10.pdf")
    page.screenshot(path=screenshots / "governance-report.png")
    reader = PdfReader(pdf)
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Ready to exit hypercare?" in reader.pages[0].extract_text()
    for heading in ("KPI detail", "SLA compliance", "Closure", "Post-incident", "Definitions", "Provenance"):
        assert heading.lower() in text.lower(), heading
    assert "2026-10" in text and "Demo (demo)" in text
    assert sum(len(p.images) for p in reader.pages) >= 1  # charts drawn, not only their tables

    pack = _build_and_download(page, "CSV data pack (zip)", tmp_path, "hypercare-report-demo-2026-10.zip")
    with zipfile.ZipFile(io.BytesIO(pack.read_bytes())) as z:
        names = z.namelist()
    assert len(names) >= 5 and all(n.endswith(".csv") for n in names)


def test_a_sign_off_recorded_in_the_browser_shows_in_the_audit_trail(page: Page):
    open_app(page)
    go_to(page, "Governance")
    _open_tab(page, "Sign-off")
    _choose(page, "gov_so_role", "Support Lead")
    page.locator(".st-key-gov_so_name input").fill("Grace Hopper")
    page.locator(".st-key-gov_so_comment textarea").fill("Support queue reviewed")
    page.get_by_role("button", name="Record sign-off").click()
    wait_until_idle(page)
    assert_no_exception(page)
    _open_tab(page, "Audit trail")
    expect(page.get_by_text("Audit chain verified")).to_be_visible()
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
    _open_tab(page, "Sign-off")
    expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
