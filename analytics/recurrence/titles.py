"""Ticket titles reduced to their failure text: variable parts become placeholders.

"Payment gateway timeout on pay-node-07 (txn 88412)" and "Payment gateway timeout on
pay-node-11 (txn 10233)" both normalise to "payment gateway timeout on <host> (txn <n>)".
The rules run in order (most specific first) on each *distinct* title only, so a million
tickets with 200,000 distinct titles cost 200,000 normalisations, not a million.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# (name, pattern, placeholder). Ticket references run on the original case (PROJ-123 is upper
# case, a host like web-12 is not); everything after that runs on the lower-cased text.
_CASED_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("ticket reference", re.compile(r"\b(?:INC|CHG|PRB|REQ|RITM|TASK|SCTASK|PRJ)\d{4,}\b", re.I), "<ref>"),
    ("issue key", re.compile(r"\b[A-Z][A-Z0-9]{1,9}-\d+\b"), "<ref>"),
)
_RULES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("url", re.compile(r"\b(?:https?|ftp)://\S+"), "<url>"),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "<email>"),
    ("uuid", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>"),
    ("ipv4", re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<ip>"),
    ("ipv6", re.compile(r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b"), "<ip>"),
    ("iso date-time", re.compile(
        r"\b\d{4}-\d{2}-\d{2}(?:[t ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:z|[+-]\d{2}:?\d{2})?)?\b"), "<date>"),
    ("date", re.compile(r"\b\d{1,2}[/.]\d{1,2}[/.]\d{2,4}\b"), "<date>"),
    ("time", re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?(?:am|pm|utc|z))?\b"), "<time>"),
    # Fully qualified host names: db01.prod.example.com, www.githubstatus.com.
    ("fqdn", re.compile(r"\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
                        r"\.(?:com|net|org|io|local|internal|lan|corp|prod|dev|test|example|[a-z]{2})\b"), "<host>"),
    ("hex", re.compile(r"\b(?:0x[0-9a-f]+|(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,})\b"), "<hex>"),
    # Host names: pay-node-07, sync-worker-3, web-12a, db01, srv123.
    ("hyphenated host", re.compile(r"\b[a-z][a-z0-9]*(?:-[a-z][a-z0-9]*)*-\d+[a-z]?\b"), "<host>"),
    ("host", re.compile(r"\b[a-z]{2,}\d{2,}[a-z]?\b"), "<host>"),
    ("number", re.compile(r"\d+(?:[.,]\d+)*"), "<n>"),
)
# HTTP status codes name different failures (502 is not 404): kept, protected from the number
# rule by spelling the digits as letters until every rule has run.
_HTTP = re.compile(r"\b(https?|status|error|code|response|returned)(\s*[:=#]?\s*)([1-5]\d\d)\b")
_DIGITS, _LETTERS = "0123456789", "abcdefghij"
_HTTP_SPELT = re.compile(r"<http-([a-j]{3})>")
# Context, not the failure: when and where it was reported. Dropped with the word that introduces
# it, and brackets left empty, so "… on pay-03 at 2026-03-09 10:12" and "… on pay-01 (INC1001)"
# are one failure.
_ONE = r"(?:\b(?:at|on|since|from|ref|re|see|per|for)\s+)?<(?:date|time|ref)>"
_CONTEXT = re.compile(rf"{_ONE}(?:\s*(?:,|;|&|\band\b|\bor\b|\s)\s*{_ONE})*")
_EMPTY_BRACKETS = re.compile(r"\(\s*[,;:-]?\s*\)|\[\s*[,;:-]?\s*\]")
_EDGES = re.compile(r"^[\s,;:.\-–—/|]+|[\s,;:.\-–—/|]+$")
_CODES = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")
# Bumped whenever a rule changes, so stored signatures are rebuilt (analytics/recurrence/clustering.py).
RULES_VERSION = 2
# A title's tokens for the fuzzy comparison: placeholders, words, single symbols.
_TOKENS = re.compile(r"<[a-z]+>|[^\W_]+|[^\w\s]")

_SPELL, _UNSPELL = str.maketrans(_DIGITS, _LETTERS), str.maketrans(_LETTERS, _DIGITS)
RULE_NAMES: tuple[str, ...] = tuple(name for name, _, _ in (*_CASED_RULES, *_RULES))


def normalise_title(title: object) -> str:
    """The title's failure text: lower-case, variable parts as placeholders, single spaces.

    "" for a missing or blank title. Placeholders: <url> <email> <uuid> <ip> <host> <hex> <n>;
    dates, times and ticket references are dropped with the word before them ("at", "on", …);
    HTTP status codes stay ("http 502").
    """
    if title is None or title != title:  # missing or NaN
        return ""
    text = str(title)
    if not text.strip():
        return ""
    for _, pattern, placeholder in _CASED_RULES:
        text = pattern.sub(placeholder, text)
    text = _HTTP.sub(lambda m: f"{m.group(1)}{m.group(2)}<http-{m.group(3).translate(_SPELL)}>", text.lower())
    for _, pattern, placeholder in _RULES:
        text = pattern.sub(placeholder, text)
    failure = _EDGES.sub("", _SPACES.sub(" ", _EMPTY_BRACKETS.sub(" ", _CONTEXT.sub(" ", text))).strip())
    # A title that is nothing but context ("See INC0012345") keeps its placeholders.
    text = failure or _SPACES.sub(" ", text).strip()
    return _HTTP_SPELT.sub(lambda m: m.group(1).translate(_UNSPELL), text)


def codes(normalised: str) -> frozenset[str]:
    """The HTTP status codes a normalised title keeps (its only digits): titles with different
    codes are different failures however similar the rest."""
    return frozenset(_CODES.findall(normalised))


def normalise_many(titles: Iterable[object]) -> dict[object, str]:
    """{title: normalised title} for each distinct title (None maps to "")."""
    return {t: normalise_title(t) for t in dict.fromkeys(titles)}


def tokens(normalised: str) -> list[str]:
    """The tokens the similarity compares (placeholders stay whole)."""
    return _TOKENS.findall(normalised)


def comparable(normalised: str) -> str:
    """The string the fuzzy scorer sees: tokens joined by single spaces."""
    return " ".join(tokens(normalised))


def field_signature(category: object, component: object) -> str:
    """Signature of a ticket without a title (e.g. the ServiceNow event log): its fields.

    The service is the block the signature lives in, so only category and component appear.
    """
    def clean(v: object) -> str:
        return "" if v is None or v != v else " ".join(str(v).split()).lower()
    return f"[no title] category={clean(category) or '-'}; component={clean(component) or '-'}"


def is_field_signature(signature: str) -> bool:
    return signature.startswith("[no title]")


def display_label(signature: str, service: object = None) -> str:
    """A cluster's name for people: its normalised title, or for tickets without a title its
    service and fields' values ("Category 46 / Subcategory 223": service, category, component)
    instead of the stored "[no title] category=…; component=…" (its `why` names the fields).
    The service is part of the name because the signature leaves it out: two services' clusters
    of one category would otherwise read the same."""
    if not is_field_signature(signature):
        return signature
    parts = [str(service)] if isinstance(service, str) and service.strip() else []
    for item in signature.removeprefix("[no title] ").split("; "):
        name, _, value = item.partition("=")
        if value and value != "-":
            parts.append(value[:1].upper() + value[1:])
    if len(parts) == 1 and parts[0] == service:
        return f"{service} (no title, category or component)"
    return " / ".join(parts) or "No title, category or component"
