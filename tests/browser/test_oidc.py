"""Shared mode in a real browser against a real OpenID Connect provider on 127.0.0.1.

The provider is `oidc-provider-mock` (a Flask app) on a thread of this test process; the
dashboard is `streamlit run app.py` with a secrets file whose [auth] points at it. Each
person signs in on the provider's own authorization form (one button per predefined user),
so the whole st.login round trip runs: authorization request, code, token exchange, ID-token
check, identity cookie.
"""

from __future__ import annotations

import contextlib
import threading

import oidc_provider_mock
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect

from tests.browser.conftest import UI_TIMEOUT_MS, VIEWPORT, launch_streamlit

# Authlib warns about its own deprecated modules (used by the mock provider and Streamlit).
pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# sub -> claims. "roles" is the claim Hypercare reads by default (docs/auth.md).
USERS = {
    "alice": {"name": "Alice Admin", "email": "alice@example.org", "roles": ["admin"]},
    "vera": {"name": "Vera Viewer", "email": "vera@example.org", "roles": ["viewer"]},
    "ana": {"name": "Ana Analyst", "email": "ana@example.org", "roles": ["analyst"]},
    "sam": {"name": "Sam Approver", "email": "sam@example.org", "roles": ["approver"]},
    "nina": {"name": "Nina Norole", "email": "nina@example.org"},
}
SECRETS = """
[auth]
redirect_uri = "http://127.0.0.1:{port}/oauth2callback"
cookie_secret = "browser-test-cookie-secret-0123456789"
client_id = "hypercare-browser-test"
client_secret = "any-secret-the-mock-accepts"
server_metadata_url = "%s/.well-known/openid-configuration"
"""


@pytest.fixture(scope="module")
def idp():
    """Base URL of the OpenID provider, serving the predefined USERS."""
    app = oidc_provider_mock.app(
        user_claims=[oidc_provider_mock.User(sub=sub, claims=claims) for sub, claims in USERS.items()])
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture(scope="module")
def shared_server(idp, tmp_path_factory):
    """Base URL of the dashboard in shared mode, signing in through `idp`."""
    with launch_streamlit(tmp_path_factory.mktemp("oidc"), secrets=SECRETS % idp) as (base, _port):
        yield base


@pytest.fixture
def session(browser, shared_server, screenshots, request):
    """Factory: a new browser context (own cookies: own person) on the shared dashboard."""
    expect.set_options(timeout=UI_TIMEOUT_MS)
    contexts = []

    def open_page() -> Page:
        context = browser.new_context(viewport=VIEWPORT, base_url=shared_server)
        context.set_default_timeout(UI_TIMEOUT_MS)
        # The provider's form links a stylesheet on a CDN; this machine is offline.
        context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())
        contexts.append(context)
        return context.new_page()

    yield open_page
    failed = getattr(request.node, "rep_call", None)
    for i, context in enumerate(contexts):
        if failed is not None and failed.failed and context.pages:
            with contextlib.suppress(Exception):
                context.pages[0].screenshot(path=screenshots / f"FAILED-{request.node.name}-{i}.png")
        context.close()


def wait_until_idle(page: Page) -> None:
    expect(page.get_by_test_id("stApp")).to_have_attribute("data-test-script-state", "notRunning")


def sign_in_button(page: Page):
    return page.get_by_role("button", name="Sign in", exact=True)


def sign_in(page: Page, sub: str, idp: str) -> None:
    """From the gate, through the provider's form, back to the dashboard as `sub`."""
    page.goto("/")
    sign_in_button(page).click()
    page.wait_for_url(f"{idp}/oauth2/authorize**")
    if sub in USERS:
        page.get_by_role("button", name=sub, exact=True).click()
    else:  # a person the provider knows only by the sub typed on its form
        page.get_by_placeholder("sub").fill(sub)
        page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_test_id("stSidebar").get_by_text("Signed in as")).to_be_visible()
    wait_until_idle(page)


def sidebar_text(page: Page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


# A page URL first: the first run of a server process on a page URL runs the page file
# without app.py (Streamlit's pages/ wrapper), so the page's own start must gate too.
@pytest.mark.parametrize("path", ["/settings", "/", "/upload"])
def test_no_page_before_sign_in(session, path):
    page = session()
    page.goto(path)
    expect(sign_in_button(page)).to_be_visible()
    wait_until_idle(page)
    body = page.locator("body").inner_text()
    assert "Sign in with your organisation's account" in body
    # nothing of the dashboard: no navigation, no filter bar, no page content, no banner
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert "Filters" not in body and "Local mode" not in body
    assert page.get_by_test_id("stMetric").count() == 0


def test_sign_in_shows_who_and_sign_out_returns_to_the_gate(session, idp, screenshots):
    page = session()
    sign_in(page, "alice", idp)
    side = sidebar_text(page)
    assert "Alice Admin <alice@example.org>" in side and "Roles: admin" in side
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    expect(page.get_by_test_id("stMetric").first).to_be_visible()  # the Overview's cards
    assert "Local mode" not in page.locator("body").inner_text()
    page.screenshot(path=screenshots / "oidc-signed-in.png")

    page.get_by_role("button", name="Sign out").click()
    # Streamlit ends the provider's session too (end_session_endpoint); the mock asks first.
    page.wait_for_url(f"{idp}/oauth2/end_session**")
    page.get_by_role("button", name="End session").click()
    expect(sign_in_button(page)).to_be_visible()
    page.goto("/")  # the identity cookie is gone: a fresh load is at the gate too
    expect(sign_in_button(page)).to_be_visible()
    assert page.get_by_test_id("stSidebarNav").count() == 0


def test_a_person_without_a_role_sees_no_page(session, idp):
    page = session()
    sign_in(page, "nina", idp)
    body = page.locator("body").inner_text()
    assert "has no Hypercare role" in body and "Nina Norole" in body
    assert page.get_by_test_id("stSidebarNav").count() == 0
    assert page.get_by_test_id("stMetric").count() == 0
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_roles_come_from_the_claim(session, idp):
    for sub, role in (("vera", "viewer"), ("sam", "approver")):
        page = session()
        sign_in(page, sub, idp)
        assert f"Roles: {role}" in sidebar_text(page)
        assert f"{USERS[sub]['name']} <{USERS[sub]['email']}>" in sidebar_text(page)
