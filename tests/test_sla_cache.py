"""The SLA judgement cache: the same compliance as the engine run afresh, and rebuilt after every
upload, policy save and dataset deletion (analytics/sla/cache.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
import pytest

from analytics.demo.loader import demo_policy, load_demo
from analytics.ingest import datasets
from analytics.kpi import kpis, registry
from analytics.kpi.facts import period_of
from analytics.kpi.sla_kpis import sla_rows
from analytics.sla import cache
from analytics.sla.engine import evaluate
from analytics.sla.policy import save_policy
from analytics.store import audit, db
from analytics.store.auth import local_operator
from analytics.store.cache import version_of
from analytics.store.filters import Filters
from analytics.store.periods import undated

AS_OF = datetime(2026, 11, 23, 12, 0)
SLA_KPIS = [registry.get("response_sla"), registry.get("resolution_sla")]
GRAIN = {"week": "W-SUN", "month": "M"}
FILTERS = [Filters(), Filters(severity=("SEV-1", "SEV-2")), Filters(status=("open",)),
           Filters(date_from=date(2026, 10, 1), date_to=date(2026, 10, 31), team=("Service Desk",)),
           Filters(date_from=date(2026, 11, 9), date_to=date(2026, 11, 25))]


def reference(con, f: Filters, as_of: datetime, grain: str | None = None,
              split: str | None = None) -> dict:
    """Compliance the plain way: the engine over the filtered tickets (their dates left aside),
    counted in pandas: clocks that stopped in the period; without a grain also the clocks open
    and breached at its end and the not-applicable ones of tickets opened in it.
    {(bucket, group): {metric: (met, breached, open-and-breached, not applicable)}}"""
    period = period_of(con, f, as_of)
    clause, params = undated(f).where()
    ev = evaluate(con, as_of=as_of, where=clause, params=params)
    t = con.execute("SELECT ticket_id, acknowledged_at, severity, team FROM tickets").df()
    ev = ev.drop(columns=["severity"]).merge(t, on="ticket_id")
    ev["grp"] = ev[split].fillna({"severity": "Unmapped", "team": "(no team)"}[split]) if split else "All"
    te = min(period.end, as_of)
    out: dict = {}
    for m in ("response", "resolution"):
        st, stop, breach = ev[f"{m}_status"].astype(str), ev[f"{m}_stopped_at"], ev[f"{m}_breach_at"]
        part = ev.assign(met=(st == "met"), br=(st == "breached"),
                         ob=st.isin(["breached", "running"]) & (stop.isna() | (stop >= te)) & (breach < te),
                         na=(st == "not applicable") & (ev["opened_at"] >= period.start) & (ev["opened_at"] < period.end),
                         cohort=st.isin(["met", "breached"]) & (stop >= period.start) & (stop < period.end))
        if grain:
            part = part[part["cohort"]]
            part["bucket"] = stop[part.index].dt.to_period(GRAIN[grain]).dt.start_time.dt.date
            for (bucket, grp), g in part.groupby(["bucket", "grp"]):
                out.setdefault((bucket, grp), {})[m] = (int(g["met"].sum()), int(g["br"].sum()), None, None)
        else:
            for grp, g in part.groupby("grp"):
                out.setdefault((None, grp), {})[m] = (int((g["met"] & g["cohort"]).sum()), int((g["br"] & g["cohort"]).sum()),
                                                      int(g["ob"].sum()), int(g["na"].sum()))
    return out


def cached(con, f: Filters, as_of: datetime, grain: str | None = None, split: str | None = None) -> dict:
    rows = sla_rows(con, f, period_of(con, f, as_of), SLA_KPIS, grain, split)
    out: dict = {}
    for r in rows:
        m = "response" if r["key"] == "response_sla" else "resolution"
        bucket = None if r["bucket"] is None else pd.Timestamp(r["bucket"]).date()
        met = round(r["value"] * r["n"] / 100) if r["n"] else 0
        assert r["value"] is None or r["value"] == pytest.approx(100.0 * met / r["n"])
        out.setdefault((bucket, r["group"]), {})[m] = (
            met, r["n"] - met, r["extra"]["open_breached"], r["extra"]["not_applicable"])
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    con = db.connect(tmp_path_factory.mktemp("sla_cache") / "demo.duckdb")
    load_demo(con, n_tickets=2500, seed=11, actor=local_operator("demo"))
    yield con
    con.close()


def test_same_compliance_as_the_engine_run_afresh(demo):
    cache.clear()
    for f in FILTERS:
        assert cached(demo, f, AS_OF) == reference(demo, f, AS_OF), f
    assert cached(demo, FILTERS[0], AS_OF, "week", "severity") == \
        reference(demo, FILTERS[0], AS_OF, "week", "severity")
    assert cached(demo, FILTERS[3], AS_OF, "month", "team") == \
        reference(demo, FILTERS[3], AS_OF, "month", "team")


def test_a_later_as_of_rejudges_only_the_open_tickets_and_agrees(demo):
    cache.clear()
    before = dict(cache.stats)
    times = [datetime(2026, 11, 10, 9, 0), datetime(2026, 11, 10, 9, 1), datetime(2026, 11, 18, 17, 30),
             AS_OF + timedelta(days=40)]
    for as_of in times:
        for f in (FILTERS[0], FILTERS[2], FILTERS[4]):
            assert cached(demo, f, as_of) == reference(demo, f, as_of), (as_of, f)
    assert cache.stats["builds"] - before["builds"] == 1  # one full judgement …
    assert cache.stats["live_builds"] - before["live_builds"] == len(times)  # … then only the rest
    live = demo.execute(f"SELECT count(*) FROM tickets WHERE {cache.LIVE_SQL}",
                        {"a0": times[0]}).fetchall()[0][0]
    assert live  # the demo has open tickets at that time: the split is exercised


def test_an_earlier_as_of_gets_a_base_of_its_own_and_the_later_one_stays(demo):
    cache.clear()
    cached(demo, FILTERS[0], AS_OF)
    builds = cache.stats["builds"]
    earlier = datetime(2026, 10, 15, 8, 0)
    assert cached(demo, FILTERS[0], earlier) == reference(demo, FILTERS[0], earlier)
    assert cache.stats["builds"] == builds + 1
    # Back to the later time (a page at now after Governance at a window's end): no new judgement.
    assert cached(demo, FILTERS[0], AS_OF) == reference(demo, FILTERS[0], AS_OF)
    assert cached(demo, FILTERS[0], AS_OF + timedelta(minutes=5)) == reference(demo, FILTERS[0],
                                                                               AS_OF + timedelta(minutes=5))
    assert cache.stats["builds"] == builds + 1


def test_only_a_few_as_of_times_are_kept(demo):
    cache.clear()
    for minute in range(cache.LIVE_KEEP + 3):
        cached(demo, FILTERS[1], AS_OF + timedelta(minutes=minute))
    entry, _ = cache._entry(demo, AS_OF + timedelta(minutes=cache.LIVE_KEEP + 2))
    assert len(entry.live) == cache.LIVE_KEEP
    tables = {r[0] for r in entry.db.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert tables == {"settled", *entry.live.values()}


def test_the_first_as_of_asked_again_after_later_ones_is_judged_again(demo):
    # Governance evaluates at the hypercare window's end, the other pages at now: the table made
    # for the earliest as-of must not be the one dropped as soon as it is made.
    cache.clear()
    cached(demo, FILTERS[0], AS_OF)
    for minute in range(1, cache.LIVE_KEEP + 2):
        cached(demo, FILTERS[0], AS_OF + timedelta(minutes=minute))
    assert cached(demo, FILTERS[0], AS_OF) == reference(demo, FILTERS[0], AS_OF)
    assert AS_OF in cache._entry(demo, AS_OF)[0].live


def test_settled_tickets_are_judged_the_same_at_any_later_time(demo):
    """The premise of the split: a settled ticket's judgement does not move with as_of."""
    a0, a1 = datetime(2026, 11, 1), datetime(2026, 11, 23, 12)
    first = evaluate(demo, as_of=a0, where=cache.SETTLED_SQL, params={"a0": a0})
    later = evaluate(demo, as_of=a1, where=cache.SETTLED_SQL, params={"a0": a0})
    assert len(first) > 1000
    pd.testing.assert_frame_equal(first, later)


