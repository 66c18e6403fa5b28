"""Upload page part: "Connect a source" — the live sources of analytics/connectors (issue #17).

For each source: whether it is configured (the key names it needs, never a value), Test
connection, Sync now into the engagement shown (a progress bar while the API is read; the
store's write turn is taken only for the write, as `python -m analytics sync` does), the last
sync's outcome, the next run, and an admin's Reset watermark. Credentials live in
.streamlit/secrets.toml or the environment (analytics/connectors/config.py): this module passes
them from config.load to the core and shows nothing of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import duckdb
import streamlit as st

from analytics.connectors import config as connector_config
from analytics.connectors import sync
from analytics.connectors.base import Connector
from analytics.store import sharing
from analytics.store.auth import Permission, PermissionDenied
from ui import auth as ui_auth
from ui import cache, connection, engagement_state, upload_target, widgets

OUTCOME = "connect_outcome"  # (source, "success" | "error" | "info", message): kept across the rerun
# Failures of a sync or a connection test told as one line (a defect is the page's guard's).
TOLD = (*sync.FAILURES, PermissionDenied, sharing.StoreBusy, duckdb.Error, OSError, ValueError)
SCHEDULED = ("runs when `python -m analytics sync` is scheduled (cron or a systemd timer: "
             "docs/connectors.md)")
# The bar's share of an unknown total: it grows with the records read and never fills before the write.
_UNKNOWN_TOTAL_SCALE = 500


def section(con: duckdb.DuckDBPyConnection) -> None:
    """The "Connect a source" section of the Upload page, reading the store `con` (the page's copy)."""
    st.header("Connect a source")
    st.markdown("Pull tickets straight from a live source's API into the engagement shown, as its export "
               "would hold them. An administrator adds or changes a source's credentials in "
               "`.streamlit/secrets.toml` under `[connectors.<name>]`, or in `HYPERCARE_<NAME>_<KEY>` "
               "environment variables (docs/connectors.md); this page never shows them.")
    where = _refusal()
    if where:
        st.info(where, icon=":material/info:")
    may_sync = not where and ui_auth.allowed(Permission.UPLOAD)
    for name, source in sync.CONNECTORS.items():
        with st.container(border=True, key=f"connect_{name}"):
            _source(con, name, source, may_sync)


def _refusal() -> str | None:
    """Why nothing can be synced into the engagement shown (none yet, or the Demo engagement)."""
    e = engagement_state.current()
    if e is None and engagement_state.is_catalog():
        return ("Syncing needs an engagement: load a file into a new engagement first (above), "
                "or choose one in the sidebar.")
    if e is not None and e.is_demo:
        return upload_target.DEMO_REFUSAL + "."
    return None


def _source(con: duckdb.DuckDBPyConnection, name: str, source: Connector, may_sync: bool) -> None:
    try:
        values = connector_config.load(name)
    except connector_config.ConfigError as exc:
        st.markdown(f"**{source.label}**")
        st.error(widgets.escape_markdown(exc), icon=":material/error:")
        return
    missing = connector_config.missing(source, values)
    if missing:
        st.markdown(f"**{source.label}** · :material/cancel: not configured — set `[connectors.{name}]` in "
                    f"`.streamlit/secrets.toml` or `{connector_config.env_prefix(name)}<KEY>` (docs/connectors.md)")
        st.markdown(_needs(source, missing))  # not a caption: code in a caption misses 4.5:1 contrast
        return
    st.markdown(f"**{source.label}** · :material/check_circle: configured")
    _show_outcome(name)
    test, go, _ = st.columns([1, 1, 3])
    if test.button("Test connection", key=f"connect_test_{name}", icon=":material/network_check:"):
        _test(name, source, values)
    # Secondary: "Load into Hypercare" stays the page's one primary action.
    if go.button("Sync now", key=f"connect_sync_{name}", type="secondary", disabled=not may_sync,
                 icon=":material/sync:") and may_sync:
        _sync(con, name, source, values)
    last = sync.last_sync(con, name)
    st.markdown(_last_text(last))
    st.markdown(_next_text(values, last))
    _reset(con, name, source)


def _needs(source: Connector, missing: list[str]) -> str:
    """The key names that make `source` configured (and, once some are set, the ones still missing)."""
    sets = [" and ".join(f"`{k}`" for k in keys) for keys in source.required]
    text = "Keys it needs: " + " — or ".join(sets) + "."
    if not any(list(keys) == missing for keys in source.required):  # a set begun: what it still lacks
        text += " Still missing: " + ", ".join(f"`{k}`" for k in missing) + "."
    return text


def _show_outcome(name: str) -> None:
    outcome = st.session_state.get(OUTCOME)
    if outcome is None or outcome[0] != name:
        return
    del st.session_state[OUTCOME]
    _, kind, message = outcome
    shown = widgets.escape_markdown(message)
    if kind == "success":
        st.success(shown, icon=":material/check_circle:")
    elif kind == "info":
        st.info(shown, icon=":material/info:")
    elif kind == "warning":  # synced, with something the user should know (e.g. no history readable)
        st.warning(shown, icon=":material/warning:")
    else:
        st.error(shown, icon=":material/error:")


def _test(name: str, source: Connector, values: Mapping[str, str]) -> None:
    with st.spinner(f"Asking {source.label}…"):
        try:
            line = sync.check(name, config=values)
        except TOLD as exc:
            st.error(widgets.escape_markdown(f"Connection test failed: {exc}"), icon=":material/error:")
            return
    st.success(widgets.escape_markdown(f"Connection OK: {line}"), icon=":material/check_circle:")


def _sync(con: duckdb.DuckDBPyConnection, name: str, source: Connector, values: Mapping[str, str]) -> None:
    """Pull (no store turn held while the API is read), then write in the store's turn; the outcome
    is shown after the rerun that lets every page see the new data."""
    try:
        result = sync.begin(name, ui_auth.actor())
    except PermissionDenied as exc:
        st.error(widgets.escape_markdown(exc), icon=":material/block:")
        return
    bar = st.progress(0.0, text=f"{source.label}: connecting…")
    try:
        pulled = sync.pull(name, sync.watermark(con, name), config=values, progress=_progress(bar, source.label))
        bar.progress(0.95, text=f"{source.label}: {pulled.records_read:,} records read; writing them into the store…")
        with connection.writing() as w:
            sync.apply(w, pulled, started_by=ui_auth.actor(), result=result)
    except TOLD as exc:
        with connection.writing() as w:
            sync.fail(w, result, exc)
    bar.progress(1.0, text=f"{source.label}: done")
    if result.ok:
        wrote = bool(result.dataset_ids)
        kind = "warning" if result.warnings else "success" if wrote else "info"
        st.session_state[OUTCOME] = (name, kind, f"{source.label}: synced — " + _counts(result.to_dict())
                                     + ("" if wrote else " (nothing new)")
                                     + "".join(f" Note: {w}" for w in result.warnings))
        if wrote:  # the rejected-rows and data-quality selectors show the synced tickets file (as after a load)
            st.session_state.pop("dq_check", None)
            st.session_state["rejects_dataset"] = st.session_state["dq_scope"] = result.dataset_ids[0]
    else:
        st.session_state[OUTCOME] = (name, "error", f"{source.label}: the sync failed and stored nothing: "
                                     f"{result.error}")
    cache.data_changed()
    st.rerun()


def _progress(bar: Any, label: str) -> Callable[[int, int | None], None]:
    def show(done: int, total: int | None) -> None:
        share = done / total if total else done / (done + _UNKNOWN_TOTAL_SCALE)
        bar.progress(min(0.9, 0.9 * share),
                     text=f"{label}: {done:,}{f' of {total:,}' if total else ''} records read")
    return show


def _counts(r: Mapping[str, Any]) -> str:
    return (f"{r.get('records_read', 0):,} records read · {r.get('tickets_inserted', 0):,} inserted · "
            f"{r.get('tickets_updated', 0):,} updated · {r.get('tickets_unchanged', 0):,} unchanged · "
            f"{r.get('rows_rejected', 0):,} rejected")


def _when(iso: str) -> str:
    return iso.replace("T", " ")[:16] + " UTC"


def _last_text(last: Mapping[str, Any] | None) -> str:
    """The stored last sync: when, who, its outcome in words (and an icon), its counts or error."""
    if not last:
        return "**Last sync:** none yet — the first sync reads everything."
    who = widgets.escape_markdown(last.get("started_by") or "unknown")
    head = f"**Last sync:** {widgets.escape_markdown(_when(str(last.get('started_at'))))} by {who} — "
    if last.get("ok"):
        return head + ":material/check_circle: OK — " + widgets.escape_markdown(_counts(last))
    return head + ":material/error: failed — " + widgets.escape_markdown(last.get("error") or "no reason given")


def _next_text(values: Mapping[str, str], last: Mapping[str, Any] | None) -> str:
    """When the next sync runs: the last one plus the source's `interval_minutes`, else the schedule's."""
    every = values.get("interval_minutes")
    if not every:
        return "**Next run:** " + SCHEDULED
    try:
        minutes = float(every)
    except ValueError:
        minutes = 0.0
    if not minutes > 0:
        return "**Next run:** unknown — `interval_minutes` is not a number of minutes above 0"
    period = f"every {minutes:g} minutes, as `interval_minutes` says the scheduler runs it"
    if not last or not last.get("started_at"):
        return f"**Next run:** at the first scheduled sync ({period})"
    due = datetime.fromisoformat(str(last["started_at"])) + timedelta(minutes=minutes)
    when = widgets.escape_markdown(_when(due.isoformat()))
    if due < datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=minutes):
        # A whole interval past due: the schedule is not running, which "next run" alone would hide.
        return (f"**Next run:** overdue since {when} ({period}) — is the cron job or systemd timer "
                "running? (docs/connectors.md)")
    return f"**Next run:** {when} ({period})"


def _reset(con: duckdb.DuckDBPyConnection, name: str, source: Connector) -> None:
    with st.expander("Reset watermark (next sync reads everything again)", icon=":material/restart_alt:"):
        mark = sync.watermark(con, name)
        st.caption("The watermark is where the syncs got to: "
                   + (f"records updated up to {widgets.escape_markdown(_when(mark.updated_at.isoformat()))}"
                      if mark.updated_at else "none yet, the next sync reads everything")
                   + ". Only an admin may reset it; the reset is audited and the stored tickets stay.")
        if not ui_auth.allowed(Permission.CHANGE_SETTINGS):
            return
        if st.button("Reset watermark", key=f"connect_reset_{name}", icon=":material/restart_alt:"):
            try:
                with connection.writing() as w:
                    gone = sync.reset_watermark(w, name, actor=ui_auth.actor())
            except TOLD as exc:
                st.error(widgets.escape_markdown(f"Not reset: {exc}"), icon=":material/error:")
                return
            st.session_state[OUTCOME] = (name, "success" if gone.updated_at else "info",
                                         f"{source.label}: watermark reset; the next sync reads everything again."
                                         if gone.updated_at else f"{source.label}: no watermark to reset; the next "
                                         "sync reads everything already.")
            st.rerun()
