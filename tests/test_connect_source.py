"""The Upload page's "Connect a source" section (issue #17), driven headless with AppTest against the
Statuspage test server; and sync.reset_watermark, the one change a person makes to a connector."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.connectors import sync
from analytics.connectors.base import SourceError, Watermark
from analytics.store import audit, auth, db
from tests.connectors.statuspage_server import serve, synthetic_incidents
from tests.helpers import app_using
from tests.test_auth_ui import AUTH
from ui import connect_source
from ui.connection import get_connection

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 60
N = 12  # incidents: one page of the manage API, a quick sync
KEY = "sk-live-Q7x9SECRETv2"  # the API key: never on the page
ENV = "HYPERCARE_STATUSPAGE_"
WATERMARK = "setting:connector.statuspage.watermark"


@pytest.fixture
def store(tmp_path, monkeypatch):
    """An engagement's store for the app, no secrets file and no connector variables but the test's."""
    prefixes = tuple(f"HYPERCARE_{n.upper()}_" for n in sync.CONNECTORS)
    for name in [k for k in os.environ if k.startswith(prefixes)]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HYPERCARE_SECRETS", str(tmp_path / "no-secrets.toml"))
    with app_using(tmp_path / "page.duckdb") as path:
        yield path


@pytest.fixture
def server(monkeypatch):
    """The Statuspage test server holding N incidents, configured through environment variables."""
    with serve(synthetic_incidents(N), api_key=KEY) as api:
        for key, value in api.config().items():
            monkeypatch.setenv(ENV + key.upper(), value)
        yield api


def page(user: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if user is not None:
        at.secrets["auth"] = AUTH
        at.user = user
    at.run()
    at.switch_page("pages/upload.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def everything(at: AppTest) -> str:
    """Every element the page sent (its protobuf text: labels, help, values, captions)."""
    out: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None:
            out.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def lines(at: AppTest, kind: str) -> list[str]:
    return [str(e.value).replace("\\", "") for e in getattr(at, kind)]


def tickets() -> int:
    return get_connection().cursor().execute("SELECT count(*) FROM tickets WHERE source = 'statuspage'").fetchall()[0][0]


def test_not_configured_names_the_keys_it_needs_and_no_value(store, monkeypatch):
    monkeypatch.setenv(ENV + "API_KEY", KEY)  # half of the manage API's pair
    at = page()
    shown = lines(at, "markdown")
    for label, name in (("ServiceNow", "servicenow"), ("Jira Cloud", "jira"), ("PagerDuty", "pagerduty"),
                        ("Statuspage", "statuspage")):
        assert any(line.startswith(f"**{label}** · :material/cancel: not configured — set `[connectors.{name}]` in "
                                   f"`.streamlit/secrets.toml` or `HYPERCARE_{name.upper()}_<KEY>`") for line in shown), (label, shown)
    needs = [c for c in lines(at, "markdown") if c.startswith("Keys it needs")]
    assert "Keys it needs: `base_url` — or `api_key` and `page_id`. Still missing: `page_id`." in needs
    assert "Keys it needs: `api_key`." in needs  # PagerDuty
    assert not [b for b in at.button if b.key and b.key.startswith("connect_")]
    assert KEY not in everything(at)


def test_a_configured_source_tests_syncs_shows_the_last_sync_and_resets(store, server, monkeypatch):
    monkeypatch.setenv(ENV + "INTERVAL_MINUTES", "30")
    at = page()
    assert any(m.startswith("**Statuspage** · :material/check_circle: configured") for m in lines(at, "markdown"))
    assert "**Last sync:** none yet — the first sync reads everything." in lines(at, "markdown")
    every = "every 30 minutes, as `interval_minutes` says the scheduler runs it"
    assert f"**Next run:** at the first scheduled sync ({every})" in lines(at, "markdown")

    click(at, "connect_test_statuspage")
    assert "Connection OK: Statuspage: page GitHub (manage API) answers" in lines(at, "success")

    click(at, "connect_sync_statuspage")
    assert tickets() == N
    said = lines(at, "success")
    assert any(f"{N} inserted" in s and "0 rejected" in s and "records read" in s for s in said), said
    who = auth.local_identity().label
    last = next(m for m in lines(at, "markdown") if m.startswith("**Last sync:**"))
    assert f"by {who} — :material/check_circle: OK — " in last and f"{N} inserted" in last
    started = sync.last_sync(get_connection(), "statuspage")["started_at"]
    assert any(m.startswith("**Next run:** ") and f"({every})" in m and "overdue" not in m
               and started[:10] in m for m in lines(at, "markdown"))
    # The uploads table, read from the page's new copy of the store, lists the synced files.
    uploads = next(t.value for t in at.dataframe if "file_name" in t.value.columns)
    assert "statuspage-incidents-sync.csv" in set(uploads["file_name"])
    first = sync.last_sync(get_connection(), "statuspage")["dataset_ids"][0]  # the tickets file, as after a load
    assert at.selectbox(key="rejects_dataset").value == at.selectbox(key="dq_scope").value == first

    click(at, "connect_sync_statuspage")  # incremental: nothing new
    assert tickets() == N
    assert any("0 inserted" in i and "(nothing new)" in i for i in lines(at, "info")), lines(at, "info")

    click(at, "connect_reset_statuspage")
    assert any("watermark reset" in s for s in lines(at, "success"))
    trail = audit.trail(get_connection(), action=audit.SETTING_CHANGE)
    assert trail[["actor", "object"]].values.tolist() == [[who, WATERMARK]]
    assert sync.watermark(get_connection(), "statuspage").updated_at is None
    click(at, "connect_sync_statuspage")  # reads everything again; changes nothing
    assert any(f"{N} unchanged" in i for i in lines(at, "info")), lines(at, "info")
    syncs = audit.trail(get_connection(), action=sync.SYNC)
    assert syncs["actor"].tolist() == [who] and syncs["object"].tolist() == ["source:statuspage"]
    assert KEY not in everything(at)


def test_a_refused_key_is_told_in_one_line_and_recorded_as_the_last_sync(store, server, monkeypatch):
    monkeypatch.setenv(ENV + "API_KEY", "wrong-" + KEY)
    at = click(page(), "connect_test_statuspage")
    errors = lines(at, "error")
    assert any(e.startswith("Connection test failed: Statuspage: GET /v1/pages/testpage: HTTP 401") for e in errors), errors
    assert "**Next run:** " + connect_source.SCHEDULED in lines(at, "markdown")

    at = click(at, "connect_sync_statuspage")
    errors = lines(at, "error")
    assert any(e.startswith("Statuspage: the sync failed and stored nothing: Statuspage: GET") and "HTTP 401" in e
               for e in errors), errors
    assert not at.exception and tickets() == 0
    last = next(m for m in lines(at, "markdown") if m.startswith("**Last sync:**"))
    assert ":material/error: failed — Statuspage: GET" in last and "HTTP 401" in last
    assert KEY not in everything(at)


@pytest.mark.parametrize("roles", [["viewer"], ["analyst"]])
def test_only_who_may_upload_syncs_and_only_admins_reset(store, server, roles):
    user = {"is_logged_in": True, "sub": "p", "name": "Pat", "email": "pat@x.org", "roles": roles}
    at = page(user)
    captions = lines(at, "caption")
    assert at.button(key="connect_sync_statuspage").disabled is (roles == ["viewer"])
    assert any("may not upload ticket exports" in c for c in captions) is (roles == ["viewer"])
    assert not [b for b in at.button if b.key == "connect_reset_statuspage"]
    assert any("may not change settings" in c for c in captions)
    click(at, "connect_test_statuspage")  # reading the source changes nothing: anyone may test
    assert any("Connection OK" in s for s in lines(at, "success"))
    if roles == ["analyst"]:
        click(at, "connect_sync_statuspage")
        assert tickets() == N
        assert sync.last_sync(get_connection(), "statuspage")["started_by"] == "Pat <pat@x.org>"
    else:
        # The button is a courtesy (AppTest, like a browser, cannot click it); the core refuses anyway.
        viewer = auth.Identity(name="Pat", email="pat@x.org", roles=frozenset(roles), mode="shared")
        with pytest.raises(auth.PermissionDenied, match="may not upload"):
            sync.begin("statuspage", viewer)
        assert tickets() == 0


def test_reset_watermark_is_for_admins_and_audited(tmp_path):
    con = db.connect(tmp_path / "store.duckdb")
    try:
        admin = auth.local_operator("ops")
        analyst = auth.Identity(name="Ana", roles=frozenset({"analyst"}), mode="shared")
        assert sync.reset_watermark(con, "statuspage", actor=admin) == Watermark()  # none: nothing written
        assert audit.trail(con).empty
        with serve(synthetic_incidents(3)) as api:
            assert sync.sync(con, "statuspage", started_by=admin, config=api.config()).ok
        mark = sync.watermark(con, "statuspage")
        assert mark.updated_at is not None
        with pytest.raises(auth.PermissionDenied, match="may not change settings"):
            sync.reset_watermark(con, "statuspage", actor=analyst)
        with pytest.raises(SourceError, match="no source named"):
            sync.reset_watermark(con, "nowhere", actor=admin)
        assert sync.reset_watermark(con, "statuspage", actor=admin) == mark
        assert sync.watermark(con, "statuspage") == Watermark()
        record = audit.trail(con, action=audit.SETTING_CHANGE).iloc[0]
        assert (record.actor, record.object) == ("ops", WATERMARK)
        assert '"new":null' in record.detail and '"source":"statuspage"' in record.detail
        assert audit.verify(con) == []
    finally:
        con.close()


def test_the_progress_bar_grows_with_the_records_read():
    class Bar:
        def __init__(self) -> None:
            self.seen: list[tuple[float, str]] = []

        def progress(self, value: float, text: str) -> None:
            self.seen.append((value, text))

    bar = Bar()
    show = connect_source._progress(bar, "Jira")
    show(100, None)
    show(200, None)
    show(50, 100)
    assert [t for _, t in bar.seen] == ["Jira: 100 records read", "Jira: 200 records read", "Jira: 50 of 100 records read"]
    assert 0 < bar.seen[0][0] < bar.seen[1][0] < 0.9 and bar.seen[2][0] == pytest.approx(0.45)


def test_next_run_says_when_the_schedule_has_stopped():
    """A last sync more than one interval past its next run: the scheduler is not running."""
    long_ago = (datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=5)).isoformat()
    recent = (datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=10)).isoformat()
    every = {"interval_minutes": "60"}
    assert "overdue since" in connect_source._next_text(every, {"started_at": long_ago})
    assert "overdue" not in connect_source._next_text(every, {"started_at": recent})
    assert "not a number" in connect_source._next_text({"interval_minutes": "soon"}, {"started_at": recent})


def test_a_warning_of_the_pull_is_shown_with_the_result(store, server, monkeypatch):
    """What a source could not read (ServiceNow's history without sys_audit) is said after the counts."""
    real_pull = sync.pull

    def pull_with_a_warning(*args, **kwargs):
        pulled = real_pull(*args, **kwargs)
        pulled.warnings.append("the history was not readable (HTTP 403)")
        return pulled

    monkeypatch.setattr(sync, "pull", pull_with_a_warning)
    at = click(page(), "connect_sync_statuspage")
    said = lines(at, "warning")
    assert any(f"{N} inserted" in w and "Note: the history was not readable (HTTP 403)" in w for w in said), said
