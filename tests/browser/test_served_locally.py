"""Everything a page needs comes from the app's own server (issue #14 item 12).

A dashboard that fetched fonts, icons or scripts from a third-party host would tell that host
who opens it and when, and would break on a network without the internet. Every request the
browser makes while a person walks through every page goes to the app's own origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.driving import assert_no_exception, go_to, open_app
from tests.browser.test_app_browser import PAGE_TITLES

pytestmark = pytest.mark.browser

# Schemes that never leave the browser.
_LOCAL_SCHEMES = ("data", "blob", "about", "chrome-extension")


def test_every_request_goes_to_the_apps_own_origin(new_session, streamlit_server):
    page = new_session()
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_app(page)
    for title in PAGE_TITLES:
        go_to(page, title)
        assert_no_exception(page)
    # The pages' fonts and icons are loaded by now: the page text is drawn in them.
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    own = urlsplit(streamlit_server).netloc
    elsewhere = sorted({u for u in requests
                        if urlsplit(u).scheme not in _LOCAL_SCHEMES and urlsplit(u).netloc != own})
    assert requests, "the browser made no request at all: the listener did not run"
    assert any("/static/" in u for u in requests), "no static asset was requested from the app"
    assert not elsewhere, f"requests to other hosts: {elsewhere}"


def test_local_mode_refuses_a_request_forwarded_by_a_proxy(browser, streamlit_server, screenshots, request):
    """127.0.0.1 is no guard when a proxy on the same machine forwards the network to it: the
    WebSocket's X-Forwarded-For (what nginx and Caddy add) gets the refusal, not the pages."""
    from tests.browser.conftest import page_factory

    def through_a_proxy(context) -> None:
        context.set_extra_http_headers({"X-Forwarded-For": "203.0.113.9"})

    with page_factory(browser, streamlit_server, screenshots, request, prepare=through_a_proxy) as open_page:
        page = open_page()
        open_app(page)
        expect(page.get_by_text("this request came through a reverse proxy")).to_be_visible()
        expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)
        page.screenshot(path=screenshots / "local-mode-behind-a-proxy.png")
