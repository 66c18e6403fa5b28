"""Engagements: one go-live and its hypercare each, in a store file of its own, listed in the
installation's catalog.

The store at HYPERCARE_DB is one of three kinds: a *catalog* (the installation: its engagements,
the settings that belong to the installation, its own audit trail), one engagement's *store*
opened directly (a scheduled job, a copy handed to someone; then it is the only engagement),
or a *legacy* store made before engagements, which analytics/upgrade.py turns into a
catalog. An engagement's go-live, time zone, window, cadence, policies, targets, criteria,
sign-offs and audit trail live in its own store, so every figure computed on that store is
scoped to it by construction; docs/engagements.md has the model.
"""

from __future__ import annotations

import os
import re
import shutil
import zoneinfo
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb

from analytics.store import audit, auth, db, sharing

ENV = "HYPERCARE_ENGAGEMENT"
KIND_SETTING = "store_kind"  # "catalog" in a catalog; absent in an engagement's store
SLUG_SETTING, NAME_SETTING = "engagement_slug", "engagement_name"
# The catalog's engagements table, column by column (analytics.store.schema).
COLUMNS = ("slug", "name", "file", "is_demo", "created_at", "created_by")
INSERT_SQL = f"INSERT INTO engagements VALUES ({', '.join('$' + c for c in COLUMNS)})"
_POLICY_COLUMNS = ("version", "effective_from", "policy_toml", "saved_by", "saved_at")
GO_LIVE_SETTING, TIMEZONE_SETTING = "go_live_date", "default_timezone"
WINDOW_SETTING, CADENCE_SETTING = "hypercare_window_days", "review_cadence"
DEFAULT_WINDOW_DAYS = 14  # seed 000: "hypercare period of 14 days after go-live"
CADENCES = ("daily", "weekly", "fortnightly", "monthly")
DEFAULT_CADENCE = "weekly"
DEMO_SLUG, DEFAULT_SLUG = "demo", "default"
# Settings of the installation, not of one engagement: kept in the catalog.
INSTALLATION_SETTINGS = ("max_upload_mb", auth.ROLE_MAP_SETTING)
# Settings that say which engagement a store is, or that the store keeps for itself: never copied.
_OWN_SETTINGS = frozenset({SLUG_SETTING, NAME_SETTING, GO_LIVE_SETTING, TIMEZONE_SETTING, WINDOW_SETTING,
                           CADENCE_SETTING, KIND_SETTING, db.SCHEMA_VERSION_SETTING, audit.HEAD_SETTING,
                           "demo_autoloaded", auth.ENGAGEMENT_ROLE_MAP_SETTING, *INSTALLATION_SETTINGS})
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")


class EngagementError(ValueError):
    """A one-line reason an engagement cannot be chosen, made or removed."""


@dataclass(frozen=True)
class Engagement:
    """One engagement: where its store is and what the catalog says about it."""

    slug: str
    name: str
    path: Path  # its store file
    is_demo: bool = False
    catalog: Path | None = None  # None: its store was opened directly

    @property
    def label(self) -> str:
        return f"{self.name} ({self.slug})" if self.name != self.slug else self.slug


@dataclass(frozen=True)
class Details:
    """An engagement's own settings, as its store holds them."""

    go_live: date | None
    timezone: str
    window_days: int
    cadence: str

    @property
    def window_end(self) -> date | None:
        return None if self.go_live is None else self.go_live + timedelta(days=self.window_days)


def check_slug(slug: str) -> str:
    if not _SLUG.match(slug or ""):
        raise EngagementError(f"'{slug}' is not a usable engagement slug: 1 to 40 lower-case letters, digits "
                              "and hyphens, starting and ending with a letter or digit (e.g. 'erp-go-live-2026')")
    return slug


def slug_for(name: str) -> str:
    """A slug proposed for a name ("ERP go-live, wave 2" -> "erp-go-live-wave-2")."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "engagement"


def engagements_dir(catalog: Path) -> Path:
    """Where a catalog's engagement stores live: beside it, named after it."""
    return catalog.parent / f"{catalog.stem}.engagements"


# --- which kind of store a file is --------------------------------------------------------


def kind_of(path: str | os.PathLike, on_wait=None) -> str:
    """"missing", "catalog", "engagement" (one engagement's store) or "legacy" (made before engagements);
    `on_wait()` is called when another process's write makes it wait."""
    path = Path(path)
    held = db.connection_for(path)
    if held is not None:
        return kind_in(held)
    if not path.exists():
        return "missing"
    with sharing.turn(path, write=False, on_wait=on_wait):
        return kind_at(path)


