"""Recurrence clusters on crafted tickets: normalisation, grouping, threshold, stats, incremental."""

from __future__ import annotations

import json
import random
import re
from datetime import datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.charts.recurrence import cluster_choices, export_frame, to_json_records
from analytics.cli import main
from analytics.recurrence import clustering
from analytics.recurrence.titles import RULES_VERSION, display_label, field_signature, normalise_title
from analytics.store import db
from analytics.store.filters import Filters

T0 = datetime(2026, 9, 7, 9, 0)


def add(con, rows: list[dict], dataset_id: int = 1) -> None:
    """Insert crafted tickets (only the given columns; ticket_id defaults to a counter)."""
    start = con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]
    frame = pd.DataFrame([{"ticket_id": f"t:{start + i:05d}", "source": "t", "dataset_id": dataset_id, **r}
                          for i, r in enumerate(rows)])
    cur = con.cursor()
    cur.register("crafted", frame)
    cur.execute("INSERT INTO tickets BY NAME SELECT * FROM crafted")


def ticket(title, service="Payments API", hours=0.0, **kw) -> dict:
    return {"title": title, "service": service, "component": kw.pop("component", "Gateway"),
            "opened_at": T0 + timedelta(hours=hours), "severity": kw.pop("severity", "SEV-3"), **kw}


def members(df: pd.DataFrame) -> list[set[str]]:
    return sorted((set(ids) for ids in df["ticket_ids"]), key=lambda s: sorted(s))


@pytest.mark.parametrize("title, expected", [
    ("Payment gateway timeout on pay-node-07 (txn 88412)", "payment gateway timeout on <host> (txn <n>)"),
    ("Disk full on db01.prod.example.com", "disk full on <host>"),
    ("Disk full on DB17", "disk full on <host>"),
    ("See INC0012345 and PROJ-123", "see <ref> and <ref>"),
    ("502 from 10.0.0.12:8080", "<n> from <ip>"),
    ("Job 3f2a9c1e-1b2c-4d5e-8f90-123456789abc failed", "job <uuid> failed"),
    ("Crash 0xdeadbeef in a1b2c3d4e5", "crash <hex> in <hex>"),
    ("Late at 2026-09-07T12:30:00Z and 5/3/2016", "late"),  # when, not what
    ("Retry at 12:30 pm", "retry"),
    ("Mail to ops@example.com bounced", "mail to <email> bounced"),
    ("  Spaces   everywhere ", "spaces everywhere"),
    ("", ""), (None, ""), (float("nan"), ""),
])
def test_normalise_title(title, expected):
    assert normalise_title(title) == expected


_TITLE_PARTS = st.sampled_from(["Payment", "timeout", "on", "pay-node-07", "db01.prod.example.com",
                                 "INC0012345", "PROJ-9", "10.0.0.1", "2026-09-07", "12:30", "(txn", "42)",
                                 "0xbeef", "a1b2c3d4", "user@example.com", "-", ":"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(_TITLE_PARTS, st.text(max_size=8)), max_size=12))
def test_normalised_titles_hold_no_digits_and_normalise_to_themselves(parts):
    once = normalise_title(" ".join(parts))
    assert not re.search(r"\d", once)
    assert once == once.lower().strip()
    assert normalise_title(once) == once


def test_same_failure_with_varying_ids_hosts_and_times_is_one_cluster(con):
    add(con, [
        ticket("Payment gateway timeout on pay-node-07 (txn 88412)", hours=0),
        ticket("Payment gateway timeout on pay-node-11 (txn 10233)", hours=30),
        ticket("PAYMENT GATEWAY TIMEOUT on pay-node-02 (txn 5) at 2026-09-09 10:00", hours=50),
        ticket("Refund rejected by bank for merchant 4411", hours=5),
        ticket("Refund rejected by bank for merchant 98", hours=70),
    ])
    df = clustering.clusters(con, threshold=0.85)
    assert members(df) == [{"t:00000", "t:00001", "t:00002"}, {"t:00003", "t:00004"}]
    top = df.iloc[0]
    assert top["label"] == "payment gateway timeout on <host> (txn <n>)"
    assert top["tickets"] == 3 and top["variants"] == 1  # the time it was reported is not the failure
    assert "same service 'Payments API'" in top["why"] and "threshold 0.85" in top["why"]


