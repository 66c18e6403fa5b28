"""Upload & data: load an export with a checked mapping; uploads history, rejects, data quality."""

import hashlib
import logging

import pandas as pd
import streamlit as st
from pydantic import ValidationError

from analytics import uploads
from analytics.ingest import datasets, profiles
from analytics.ingest.profiles import ProfileError
from analytics.ingest.stage import PREVIEW_XLSX_ROWS, IngestError, max_upload_bytes, stage_file
from analytics.store import db
from analytics.store.auth import Permission
from analytics.store.engagements import EngagementError
from analytics.store.schema import MAPPABLE_FIELDS, SEVERITIES, TIMESTAMP_FIELDS, UPDATED_FIELD
from ui import auth as ui_auth
from ui import cache, connect_source, connection, page, status_mapping, upload_target, widgets

NOT_MAPPED = "— not mapped —"
UNMAPPED = "unmapped"
FILE_TYPES = ["csv", "gz", "xlsx", "json", "jsonl", "txt", "tsv"]
MB = 1024 * 1024
log = logging.getLogger(__name__)
DELIMITERS = {"auto": None, "comma ,": ",", "semicolon ;": ";", "tab": "\t", "pipe |": "|"}

con = page.start_page(needs_engagement=False)
st.title("Upload & data")
page.engagement_caption("Filters in the sidebar do not apply on this page: it shows every upload.")


def show_outcome() -> None:
    """The result of the last load, kept across the rerun that refreshes the filter bar."""
    outcome = st.session_state.pop("upload_outcome", None)
    if outcome is None:
        return
    kind, message, notes = outcome
    if kind == "success":
        st.success(widgets.escape_markdown(message), icon=":material/check_circle:")
    else:
        st.error(widgets.escape_markdown(message), icon=":material/error:")
    for note in notes:
        st.warning(widgets.escape_markdown(note), icon=":material/warning:")


def remember(kind: str, message: str, notes: list[str]) -> None:
    st.session_state["upload_outcome"] = (kind, message, notes)


def show_upload(dataset_id: int | None) -> None:
    """After a load, the rejected-rows and data-quality selectors show that upload, not the one before,
    and the next file goes into the engagement now shown (not into yet another new one)."""
    for key in ("rejects_dataset", "dq_scope", "dq_check"):
        st.session_state.pop(key, None)
    upload_target.back_to_current()
    if dataset_id is not None:
        st.session_state["rejects_dataset"] = st.session_state["dq_scope"] = int(dataset_id)


def percent(share: float) -> str:
    return f"{round(share * 100)} %"


show_outcome()

