"""The per-ticket KPI facts cache (analytics/kpi_facts.py): rebuilt whenever the store changes,
and the same classification as the registry's SQL run straight on the tickets."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from analytics import datasets, kpi_facts, kpi_registry, kpis
from analytics.demo_loader import load_demo
from analytics.filters import Filters

AS_OF = datetime(2026, 11, 23, 12, 0)


def _tickets(con) -> int:
    return int(kpis.results(con, Filters(), AS_OF, keys=("tickets",), previous=False)["tickets"].value)


def test_rebuilt_after_an_upload_and_a_deletion(con):
    first = load_demo(con, n_tickets=300, seed=3)
    assert _tickets(con) == 300
    builds = kpi_facts.stats["builds"]
    assert _tickets(con) == 300 and kpi_facts.stats["builds"] == builds  # warm: no rebuild
    load_demo(con, n_tickets=700, seed=4)
    assert _tickets(con) == con.execute("SELECT count(*) FROM tickets").fetchall()[0][0] >= 700
    assert kpi_facts.stats["builds"] == builds + 1
    datasets.delete_dataset(con, first[0].dataset_id)
    assert _tickets(con) == con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]


def test_facts_classify_each_ticket_as_the_registry_says(con):
    """Each x_/v_/h_ column equals its registry SQL evaluated row by row in plain SQL on the
    tickets (escalation level from tickets.tier only: the demo gives every ticket a tier)."""
    load_demo(con, n_tickets=500, seed=8)
    facts = kpi_facts.query(con, "SELECT * FROM facts", []).df()
    assert len(facts) == 500
    for k in kpi_registry.KPIS:
        if k.kind not in kpi_facts.FACT_KINDS or k.kind == "count":
            continue
        excl = [f"coalesce(({e.condition_sql}), false)" for e in k.exclusions]
        scope = f"coalesce(({k.scope_sql}), false)" if k.scope_sql else "true"
        raw = con.execute(
            "SELECT opened_at, ticket_id, list_value(" + ", ".join([scope, *excl] or ["true"]) + ") AS flags"
            + (f", ({k.measure_sql})::DOUBLE AS v" if k.kind == "duration" else "")
            + (f", coalesce(({k.numerator_sql}), false) AS h" if k.kind == "rate" else "")
            + " FROM (SELECT *, try_cast(regexp_extract(tier, '(\\d+)', 1) AS INTEGER) AS esc_level "
            "FROM tickets) ORDER BY opened_at, ticket_id").df()
        # Python's reading of the CASE: out of scope -1, else the first exclusion that holds.
        want = [-1 if not f[0] else next((i for i, c in enumerate(f[1:], 1) if c), 0)
                for f in raw["flags"]]
        got = facts.sort_values("opened_at", kind="stable")
        assert sorted(want) == sorted(got[f"x_{k.key}"].tolist()), k.key
        if k.kind == "duration":
            pd.testing.assert_series_equal(raw["v"].sort_values(ignore_index=True),
                                           got[f"v_{k.key}"].sort_values(ignore_index=True),
                                           check_names=False)
