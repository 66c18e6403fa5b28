"""Which profile fits a file: scored by the columns it needs, with the reason shown to the user."""

from __future__ import annotations

import re
from dataclasses import dataclass

from analytics.ingest.profiles import Profile, SourceSpec


@dataclass
class Detection:
    profile_name: str
    confidence: float  # 0..1
    reason: str
    profile: Profile


def _score(profile: Profile, header: list[str]) -> tuple[float, str]:
    present = set(header)
    if profile.match.header and list(profile.match.header) == list(header):
        return 1.0, "the header is identical to the one this profile was saved from"
    required = profile.required_columns()
    missing = [c for c in required if c not in present]
    if not required:
        return 0.0, "the profile names no columns"
    if missing:
        share = 1 - len(missing) / len(required)
        shown = ", ".join(f"'{c}'" for c in missing[:4]) + (" …" if len(missing) > 4 else "")
        return round(0.5 * share, 3), f"missing {len(missing)} of {len(required)} columns: {shown}"
    optional = [c for f in profile.columns for c in profile.source_columns(f) if c not in required]
    hits = sum(1 for c in optional if c in present)
    # Breadth matters: a profile that explains more of the file is the better fit.
    used = len(set(required) | {c for c in optional if c in present})
    coverage = used / max(len(present), 1)
    confidence = 0.6 + 0.25 * (hits / len(optional) if optional else 1) + 0.15 * coverage
    return round(min(confidence, 0.99), 3), (
        f"all {len(required)} required columns present; {used} of the file's "
        f"{len(present)} columns mapped"
    )


def detect(header: list[str], profiles: list[Profile], source: str = "auto") -> list[Detection]:
    """Every candidate profile, best first. `source` restricts to one vendor's profiles."""
    # --source names a vendor; its profiles carry it as their source label.
    wanted = None if source in ("auto", "", None) else source
    out = []
    for profile in profiles:
        if wanted and wanted != "generic" and wanted not in (profile.source.source_label, profile.source.name):
            continue
        confidence, reason = _score(profile, header)
        out.append(Detection(profile.source.name, confidence, reason, profile))
    out.sort(key=lambda d: -d.confidence)
    return out


# Column-name hints for files no profile knows. Order matters: the first field to claim a
# column keeps it, so specific names come before generic ones.
_HINTS: tuple[tuple[str, str], ...] = (
    ("external_id", r"^(ticket|incident|issue|case|sr|request)?[ _-]*(id|number|key|no|nr|#)$|^number$|^key$"),
    ("title", r"title|summary|short[ _]?desc|subject|^name$|description"),
    ("severity", r"severity|priori|^prio|impact|urgency|^sev$"),
    ("status", r"^(ticket[ _]?|incident[ _]?)?(status|state)$"),
    ("type", r"^(type|issue[ _]?type|ticket[ _]?type|kind)$"),
    ("service", r"service|application|^app$|system|product"),
    ("component", r"component|cmdb|^ci$|config(uration)?[ _]?item"),
    ("category", r"categor"),
    ("team", r"team|group|queue"),
    ("assignee", r"assign(ee|ed[ _]to)|owner|resolver"),
    ("opened_at", r"(opened|created|open[ _]time|reported|submitted|start(ed)?)([ _]?(at|on|date|time))?$"),
    ("acknowledged_at", r"ack|first[ _]response|responded"),
    ("resolved_at", r"resol(ved|ution)[ _]?(at|on|date|time)?$"),
    ("closed_at", r"closed?[ _]?(at|on|date|time)$"),
    ("reopen_count", r"reopen"),
    ("reassignment_count", r"reassign"),
    ("problem_id", r"problem"),
)


def _by_name(header: list[str]) -> dict[str, str]:
    """Canonical field → the first column whose name says it is that field."""
    columns: dict[str, str] = {}
    taken: set[str] = set()
    # A column named exactly like a canonical field (Hypercare's own export) is that field.
    lowered = {c.strip().lower(): c for c in header}
    for field, _ in _HINTS:
        if field in lowered:
            columns[field] = lowered[field]
            taken.add(lowered[field])
    for field, pattern in _HINTS:
        if field in columns:
            continue
        for col in header:
            if col not in taken and re.search(pattern, col.strip().lower()):
                columns[field] = col
                taken.add(col)
                break
    return columns


def unnamed_required(header: list[str]) -> list[str]:
    """The fields a tickets-layout file needs (id, opened time) that no column name points to.

    A generic guess fills them with some column so the page can show the gap; loading such a
    guess without a person checking it would make tickets out of, say, a status column."""
    found = _by_name(header)
    return [f for f in ("external_id", "opened_at") if f not in found]


def guess_generic(header: list[str], name: str = "generic") -> Profile:
    """A best-effort tickets-layout mapping from column names, for the user to correct."""
    columns = _by_name(header)
    taken = set(columns.values())
    columns.setdefault("external_id", header[0] if header else "id")
    if "opened_at" not in columns:
        # The layout needs an opened time; point it at a column so the page can show the gap.
        columns["opened_at"] = next((c for c in header if c not in taken), header[0] if header else "opened_at")
    # A copy typed as Profile's columns (dict is invariant: a dict[str, str] is not a dict[str, str | list[str]]).
    return Profile(source=SourceSpec(name=name, layout="tickets"), columns=dict(columns))
