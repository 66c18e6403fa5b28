"""Vendor vocabularies: the spellings met in real exports map to the canonical values."""

from __future__ import annotations

import pytest

from analytics.ingest.normalise import severity, status_category, ticket_type


@pytest.mark.parametrize("raw,expected", [
    ("1 - Critical", "SEV-1"), ("2 - High", "SEV-2"), ("3 - Moderate", "SEV-3"), ("4 - Low", "SEV-4"),
    ("5 - Planning", "SEV-4"), ("Blocker", "SEV-1"), ("Critical", "SEV-1"), ("critical", "SEV-1"),
    ("Highest", "SEV-1"), ("P0", "SEV-1"), ("P1", "SEV-1"), ("P2", "SEV-2"), ("P3", "SEV-3"),
    ("P4", "SEV-4"), ("P5", "SEV-4"), ("P0: Blocker", "SEV-1"), ("P2: Important", "SEV-2"),
    ("P3: Somewhat important", "SEV-3"), ("Major", "SEV-2"), ("major", "SEV-2"), ("Minor", "SEV-4"),
    ("Trivial", "SEV-4"), ("Severe", "SEV-1"), ("Normal", "SEV-3"), ("Medium", "SEV-3"), ("Low", "SEV-4"),
    ("Lowest", "SEV-4"), ("SEV-1", "SEV-1"), ("Sev 2", "SEV-2"), ("SEV3", "SEV-3"), ("S4", "SEV-4"),
    ("2", "SEV-2"), ("Urgent", "SEV-1"), ("Sev: High", "SEV-2"),
    ("Unset", None), ("Not Evaluated", None), ("Not a Priority", None), ("Unprioritized", None),
    ("Optional", None), ("", None), (None, None),
])
def test_severity_vocabulary(raw, expected):
    assert severity(raw) == expected


def test_profile_severity_map_wins_and_ignores_case():
    assert severity("Major", {"Major": "SEV-1"}) == "SEV-1"
    assert severity("MAJOR", {"Major": "SEV-1"}) == "SEV-1"
    assert severity("Value 4", {"Value 4": "SEV-1"}) == "SEV-1"
    assert severity("Value 9", {"Value 4": "SEV-1"}) is None


@pytest.mark.parametrize("raw,expected", [
    ("Bug", "defect"), ("Defect", "defect"), ("Create SW anomaly", "defect"), ("Incident", "incident"),
    ("Improvement", "enhancement"), ("New Feature", "enhancement"), ("Story", "enhancement"),
    ("Question", "question"), ("request for information", "question"), ("Task", "service_request"),
    ("Sub-task", "service_request"), ("Service Request", "service_request"), ("", "incident"), (None, "incident"),
    ("Something else", "incident"),
])
def test_ticket_type_vocabulary(raw, expected):
    assert ticket_type(raw) == expected


def test_ticket_type_overrides_and_default():
    assert ticket_type("Story", {"Story": "defect"}) == "defect"
    assert ticket_type("Thing", default="question") == "question"


@pytest.mark.parametrize("raw,expected", [
    ("New", "open"), ("In Progress", "open"), ("Awaiting User Info", "open"), ("Resolved", "resolved"),
    ("Fixed", "resolved"), ("Closed", "closed"), ("Done", "closed"), ("Completed-Closed", "closed"),
    ("Completed-Resolved", "resolved"), ("Canceled", "cancelled"), ("Cancelled", "cancelled"),
    ("Won't Do", "cancelled"), ("Duplicate", "cancelled"), ("INVALID", "cancelled"), ("", "open"), (None, "open"),
])
def test_status_category_vocabulary(raw, expected):
    assert status_category(raw) == expected


def test_status_map_overrides():
    assert status_category("Completed-In Call", {"Completed-In Call": "closed"}) == "closed"
