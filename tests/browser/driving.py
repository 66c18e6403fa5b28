"""Driving the app in the browser tests: waiting for runs, moving between pages, opening lists."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

LIST_OPEN_TRIES = 4
LIST_OPEN_MS = 5_000


def wait_until_idle(page: Page) -> None:
    """Wait until the script run that the last action started has finished."""
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def open_app(page: Page, path: str = "/") -> None:
    page.goto(path)
    wait_until_idle(page)


def assert_no_exception(page: Page) -> None:
    """Fail at once, with Streamlit's own message, when the page shows an exception."""
    shown = page.get_by_test_id("stException")
    if shown.count():
        pytest.fail(f"the page shows an exception:\n{shown.first.inner_text()}")


def nav_link(page: Page, title: str) -> Locator:
    return page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)


def go_to(page: Page, title: str) -> None:
    nav_link(page, title).click()
    # The link turns current once the new page's run has started; then wait for its end.
    expect(nav_link(page, title)).to_have_attribute("aria-current", "page")
    wait_until_idle(page)


def open_list(page: Page, key: str) -> Locator:
    """Open the select box whose widget key is `key`; return the options of its open list.

    A rerun that lands while the list is open (a chart finishing, a fragment) closes it again,
    so the click is tried again when no option shows within a few seconds.
    """
    box = page.locator(f".st-key-{key}").get_by_role("combobox")
    options = page.get_by_role("option")
    for _ in range(LIST_OPEN_TRIES - 1):
        wait_until_idle(page)
        box.scroll_into_view_if_needed()
        box.click()
        try:
            expect(options.first).to_be_visible(timeout=LIST_OPEN_MS)
            return options
        except AssertionError:
            page.keyboard.press("Escape")
    wait_until_idle(page)
    box.click()
    expect(options.first).to_be_visible()
    return options
