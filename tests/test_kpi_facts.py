"""The per-ticket KPI facts cache (analytics/kpi/facts.py): rebuilt whenever the store changes,
and the same classification as the registry's SQL run straight on the tickets."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from analytics.demo.loader import load_demo
from analytics.ingest import datasets
from analytics.kpi import facts as kpi_facts
from analytics.kpi import kpis, registry
from analytics.store.auth import local_operator
from analytics.store.filters import Filters

AS_OF = datetime(2026, 11, 23, 12, 0)
# The tickets with the derived columns the registry's SQL reads, written here independently:
# escalation level from tickets.tier; a source whose acknowledgement is its opening instant for
# at least 80 % of its acknowledged tickets.
DERIVED = ("(SELECT *, try_cast(regexp_extract(tier, '(\\d+)', 1) AS INTEGER) AS esc_level, "
           "coalesce(source IN (SELECT source FROM tickets GROUP BY source HAVING count(*) FILTER "
           "(WHERE acknowledged_at = opened_at) >= 0.8 * count(acknowledged_at) AND count(acknowledged_at) > 0), "
           "false) AS ack_at_open_source FROM tickets)")


def _tickets(con) -> int:
    return int(kpis.results(con, Filters(), AS_OF, keys=("tickets",), previous=False)["tickets"].value)


def test_rebuilt_after_an_upload_and_a_deletion(con):
    first = load_demo(con, n_tickets=300, seed=3, actor=local_operator("demo"))
    assert _tickets(con) == 300
    builds = kpi_facts.stats["builds"]
    assert _tickets(con) == 300 and kpi_facts.stats["builds"] == builds  # warm: no rebuild
    load_demo(con, n_tickets=700, seed=4, actor=local_operator("demo"))
    assert _tickets(con) == con.execute("SELECT count(*) FROM tickets").fetchall()[0][0] >= 700
    assert kpi_facts.stats["builds"] == builds + 1
    datasets.delete_dataset(con, first[0].dataset_id, actor=local_operator("local"))
    assert _tickets(con) == con.execute("SELECT count(*) FROM tickets").fetchall()[0][0]


def test_facts_classify_each_ticket_as_the_registry_says(con):
    """Each x_/v_/h_ column equals its registry SQL evaluated row by row in plain SQL on the
    tickets (escalation level from tickets.tier only: the demo gives every ticket a tier)."""
    load_demo(con, n_tickets=500, seed=8, actor=local_operator("demo"))
    facts = kpi_facts.query(con, Filters(), lambda where: f"SELECT * FROM facts WHERE {where}", {}).df()
    assert len(facts) == 500
    for k in registry.KPIS:
        if k.kind not in kpi_facts.FACT_KINDS or k.kind == "count":
            continue
        excl = [f"coalesce(({e.condition_sql}), false)" for e in k.exclusions]
        scope = f"coalesce(({k.scope_sql}), false)" if k.scope_sql else "true"
        raw = con.execute(
            "SELECT opened_at, ticket_id, list_value(" + ", ".join([scope, *excl] or ["true"]) + ") AS flags"
            + (f", ({k.measure_sql})::DOUBLE AS v" if k.kind == "duration" else "")
            + (f", coalesce(({k.numerator_sql}), false) AS h" if k.kind == "rate" else "")
            + f" FROM {DERIVED} ORDER BY opened_at, ticket_id").df()
        # Python's reading of the CASE: out of scope -1, else the first exclusion that holds.
        want = [-1 if not f[0] else next((i for i, c in enumerate(f[1:], 1) if c), 0)
                for f in raw["flags"]]
        got = facts.sort_values("opened_at", kind="stable")
        assert sorted(want) == sorted(got[f"x_{k.key}"].tolist()), k.key
        if k.kind == "duration":
            pd.testing.assert_series_equal(raw["v"].sort_values(ignore_index=True),
                                           got[f"v_{k.key}"].sort_values(ignore_index=True),
                                           check_names=False)


def test_class_number_reads_back_every_classification_column(con):
    """cls_<cohort> packs the cohort's x_/h_ columns; decoded_sql gives each of them back."""
    load_demo(con, n_tickets=400, seed=9, actor=local_operator("demo"))
    for cohort in (registry.OPENED, registry.RESOLVED):
        columns = [c for c, *_ in kpi_facts._class_parts(cohort)]
        assert columns, cohort
        decoded = ", ".join(f"{kpi_facts.decoded_sql(cohort, c)} AS d_{c}" for c in columns)
        got = kpi_facts.query(con, Filters(), lambda where, cohort=cohort, decoded=decoded, columns=columns: (
            f"SELECT {', '.join(columns)}, {decoded} FROM (SELECT *, cls_{cohort} AS cls FROM facts "
            f"WHERE {where})"), {}).df()
        assert len(got) == 400
        for c in columns:
            assert (got[c] == got[f"d_{c}"]).all(), c
    with pytest.raises(KeyError):
        kpi_facts.decoded_sql(registry.OPENED, "x_mttr")  # a resolved-cohort column