def kind_at(path: Path) -> str:
    """`kind_of` for a caller that already holds the store's turn."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return kind_in(con)
    finally:
        con.close()


def kind_in(con) -> str:
    """`kind_of` for an open store."""
    if not con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = 'settings'").fetchall():
        return "engagement" if not con.execute("SELECT 1 FROM information_schema.tables").fetchall() else "legacy"
    values = dict(con.execute("SELECT key, value FROM settings WHERE list_contains($keys, key)",
                              {"keys": [KIND_SETTING, db.SCHEMA_VERSION_SETTING]}).fetchall())
    if values.get(KIND_SETTING) == "catalog":
        return "catalog"
    return "engagement" if db.SCHEMA_VERSION_SETTING in values else "legacy"


def create_catalog(path: str | os.PathLike, actor: auth.Identity) -> Path:
    """Make an empty catalog at `path` (which must not exist yet), recorded as `actor`'s doing."""
    actor = auth.as_identity(actor)
    path = Path(path)
    with sharing.writing(path) as con:
        if db.get_setting(con, KIND_SETTING) != "catalog":
            if db.ticket_count(con) or db.get_setting(con, SLUG_SETTING):
                raise EngagementError(f"{path} holds tickets: it is a store, not a catalog")
            with audit.transaction(con) as cur:
                audit._upsert(cur, KIND_SETTING, "catalog")
                audit.record(cur, actor, audit.SETTING_CHANGE, f"setting:{KIND_SETTING}",
                             {"key": KIND_SETTING, "old": None, "new": "catalog"})
    return path


# --- listing and choosing -----------------------------------------------------------------


def list_engagements(catalog: str | os.PathLike) -> list[Engagement]:
    """The catalog's engagements, by name."""
    catalog = Path(catalog)
    with sharing.reading(catalog) as con:
        rows = con.cursor().execute("SELECT slug, name, file, is_demo FROM engagements ORDER BY lower(name), slug"
                                    ).fetchall()
    return [Engagement(s, n, catalog.parent / f, bool(d), catalog) for s, n, f, d in rows]


def own(path: str | os.PathLike) -> Engagement:
    """The engagement whose store is `path`, opened directly."""
    path = Path(path)
    with sharing.reading(path) as con:
        values = db.get_settings(con, [SLUG_SETTING, NAME_SETTING])
    slug = values.get(SLUG_SETTING) or path.stem
    return Engagement(slug, values.get(NAME_SETTING) or slug, path)


def _listing(found: list[Engagement]) -> str:
    return ", ".join(e.label for e in found)


def resolve(path: str | os.PathLike | None = None, slug: str | None = None) -> Engagement:
    """The engagement a command works on: `slug`, else HYPERCARE_ENGAGEMENT, else the only one.

    A missing store is an error (the CLI says how to start), and so is a legacy one:
    upgrade.resolve upgrades it first."""
    path = Path(path) if path is not None else db.default_db_path()
    slug = slug or os.environ.get(ENV) or None
    kind = kind_of(path)
    if kind == "legacy":
        raise EngagementError(f"{path} is a store made before engagements: open it with the app or the command "
                              "line to upgrade it")
    if kind == "missing":
        raise EngagementError(f"no store at {path}: load the demo (`python -m analytics demo`) or upload an "
                              "export into a new engagement (`python -m analytics ingest FILE --engagement SLUG "
                              "--create`)")
    if kind == "engagement":
        only = own(path)
        if slug and slug != only.slug:
            raise EngagementError(f"{path} is the store of the one engagement '{only.slug}', not '{slug}'")
        return only
    found = list_engagements(path)
    if slug:
        for e in found:
            if e.slug == slug:
                return e
        raise EngagementError(f"no engagement '{slug}' in {path}"
                              + (f"; there are: {_listing(found)}" if found else "; there are none yet"))
    if len(found) == 1:
        return found[0]
    if not found:
        raise EngagementError(f"{path} has no engagement yet: create one (`python -m analytics engagements create "
                              "SLUG --go-live YYYY-MM-DD`) or upload with `ingest FILE --engagement SLUG --create`")
    raise EngagementError(f"{len(found)} engagements in {path}: name one with --engagement SLUG (or "
                          f"{ENV}): {_listing(found)}")


