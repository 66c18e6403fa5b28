"""The Settings page's SLA policy part, driven headless through the router with AppTest: the saved
versions as a reader reads them, the targets editor's headers and empty amounts, one date format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import app_using

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture
def demo_store(demo_file, tmp_path):
    copy = tmp_path / "settings.duckdb"
    copy.write_bytes(demo_file.read_bytes())
    with app_using(copy) as path:
        yield path


@pytest.fixture
def empty_store(tmp_path):
    with app_using(tmp_path / "empty.duckdb") as path:
        yield path


def _page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/settings.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _config(element) -> dict:
    return {k.removeprefix("col:name:"): v for k, v in json.loads(element.proto.columns).items()}


def _captions(at: AppTest) -> list[str]:
    return [c.value.replace("\\", "") for c in at.caption]


def test_the_demo_policy_is_in_force_from_the_start_not_from_1970(demo_store):
    at = _page()
    versions = next(d for d in at.dataframe if d.proto.alt == "Saved SLA policy versions").value
    assert list(versions["effective_from"]) == ["the start (no start date)"]
    assert not any("1970" in str(v) for v in versions.to_numpy().ravel())


def test_without_a_saved_version_one_message_says_so(empty_store):
    captions = _captions(_page())
    assert "No version saved yet: the seed defaults apply." in captions
    assert "No rows." not in captions  # not an empty table above it as well


def test_the_targets_editor_has_headers_as_words_and_a_dash_for_an_amount_a_kind_does_not_need(demo_store):
    at = _page()
    editor = next(e for e in at.data_editor if e.key == "policy_targets")
    assert [_config(editor)[c]["label"] for c in editor.value.columns] == [
        "Severity", "Ticket type", "Clock", "Calendar", "Kind", "Amount"]
    assert editor.proto.placeholder == "—"
    next_release = editor.value[editor.value["kind"] == "next release"]
    assert next_release["amount"].isna().all() and len(next_release)  # shown as "—", not "None"
    roles = next(e for e in at.data_editor if e.key == "role_map_editor")
    assert [_config(roles)[r]["label"] for r in ("viewer", "admin")] == ["Viewer", "Admin"]
    assert "(none)" in at.selectbox(key="policy_country").options  # no public holidays, said so


def test_every_date_on_the_page_reads_year_month_day(demo_store):
    at = _page()
    assert at.date_input  # the go-live date and the policy's effective date
    assert {d.proto.format for d in at.date_input} == {"YYYY-MM-DD"}
