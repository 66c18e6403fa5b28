"""Settings: time zone for naive timestamps, upload limit, go-live date, mapping profiles."""

import os
from datetime import date

import streamlit as st

from analytics.ingest import profiles
from analytics.ingest.stage import DEFAULT_MAX_UPLOAD_MB
from analytics.store import audit, db
from analytics.store.auth import Permission
from ui import auth as ui_auth
from ui import cache, closure_editor, connection, page, policy_editor, role_editor, widgets

con = page.start_page()
installation = connection.installation_connection()  # the upload limit and role map: every engagement's

st.title("Settings")
page.engagement_caption("Stored in the engagement's store; they apply to every user of this engagement. "
                        "The upload limit and the role map apply to every engagement.")

zones = cache.time_zones()
current_tz = db.get_setting(con, "default_timezone", "UTC") or "UTC"
env_limit = os.environ.get("HYPERCARE_MAX_UPLOAD_MB")
current_mb = int(float(db.get_setting(installation, "max_upload_mb", str(DEFAULT_MAX_UPLOAD_MB))))
stored_go_live = db.get_setting(con, "go_live_date")
try:
    current_go_live = date.fromisoformat(stored_go_live) if stored_go_live else None
except ValueError:
    current_go_live = None

_may_settings = ui_auth.allowed(Permission.CHANGE_SETTINGS)
with st.form("settings_form"):
    tz = st.selectbox(
        "Default time zone for naive timestamps",
        zones,
        index=zones.index(current_tz) if current_tz in zones else zones.index("UTC"),
        key="set_timezone",
        help="Timestamps without an offset in an upload are read as wall-clock time in this "
        "zone (the Upload page can override it per file). Everything is stored in UTC.",
    )
    mb = st.number_input(
        "Upload size limit (MB)",
        min_value=1,
        max_value=10_000,
        value=int(float(env_limit)) if env_limit else current_mb,
        step=10,
        key="set_max_upload_mb",
        disabled=bool(env_limit),
        help="Largest file the Upload page accepts."
        + (" Set by HYPERCARE_MAX_UPLOAD_MB, which overrides this setting." if env_limit else ""),
    )
    go_live = st.date_input(
        "Go-live date",
        value=current_go_live,
        min_value=date(2000, 1, 1),
        max_value=date(2100, 12, 31),
        format="YYYY-MM-DD",
        key="set_go_live",
        help="The day the system went live; hypercare weeks are counted from it.",
    )
    if st.form_submit_button("Save settings", type="primary", disabled=not _may_settings):
        _changes = {"default_timezone": tz}
        if go_live is not None:
            _changes["go_live_date"] = go_live.isoformat()
        with connection.writing() as w:
            audit.set_settings(w, _changes, ui_auth.actor())
        if not env_limit and str(int(mb)) != db.get_setting(installation, "max_upload_mb"):
            with connection.writing_installation() as w:
                audit.set_settings(w, {"max_upload_mb": str(int(mb))}, ui_auth.actor())
        cache.data_changed()
        st.success("Settings saved.", icon=":material/check_circle:")
if env_limit:
    st.caption(f"The upload limit is fixed at {widgets.escape_markdown(env_limit)} MB by the "
               "HYPERCARE\\_MAX\\_UPLOAD\\_MB environment variable.")

st.header("Mapping profiles")
st.caption("A profile tells Hypercare how an export's columns map to ticket fields. Built-in "
           "profiles ship with Hypercare; saved ones live in the profiles folder "
           f"({widgets.escape_markdown(profiles.user_profile_dir())}).")
try:
    listing, tomls = cache.profile_catalogue()
except profiles.ProfileError as exc:
    st.error(widgets.escape_markdown(exc), icon=":material/error:")
    listing, tomls = None, {}
if listing is not None:
    widgets.table(listing, alt="Mapping profiles", key="profiles_table")
if tomls:
    chosen = st.selectbox("Profile to download", list(tomls), key="set_profile_pick")
    st.download_button(
        "Download profile (TOML)",
        data=tomls[chosen],
        file_name=f"{chosen.split(' (')[0]}.toml",
        mime="application/toml",
        key="set_profile_download",
        icon=":material/download:",
        on_click="ignore",
    )

st.subheader("Add a profile")
upload = st.file_uploader("Profile file (TOML)", type=["toml"], key="set_profile_upload")
if upload is not None:
    try:
        profile = profiles.parse_profile(upload.getvalue().decode("utf-8"), origin=upload.name)
    except (profiles.ProfileError, UnicodeDecodeError) as exc:
        st.error(widgets.escape_markdown(exc), icon=":material/error:")
    else:
        st.success(f"Valid profile '{widgets.escape_markdown(profile.source.name)}' "
                   f"({profile.source.layout} layout, {len(profile.columns)} mapped fields).",
                   icon=":material/check_circle:")
        if st.button("Save profile", key="set_profile_save", disabled=not ui_auth.allowed(Permission.EDIT_MAPPINGS)):
            path = profiles.save_profile(profile, actor=ui_auth.actor())
            st.success(f"Saved as {widgets.escape_markdown(path)}.", icon=":material/check_circle:")


# --- KPI targets (issue #4; owned by the KPI work) ---------------------------------------

from analytics.kpi import registry  # noqa: E402

st.header("KPI targets")
st.caption("Targets the Overview cards and KPI trends compare against. Defaults come from the "
           "hypercare seeds; clear a field to show a KPI without a target.")
_targets = registry.targets(con)
_may_targets = ui_auth.allowed(Permission.CHANGE_TARGETS)
with st.form("kpi_targets_form"):
    _entered = {}
    for _k in (k for k in registry.KPIS if k.kind not in ("count",)):
        _entered[_k.key] = st.text_input(
            f"{_k.name} ({_k.unit}, {_k.direction} is better)",
            value="" if _targets[_k.key] is None else f"{_targets[_k.key]:g}",
            key=f"set_kpi_target_{_k.key}",
            help=f"Default: {_k.target_text or 'none'}. {_k.definition}")
    _outage = st.multiselect(
        "Severities counted as outages (availability, MTBF)", ["SEV-1", "SEV-2", "SEV-3", "SEV-4"],
        default=list(registry.outage_severities(con)), key="set_kpi_outage")
    if st.form_submit_button("Save KPI targets", disabled=not _may_targets):
        _changes = {}
        for _key, _value in _entered.items():
            try:
                float(_value) if _value.strip() else None
            except ValueError:
                st.error(f"Not a number for {widgets.escape_markdown(_key)}: "
                         f"{widgets.escape_markdown(_value)}", icon=":material/error:")
                continue
            _changes[f"kpi_target.{_key}"] = _value.strip()
        _changes[registry.OUTAGE_SETTING] = ",".join(_outage or ["SEV-1", "SEV-2"])
        with connection.writing() as w:
            audit.set_settings(w, _changes, ui_auth.actor())  # one transaction, one audit record per change
        cache.data_changed()
        st.success("KPI targets saved.", icon=":material/check_circle:")

# --- SLA policy (versions, targets, calendar, TOML) -----------------------------------
policy_editor.render(con)

# --- closure criteria (Governance page's scorecard) -----------------------------------
closure_editor.editor(con)

# --- roles (sign-in; docs/auth.md) ------------------------------------------------------
role_editor.render(installation)
role_editor.render_engagement(con)
