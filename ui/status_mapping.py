"""Upload page, mapping step: the file's statuses (category, waiting reason) and the source's traits."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.ingest import normalise
from analytics.ingest.profiles import SEVERITY_GUESS_WARNING, Profile
from analytics.store.schema import PAUSE_REASONS, STATUS_CATEGORIES
from ui import widgets

NOT_WAITING = "not waiting"


def status_editor(status_values: dict[str, tuple[str, str | None]], base: Profile,
                  key: str) -> tuple[dict[str, str], dict[str, str]]:
    """Every status of the file with its category and whom it waits on, editable like the
    severities; returns the profile's [status_map] and [waiting] as edited."""
    if not status_values:
        return dict(base.status_map), dict(base.waiting)
    # A profile that names no waiting status gets proposals from the status names, shown as such.
    suggest = not base.waiting
    waits = {raw: pause or (normalise.suggest_pause_reason(raw) if suggest else None)
             for raw, (_, pause) in status_values.items()}
    st.subheader("Statuses and waiting states")
    st.caption("Each status of the file (most frequent first), the category it counts as, and whom it "
               "waits on when it is a waiting state; the SLA policy decides which waits pause its clocks.")
    table = pd.DataFrame({
        "status": list(status_values),
        "category": [category for category, _ in status_values.values()],
        "waiting on": [waits[raw] or NOT_WAITING for raw in status_values],
    })
    edited = st.data_editor(
        table, key=key, hide_index=True, disabled=["status"],
        column_config={
            "category": st.column_config.SelectboxColumn("category", options=list(STATUS_CATEGORIES), required=True),
            "waiting on": st.column_config.SelectboxColumn("waiting on", options=[NOT_WAITING, *PAUSE_REASONS],
                                                           required=True),
        },
    )
    status_map = dict(base.status_map)
    # Waits the profile declares for statuses this file lacks stay in the profile.
    waiting = {raw: reason for raw, reason in base.waiting.items() if raw not in status_values}
    for raw, category, wait in zip(edited["status"], edited["category"], edited["waiting on"], strict=True):
        # The built-in words would give the same category: no entry needed unless one exists.
        if raw in status_map or category != normalise.status_category(raw):
            status_map[raw] = category
        if wait in PAUSE_REASONS:
            waiting[raw] = wait
    here = [f"{raw} ({reason})" for raw, reason in waiting.items() if raw in status_values]
    st.caption(widgets.escape_markdown(f"Waiting statuses in this file: {', '.join(here) or 'none'}."))
    if suggest and any(waits.values()):
        st.info("This profile declares no waiting statuses; the ones marked were suggested from the "
                "status names. Check them before loading.", icon=":material/info:")
    return status_map, waiting


def severity_guess_notice(profile: Profile, column: str | None, key: str) -> bool:
    """The warning for a severity field whose order the source does not document; returns
    whether the mapping stays marked as a guess (the user may say they know the order)."""
    if not profile.source.severity_guess or not column:
        return profile.source.severity_guess
    st.warning(widgets.escape_markdown(f"{column}: {SEVERITY_GUESS_WARNING[0].upper()}{SEVERITY_GUESS_WARNING[1:]}."),
               icon=":material/warning:")
    known = st.checkbox("I know this field's order: the mapping above is not a guess", key=key)
    return not known


def outage_trait(profile: Profile, key: str) -> bool:
    """Whether the source's SEV-1/SEV-2 tickets are service outages (availability reads it)."""
    return st.checkbox(
        "SEV-1/SEV-2 tickets of this source are service outages (availability is computed from them)",
        value=profile.source.describes_outages, key=key,
        help="On for incident and alerting tools (ServiceNow, PagerDuty, a status page); off for issue "
             "trackers and request desks, whose urgent tickets are not downtime.")