def test_other_services_never_share_a_cluster(con):
    add(con, [ticket("Login page times out", service=s, component="Web", hours=h)
              for h, s in enumerate(["Identity", "Identity", "Checkout Web"])])
    df = clustering.clusters(con, threshold=0.5)
    assert sorted(df["tickets"]) == [1, 2]
    assert all(len(s) == 1 for s in df["services"])


@pytest.mark.parametrize("threshold, clusters", [(0.85, 1), (0.90, 2), (1.0, 2)])
def test_threshold_decides_a_crafted_near_miss(con, threshold, clusters):
    # token-sort similarity of the normalised titles is 0.882
    add(con, [ticket("Payment gateway timeout on pay-node-07", hours=0),
              ticket("Payment gateway timed out on pay-node-03", hours=1)])
    assert len(clustering.clusters(con, threshold=threshold)) == clusters


def test_clusters_are_deterministic_whatever_the_row_order(tmp_path):
    rows = [ticket(f"{t} on web-{i % 5} (order {i})", hours=i, component="Checkout")
            for i, t in enumerate(["Checkout 502 errors", "Cart total wrong", "Checkout 502 error"] * 4)]
    results = []
    for seed in (1, 2):
        con = db.connect(tmp_path / f"s{seed}.duckdb")
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        add(con, [dict(r, ticket_id=f"x:{r['hours'] if 'hours' in r else r['opened_at']}") for r in shuffled])
        df = clustering.clusters(con)
        results.append(sorted(zip(df["cluster_id"], df["tickets"], df["label"], strict=True)))
        con.close()
    assert results[0] == results[1]
    assert len(results[0]) == 2


def test_untitled_tickets_group_by_category_and_component(con):
    add(con, [ticket(None, service="Category 53", category="Subcategory 7", component=None, hours=h)
              for h in range(3)] + [ticket(None, service="Category 53", category="Subcategory 9",
                                           component=None, hours=4)])
    df = clustering.clusters(con, threshold=0.5)
    assert sorted(df["tickets"]) == [1, 3]
    big = df.iloc[0]
    # its service and fields' values, not "[no title] category=…"
    assert big["label"] == "Category 53 / Subcategory 7"
    assert field_signature("Subcategory 7", None).removeprefix("[no title] ") in big["why"]
    assert "no title" in big["why"]


@pytest.mark.parametrize("signature, service, label", [
    ("[no title] category=subcategory 223; component=-", "Category 46", "Category 46 / Subcategory 223"),
    ("[no title] category=-; component=-", "OpenShift Workloads", "OpenShift Workloads (no title, category or component)"),
    ("[no title] category=-; component=-", None, "No title, category or component"),
    ("[no title] category=value 1; component=db", None, "Value 1 / Db"),
    ("payment gateway timeout on <host>", "Payments", "payment gateway timeout on <host>"),
])
def test_titleless_clusters_are_named_by_service_and_fields(signature, service, label):
    assert display_label(signature, service) == label


def test_cluster_figures(con):
    add(con, [
        ticket("Sync failed for batch 1", hours=0, severity="SEV-2", problem_id="PRB1",
               impact_started_at=T0, mitigated_at=T0 + timedelta(hours=2)),
        ticket("Sync failed for batch 2", hours=10, severity=None,
               impact_started_at=T0 + timedelta(hours=10), resolved_at=T0 + timedelta(hours=11)),
        ticket("Sync failed for batch 3", hours=40, severity="SEV-2", problem_id="PRB2"),
    ])
    row = clustering.clusters(con).iloc[0]
    assert row["tickets"] == 3
    assert row["first_seen"] == T0 and row["last_seen"] == T0 + timedelta(hours=40)
    assert row["mtbf_hours"] == pytest.approx(20.0)  # gaps 10 h and 30 h
    assert row["downtime_hours"] == pytest.approx(3.0)  # 2 h + 1 h; the third has no window
    assert list(row["severities"]) == ["SEV-2", "Unmapped"]
    assert list(row["problem_ids"]) == ["PRB1", "PRB2"]
    assert list(row["ticket_ids"]) == ["t:00000", "t:00001", "t:00002"]


