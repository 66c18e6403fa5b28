"""The SLA KPIs (Overview cards, KPI trends, `kpis`, the report's KPI table) and the SLA page's
compliance table are one figure: the same n and % for the same tickets and as-of time, also
when the as-of time lies before tickets were answered or resolved."""

from __future__ import annotations

from datetime import datetime

import pytest

from analytics import kpis, sla_cache, sla_engine
from analytics.filters import Filters
from analytics.sla_compliance import compliance_table


@pytest.fixture(scope="module")
def demo(demo_file):
    from analytics import db

    con = db.connect(demo_file)
    yield con
    con.close()


@pytest.mark.parametrize("as_of", [datetime(2026, 10, 1), datetime(2026, 11, 1), datetime(2026, 11, 23)])
@pytest.mark.parametrize("filters", [Filters(), Filters(severity=("SEV-2", "SEV-3")), Filters(team=("Service Desk",))],
                         ids=["all", "sev23", "desk"])
def test_kpi_compliance_equals_the_sla_page(demo, as_of, filters):
    sla_cache.clear()
    month = Filters(**{**filters.__dict__, "date_from": datetime(2026, 9, 1).date(),
                       "date_to": datetime(2026, 9, 30).date()})
    res = kpis.results(demo, month, as_of, keys=("response_sla", "resolution_sla"), previous=False)
    where, params = month.where()
    frame = sla_engine.evaluate(demo, as_of=as_of, where=where, params=params)
    table = compliance_table(frame).set_index(["metric", "severity"])
    for key, metric in (("response_sla", "response"), ("resolution_sla", "resolution")):
        stopped = frame[frame[f"{metric}_stopped_at"].notna()]
        status = stopped[f"{metric}_status"].astype(str)
        met, breached = int((status == "met").sum()), int((status == "breached").sum())
        assert res[key].n == met + breached, (key, as_of)
        assert table.loc[(metric, "All"), "n"] == met + breached  # the SLA page's figure
        if met + breached:
            assert res[key].value == pytest.approx(100 * met / (met + breached))
