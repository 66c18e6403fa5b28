"""Which engagement this session shows, and what the store at HYPERCARE_DB is, settled at app start.

The store is a catalog of engagements (the sidebar offers them; the URL's `engagement`
parameter and the session keep the current one), one engagement's store opened directly (the
only engagement, no choice), a store made before engagements (upgraded on open) or missing
(first start: a catalog with a Demo engagement holding the demo data). docs/engagements.md.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from analytics import upgrade
from analytics.demo import generator
from analytics.demo.calendar import DEMO_TIMEZONE
from analytics.demo.loader import DEMO_OPERATOR, load_demo
from analytics.store import auth, db, engagements, sharing
from analytics.store.engagements import Engagement, EngagementError
from analytics.store.periods import utc_now
from ui import filter_bar, pages_folder, store_view, widgets

QUERY_KEY = "engagement"  # the URL parameter holding the current engagement's slug
PICK_KEY = "engagement_pick"  # the sidebar's selectbox; its value is a slug
_CURRENT = "_engagement_current"  # the Engagement this run shows; None: a catalog without any
_IN_URL = "_engagement_in_url"  # the slug this session last wrote to the URL
_UPGRADED = "_engagement_upgraded"  # (icon, text): what the upgrade on open did, told in this session
# Session keys an engagement switch keeps: internal marks, widget ids, sign-in, the chosen file
# and the outcome of the upload that made the engagement.
_KEPT_WIDGETS = ("_", "$$", "auth_", "upload_")
DEMO_NAME = "Demo"
NO_ENGAGEMENT = ("No engagement yet. Upload a ticket export on the Upload & data page: it asks for the "
                 "new engagement's name, go-live date and time zone.")
_first_start_lock = threading.Lock()  # two first sessions at once must not both set up the store
_known_lock = threading.Lock()
# (what, path) -> (file version, value): opening a store file to ask costs ~0.2 s, so each
# answer is kept until the file changes.
_known: dict[tuple[str, str], tuple[tuple[int, ...], Any]] = {}


def _asked(what: str, path: Path, ask: Callable[[Path], Any]) -> Any:
    if db.connection_for(path) is not None:  # held by this process (a test): asking is cheap
        return ask(path)
    version = sharing.version(path)
    with _known_lock:
        hit = _known.get((what, str(path)))
    if hit is not None and hit[0] == version:
        return hit[1]
    value = ask(path)
    with _known_lock:
        _known[(what, str(path))] = (version, value)
    return value


def installation_path() -> Path:
    """The store at HYPERCARE_DB: the catalog, or the one engagement's store opened directly; it
    holds the installation's settings (upload limit, role map) either way."""
    return db.default_db_path()


def kind() -> str:
    return _asked("kind", installation_path(), engagements.kind_of)


def listed() -> list[Engagement]:
    """The engagements on offer: the catalog's, or the one store opened directly."""
    path = installation_path()
    found = kind()
    if found == "catalog":
        return _asked("list", path, engagements.list_engagements)
    if found == "engagement":
        return [_asked("own", path, engagements.own)]
    return []


def is_catalog() -> bool:
    return kind() == "catalog"


# --- the current engagement -------------------------------------------------------------


def current() -> Engagement | None:
    """The engagement this script run shows (outside a run, or before the router has chosen:
    the first on offer)."""
    if get_script_run_ctx() is not None and _CURRENT in st.session_state:
        return st.session_state[_CURRENT]
    if kind() in ("missing", "legacy"):  # nothing settled yet: the file itself, as before engagements
        path = installation_path()
        return Engagement(path.stem, path.stem, path)
    found = listed()
    return found[0] if found else None


def current_path() -> Path:
    """The current engagement's store file; the catalog itself (no tickets) when there is none."""
    e = current()
    return e.path if e is not None else installation_path()


def settle() -> None:
    """Make a missing store a catalog (first start) and upgrade one made before engagements.

    Called before the sign-in gate, which reads the role map from the settled store; what the
    upgrade did is told after it (`open_installation`)."""
    path = installation_path()
    if kind() == "missing":
        _first_start(path)
    if kind() == "legacy" and st.session_state.get(_UPGRADED, ("",))[0] != "error":  # not again each click
        _upgrade(path)


def open_installation() -> Engagement | None:
    """After the sign-in gate, in the router (and in a page run without it): which engagement
    this run shows. Stops the run when a store made before engagements could not be upgraded."""
    settle()
    told = st.session_state.get(_UPGRADED)
    if told is not None and told[0] == "error":
        # The one page: Streamlit lists no page of pages/ either (as ui/auth's sign-in screen).
        st.navigation([st.Page(lambda: st.error(told[1], icon=":material/error:"), title="Hypercare",
                               url_path="store-error", default=True)], position="hidden").run()
        st.stop()
    if told is not None:
        st.info(told[1], icon=":material/upgrade:")
    found = listed()
    chosen = _choose(found) if kind() == "catalog" else (found[0] if found else None)
    st.session_state[_CURRENT] = chosen
    return chosen