def details(e: Engagement | str | os.PathLike | None, con=None) -> Details:
    """The engagement's go-live, time zone, window and cadence (from its store, or `con`; with
    `con` the engagement `e` may be None)."""
    def read(c) -> dict[str, str]:
        return db.get_settings(c, [GO_LIVE_SETTING, TIMEZONE_SETTING, WINDOW_SETTING, CADENCE_SETTING])

    if con is not None:
        values = read(con)
    elif e is None:
        raise TypeError("engagements.details needs an engagement or a store connection (con)")
    else:
        with sharing.reading(e.path if isinstance(e, Engagement) else Path(e)) as c:
            values = read(c)
    go_live = values.get(GO_LIVE_SETTING)
    try:
        when = date.fromisoformat(go_live[:10]) if go_live else None
    except ValueError:
        when = None
    window = values.get(WINDOW_SETTING)
    return Details(when, values.get(TIMEZONE_SETTING) or "UTC",
                   int(window) if window and window.isdigit() else DEFAULT_WINDOW_DAYS,
                   values.get(CADENCE_SETTING) or DEFAULT_CADENCE)


# --- making and removing --------------------------------------------------------------------


def _check(timezone_name: str, window_days: int, cadence: str) -> None:
    try:
        zoneinfo.ZoneInfo(timezone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise EngagementError(f"'{timezone_name}' is not a time zone (e.g. Europe/Amsterdam, America/New_York)") from None
    if not 1 <= int(window_days) <= 366:
        raise EngagementError(f"a hypercare window of {window_days} days: it must be 1 to 366 days")
    if cadence not in CADENCES:
        raise EngagementError(f"review cadence '{cadence}': choose one of {', '.join(CADENCES)}")


def _copied(source: Path) -> tuple[list[tuple], list[tuple]]:
    """The settings and SLA policy versions an engagement made from `source` starts with."""
    with sharing.reading(source) as con:
        settings = [r for r in con.cursor().execute("SELECT key, value FROM settings ORDER BY key").fetchall()
                    if r[0] not in _OWN_SETTINGS]
        policies = con.cursor().execute(f"SELECT {', '.join(_POLICY_COLUMNS)} FROM sla_policies "
                                        "ORDER BY effective_from, version").fetchall()
    return settings, policies


def _remove_files(path: Path) -> None:
    for extra in ("", ".wal", ".lock", ".lock-queue"):
        Path(f"{path}{extra}").unlink(missing_ok=True)


def create(catalog: str | os.PathLike, slug: str, name: str, *, go_live: date | None, timezone_name: str = "UTC",
           window_days: int = DEFAULT_WINDOW_DAYS, cadence: str = DEFAULT_CADENCE, copy_from: str | None = None,
           is_demo: bool = False, actor: auth.Identity) -> Engagement:
    """Add an engagement to the catalog (made if missing) with a new store of its own.

    It starts from the seed defaults, or from the settings and SLA policies of `copy_from`.
    Recorded in the audit trail of both the catalog and the new store."""
    who = auth.require(actor, auth.Permission.UPLOAD)
    catalog = Path(catalog)
    check_slug(slug)
    name = " ".join(str(name).split())[:120] or slug
    _check(timezone_name, window_days, cadence)
    kind = kind_of(catalog)
    if kind != "catalog":
        if kind != "missing":
            raise EngagementError(f"{catalog} is not a catalog of engagements")
        create_catalog(catalog, who)
    with sharing.writing(catalog) as cat:
        existing = {r[0] for r in cat.cursor().execute("SELECT slug FROM engagements").fetchall()}
        if slug in existing:
            raise EngagementError(f"there is already an engagement '{slug}'")
        source = None
        if copy_from:
            match = cat.cursor().execute("SELECT file FROM engagements WHERE slug = $copy_from", {"copy_from": copy_from}).fetchall()
            if not match:
                raise EngagementError(f"no engagement '{copy_from}' to copy the settings from")
            source = catalog.parent / match[0][0]
        relative = Path(engagements_dir(catalog).name) / f"{slug}.duckdb"
        path = catalog.parent / relative
        if path.exists():
            raise EngagementError(f"{path} exists already but is not in the catalog: move it away first")
        settings, policies = _copied(source) if source is not None else ([], [])
        own_values = {SLUG_SETTING: slug, NAME_SETTING: name, TIMEZONE_SETTING: timezone_name,
                      WINDOW_SETTING: str(int(window_days)), CADENCE_SETTING: cadence}
        if go_live is not None:
            own_values[GO_LIVE_SETTING] = go_live.isoformat()
        detail = {"slug": slug, "name": name, "file": str(relative), "copied_from": copy_from,
                  **{k: v for k, v in own_values.items() if k not in (SLUG_SETTING, NAME_SETTING)}}
        try:
            with sharing.writing(path) as con:
                with audit.transaction(con) as cur:
                    for key, value in [*settings, *own_values.items()]:
                        audit._upsert(cur, key, value)
                    for row in policies:
                        cur.execute("INSERT INTO sla_policies VALUES ($version, $effective_from, $policy_toml, "
                                    "$saved_by, $saved_at)", dict(zip(_POLICY_COLUMNS, row, strict=True)))
                    audit.record(cur, who, audit.ENGAGEMENT_CREATE, f"engagement:{slug}", detail)
            with audit.transaction(cat) as cur:
                cur.execute(INSERT_SQL, {"slug": slug, "name": name, "file": str(relative), "is_demo": is_demo,
                                         "created_at": _now(), "created_by": who.label})
                audit.record(cur, who, audit.ENGAGEMENT_CREATE, f"engagement:{slug}", detail)
        except BaseException:
            _remove_files(path)
            raise
    return Engagement(slug, name, path, is_demo, catalog)


def delete(catalog: str | os.PathLike, slug: str, actor: auth.Identity) -> Path | None:
    """Remove an engagement from the catalog; its store goes to the catalog's `deleted/` folder
    (the demo's is removed). Returns where the store went. Analysts remove the demo, admins any."""
    catalog, actor = Path(catalog), auth.as_identity(actor)
    e = _listed(catalog, slug)
    who = auth.require(actor, auth.Permission.UPLOAD if e.is_demo else auth.Permission.DELETE_ANY_DATASET)
    kept = None if e.is_demo else engagements_dir(catalog) / "deleted" / f"{slug}-{_now():%Y%m%dT%H%M%S}.duckdb"
    _remove(catalog, e, who, kept, {})
    return kept


def discard_empty(catalog: str | os.PathLike, slug: str, actor: auth.Identity, reason: str) -> None:
    """Remove an engagement whose store holds no data yet (a new one whose first upload failed),
    keeping no copy: whoever may upload may undo the engagement their upload made."""
    catalog, who = Path(catalog), auth.require(actor, auth.Permission.UPLOAD)
    e = _listed(catalog, slug)
    with sharing.reading(e.path) as con:
        held = con.execute("SELECT (SELECT count(*) FROM tickets) + (SELECT count(*) FROM datasets)").fetchall()[0][0]
    if held:
        raise EngagementError(f"the engagement '{slug}' holds data: it is deleted, not discarded")
    _remove(catalog, e, who, None, {"discarded": reason})


def _listed(catalog: Path, slug: str) -> Engagement:
    found = [e for e in list_engagements(catalog) if e.slug == slug]
    if not found:
        raise EngagementError(f"no engagement '{slug}' to delete")
    return found[0]


def _remove(catalog: Path, e: Engagement, who: auth.Identity, kept: Path | None, details: dict) -> None:
    with sharing.writing(catalog) as cat, sharing.turn(e.path, write=True):
        # The store moves inside the catalog's transaction, and back if that fails to commit.
        moved = False
        try:
            with audit.transaction(cat) as cur:
                cur.execute("DELETE FROM engagements WHERE slug = $slug", {"slug": e.slug})
                audit.record(cur, who, audit.ENGAGEMENT_DELETE, f"engagement:{e.slug}",
                             {"slug": e.slug, "name": e.name, "store_kept_at": str(kept) if kept else None,
                              **details})
                if kept is not None and e.path.exists():
                    kept.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(str(e.path), kept)
                    moved = True
        except BaseException:
            if moved:
                shutil.move(str(kept), e.path)
            raise
        if kept is None:
            e.path.unlink(missing_ok=True)
        Path(f"{e.path}.wal").unlink(missing_ok=True)


def installation_store(e: Engagement) -> Path:
    """The store that holds the installation's settings (upload limit, role map) for `e`."""
    return e.catalog if e.catalog is not None else e.path


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)
