"""What ui/pages_folder.py relies on in Streamlit's internals, pinned: a failure here after a Streamlit
upgrade means the workaround for the pages/ folder must be re-checked (or can go), not patched over.

Each check runs a small app in a temporary folder (with or without a pages/ folder beside it)."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime import pages_manager, scriptrunner
from streamlit.runtime.scriptrunner import script_runner
from streamlit.testing.v1 import AppTest

UPGRADE = f"Streamlit {st.__version__} changed what ui/pages_folder.py relies on: "

ENTRY = """
import streamlit as st
from streamlit import config as st_config
from streamlit.runtime.pages_manager import PagesManager

from ui import pages_folder

log = st.session_state.setdefault("log", [])
wrapped = PagesManager.uses_pages_directory  # before st.navigation below switches it off
st.text_input("Plain", key="plain")
with pages_folder.as_entry_script():
    st.text_input("Entry", key="entry")
pages_folder.mark_routed()


def home():
    log.append(("home", pages_folder.take_routed()))


pages = [st.Page(home, title="Home", default=True)]
if st.session_state.get("with_page"):  # the id test moves pages/ away
    pages.append(st.Page("pages/other.py", title="Other"))
pg = st.navigation(pages)
log.append(("app", wrapped, PagesManager.uses_pages_directory, st_config.get_option("global.appTest")))
pg.run()
"""

OTHER = """
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui import pages_folder

routed = pages_folder.take_routed()
if not routed:
    pages_folder.leave_wrapper()
st.session_state.setdefault("log", []).append(("other", routed, PagesManager.uses_pages_directory))
"""


@pytest.fixture
def app(tmp_path: Path):
    """An entry script with a pages/ folder beside it; restores Streamlit's process-wide flag."""
    (tmp_path / "app.py").write_text(textwrap.dedent(ENTRY), encoding="utf-8")
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "other.py").write_text(textwrap.dedent(OTHER), encoding="utf-8")
    before = pages_manager.PagesManager.uses_pages_directory
    yield tmp_path
    pages_manager.PagesManager.uses_pages_directory = before


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, UPGRADE + str([e.message for e in at.exception])
    return at


def _log(at: AppTest) -> list[tuple]:
    return [tuple(entry) for entry in at.session_state["log"]]


def test_the_internals_it_touches_exist():
    assert callable(getattr(scriptrunner, "get_script_run_ctx", None)), UPGRADE + "no get_script_run_ctx"
    ctx_class = scriptrunner.ScriptRunContext
    assert callable(getattr(ctx_class, "run_with_active_hash", None)), UPGRADE + "no ScriptRunContext.run_with_active_hash"
    assert "pages_manager" in inspect.signature(ctx_class).parameters, UPGRADE + "no ScriptRunContext.pages_manager"
    manager = pages_manager.PagesManager
    assert isinstance(inspect.getattr_static(manager, "main_script_hash"), property), \
        UPGRADE + "no PagesManager.main_script_hash"
    assert "uses_pages_directory" in vars(manager), UPGRADE + "no class flag PagesManager.uses_pages_directory"


def test_a_pages_folder_beside_the_entry_script_turns_the_legacy_wrapper_on(app, tmp_path_factory):
    manager = pages_manager.PagesManager
    manager.uses_pages_directory = None
    manager(str(app / "app.py"))
    assert manager.uses_pages_directory is True, UPGRADE + "a pages/ folder no longer sets uses_pages_directory"
    manager.uses_pages_directory = None
    manager(str(tmp_path_factory.mktemp("no_pages") / "app.py"))
    assert manager.uses_pages_directory is False, UPGRADE + "uses_pages_directory is set without a pages/ folder"


def test_each_script_run_reads_the_flag_so_switching_it_off_ends_the_wrapper():
    source = inspect.getsource(script_runner.ScriptRunner)
    assert "if PagesManager.uses_pages_directory:" in source and "_mpa_v1(" in source, \
        UPGRADE + "ScriptRunner no longer chooses the legacy wrapper by PagesManager.uses_pages_directory per run"


def test_the_wrapper_changes_widget_ids_and_as_entry_script_keeps_them(app):
    at = _run(AppTest.from_file(str(app / "app.py"), default_timeout=30))
    # Inside the wrapper (the flag was on); st.navigation switched it off; AppTest never reruns.
    assert _log(at) == [("app", True, False, True), ("home", True)], UPGRADE + str(_log(at))
    wrapped = {key: at.text_input(key=key).id for key in ("plain", "entry")}
    at.text_input(key="plain").input("typed")
    at.text_input(key="entry").input("typed")

    (app / "pages").rename(app / "elsewhere")  # the next run: no wrapper, as after st.navigation
    _run(at)
    assert _log(at)[-2:] == [("app", False, False, True), ("home", True)], UPGRADE + str(_log(at))
    direct = {key: at.text_input(key=key).id for key in ("plain", "entry")}
    assert direct["entry"] == wrapped["entry"], UPGRADE + "a widget inside as_entry_script has another id in the wrapper than in a direct run"
    assert at.text_input(key="entry").value == "typed", UPGRADE + "the change inside the wrapper was lost"
    assert direct["plain"] != wrapped["plain"], (
        UPGRADE + "the wrapper no longer changes the entry script's widget ids: as_entry_script may be unneeded")


def test_on_a_page_url_the_wrapper_runs_the_page_file_without_the_entry_script(app):
    at = AppTest.from_file(str(app / "app.py"), default_timeout=30)
    at.session_state["with_page"] = True
    _run(at)
    _run(at.switch_page("pages/other.py"))
    assert _log(at)[-1:] == [("other", False, False)], (
        UPGRADE + f"the page ran with the entry script, or leave_wrapper did not switch the flag off: {_log(at)}")