def test_problem_candidates_need_k_in_d_days_and_no_problem(con):
    add(con, [ticket("Queue backlog growing on mq-1", hours=24 * d) for d in (0, 5, 9)]  # 3 in 10 days
        + [ticket("Export job stuck", hours=24 * d) for d in (0, 40, 80)]  # 3, 40 days apart
        + [ticket("Cert expired on idp-2", hours=24 * d, problem_id="PRB9") for d in (0, 1, 2)])
    thirty = clustering.problem_candidates(clustering.clusters(con, window_days=30), 3)
    assert list(thirty["label"]) == ["queue backlog growing on <host>"]
    ninety = clustering.problem_candidates(clustering.clusters(con, window_days=90), 3)
    assert set(ninety["label"]) == {"queue backlog growing on <host>", "export job stuck"}
    assert clustering.problem_candidates(clustering.clusters(con, window_days=30), 4).empty


def test_kinds_frequent_rare_new(con):
    add(con, [ticket("Old frequent failure", hours=24 * d) for d in range(0, 60, 6)]
        + [ticket("Old rare failure", hours=24 * d) for d in (1, 2)]
        + [ticket("Brand new failure", hours=24 * 55)])
    kinds = dict(zip(clustering.clusters(con)["label"], clustering.clusters(con)["kind"], strict=True))
    assert kinds == {"old frequent failure": "frequent", "old rare failure": "rare",
                     "brand new failure": "new"}
    table = clustering.kinds_by_service(clustering.clusters(con))
    assert table.iloc[0][["frequent", "rare", "new", "clusters"]].tolist() == [1, 1, 1, 3]


def test_filters_restrict_the_tickets_not_the_grouping(con):
    add(con, [ticket("Disk full on db01", hours=h) for h in (0, 24 * 3)])
    df = clustering.clusters(con, Filters(date_from=(T0 + timedelta(days=1)).date()))
    assert df["tickets"].tolist() == [1]
    assert df["cluster_id"].tolist() == clustering.clusters(con)["cluster_id"].tolist()


def test_incremental_update_matches_a_full_rebuild(con):
    add(con, [ticket("Payment gateway timeout on pay-node-07", hours=0),
              ticket("Refund rejected for merchant 7", hours=1)], dataset_id=1)
    assert clustering.update_clusters(con)["mode"] == "full"
    assert clustering.stored_is_current(con, clustering.DEFAULT_THRESHOLD)
    add(con, [ticket("Payment gateway timeout on pay-node-09", hours=5),  # known signature
              ticket("Payment gateway timeout (again) on pay-node-01", hours=6),  # fuzzy match
              ticket("Brand new failure on web-3", hours=7)], dataset_id=2)
    assert not clustering.stored_is_current(con, clustering.DEFAULT_THRESHOLD)
    result = clustering.update_clusters(con, dataset_id=2)
    assert result["mode"] == "incremental"
    assert result["keys_added"] == 3 and result["clusters_added"] == 1
    assert clustering.stored_is_current(con, clustering.DEFAULT_THRESHOLD)
    stored = con.execute("SELECT * FROM recurrence_signatures ORDER BY ALL").df()
    fresh = clustering.compute_map(con).sort_values(list(stored.columns), ignore_index=True)
    pd.testing.assert_frame_equal(stored, fresh[list(stored.columns)], check_dtype=False)
    assert sorted(clustering.clusters(con)["tickets"]) == [1, 1, 3]


def test_changing_the_threshold_rebuilds_everything(con):
    add(con, [ticket("Payment gateway timeout on pay-node-07"), ticket("Payment gateway timed out")])
    clustering.update_clusters(con, threshold=0.85)
    assert clustering.update_clusters(con, dataset_id=1, threshold=0.95)["mode"] == "full"
    assert clustering.stored_threshold(con) == 0.95


def test_stored_and_live_paths_agree(con):
    add(con, [ticket(f"Sync failed for batch {i} on sync-{i % 3}", hours=i) for i in range(6)]
        + [ticket("Something else", hours=3)])
    live = clustering.clusters(con)
    clustering.update_clusters(con)
    stored = clustering.clusters(con)
    pd.testing.assert_frame_equal(live.drop(columns=["ticket_ids", "severities", "problem_ids", "services"]),
                                  stored.drop(columns=["ticket_ids", "severities", "problem_ids", "services"]))


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_threshold_outside_0_1_is_refused(con, bad):
    with pytest.raises(ValueError, match="between 0 and 1"):
        clustering.clusters(con, threshold=bad)


