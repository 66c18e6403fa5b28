"""Upgrading a store made before engagements into a catalog with its engagements.

Its data becomes the "Default" engagement (settings, policies, sign-offs and audit trail kept)
and its demo uploads, if any, the "Demo" engagement. Everything is built in a scratch folder
beside the store while the store is held for writing; only when all of it is built does one
atomic rename put the catalog in the store's place. Anything failing before that leaves the
store as it was; a copy of the old file is kept beside it (".before-engagements") either way.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from analytics.demo import generator, loader
from analytics.ingest import datasets
from analytics.recurrence import clustering
from analytics.store import audit, auth, db, engagements, sharing
from analytics.store.engagements import Engagement, EngagementError

ACTOR = "hypercare-upgrade"  # how the upgrade is recorded in the audit trail
BACKUP_SUFFIX = ".before-engagements"


class UpgradeError(EngagementError):
    """The upgrade failed; the store is as it was."""


@dataclass
class UpgradeResult:
    catalog: Path
    engagements: dict[str, int] = field(default_factory=dict)  # slug -> tickets
    backup: Path | None = None

    def summary(self) -> str:
        parts = ", ".join(f"'{s}' ({n:,} tickets)" for s, n in self.engagements.items())
        return (f"upgraded {self.catalog} to engagements: {parts}; the old file is kept as {self.backup}")


def _keep_only(path: Path, keep: set[int], slug: str, name: str, installation: list[str]) -> int:
    """In the copy at `path`, remove every dataset not in `keep`; name it; returns its tickets."""
    con = db.connect(path, held=False)
    try:
        for (dataset_id,) in con.execute("SELECT dataset_id FROM datasets ORDER BY 1").fetchall():
            if dataset_id not in keep:
                datasets.delete_dataset(con, dataset_id, actor=auth.local_operator(ACTOR))
        clustering.update_clusters(con)
        with audit.transaction(con) as cur:
            cur.execute("DELETE FROM settings WHERE list_contains($installation, key)", {"installation": installation})
            values = {engagements.SLUG_SETTING: slug, engagements.NAME_SETTING: name,
                      db.SCHEMA_VERSION_SETTING: db.SCHEMA_VERSION}
            if slug == engagements.DEMO_SLUG and not cur.execute(
                    "SELECT 1 FROM settings WHERE key = $window_setting", {"window_setting": engagements.WINDOW_SETTING}).fetchall():
                values[engagements.WINDOW_SETTING] = str(generator.DEMO_WINDOW_DAYS)  # the window its story is told in
            for key, value in values.items():
                audit._upsert(cur, key, value)
            audit.record(cur, ACTOR, audit.STORE_UPGRADE, f"engagement:{slug}",
                         {"from_schema": "1", "to_schema": db.SCHEMA_VERSION, "datasets_kept": sorted(keep)})
        con.execute("CHECKPOINT")
        return db.ticket_count(con)
    finally:
        con.close()


def _write_catalog(path: Path, rows: list[tuple], installation: dict[str, str]) -> None:
    con = db.connect(path, held=False)
    try:
        with audit.transaction(con) as cur:
            audit._upsert(cur, engagements.KIND_SETTING, "catalog")
            for key, value in installation.items():
                audit._upsert(cur, key, value)
            for row in rows:
                cur.execute(engagements.INSERT_SQL, dict(zip(engagements.COLUMNS, row, strict=True)))
            audit.record(cur, ACTOR, audit.STORE_UPGRADE, "catalog",
                         {"from_schema": "1", "to_schema": db.SCHEMA_VERSION,
                          "engagements": [r[0] for r in rows], "installation_settings": sorted(installation)})
        con.execute("CHECKPOINT")
    finally:
        con.close()


def resolve(path: str | os.PathLike | None = None, slug: str | None = None) -> Engagement:
    """engagements.resolve for a store of any kind: a legacy one is upgraded first."""
    path = Path(path) if path is not None else db.default_db_path()
    if engagements.kind_of(path) == "legacy":
        upgrade(path)
    return engagements.resolve(path, slug)


def upgrade(path: str | os.PathLike) -> UpgradeResult | None:
    """Turn the legacy store at `path` into a catalog; None when it is not a legacy store."""
    path = Path(path)
    if db.connection_for(path) is not None:
        raise UpgradeError(f"{path} is a store made before engagements and this process holds it open: "
                           "close it and open it again to upgrade it")
    folder = engagements.engagements_dir(path)
    scratch = path.parent / f".{folder.name}.upgrading"
    with sharing.turn(path, write=True):
        if not path.exists() or engagements.kind_at(path) != "legacy":  # another process upgraded it meanwhile
            return None
        try:
            return _upgrade(path, folder, scratch)
        except UpgradeError:
            raise
        except (duckdb.Error, OSError, ValueError) as exc:
            raise UpgradeError(f"could not upgrade {path} to engagements, left it as it was: {exc}") from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _copy(path: Path, to: Path) -> None:
    """Copy a store file with its write-ahead log, if it has one (not yet checkpointed)."""
    shutil.copyfile(path, to)
    if Path(f"{path}.wal").exists():
        shutil.copyfile(f"{path}.wal", f"{to}.wal")


def _upgrade(path: Path, folder: Path, scratch: Path) -> UpgradeResult:
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    # Work on a copy: the old file is not written to until the one rename at the end.
    source = scratch / "source.duckdb"
    _copy(path, source)
    con = db.connect(source, held=False)  # brings the old schema up to date first, as any open did
    try:
        con.execute("CHECKPOINT")
        uploads = con.execute("SELECT dataset_id, file_name, profile_name FROM datasets").fetchall()
        installation = dict(con.execute("SELECT key, value FROM settings WHERE list_contains($installation_settings, key)",
                                        {"installation_settings": list(engagements.INSTALLATION_SETTINGS)}).fetchall())
    finally:
        con.close()
    demo_ids = {d for d, f, p in uploads if loader.is_demo_upload(f, p)}
    other = {d for d, _, _ in uploads} - demo_ids
    plan = []
    if other or not demo_ids:
        plan.append((engagements.DEFAULT_SLUG, "Default", other, False))
    if demo_ids:
        plan.append((engagements.DEMO_SLUG, "Demo", demo_ids, True))
    clash = [folder / f"{slug}.duckdb" for slug, *_ in plan if (folder / f"{slug}.duckdb").exists()]
    if clash:
        raise UpgradeError(f"could not upgrade {path}: {clash[0]} exists already; move it away and try again")
    result = UpgradeResult(path)
    rows = []
    for slug, name, keep, is_demo in plan:
        shutil.copyfile(source, scratch / f"{slug}.duckdb")
        result.engagements[slug] = _keep_only(scratch / f"{slug}.duckdb", keep, slug, name,
                                              list(engagements.INSTALLATION_SETTINGS))
        rows.append((slug, name, f"{folder.name}/{slug}.duckdb", is_demo, engagements._now(), ACTOR))
    _write_catalog(scratch / "catalog.duckdb", rows, installation)
    result.backup = path.with_name(path.name + BACKUP_SUFFIX)
    _copy(path, result.backup)
    # The commit point: the engagements' stores first (nothing refers to them yet), then the
    # catalog in the old store's place, in one rename.
    folder.mkdir(parents=True, exist_ok=True)
    placed = []
    try:
        for slug, *_ in plan:
            os.replace(scratch / f"{slug}.duckdb", folder / f"{slug}.duckdb")
            placed.append(folder / f"{slug}.duckdb")
        # The old log belongs to the old file (the backup has a copy): it must not replay
        # onto the catalog.
        Path(f"{path}.wal").unlink(missing_ok=True)
        os.replace(scratch / "catalog.duckdb", path)
    except BaseException:
        for p in placed:
            p.unlink(missing_ok=True)
        raise
    return result
