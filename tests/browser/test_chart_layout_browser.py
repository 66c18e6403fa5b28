"""Chart layout as drawn by a real Chromium: labels clear of whiskers, lines and edges (issue #15).

Figure JSON says where a label is meant to be; only the browser says where its text ends up.
Each test reads the bounding boxes of what plotly drew in the demo's charts.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.driving import assert_no_exception, go_to, open_app
from tests.browser.test_app_browser import overlapping_texts

pytestmark = pytest.mark.browser

Box = tuple[str, float, float, float, float]  # text (or kind), left, top, right, bottom


def boxes(chart: Locator, selector: str) -> list[Box]:
    """Bounding boxes of the chart's elements matching `selector` that draw something."""
    return chart.locator(selector).evaluate_all(
        "els => els.map(e => { const r = e.getBoundingClientRect();"
        " return [e.textContent || e.getAttribute('class') || '', r.left, r.top, r.right, r.bottom]; })"
        ".filter(b => b[3] - b[1] > 0 || b[4] - b[2] > 0)")


def crossing(texts: list[Box], lines: list[Box]) -> list[tuple[str, str]]:
    """Pairs (text, line) whose boxes intersect: a line drawn through a label."""
    return [(t[0], ln[0]) for t in texts if t[0].strip() for ln in lines
            if t[1] < ln[3] and ln[1] < t[3] and t[2] < ln[4] and ln[2] < t[4]]


def plotted(page: Page, title: str) -> Locator:
    chart = page.locator(".js-plotly-plot").filter(has_text=title).first
    chart.scroll_into_view_if_needed()
    expect(chart).to_be_visible()
    return chart


def test_sla_compliance_labels_are_clear_of_whiskers_and_the_target(page: Page, screenshots: Path):
    open_app(page)
    go_to(page, "SLA compliance")
    chart = plotted(page, "SLA compliance by severity")
    expect(chart.locator("text.bartext").first).to_be_visible()
    labels = boxes(chart, "text.bartext")
    assert len(labels) == 8 and any(t.startswith("no data") or "%" in t for t, *_ in labels)
    assert overlapping_texts(chart) == []
    whiskers = boxes(chart, ".errorbar path")
    target = boxes(chart, ".shapelayer path")
    assert whiskers and target  # the things that must not cross a label were drawn
    assert crossing(labels, whiskers + target) == []
    # No stub before "no data": every whisker spans the end of a bar drawn in its row (a row
    # without data drew a zero-length bar with a whisker cap at 0 %).
    bars = [b for b in boxes(chart, ".bars .point path") if b[3] - b[1] > 1]
    stubs = [w for w in whiskers if not any(abs((w[2] + w[4]) / 2 - (b[2] + b[4]) / 2) < 2
                                            and w[1] - 1 <= b[3] <= w[3] + 1 for b in bars)]
    assert stubs == []
    chart.screenshot(path=screenshots / "sla-compliance-layout.png")
    assert_no_exception(page)


def test_kpi_trend_has_no_text_on_its_points_and_no_negative_axis(page: Page, screenshots: Path):
    open_app(page)
    go_to(page, "KPI trends")
    chart = plotted(page, "MTTR per week")
    assert chart.locator(".scatterlayer text").count() == 0  # special causes are marks, named in the legend
    expect(chart.locator(".legendtext").filter(has_text="special cause")).to_have_count(1)
    ticks = [t for t, *_ in boxes(chart, ".ytick text")]
    assert ticks and not any(t.strip().startswith(("−", "-")) for t in ticks), ticks
    chart.screenshot(path=screenshots / "kpi-trend-layout.png")
    assert_no_exception(page)


def test_overview_charts_keep_their_labels_inside_and_name_the_window(page: Page, screenshots: Path):
    open_app(page)
    hypercare = plotted(page, "Daily tickets since go-live")
    expect(hypercare.locator(".annotation-text")).to_contain_text("end of hypercare (70 days")
    mix = plotted(page, "Severity mix")
    right = mix.locator(".main-svg").first.evaluate("e => e.getBoundingClientRect().right")
    labels = boxes(mix, "text.bartext")
    assert len(labels) == 5 and all(b[3] <= right for b in labels), (right, labels)
    assert overlapping_texts(mix) == []
    mix.screenshot(path=screenshots / "severity-mix-layout.png")
    assert_no_exception(page)