def _choose(found: list[Engagement]) -> Engagement | None:
    """The sidebar's choice, kept in the session and the URL; a changed URL wins."""
    if not found:
        if QUERY_KEY in st.query_params:
            del st.query_params[QUERY_KEY]
        return None
    by_slug = {e.slug: e for e in found}
    wanted = st.query_params.get(QUERY_KEY)
    if wanted is not None and wanted != st.session_state.get(_IN_URL):  # a bookmark, a link, a typed address
        if wanted in by_slug:
            _switch(wanted)
        else:
            st.warning(widgets.escape_markdown(f"There is no engagement '{wanted}': showing "
                                               f"{found[0].name} instead."), icon=":material/warning:")
            _switch(found[0].slug)
    if st.session_state.get(PICK_KEY) not in by_slug:  # first run, or its engagement was deleted
        _switch(found[0].slug)
    names = Counter(e.name for e in found)
    with st.sidebar, pages_folder.as_entry_script():
        st.selectbox("Engagement", list(by_slug), key=PICK_KEY, on_change=_forget_widgets,
                     format_func=lambda s: by_slug[s].label if names[by_slug[s].name] > 1 else by_slug[s].name,
                     help="Every page, filter, figure and report shows this engagement's data only. "
                     "The Portfolio page lists them all side by side.")
    chosen = by_slug[st.session_state[PICK_KEY]]
    if st.query_params.get(QUERY_KEY) != chosen.slug:
        st.query_params[QUERY_KEY] = chosen.slug
    st.session_state[_IN_URL] = chosen.slug
    return chosen


def _switch(slug: str) -> None:
    """Make `slug` current before the selectbox is drawn."""
    if st.session_state.get(PICK_KEY) not in (None, slug):
        _forget_widgets()
    st.session_state[PICK_KEY] = slug


def _forget_widgets() -> None:
    """Another engagement was chosen: the filters and every widget's value go (values of one
    engagement mean nothing in another: a service, an upload, a go-live date, an as-of day)."""
    for key in list(st.session_state.keys()):
        if key != PICK_KEY and not str(key).startswith(_KEPT_WIDGETS):
            del st.session_state[key]
    filter_bar.clear_filters()


def switch_to(slug: str) -> None:
    """Show `slug` from the next run on (after creating or deleting an engagement)."""
    st.query_params[QUERY_KEY] = slug  # the next run reads a changed address as a choice


def no_engagement_notice() -> None:
    st.info(NO_ENGAGEMENT, icon=":material/info:")
    st.page_link(widgets.UPLOAD_PAGE, label="Go to Upload & data", icon=":material/upload:")


# --- first start, upgrade, demo ---------------------------------------------------------------


def _first_start(path: Path) -> None:
    """A missing store becomes a catalog with a Demo engagement (without one: HYPERCARE_NO_DEMO=1)."""
    with _first_start_lock:
        if engagements.kind_of(path) != "missing":  # another session did it while this one waited
            return
        engagements.create_catalog(path, auth.local_operator("hypercare"))  # the app itself, nobody signed in yet
        if os.environ.get("HYPERCARE_NO_DEMO") == "1":
            return
        with st.spinner("First start: loading demo data into the Demo engagement…"):
            load_demo_data(demo_engagement(path, DEMO_OPERATOR), DEMO_OPERATOR, first_start=True)


def demo_engagement(catalog: Path, actor: auth.Identity) -> Engagement:
    """The catalog's Demo engagement, made when it has none."""
    for e in engagements.list_engagements(catalog):
        if e.is_demo:
            return e
    try:
        return engagements.create(catalog, engagements.DEMO_SLUG, DEMO_NAME, go_live=generator.DEFAULT_GO_LIVE,
                                  timezone_name=DEMO_TIMEZONE, window_days=generator.DEMO_WINDOW_DAYS,
                                  is_demo=True, actor=actor)
    except EngagementError:  # made by another process meanwhile
        made = [e for e in engagements.list_engagements(catalog) if e.slug == engagements.DEMO_SLUG and e.is_demo]
        if not made:
            raise
        return made[0]


def load_demo_data(e: Engagement, actor: auth.Identity, n_tickets: int = 5000, first_start: bool = False) -> list:
    """Load demo tickets into `e`'s store (on first start only if it holds none yet)."""
    with store_view.writing(e.path) as w:
        if first_start and (db.get_setting(w, "demo_autoloaded") is not None or db.ticket_count(w)):
            return []
        results = load_demo(w, n_tickets=n_tickets, actor=actor)
        if first_start:
            db.set_setting(w, "demo_autoloaded", utc_now().isoformat(timespec="seconds"))
    return results


def _upgrade(path: Path) -> None:
    """Turn a store made before engagements into a catalog; a failure is told as one line."""
    with _first_start_lock:
        try:
            with st.spinner("Upgrading the store to engagements…"):
                result = upgrade.upgrade(path)
        except EngagementError as exc:
            st.session_state[_UPGRADED] = ("error", widgets.escape_markdown(exc))
            return
    store_view.forget(path)
    if result is not None:  # None: another process upgraded it meanwhile
        text = result.summary()
        st.session_state[_UPGRADED] = ("upgrade", widgets.escape_markdown(text[0].upper() + text[1:]))
