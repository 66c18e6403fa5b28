"""Upload page parts: which engagement an upload goes into, the new engagement's form (go-live and
time zone proposed from the file), the Demo engagement that demo data goes into, and how the
uploads and data-quality tables show their columns."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import duckdb
import streamlit as st

from analytics.demo.loader import load_demo
from analytics.ingest import timeparse
from analytics.ingest.stage import Inspection
from analytics.store import db, engagements
from analytics.store.engagements import DEFAULT_WINDOW_DAYS, Engagement
from ui import auth as ui_auth
from ui import cache, connection, engagement_state, store_view

CURRENT, NEW = "current", "new"
DEMO_REFUSAL = ("The Demo engagement holds only the generated demo data: choose or create an engagement "
                "for real exports")
_NO_COPY = ""
_PROPOSED_FOR = "eng_proposed_for"  # the upload whose data the form's go-live and time zone come from

# The uploads table: which file, when, and what became of its rows first; the file's provenance
# (source, profile, who, time zone, checksum) after, where a narrow page scrolls to it.
UPLOADS_ORDER = ["dataset_id", "file_name", "uploaded_at", "rows_read", "rows_loaded", "rows_rejected",
                 "tickets_inserted", "tickets_updated", "tickets_unchanged", "tickets_older", "duplicate_rows",
                 "formula_cells", "replace_newer", "source", "profile_name", "uploaded_by", "timezone", "sha256"]
UPLOADS_COLUMNS = {"uploaded_at": st.column_config.DatetimeColumn("Uploaded (UTC)"),
                   # A checksum is compared, not read: its start is enough on screen (whole on a double-click).
                   "sha256": st.column_config.TextColumn("SHA-256", width="medium")}
# The data-quality table: the check's key is for the CSV's file name and the rows' picker.
QUALITY_COLUMNS = {"check": None, "label": st.column_config.TextColumn("Check")}


@dataclass(frozen=True)
class NewEngagement:
    """What the form says the new engagement is."""

    name: str
    slug: str
    go_live: date | None
    timezone: str
    window_days: int
    copy_from: str | None


_BACK_TO_CURRENT = "_eng_target_back"


def back_to_current() -> None:
    """After a load: the next file goes into the engagement now shown, not into another new one."""
    # Set on the next run, before the selectbox exists (a widget's value can't change after it
    # is drawn), and set rather than dropped: the browser sends a dropped selectbox's choice back.
    st.session_state[_BACK_TO_CURRENT] = True


def choose() -> str | None:
    """The choice above the file uploader: CURRENT or NEW; None for a store opened directly."""
    if not engagement_state.is_catalog():
        return None
    if st.session_state.pop(_BACK_TO_CURRENT, False):
        st.session_state["eng_target"] = CURRENT
    e = engagement_state.current()
    labels = {CURRENT: f"{e.name} (the current engagement)" if e else "", NEW: "New engagement…"}
    return st.selectbox("Load into engagement", [CURRENT, NEW] if e else [NEW], format_func=labels.get,
                        key="eng_target", help="Every engagement keeps its data apart. A new one is made "
                        "when the file is loaded, with the go-live date and time zone proposed from the file.")


def refusal(target: str | None) -> str | None:
    """Why a file may not be loaded into `target` (the Demo engagement's data is generated only)."""
    e = engagement_state.current()
    return DEMO_REFUSAL if target == CURRENT and e is not None and e.is_demo else None


def proposed_go_live(con: duckdb.DuckDBPyConnection, found: Inspection) -> date | None:
    """The earliest day a ticket was opened among the file's previewed rows (its first 50), read
    with the formats found for the opened-at (or event-time) column; wall-clock day for naive values."""
    days = []
    for guess in found.timestamps:
        if guess.field not in ("opened_at", "event_time") or guess.column not in found.preview.columns:
            continue
        values = [str(v) for v in found.preview[guess.column].dropna() if str(v).strip()]
        params: dict = {}
        expr = timeparse.sql_parse("v", guess.format, guess.has_offset, "UTC", params)
        day = con.cursor().execute(f"SELECT CAST(min({expr}) AS DATE) FROM unnest($values::VARCHAR[]) x(v)",
                                   {**params, "values": values}).fetchall()[0][0]
        if day is not None:
            days.append(day)
    return min(days) if days else None


def proposed_timezone(con: duckdb.DuckDBPyConnection, found: Inspection) -> str:
    """The mapping profile's time zone, else the current engagement's setting (not the demo's), else UTC."""
    e = engagement_state.current()
    setting = db.get_setting(con, engagements.TIMEZONE_SETTING) if e is not None and not e.is_demo else None
    return found.profile.timestamps.timezone or setting or "UTC"


def form(con: duckdb.DuckDBPyConnection, found: Inspection, upload_id: str) -> NewEngagement:
    """The new engagement's name, slug, go-live, time zone, window and settings to copy; the go-live
    and time zone are proposed from each newly chosen file."""
    if st.session_state.get(_PROPOSED_FOR) != upload_id:  # written before the widgets are drawn
        st.session_state["eng_new_go_live"] = proposed_go_live(con, found)
        tz = proposed_timezone(con, found)
        st.session_state["eng_new_tz"] = tz if tz in cache.time_zones() else "UTC"
        st.session_state[_PROPOSED_FOR] = upload_id
    others = {e.slug: e.name for e in engagement_state.listed()}
    st.subheader("New engagement")
    left, right = st.columns(2)
    name = left.text_input("Name", key="eng_new_name", max_chars=120, placeholder="e.g. ERP go-live, wave 2")
    typed = right.text_input("Slug (in the page address)", key="eng_new_slug", max_chars=40,
                             placeholder=engagements.slug_for(name) if name.strip() else "erp-go-live-wave-2",
                             help="Lower-case letters, digits and hyphens. Left empty: made from the name.")
    go_live = left.date_input("Go-live date", key="eng_new_go_live", format="YYYY-MM-DD",
                              min_value=date(2000, 1, 1), max_value=date(2100, 12, 31),
                              help="Proposed: the earliest opened date among the file's first rows.")
    zones = cache.time_zones()
    tz = right.selectbox("Time zone", zones, key="eng_new_tz",
                         help="The engagement's time zone; proposed from the file's mapping profile.")
    window = left.number_input("Hypercare window (days)", min_value=1, max_value=366, value=DEFAULT_WINDOW_DAYS,
                               step=1, key="eng_new_window")
    copy_from = right.selectbox("Copy settings from", [_NO_COPY, *others], key="eng_new_copy",
                                format_func=lambda s: others.get(s, "None: start from the defaults"),
                                help="SLA policies, KPI targets, closure criteria and other settings of an "
                                "existing engagement; its data is never copied.")
    slug = typed.strip() or engagements.slug_for(name)
    st.caption(f"Address of its pages: …?engagement={slug}" if name.strip() or typed.strip()
               else "Name the engagement to load the file into it.")
    return NewEngagement(" ".join(name.split()), slug, go_live, tz, int(window), copy_from or None)


@contextlib.contextmanager
def writing(new: NewEngagement | None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write into the current engagement, or into `new`, made first and shown from the next run.
    Raises EngagementError when `new` can't be made."""
    if new is None:
        with connection.writing() as w:
            yield w
        return
    if not new.name:
        raise engagements.EngagementError("name the new engagement first")
    e = engagements.create(engagement_state.installation_path(), new.slug, new.name, go_live=new.go_live,
                           timezone_name=new.timezone, window_days=new.window_days, copy_from=new.copy_from,
                           actor=ui_auth.actor())
    try:
        with store_view.writing(e.path) as w:
            yield w
    except BaseException:
        # A failed upload leaves the installation as it was: the engagement it made goes too.
        # The upload's own error is the one to tell; a store that can't be discarded is not (a bug is).
        with contextlib.suppress(engagements.EngagementError, duckdb.Error, OSError):
            engagements.discard_empty(engagement_state.installation_path(), e.slug, ui_auth.actor(),
                                      "its first upload failed")
        raise
    engagement_state.switch_to(e.slug)  # shown next


def load_demo_data(n_tickets: int) -> str:
    """Load demo tickets: into the Demo engagement (made when missing) of a catalog, which is then
    shown; into the store itself when it was opened directly. Returns the summary to show."""
    if engagement_state.is_catalog():
        e: Engagement = engagement_state.demo_engagement(engagement_state.installation_path(), ui_auth.actor())
        results = engagement_state.load_demo_data(e, ui_auth.actor(), n_tickets)
        engagement_state.switch_to(e.slug)
    else:
        with connection.writing() as w:
            results = load_demo(w, n_tickets=n_tickets, actor=ui_auth.actor())
    return " | ".join(r.summary() for r in results)
