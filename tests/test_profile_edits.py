"""A person's corrections to a mapping profile, and saving them under a name (the Upload page's core)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from analytics.ingest import profiles
from analytics.store.auth import local_operator

BASE = "servicenow-incident-list"


def test_corrected_takes_the_persons_mapping_and_keeps_the_rest():
    base = profiles.find_profile(BASE)
    columns = {**base.columns, "title": "Brief"}
    fixed = profiles.corrected(base, columns, {"opened_at": "%d.%m.%Y %H:%M"}, "Europe/Rome",
                               {"Urgent": "SEV-1"}, status_map={"Parked": "open"}, describes_outages=True)
    assert fixed.columns["title"] == "Brief"
    assert fixed.timestamps.timezone == "Europe/Rome"
    assert fixed.timestamps.formats["opened_at"] == "%d.%m.%Y %H:%M"
    assert {k: v for k, v in fixed.timestamps.formats.items() if k != "opened_at"} == \
        {k: v for k, v in base.timestamps.formats.items() if k != "opened_at"}
    assert fixed.severity_map == {"Urgent": "SEV-1"} and fixed.status_map == {"Parked": "open"}
    assert fixed.source.describes_outages is True
    assert fixed.waiting == base.waiting and fixed.source.name == base.source.name
    assert base.columns.get("title") != "Brief"  # the base is left as it was


def test_corrected_refuses_a_mapping_that_cannot_load():
    base = profiles.find_profile(BASE)
    with pytest.raises(ValidationError):
        profiles.corrected(base, {**base.columns, "nonsense_field": "X"}, {}, "UTC", base.severity_map)


def test_renamed_profile_is_saved_and_found_again_by_its_name(tmp_path):
    base = profiles.find_profile(BASE)
    named = profiles.renamed(base, "  my-export  ", ["Number", "Brief", "Opened"])
    assert named.source.name == "my-export"
    assert named.source.label == base.source.source_label
    assert named.match.header == ["Number", "Brief", "Opened"]
    path = profiles.save_profile(named, tmp_path, actor=local_operator("test"))
    assert profiles.find_profile("my-export", tmp_path).match.header == ["Number", "Brief", "Opened"]
    assert path.name == "my-export.toml"
