"""Shared mode in a real browser against a real OpenID Connect provider on 127.0.0.1.

The provider is `oidc-provider-mock` (a Flask app) on a thread of this test process; the
dashboard is `streamlit run app.py` with a secrets file whose [auth] points at it. Each
person signs in on the provider's own authorization form (one button per predefined user),
so the whole st.login round trip runs: authorization request, code, token exchange, ID-token
check, identity cookie.
"""

from __future__ import annotations

import csv
import io
import re
import threading
from pathlib import Path

import oidc_provider_mock
import pytest
import werkzeug.serving
from playwright.sync_api import Page, expect

from analytics.demo.loader import load_demo
from analytics.store import db
from analytics.store.auth import local_operator
from tests.browser.conftest import launch_streamlit, page_factory
from tests.browser.driving import open_list, wait_until_idle

# Authlib warns about its own deprecated modules (used by the mock provider and Streamlit).
pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

# sub -> claims. "roles" is the claim Hypercare reads by default (docs/auth.md).
SAMPLE_CSV = Path(__file__).resolve().parents[1] / "fixtures" / "servicenow_event_log_sample.csv"
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
    """Base URL of the dashboard in shared mode, signing in through `idp`.

    The demo data is loaded before the server starts, so that no test's first sign-in waits
    for the first-start demo load (slow on a busy machine).
    """
    tmp = tmp_path_factory.mktemp("oidc")
    con = db.connect(tmp / "browser.duckdb")  # the file launch_streamlit points the app at
    try:
        load_demo(con, n_tickets=2000, actor=local_operator("demo"))
        db.set_setting(con, "demo_autoloaded", "before the browser tests")
    finally:
        con.close()
    with launch_streamlit(tmp, secrets=SECRETS % idp) as (base, _port):
        yield base


@pytest.fixture
def session(browser, shared_server, screenshots, request):
    """Factory: a new browser context (own cookies: own person) on the shared dashboard."""
    def offline(context) -> None:
        # The provider's form links a stylesheet on a CDN; this machine is offline.
        context.route("https://cdn.jsdelivr.net/**", lambda route: route.abort())

    with page_factory(browser, shared_server, screenshots, request, prepare=offline) as open_page:
        yield open_page


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
@pytest.mark.parametrize("path", ["/settings", "/", "/upload"], ids=["settings", "home", "upload"])
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


# --- roles in the browser (phase 2: enforced in the core, shown in the UI) --------------------


def nav_to(page: Page, title: str) -> None:
    link = page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True)
    link.click()
    expect(link).to_have_attribute("aria-current", "page")
    wait_until_idle(page)


def refusal(page: Page, text: str):
    return page.get_by_text(text, exact=False).first


def test_a_denied_action_for_each_role(session, idp, screenshots):
    vera = session()
    sign_in(vera, "vera", idp)
    nav_to(vera, "Upload & data")
    expect(refusal(vera, "Vera Viewer (viewer) may not upload ticket exports or registers: "
                         "needs analyst or admin")).to_be_visible()
    expect(vera.get_by_role("button", name="Load demo data")).to_be_disabled()

    ana = session()
    sign_in(ana, "ana", idp)
    nav_to(ana, "Settings")
    expect(refusal(ana, "Ana Analyst (analyst) may not change settings: needs admin")).to_be_visible()
    expect(ana.get_by_role("button", name="Save settings")).to_be_disabled()

    sam = session()
    sign_in(sam, "sam", idp)
    nav_to(sam, "Settings")
    expect(refusal(sam, "Sam Approver (approver) may not change KPI targets: needs admin")).to_be_visible()
    expect(sam.get_by_role("button", name="Save KPI targets")).to_be_disabled()

    # An admin who is not an approver sees why the sign-off forms are closed (the core refuses
    # such a call anyway: tests/test_auth_enforcement.py).
    alice = session()
    sign_in(alice, "alice", idp)
    nav_to(alice, "Governance")
    alice.get_by_role("tab", name="Sign-off").click()
    wait_until_idle(alice)
    expect(refusal(alice, "Alice Admin (admin) may not record or revoke sign-offs: needs approver").first
           ).to_be_visible()
    expect(alice.get_by_role("button", name="Record sign-off")).to_be_disabled()
    expect(alice.get_by_role("button", name="Revoke sign-off")).to_be_disabled()
    alice.screenshot(path=screenshots / "oidc-admin-refused-signoff.png")


