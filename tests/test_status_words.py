"""Status is never carried by colour alone (WCAG 1.4.1): the words beside the colours."""

from __future__ import annotations

import pytest

from analytics.charts import kpi
from analytics.kpi import registry
from analytics.kpi.kpis import KpiResult


@pytest.mark.parametrize("key,unit,previous,value,verdict", [
    ("mttr", "hours", 10.0, 8.0, "better"),          # lower is better, fell
    ("mttr", "hours", 8.0, 10.0, "worse"),
    ("availability", "%", 99.0, 99.5, "better"),     # higher is better, rose
    ("availability", "%", 99.5, 99.0, "worse"),
    ("mttr", "hours", 8.0, 8.0, "unchanged"),
])
def test_kpi_card_delta_says_whether_the_change_is_good(key, unit, previous, value, verdict):
    # st.metric colours the delta green/red; the text must say the same in words.
    assert registry.get("mttr").direction == registry.LOWER
    assert registry.get("availability").direction == registry.HIGHER
    res = KpiResult(key=key, value=value, n=20, unit=unit, target=None, status="no target",
                    previous=previous, change=value - previous)
    card = kpi.card(res)
    if verdict == "unchanged":  # no arrow at all (st.metric draws one for any delta text)
        assert card["delta"] == "" and "unchanged vs previous period" in card["footnote"]
        return
    assert card["delta"].endswith(f"vs previous period ({verdict})"), card["delta"]
    assert card["delta"].startswith("-" if value < previous else "+")


def test_every_kpi_status_has_an_icon_and_a_word():
    for status, icon in kpi.STATUS_ICON.items():
        assert status.strip() and icon.startswith(":material/"), status
    assert len(set(kpi.STATUS_ICON.values())) == len(kpi.STATUS_ICON)


def test_not_measurable_says_why_and_a_missing_target_is_its_own_words():
    """Issue #15: "n/a · not measurable · set a target in Settings" blamed the target for missing data."""
    res = KpiResult(key="mtta", value=None, n=0, unit="minutes", target=None, status="not measurable",
                    reason="not measurable: no tickets in the period. Widen the filters.")
    card = kpi.card(res)
    assert card["status_text"] == "not measurable: no tickets in the period"
    assert card["target"] == "no target set (Settings → KPI targets)"
    with_target = kpi.card(KpiResult(key="mtta", value=12.0, n=5, unit="minutes", target=None,
                                            status="no target"))
    assert with_target["status_text"] == "no target" and with_target["value"] == "12 min"