def _compliance(con, as_of=AS_OF):
    return kpis.results(con, Filters(), as_of, keys=("response_sla", "resolution_sla"), previous=False)


def test_rebuilt_after_an_upload(con):
    load_demo(con, n_tickets=400, seed=3, actor=local_operator("demo"))
    assert cached(con, Filters(), AS_OF) == reference(con, Filters(), AS_OF)
    token, builds = version_of(con), cache.stats["builds"]
    load_demo(con, n_tickets=900, seed=4, actor=local_operator("demo"))  # more tickets, and changed ones
    assert version_of(con) != token
    assert cached(con, Filters(), AS_OF) == reference(con, Filters(), AS_OF)
    assert cache.stats["builds"] == builds + 1
    assert _compliance(con)["response_sla"].n > 400


def test_rebuilt_after_a_policy_save(con):
    load_demo(con, n_tickets=400, seed=3, actor=local_operator("demo"))
    loose = _compliance(con)["resolution_sla"].value
    strict = demo_policy().model_copy(update={
        "version": "strict", "effective_from": date(2000, 1, 1),
        "targets": [t.model_copy(update={"minutes": 1.0, "business_days": None, "same_business_day": None,
                                         "next_release": None})
                    for t in demo_policy().targets]})
    save_policy(con, strict, who=local_operator("tester"))
    assert cached(con, Filters(), AS_OF) == reference(con, Filters(), AS_OF)
    assert _compliance(con)["resolution_sla"].value < loose