def test_two_sessions_with_different_people_keep_their_own_filters(session, idp):
    vera, ana = session(), session()
    sign_in(vera, "vera", idp)
    sign_in(ana, "ana", idp)
    for page, severity in ((vera, "SEV-1"), (ana, "SEV-3")):
        open_list(page, "f_severity")
        page.get_by_role("option", name=severity, exact=True).click()
        page.keyboard.press("Escape")
        expect(page).to_have_url(re.compile(rf"[?&]severity={severity}(&|$)"))
        wait_until_idle(page)
    # Both sessions run again (another page): each keeps its own person and its own filter.
    for page, severity, other, who in ((vera, "SEV-1", "SEV-3", "Vera Viewer"),
                                       (ana, "SEV-3", "SEV-1", "Ana Analyst")):
        nav_to(page, "KPI trends")
        box = page.locator(".st-key-f_severity")
        expect(box).to_contain_text(severity)
        expect(box).not_to_contain_text(other)
        assert who in sidebar_text(page)
        assert re.search(rf"[?&]severity={severity}(&|$)", page.url)


def test_a_viewer_cannot_change_a_policy_by_any_path(session, idp):
    vera = session()
    sign_in(vera, "vera", idp)
    nav_to(vera, "Settings")
    expect(refusal(vera, "Vera Viewer (viewer) may not change SLA policies: needs admin")).to_be_visible()
    # The versions stay readable and exportable; the editor and the TOML import are not there.
    expect(vera.get_by_role("button", name="Export this version as TOML")).to_be_visible()
    assert vera.get_by_role("button", name="Save as new version").count() == 0
    assert vera.get_by_text("Import a policy TOML as a new version").count() == 0
    save_targets = vera.get_by_role("button", name="Save KPI targets")
    expect(save_targets).to_be_disabled()
    # A crafted request: re-enable the disabled button in the page and press it. Whether or
    # not the browser sends it, no KPI target (a policy setting) may change.
    save_targets.evaluate("b => { b.disabled = false; b.removeAttribute('disabled'); b.click(); }")
    wait_until_idle(vera)
    body = vera.locator("body").inner_text()
    assert "KPI targets saved" not in body

    alice = session()
    sign_in(alice, "alice", idp)
    trail = audit_csv(alice)
    assert not [r for r in trail if "Vera" in r["actor"]], trail


def audit_csv(page: Page) -> list[dict[str, str]]:
    nav_to(page, "Governance")
    page.get_by_role("tab", name="Audit trail").click()
    wait_until_idle(page)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download audit trail (CSV)").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def test_audit_records_name_the_signed_in_person(session, idp):
    sam = session()
    sign_in(sam, "sam", idp)
    nav_to(sam, "Governance")
    sam.get_by_role("tab", name="Sign-off").click()
    wait_until_idle(sam)
    sam.locator(".st-key-gov_so_name").get_by_role("textbox").fill("Dana Director")
    sam.get_by_role("button", name="Record sign-off").click()
    wait_until_idle(sam)

    ana = session()
    sign_in(ana, "ana", idp)
    nav_to(ana, "Upload & data")
    ana.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(SAMPLE_CSV)
    expect(ana.get_by_test_id("stFileChipName")).to_have_attribute("title", SAMPLE_CSV.name)
    wait_until_idle(ana)
    ana.get_by_role("button", name="Load into Hypercare").click()
    expect(ana.get_by_test_id("stAlert").filter(has_text=re.compile("inserted", re.IGNORECASE))).to_be_visible()

    trail = audit_csv(sam)
    by_action = {(r["action"], r["actor"]) for r in trail}
    assert ("signoff.record", "Sam Approver <sam@example.org>") in by_action, trail
    assert ("upload", "Ana Analyst <ana@example.org>") in by_action, trail
    signed = [r for r in trail if r["action"] == "signoff.record"]
    assert '"name":"Dana Director"' in signed[0]["detail"]