# --- choose a file ----------------------------------------------------------------------
limit = max_upload_bytes(connection.installation_connection())  # the installation's, not one engagement's
may_upload = ui_auth.allowed(Permission.UPLOAD)
target = upload_target.choose()
upload = st.file_uploader(
    "Ticket export",
    type=FILE_TYPES,
    key="upload_file",
    disabled=not may_upload,
    max_upload_size=max(1, limit // MB),
    help=f"CSV/TSV/TXT (optionally .gz), Excel .xlsx, JSON or JSON Lines; up to {limit // MB:,} MB.",
)

refused = upload_target.refusal(target) if upload is not None else None
if refused:
    st.error(refused, icon=":material/block:")
if upload is not None:
    data = upload.getvalue()
    default_tz = db.get_setting(con, "default_timezone", "UTC") or "UTC"
    delim_choice = st.selectbox("CSV delimiter", list(DELIMITERS), key="upload_delimiter",
                                help="Detected automatically; choose one if the columns look wrong.")
    delimiter = DELIMITERS[delim_choice]
    try:
        first = cache.inspect_upload(con, upload.file_id, upload.name, data, None, None, limit, delimiter)
    except IngestError as exc:
        st.error(widgets.escape_markdown(exc), icon=":material/error:")
        st.stop()

    new = upload_target.form(con, first, upload.file_id) if target == upload_target.NEW else None
    default_tz = new.timezone if new is not None else default_tz

    st.subheader("What Hypercare found")
    rows = f"{first.rows:,} rows"
    if not first.rows_read_all:  # an XLSX preview: the sheet's own count, if it has one
        more = "about" if first.rows > PREVIEW_XLSX_ROWS else "more than"
        rows = f"{more} {rows} (this preview read the first {PREVIEW_XLSX_ROWS:,})"
    st.text(f"Format: {first.format} · encoding: {first.encoding} · delimiter: "
            f"{first.delimiter!r} · {rows} · {len(first.columns)} columns")
    best = first.detections[0]
    candidates = {d.profile_name: d for d in first.detections}
    pick = st.selectbox(
        "Mapping profile",
        list(candidates),
        format_func=lambda n: f"{candidates[n].profile.source.description or n} — "
        f"{percent(candidates[n].confidence)}",
        key=f"upload_profile_{upload.file_id}",
        help="Best match first. Pick another to start from its mapping.",
    )
    chosen = candidates[pick]
    label = chosen.profile.source.description or chosen.profile_name
    st.text(f"Detected source: {label} — {percent(chosen.confidence)} ({chosen.reason})")
    with st.expander("Other candidates"):
        widgets.table(
            pd.DataFrame(
                [(d.profile_name, percent(d.confidence), d.reason) for d in first.detections],
                columns=["profile", "confidence", "reason"],
            ),
            alt="Candidate profiles and how well they fit",
            key="upload_candidates", wrap=True,
        )
    with st.expander("Preview (first 50 rows, as read)"):
        widgets.table(first.preview, alt="Preview of the uploaded file", key="upload_preview", wrap=True)

    base = first if pick == best.profile_name else cache.inspect_upload(
        con, upload.file_id, upload.name, data, chosen.profile, None, limit, delimiter)
    token = hashlib.sha1(f"{upload.file_id}|{pick}".encode()).hexdigest()[:10]

    # --- mapping ------------------------------------------------------------------------
    st.subheader("Mapping")
    st.caption("For each Hypercare field, the column of your file it is read from.")
    fields = list(MAPPABLE_FIELDS)
    if base.profile.source.layout != "tickets":
        fields += ["event_time", "event_seq"]
    fields.append(UPDATED_FIELD)  # the source's last change: which of two versions of a ticket is newer
    columns: dict[str, str] = {}
    grid = st.columns(3)
    for i, field in enumerate(fields):
        current = base.mapping.get(field)
        options = [NOT_MAPPED, *base.columns]
        if current and current not in options:
            options.append(current)  # a template such as "{project}-{id}"
        with grid[i % 3]:
            value = st.selectbox(field, options, index=options.index(current) if current else 0,
                                 key=f"map_{token}_{field}")
        if value != NOT_MAPPED:
            columns[field] = value

    if base.profile.events:
        # Event logs fill some timestamps from status changes rather than from a column.
        rules = "; ".join(f"{target.removesuffix('_at')} ← {', '.join(statuses)}"
                          for target, statuses in base.profile.events.items() if target != "resolved_at")
        st.caption(widgets.escape_markdown(
            f"Timestamps from status events (first entry; closed: last entry): {rules or 'none'}. "
            "A mapped column wins over its event rule."))
    if base.profile.source.layout != "tickets":
        st.caption("resolved_at comes from the status history: the first entry into the final stretch of "
                   "resolved/closed statuses. A mapped resolved_at column is kept as the export's own value.")

    tz_options = cache.time_zones()
    tz_default = base.profile.timestamps.timezone or default_tz
    tz = st.selectbox(
        "Time zone of timestamps without an offset",
        tz_options,
        index=tz_options.index(tz_default) if tz_default in tz_options else 0,
        key=f"upload_tz_{token}",
        help="Default from Settings. Values that carry an offset (Z, +02:00) keep it.",
    )

    # Formats typed on the previous run feed this run's check of the mapping.
    guesses = {g.field: g for g in base.timestamps}
    ts_fields = [f for f in (*TIMESTAMP_FIELDS, "event_time", UPDATED_FIELD) if f in columns]
    formats: dict[str, str] = {}
    for field in ts_fields:
        guess = guesses.get(field)
        default = guess.format if guess and guess.column == columns[field] else "auto"
        typed = st.session_state.get(f"fmt_{token}_{field}_{columns[field]}", default)
        formats[field] = typed.strip() or "auto"

    try:
        mapped = profiles.corrected(base.profile, columns, formats, tz, base.profile.severity_map)
        checked = cache.inspect_upload(con, upload.file_id, upload.name, data, mapped, tz, limit, delimiter)
        problem = None
    except (ValidationError, ProfileError, IngestError) as exc:
        mapped, checked, problem = None, None, exc

    # --- timestamps ---------------------------------------------------------------------
    st.subheader("Timestamp formats")
    st.caption("strptime formats such as %d/%m/%Y %H:%M, or auto. The share is of up to 400 "
               "distinct sampled values.")
    checks = {g.field: g for g in checked.timestamps} if checked else {}
    for field in ts_fields:
        col = columns[field]
        guess = guesses.get(field)
        default = guess.format if guess and guess.column == col else "auto"
        st.text_input(f"{field} (column {widgets.escape_markdown(col)})", value=default,
                      key=f"fmt_{token}_{field}_{col}")
        found = checks.get(field)
        if found is not None:
            st.caption(widgets.escape_markdown(
                f"Read as {found.format}: {found.parsed:,} of {found.total:,} sampled values "
                f"parsed ({percent(found.share)}); e.g. {', '.join(found.examples[:2]) or 'none'}"
                + (f"; not read, so their rows are rejected: {', '.join(repr(v) for v in found.unparsed)}"
                   if found.unparsed else "")))
            # Only an automatic guess knows whether the other day/month order also fits.
            guessed = guesses.get(field)
            if found.ambiguous or (guessed and guessed.column == col and guessed.ambiguous
                                   and guessed.format == found.format):
                st.warning("Ambiguous day/month: every sampled value reads both ways. Check "
                           "that the format has day and month in the right order.",
                           icon=":material/warning:")

    # --- severities ---------------------------------------------------------------------
    severity_map = dict(base.profile.severity_map)
    if checked and checked.severity_values:
        st.subheader("Severity mapping")
        st.caption("Raw priority values of the file and the severity each becomes.")
        table = pd.DataFrame({
            "raw value": list(checked.severity_values),
            "severity": [v or UNMAPPED for v in checked.severity_values.values()],
        })
        edited = st.data_editor(
            table,
            key=f"sev_{token}_{columns.get('severity')}",
            hide_index=True,
            disabled=["raw value"],
            column_config={"severity": st.column_config.SelectboxColumn(
                "severity", options=[*SEVERITIES, UNMAPPED], required=True)},
        )
        for raw, sev in zip(edited["raw value"], edited["severity"], strict=True):
            if sev in SEVERITIES:
                severity_map[raw] = sev
            else:
                severity_map.pop(raw, None)
        n_unmapped = sum(1 for s in edited["severity"] if s not in SEVERITIES)
        if n_unmapped:
            st.warning(f"{n_unmapped} raw value(s) stay unmapped: those tickets get no severity "
                       "and show as Unmapped.", icon=":material/warning:")
    severity_guess = status_mapping.severity_guess_notice(
        base.profile, columns.get("severity") if checked and checked.severity_values else None,
        key=f"sev_guess_{token}")

    # --- statuses, waiting states, traits -------------------------------------------------
    status_map, waiting = status_mapping.status_editor(
        checked.status_values if checked else {}, base.profile, key=f"status_{token}_{columns.get('status')}")
    outages = status_mapping.outage_trait(base.profile, key=f"outages_{token}")

    final = None
    if problem is None:
        try:
            final = profiles.corrected(base.profile, columns, formats, tz, severity_map, status_map=status_map,
                                      waiting=waiting, describes_outages=outages, severity_guess=severity_guess)
        except ValidationError as exc:
            problem = exc
    if problem is not None:
        st.error(widgets.escape_markdown(f"This mapping can't be used: {problem}"),
                 icon=":material/error:")

    # --- load (the page's one primary action), then saving the mapping (optional) -------
    st.subheader("Load")
    replace_newer = st.checkbox(
        "Replace newer stored versions", key="upload_replace_newer",
        help="Off: a ticket stored in a newer version than this file's (by the source's updated time, "
             "else its last event) keeps the stored version, and is counted and listed. On: this file's "
             "version replaces it on purpose, e.g. to undo a bad upload; the audit trail records the choice.")
    if st.button("Load into Hypercare", key="upload_go", type="primary",
                 disabled=final is None or bool(refused)) and not refused:
        try:
            with st.spinner(f"Loading {upload.name}…"):
                # Reading and checking the file hold no turn; only the comparison and write do.
                with stage_file(data=data, name=upload.name, profile=final, tz=tz, max_bytes=limit,
                                delimiter=delimiter, default_tz=default_tz) as staged, \
                        upload_target.writing(new) as w:
                    result = uploads.apply(w, staged, uploaded_by=ui_auth.actor(), replace_newer=replace_newer)
        except (IngestError, EngagementError) as exc:
            remember("error", str(exc), [])
        except Exception as exc:  # broad on purpose: a defect (the write rolled back), told and logged
            log.exception("upload of %s failed", upload.name)
            remember("error", f"{upload.name}: the upload failed and nothing was stored "
                     f"({type(exc).__name__}: {exc}). Please report this.", [])
        else:
            notes = list(result.warnings)
            if result.unmapped_severities:
                shown = ", ".join(f"{k} ({v:,})" for k, v in result.unmapped_severities.items())
                notes.append(f"Unmapped severities: {shown}")
            if result.tickets_older and not result.replace_newer:
                notes.append("Data quality › 'Older than the stored version' lists them; tick 'Replace newer "
                             "stored versions' and load the file again to replace them on purpose.")
            remember("success", result.summary(), notes)
            show_upload(result.dataset_id)
        st.session_state.pop("upload_replace_newer", None)  # a choice for one load, not for the next
        cache.data_changed()
        st.rerun()

    with st.expander("Save this mapping as a profile (optional)", icon=":material/save:"):
        st.caption("A saved profile is tried first the next time a file like this one is uploaded.")
        name = st.text_input("Save mapping as profile", value=f"{pick}-custom",
                             key=f"upload_profile_name_{token}",
                             help="Letters, digits, '.', '_' and '-'. Saved profiles are "
                             "tried first the next time.")
        if st.button("Save mapping as profile", key="upload_save_profile",
                     disabled=final is None or not ui_auth.can(Permission.EDIT_MAPPINGS)):
            try:
                path = profiles.save_profile(profiles.renamed(final, name, list(base.columns)),
                                             actor=ui_auth.actor())
            except (ValidationError, ProfileError, OSError) as exc:
                st.error(widgets.escape_markdown(f"Not saved: {exc}"), icon=":material/error:")
            else:
                st.success(widgets.escape_markdown(f"Saved profile '{name.strip()}' to {path}."),
                           icon=":material/check_circle:")

# --- live sources (docs/connectors.md) ---------------------------------------------------
try:
    connect_source.section(con)
except Exception as exc:  # broad on purpose: a defect in a sync (its write rolled back), told and logged
    log.exception("Connect a source failed")
    st.error(f"Connect a source: an unexpected {type(exc).__name__} stopped it (a sync writes all or nothing); "
             "the server's log has the details. Please report this.", icon=":material/error:")

# --- demo data --------------------------------------------------------------------------
st.header("Demo data")
if target is not None:
    st.caption("Demo data goes into the Demo engagement (made when missing), never into one with real exports.")
demo_n = st.number_input("Demo tickets", min_value=100, max_value=1_000_000, value=5_000,
                         step=1_000, key="demo_n")
if st.button("Load demo data", key="demo_go", disabled=not may_upload):
    with st.spinner(f"Generating and loading {int(demo_n):,} demo tickets…"):
        summary = upload_target.load_demo_data(int(demo_n))
    remember("success", summary, [])
    show_upload(None)  # the selectors fall back to the newest upload
    cache.data_changed()
    st.rerun()

# --- uploads ----------------------------------------------------------------------------
st.header("Uploads")
listed = cache.dataset_data(con, "list_datasets")
labels: dict[int, str] = {}
widgets.table(listed, alt="Uploads, newest first", key="datasets_table",
              column_config=upload_target.UPLOADS_COLUMNS, column_order=upload_target.UPLOADS_ORDER)

if not listed.empty:
    labels = {int(r.dataset_id): f"#{r.dataset_id} {r.file_name} ({r.rows_rejected:,} rejected)"
              for r in listed.itertuples()}
    st.subheader("Rejected rows")
    chosen_ds = st.selectbox("Upload", list(labels), format_func=labels.get, key="rejects_dataset")
    rejected = cache.dataset_data(con, "rejects", chosen_ds)
    widgets.table(rejected, alt=f"Rejected rows of upload {chosen_ds}", key="rejects_table", wrap=True)
    if not rejected.empty:
        widgets.download_csv(rejected, f"rejects_{chosen_ds}.csv", key="rejects_csv",
                             label="Download rejected rows (CSV)")

    with st.expander("Delete an upload"):
        to_delete = st.selectbox("Upload to delete", list(labels), format_func=labels.get,
                                 key="delete_dataset")
        sure = st.checkbox("Yes, delete it and the tickets it last wrote", key="delete_confirm")
        if st.button("Delete upload", key="delete_go",
                     disabled=not sure or not ui_auth.allowed(Permission.DELETE_OWN_DATASETS)):
            with connection.writing() as w:
                gone = datasets.delete_dataset(w, to_delete, actor=ui_auth.actor())
            remember("success", f"Deleted upload #{to_delete} and {gone:,} tickets.", [])
            cache.data_changed()
            st.rerun()

# --- data quality -----------------------------------------------------------------------
st.header("Data quality")
scopes = {None: "All uploads", **labels}
scope = st.selectbox("Scope", list(scopes), format_func=scopes.get, key="dq_scope")
quality = cache.dataset_data(con, "data_quality", scope)
widgets.table(quality, alt="Data-quality checks with the number of affected tickets",
              key="dq_table", wrap=True, column_config=upload_target.QUALITY_COLUMNS)
check_labels = {r.check: f"{r.label} ({r.count:,})" for r in quality.itertuples()}
check = st.selectbox("Show the rows of", list(check_labels), format_func=check_labels.get,
                     key="dq_check")
if check:
    rows = cache.dataset_data(con, "data_quality_rows", check, scope)
    widgets.table(rows, alt=f"Rows failing the check {check_labels[check]}", key="dq_rows", wrap=True)
    if not rows.empty:
        widgets.download_csv(rows, f"data_quality_{check}.csv", key="dq_csv")