def test_rebuilt_after_a_dataset_deletion(con):
    results = load_demo(con, n_tickets=400, seed=3, actor=local_operator("demo"))
    assert _compliance(con)["response_sla"].n > 0
    datasets.delete_dataset(con, results[0].dataset_id, actor=local_operator("local"))
    got = _compliance(con)["response_sla"]
    assert got.n == 0 and got.value is None
    assert reference(con, Filters(), AS_OF) == {}
    assert cached(con, Filters(), AS_OF) == {(None, "All"): {m: (0, 0, 0, 0) for m in ("response", "resolution")}}


def test_an_engine_error_is_shown_as_the_reason(con, monkeypatch):
    import analytics.sla.engine

    def broken(*args, **kwargs):
        raise ValueError("the calendar has no working hours")

    con.execute("INSERT INTO tickets (ticket_id, severity, status_category, opened_at) "
                "VALUES ('a', 'SEV-2', 'open', ?)", [AS_OF - timedelta(hours=3)])
    monkeypatch.setattr(analytics.sla.engine, "evaluate", broken)
    got = _compliance(con)["response_sla"]
    assert got.value is None and got.reason == "not computable: the calendar has no working hours"


def test_the_version_changes_with_every_committed_write_and_only_then(con):
    token = version_of(con)
    with audit.transaction(con) as cur:
        cur.execute("INSERT INTO tickets (ticket_id, opened_at) VALUES ('x', ?)", [AS_OF])
    assert version_of(con) == token + 1
    with pytest.raises(RuntimeError), audit.transaction(con) as cur:
        cur.execute("UPDATE tickets SET severity = 'SEV-1'")
        raise RuntimeError("rolled back")
    assert version_of(con) == token + 1
    # Outside the one write path (which no code of the app takes) a change is not seen.
    con.execute("INSERT INTO tickets (ticket_id, opened_at) VALUES ('y', ?)", [AS_OF])
    assert version_of(con) == token + 1


def test_an_update_in_place_is_judged_again(tmp_path):
    """Counts and timestamps stay the same when a ticket's severity is corrected in place; the
    store version does not, so the cached judgements follow."""
    con = db.connect(tmp_path / "s.duckdb")
    load_demo(con, n_tickets=300, seed=5, actor=local_operator("demo"))
    before = cached(con, FILTERS[0], AS_OF, split="severity")
    with audit.transaction(con) as cur:
        cur.execute("UPDATE tickets SET severity = 'SEV-1' WHERE severity = 'SEV-3'")
    after = cached(con, FILTERS[0], AS_OF, split="severity")
    assert after == reference(con, FILTERS[0], AS_OF, split="severity") and after != before
    con.close()