def test_empty_store(con):
    df = clustering.clusters(con)
    assert df.empty and "cluster_id" in df.columns
    assert clustering.problem_candidates(df).empty
    assert clustering.kinds_by_service(df).empty


def test_exports_and_choices(con):
    add(con, [ticket("=cmd|' /C calc'!A0 on web-1", hours=h) for h in range(2)])
    df = clustering.clusters(con)
    flat = export_frame(df)
    assert flat.loc[0, "ticket_ids"] == "t:00000; t:00001"
    records = to_json_records(df)
    assert records[0]["ticket_ids"] == ["t:00000", "t:00001"] and records[0]["first_seen"].startswith("2026")
    assert cluster_choices(df)[df.loc[0, "cluster_id"]].endswith("2 tickets · Payments API")


def test_cli_recurrence_json(con, tmp_path, capsys):
    add(con, [ticket(f"Payment gateway timeout on pay-node-{i} (txn {i})", hours=i) for i in range(3)]
        + [ticket("Single", hours=9)])
    path = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
                       ).fetchall()[0][0]
    con.close()
    assert main(["recurrence", "--db", path, "--json", "--threshold", "0.9"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1  # singletons are left out by default (--min-tickets 2)
    for key in ("cluster_id", "label", "tickets", "first_seen", "last_seen", "services", "severities",
                "problem_ids", "ticket_ids"):
        assert key in rows[0]
    assert rows[0]["tickets"] == 3 and rows[0]["services"] == ["Payments API"]
    assert main(["recurrence", "--db", path, "--threshold", "2"]) == 2
    assert main(["recurrence", "--db", path]) == 0
    assert "payment gateway timeout" in capsys.readouterr().out


# --- similar failures group, different failures do not (issue #15) ---------------------------

def test_titles_differing_only_by_host_time_or_reference_are_one_failure():
    from analytics.recurrence.titles import normalise_title

    same = ["Payment API timeout on pay-03 at 2026-03-09 10:12", "Payment API timeout on pay-01 (INC1001)",
            "Payment API timeout on pay-07 since 08:00", "payment api timeout on pay-02 - see PAY-123"]
    assert {normalise_title(t) for t in same} == {"payment api timeout on <host>"}


def test_http_status_codes_keep_failures_apart_even_when_the_rest_is_alike():
    from analytics.recurrence.titles import codes, normalise_title

    a, b = normalise_title("HTTP 502 from gateway"), normalise_title("HTTP 404 from gateway")
    assert (a, b) == ("http 502 from gateway", "http 404 from gateway")
    assert codes(a) == {"502"} and codes(normalise_title("Timeout after 30 s")) == frozenset()
    keys = pd.DataFrame({"service": ["api"] * 3, "title": ["HTTP 502 from gateway", "HTTP 404 from gateway",
                                                          "HTTP 502 from the gateway"],
                         "category": [""] * 3, "component": [""] * 3,
                         "signature": [normalise_title(t) for t in ("HTTP 502 from gateway", "HTTP 404 from gateway",
                                                                    "HTTP 502 from the gateway")],
                         "first_seen": pd.to_datetime(["2026-01-01", "2026-01-02", "2026-01-03"])})
    mapping, _ = clustering._assign(keys, 0.5)  # a low threshold: only the codes keep 404 apart
    by_title = dict(zip(mapping["title"], mapping["cluster_id"]))
    assert by_title["HTTP 502 from gateway"] == by_title["HTTP 502 from the gateway"]
    assert by_title["HTTP 404 from gateway"] != by_title["HTTP 502 from gateway"]


def test_a_store_clustered_by_older_rules_is_rebuilt(con):
    add(con, [ticket("Payment API timeout on pay-03", hours=h) for h in range(3)])
    clustering.update_clusters(con)
    assert clustering.stored_threshold(con) is not None
    con.execute("UPDATE settings SET value = '1' WHERE key = ?", [clustering.RULES_SETTING])
    assert clustering.stored_threshold(con) is None  # made by other rules: not current
    assert clustering.update_clusters(con, dataset_id=1)["mode"] == "full"
    assert db.get_setting(con, clustering.RULES_SETTING) == str(RULES_VERSION)
