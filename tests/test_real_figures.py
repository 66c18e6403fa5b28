"""The real-data table in docs/metrics.md is what the code prints, and its key figures equal an
independent computation over the raw exports (pandas, read the way each dataset's README says)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("real_data_figures", ROOT / "scripts" / "real_data_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rows(real_data) -> dict[tuple[str, str], dict]:
    return {(r["dataset"], r["severity"]): r for r in _script().figures(real_data)}


def test_the_docs_table_is_what_the_code_prints(real_data, rows):
    script = _script()
    table = script.markdown(list(rows.values()))
    doc = (ROOT / "docs" / "metrics.md").read_text(encoding="utf-8")
    assert table in doc, "the figures changed: run .venv/bin/python scripts/real_data_figures.py --write"


def _servicenow(real_data: Path) -> pd.DataFrame:
    log = pd.read_csv(real_data / "servicenow-incident-event-log" / "incident_event_log.csv.gz",
                      usecols=["number", "incident_state", "sys_mod_count", "opened_at", "sys_updated_at",
                               "priority"], na_values=["?"])
    for col in ("opened_at", "sys_updated_at"):
        log[col] = pd.to_datetime(log[col], format="%d/%m/%Y %H:%M")
    return log.sort_values(["number", "sys_updated_at", "sys_mod_count"], kind="stable")


def test_ticket_counts_equal_the_distinct_ids_of_each_export(real_data, rows):
    ids = {
        "servicenow-incident-event-log": ("servicenow-incident-event-log/incident_event_log.csv.gz", "number"),
        "bpi2013-volvo-incidents": ("bpi2013-volvo-incidents/VINST_incidents_ibm.csv.gz", "SR Number"),
        "helpdesk-italian": ("helpdesk-italian/helpdesk_finale.csv.gz", "Case ID"),
        "github-status-incidents": ("github-status-incidents/githubstatus_incidents.csv.gz", "id"),
        # ids are unique within one Jira instance (README): the key is (repo_name, id)
        "jira-public-dataset-subset": ("jira-public-dataset-subset/jira_issues_timeestimate_subset.csv.gz",
                                       ("repo_name", "id")),
        "bpi2014-rabobank-partial": ("bpi2014-rabobank-partial/BPIC14_incident_case_attributes_sample.csv.gz",
                                     "incident_id"),
    }
    for dataset, (rel, columns) in ids.items():
        key = (columns,) if isinstance(columns, str) else columns
        raw = pd.read_csv(real_data / rel, usecols=lambda c, k=key: c.lstrip("\ufeff") in k, dtype=str)
        assert rows[(dataset, "All")]["tickets"] == len(raw.drop_duplicates()), dataset


def test_open_at_the_end_of_the_data(real_data, rows):
    # Volvo: an SR is open when its last event is not Completed (the README counts 8).
    volvo = pd.read_csv(real_data / "bpi2013-volvo-incidents" / "VINST_incidents_ibm.csv.gz", dtype=str)
    volvo.columns = [c.lstrip("\ufeff") for c in volvo.columns]
    volvo["t"] = pd.to_datetime(volvo["Change Date+Time"], utc=True)
    last = volvo.sort_values(["SR Number", "t"], kind="stable").groupby("SR Number").tail(1)
    assert rows[("bpi2013-volvo-incidents", "All")]["open"] == int((last["Status"] != "Completed").sum()) == 8
    # ServiceNow: an incident is open when its last update leaves it in neither Resolved nor Closed.
    log = _servicenow(real_data)
    final = log.groupby("number").tail(1)
    expected = int((~final["incident_state"].isin(["Resolved", "Closed"])).sum())
    assert rows[("servicenow-incident-event-log", "All")]["open"] == expected


def test_servicenow_sev1_mttr_median_from_the_first_entry_into_the_final_resolved_stretch(real_data, rows):
    log = _servicenow(real_data)
    done = log["incident_state"].isin(["Resolved", "Closed"])
    log["stretch"] = (~done).groupby(log["number"]).cumsum()  # a new stretch after every open event
    last = log.groupby("number")["stretch"].transform("max")
    final = log[done & (log["stretch"] == last)]
    resolved = final.groupby("number").agg(resolved=("sys_updated_at", "min"), opened=("opened_at", "first"),
                                           priority=("priority", "first"))
    sev1 = resolved[resolved["priority"] == "1 - Critical"]
    hours = (sev1["resolved"] - sev1["opened"]).dt.total_seconds() / 3600
    hours = hours[hours > 0]  # zero-duration tickets are MTTR's exclusion
    assert rows[("servicenow-incident-event-log", "SEV-1")]["mttr_median_hours"] == pytest.approx(
        hours.median(), abs=0.01)
    assert rows[("servicenow-incident-event-log", "SEV-1")]["mttr_median_hours"] == pytest.approx(70.87, abs=0.01)


def test_github_mttr_median_leaves_out_the_zero_duration_imports(real_data, rows):
    inc = pd.read_csv(real_data / "github-status-incidents" / "githubstatus_incidents.csv.gz")
    hours = (pd.to_datetime(inc["resolved_at"]) - pd.to_datetime(inc["created_at"])).dt.total_seconds() / 3600
    kept = hours[hours > 0]
    assert len(hours) - len(kept) == 839
    assert rows[("github-status-incidents", "All")]["mttr_median_hours"] == pytest.approx(kept.median(), abs=0.01)


def test_no_source_without_acknowledgements_gets_a_response_figure(rows):
    for dataset in ("github-status-incidents", "jira-public-dataset-subset", "bpi2013-volvo-incidents"):
        assert rows[(dataset, "All")]["response_sla_met_pct"] is None, dataset
        assert rows[(dataset, "All")]["mtta_median_minutes"] is None, dataset
