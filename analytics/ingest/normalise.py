"""Vendor vocabularies → canonical values: severity, ticket type, status category, pause reason.

Each function maps one raw value. Ingest calls them once per *distinct* raw value and joins
the result back in SQL, so a million-row file costs a few hundred Python calls, not a million.
A profile's own maps ([severity_map], [type_map], [status_map]) win over these defaults; a
source-specific word (Volvo's "Unmatched") belongs in its profile, never in these lists.
"""

from __future__ import annotations

import re

# Words that name a severity on their own, for files no profile knows. "major" means different
# levels per tool (Statuspage: second of four; Jira: the default, third of five; Volvo: the top),
# so SEV-2 is only the fallback: the Jira, Volvo and Statuspage profiles each say theirs.
_SEVERITY_WORDS: dict[str, str] = {
    "critical": "SEV-1", "crit": "SEV-1", "blocker": "SEV-1", "highest": "SEV-1",
    "urgent": "SEV-1", "emergency": "SEV-1", "severe": "SEV-1", "sev-1": "SEV-1",
    "high": "SEV-2", "major": "SEV-2", "important": "SEV-2", "sev-2": "SEV-2",
    "medium": "SEV-3", "moderate": "SEV-3", "normal": "SEV-3", "somewhat important": "SEV-3",
    "sev-3": "SEV-3",
    "low": "SEV-4", "lowest": "SEV-4", "minor": "SEV-4", "trivial": "SEV-4", "planning": "SEV-4",
    "sev-4": "SEV-4",
}
# "P0: Blocker", "1 - Critical", "SEV1", "S2", "P3", "4": a leading level number decides.
_LEVEL = re.compile(r"^(?:p|sev|s|priority|prio)?\s*-?\s*([0-5])\b")
# P0 and P1 are both "drop everything" in the scales we meet (Apache P0–P4, PagerDuty P1–P5).
_LEVEL_TO_SEV = {"0": "SEV-1", "1": "SEV-1", "2": "SEV-2", "3": "SEV-3", "4": "SEV-4", "5": "SEV-4"}


def severity(raw: str | None, overrides: dict[str, str] | None = None) -> str | None:
    """SEV-1..SEV-4 for a raw priority/severity/impact value, or None when it has no meaning
    we can defend ("Unset", "Not Evaluated", …) — such values are reported, never guessed."""
    if raw is None:
        return None
    value = str(raw).strip()
    if overrides:
        if value in overrides:
            return overrides[value]
        folded = {k.strip().lower(): v for k, v in overrides.items()}
        if value.lower() in folded:
            return folded[value.lower()]
    key = value.lower()
    if key in _SEVERITY_WORDS:
        return _SEVERITY_WORDS[key]
    level = _LEVEL.match(key.replace("sev ", "sev"))
    if level:
        return _LEVEL_TO_SEV[level.group(1)]
    # "1 - Critical" is caught above; "Critical - 1" or "Sev: High" fall back to a word inside.
    for word in re.split(r"[^a-z0-9-]+", key):
        if word in _SEVERITY_WORDS:
            return _SEVERITY_WORDS[word]
    return None


_TYPE_WORDS: tuple[tuple[str, str], ...] = (
    (r"bug|defect|anomaly", "defect"),
    (r"incident|outage|alert|disruption", "incident"),
    (r"improvement|feature|story|epic|enhancement|suggestion|wish|change request", "enhancement"),
    (r"question|information|faq|how ?to", "question"),
    (r"request|task|access|service", "service_request"),
)


def _lookup(value: str, table: dict[str, str] | None) -> str | None:
    """A profile table's entry for `value`: exact first, else ignoring case and edge blanks."""
    if not table:
        return None
    if value in table:
        return table[value]
    folded = {k.strip().lower(): v for k, v in table.items()}
    return folded.get(value.lower())


def _classify(raw: str | None, overrides: dict[str, str] | None, words: tuple[tuple[str, str], ...],
              default: str) -> str:
    """The profile's own mapping first, else the first vocabulary pattern found in the value."""
    if raw is None or not str(raw).strip():
        return default
    value = str(raw).strip()
    found = _lookup(value, overrides)
    if found is not None:
        return found
    key = value.lower()
    return next((kind for pattern, kind in words if re.search(pattern, key)), default)


def ticket_type(raw: str | None, overrides: dict[str, str] | None = None,
                default: str = "incident") -> str:
    """incident / defect / enhancement / question / service_request."""
    return _classify(raw, overrides, _TYPE_WORDS, default)


_STATUS_WORDS: tuple[tuple[str, str], ...] = (
    (r"cancel|withdrawn|duplicate|invalid|rejected|won.?t|not a bug", "cancelled"),
    (r"resolv|fixed|mitigat", "resolved"),
    (r"clos|done|complete|finished", "closed"),
)


def status_category(raw: str | None, overrides: dict[str, str] | None = None) -> str:
    """open / resolved / closed / cancelled; anything unrecognised is still being worked: open."""
    return _classify(raw, overrides, _STATUS_WORDS, "open")


def pause_reason(raw: str | None, waiting: dict[str, str] | None) -> str | None:
    """Whom a status waits on, from the profile's [waiting] table; None: not a waiting status.

    Only the profile decides: "Pending" or "Hold" mean different things in different tools."""
    if raw is None or not str(raw).strip():
        return None
    return _lookup(str(raw).strip(), waiting)


_WAIT_WORDS = re.compile(r"\bwait|await|pending|on.?hold|suspend")
_WAIT_REASONS: tuple[tuple[str, str], ...] = (
    (r"user|caller|requester|reporter|info", "user"),
    (r"customer|client", "customer"),
    (r"vendor|supplier|third.?party|external", "vendor"),
    (r"change|implementation|release|deploy", "change"),
    (r"problem", "problem"),
)


def suggest_pause_reason(raw: str | None) -> str | None:
    """A proposal for the Upload page when a profile declares no waiting statuses; never applied
    unless the user keeps it in the mapping."""
    if raw is None:
        return None
    key = str(raw).strip().lower()
    if not _WAIT_WORDS.search(key):
        return None
    return next((reason for pattern, reason in _WAIT_REASONS if re.search(pattern, key)), "other")