def test_continuous_quantile_is_duckdbs_quantile_cont():
    import duckdb

    assert kpi_facts.continuous_quantile(np.array([]), 0.5) is None
    assert kpi_facts.continuous_quantile(np.array([7.0]), 0.9) == 7.0
    rng = np.random.default_rng(4)
    for n in (2, 3, 10, 101, 1000):
        values = np.sort(rng.exponential(90.0, n))
        want = duckdb.connect().execute("SELECT quantile_cont(v, [0.5, 0.9]) FROM (SELECT unnest(?) AS v)",
                                        [values.tolist()]).fetchall()[0][0]
        assert [kpi_facts.continuous_quantile(values, q) for q in (0.5, 0.9)] == pytest.approx(want, rel=1e-12)


FILTER_CASES = [Filters(), Filters(severity=("SEV-1", "SEV-2")), Filters(severity=("Unmapped",)),
                Filters(severity=("SEV-3", "Unmapped")), Filters(service=("no such service",)),
                Filters(team=("Service Desk",), status=("resolved", "closed")),
                Filters(type=("incident",), source=("demo",))]


@pytest.mark.parametrize("filters", FILTER_CASES, ids=lambda f: f.caption())
def test_quantiles_equal_quantile_cont_over_the_filtered_tickets(con, filters):
    """kpi.facts.quantiles (coded filter columns, ordered measures) = DuckDB's quantile_cont of
    the registry's measure over the same tickets of the store, filtered by text (up to the last
    bits of a double: DuckDB's interpolation rounds differently in rare cases)."""
    load_demo(con, n_tickets=1500, seed=11, actor=local_operator("demo"))
    con.execute("UPDATE tickets SET severity = NULL WHERE ticket_id IN "
                "(SELECT ticket_id FROM tickets ORDER BY ticket_id LIMIT 40)")
    kpi_facts.clear()  # a direct UPDATE is not an upload: forget the facts built before it
    lo, hi = datetime(2026, 9, 10), datetime(2026, 11, 1)
    durations = [k for k in registry.KPIS if k.kind == "duration"]
    got = kpi_facts.quantiles(con, [k.key for k in durations], filters, "opened_at >= $lo AND opened_at < $hi",
                              {"lo": lo, "hi": hi})
    clause, params = filters.where()
    for k in durations:
        excl = " OR ".join(f"coalesce(({e.condition_sql}), false)" for e in k.exclusions) or "false"
        scope = f"coalesce(({k.scope_sql}), false)" if k.scope_sql else "true"
        want = con.execute(
            f"SELECT quantile_cont(({k.measure_sql})::DOUBLE, [0.5, 0.9]) FROM {DERIVED} "
            f"WHERE ({clause}) AND opened_at >= $lo AND opened_at < $hi AND {scope} AND NOT ({excl})",
            {**params, "lo": lo, "hi": hi}).fetchall()[0][0]
        if want is None:
            assert got[k.key] == (None, None), k.key
        else:
            assert got[k.key] == pytest.approx(tuple(want), rel=1e-12), k.key
