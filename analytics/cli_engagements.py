"""The command line's engagements: who it acts as, which store a command works on, and the
`engagements` command."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from analytics import upgrade
from analytics.demo import generator
from analytics.demo.calendar import DEMO_TIMEZONE
from analytics.store import auth, db, engagements
from analytics.store.engagements import EngagementError

# Commands that make a store when there is none yet (a new file is one engagement's store).
_MAKES_A_STORE = ("ingest", "demo")


def waiting() -> None:
    print("waiting for the store: another process is using it…", file=sys.stderr)


def operator() -> auth.Identity:
    """Who the CLI acts as: a local operator with every role (the file system's permissions
    guard the store), recorded as HYPERCARE_OPERATOR, else "cli:<login name>"."""
    return auth.local_identity("cli")


def store_for(args) -> Path | None:
    """The store file the command works on: the chosen engagement's, or the file itself."""
    if args.command in ("profiles", "engagements"):
        return None
    path = Path(args.db) if args.db else db.default_db_path()
    slug = args.engagement or os.environ.get(engagements.ENV) or None
    kind = _upgraded(path, engagements.kind_of(path, on_wait=waiting))
    if kind == "missing" and args.command in _MAKES_A_STORE and not slug:
        return path  # a new store of one engagement, as `--db new.duckdb` always made
    if args.command == "ingest" and getattr(args, "create", False):
        _create_if_missing(path, kind, slug, args)
    if args.command == "demo" and slug and kind in ("missing", "catalog"):
        if kind == "missing" or slug not in {e.slug for e in engagements.list_engagements(path)}:
            engagements.create(path, slug, "Demo" if slug == engagements.DEMO_SLUG else slug,
                               go_live=generator.DEFAULT_GO_LIVE, timezone_name=DEMO_TIMEZONE,
                               window_days=generator.DEMO_WINDOW_DAYS, is_demo=True, actor=operator())
    found = upgrade.resolve(path, slug)
    if args.command in ("ingest", "sync") and found.is_demo:
        what = "upload real exports" if args.command == "ingest" else "sync live sources"
        raise EngagementError(f"the engagement '{found.slug}' holds only the generated demo data: {what} "
                              "into another one (--engagement SLUG; `ingest --create` makes one)")
    return found.path


def _upgraded(path: Path, kind: str) -> str:
    """Upgrade a store made before engagements, saying so on stderr; the kind it has now."""
    if kind != "legacy":
        return kind
    result = upgrade.upgrade(path)
    if result is not None:
        print(result.summary(), file=sys.stderr)
    return "catalog"


def _create_if_missing(path: Path, kind: str, slug: str | None, args) -> None:
    if not slug:
        raise EngagementError("--create needs --engagement SLUG: the engagement to create")
    if kind == "engagement":
        raise EngagementError(f"{path} is one engagement's store: --create needs an installation's catalog")
    if kind == "catalog" and slug in {e.slug for e in engagements.list_engagements(path)}:
        return
    engagements.create(path, slug, args.name or slug, go_live=args.go_live, timezone_name=args.tz or "UTC",
                       actor=operator())


def cmd_engagements(args) -> int:
    path = Path(args.db) if args.db else db.default_db_path()
    action = args.action or "list"
    if action == "create":
        e = engagements.create(path, args.slug, args.name or args.slug, go_live=args.go_live,
                               timezone_name=args.tz, window_days=args.window_days, cadence=args.cadence,
                               copy_from=args.copy_from, actor=operator())
        print(f"created the engagement '{e.slug}' ({e.name}); its store is {e.path}")
        return 0
    if action == "delete":
        kept = engagements.delete(path, args.slug, actor=operator())
        print(f"deleted the engagement '{args.slug}'" + (f"; its store was moved to {kept}" if kept else ""))
        return 0
    kind = _upgraded(path, engagements.kind_of(path))
    if kind == "missing":
        raise EngagementError(f"no store at {path}: create an engagement (`engagements create SLUG`) first")
    found = [engagements.own(path)] if kind == "engagement" else engagements.list_engagements(path)
    rows: list[dict[str, Any]] = []
    for e in found:
        d = engagements.details(e)
        rows.append({"slug": e.slug, "name": e.name, "demo": e.is_demo,
                     "go_live": d.go_live.isoformat() if d.go_live else None, "timezone": d.timezone,
                     "window_days": d.window_days, "cadence": d.cadence, "store": str(e.path)})
    if getattr(args, "json", False):
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['slug']:24} {r['name'][:32]:32} go-live {r['go_live'] or '—':10} {r['timezone']:20} "
                  f"{r['window_days']:>3} days{'  (demo)' if r['demo'] else ''}")
    return 0
