"""Living with Streamlit's automatic multipage app, which the pages/ folder next to app.py turns on.

The app routes with st.navigation in app.py, but Streamlit decides once per server process,
from the mere existence of pages/ beside the entry script (`PagesManager.uses_pages_directory`),
to run the first script run through its legacy multipage wrapper (st.navigation switches it off
only once it has run; AppTest switches it back on before every run). Inside the wrapper app.py's
widgets get other ids, and on a page URL the page file runs without app.py. Streamlit offers no
public API for either, so every use of its internals is here; tests/test_pages_folder.py fails
when an upgrade changes what this relies on.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import streamlit as st
from streamlit import config as st_config
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

# Set by the router in each script run, read by the page's start. Every session's script runs
# on its own thread, so a thread-local is per run.
_run_marks = threading.local()


@contextlib.contextmanager
def as_entry_script() -> Iterator[None]:
    """Create widgets with the ids a normal run of app.py gives them.

    Widget ids that change between runs lose the user's last change, so the widgets the router
    draws (filter bar, engagement choice) always use the entry script's hash.
    """
    ctx = get_script_run_ctx()
    if ctx is None:
        yield
        return
    with ctx.run_with_active_hash(ctx.pages_manager.main_script_hash):
        yield


def mark_routed() -> None:
    """Tell the page that runs next in this script run that app.py ran before it."""
    _run_marks.routed = True


def take_routed() -> bool:
    """Whether app.py ran earlier in this script run (else the wrapper ran the page file alone).

    Clears the mark: the thread runs the session's next script run too.
    """
    routed = getattr(_run_marks, "routed", False)
    _run_marks.routed = False
    return routed


def leave_wrapper() -> None:
    """After a page file ran without app.py: switch the wrapper off for the rest of the process.

    A served session then reruns once, through the router (its first run has no clicks to lose);
    AppTest carries on with the page.
    """
    PagesManager.uses_pages_directory = False
    if not st_config.get_option("global.appTest") and getattr(_run_marks, "page_reruns", 0) < 1:
        _run_marks.page_reruns = 1
        st.rerun()


def page_opened() -> None:
    """The page got past its start: a later run without app.py may rerun once again."""
    _run_marks.page_reruns = 0
