"""The monthly report as a PDF: every section, the KPI figures of the `kpis` command, charts as
images, metadata from the inputs, and no ticket title that can break it."""

from __future__ import annotations

import io
import json
import shutil
from datetime import date, datetime, timezone

import pandas as pd
import plotly.graph_objects as go
import pypdf
import pytest

from analytics.charts.kpi import fmt
from analytics.cli import main
from analytics.kpi import registry as reg
from analytics.recurrence.clustering import update_clusters
from analytics.report import charts as report_charts
from analytics.report import pdf as report_pdf
from analytics.report.builder import build
from analytics.report.model import Chart, Report, Section, Table, Text
from analytics.store import db
from analytics.store.filters import Filters

pytestmark = pytest.mark.slow  # ./test.sh's quick run leaves it out; --all and CI run it

AS_OF = datetime(2026, 11, 1)
CORE = report_pdf.Font("helvetica", False)
# kpis --json field -> (KPI key, statistic shown in the PDF's KPI table)
CLI_FIELDS = {
    "tickets": ("tickets", "value"), "open": ("open_backlog", "value"),
    "mtta_mean_minutes": ("mtta", "value"), "mtta_median_minutes": ("mtta", "median"),
    "mttr_mean_hours": ("mttr", "value"), "mttr_median_hours": ("mttr", "median"),
    "mttr_p90_hours": ("mttr", "p90"), "mttd_median_minutes": ("mttd", "median"),
    "mtbf_hours": ("mtbf", "value"), "availability_pct": ("availability", "value"),
    "response_sla_met_pct": ("response_sla", "value"), "resolution_sla_met_pct": ("resolution_sla", "value"),
    "reopen_rate_pct": ("reopen_rate", "value"),
}


@pytest.fixture(scope="module")
def store(demo_file):
    return demo_file


@pytest.fixture(scope="module")
def built(store):
    """The October report rendered twice from the same inputs."""
    if report_charts.browser_path() is None:
        pytest.skip("no Chromium for the chart images: apt-get install chromium, or set BROWSER_PATH")
    con = db.connect(store)
    first = build(con, "2026-10", as_of=AS_OF)
    pdf, error = report_pdf.to_pdf(first)
    again, _ = report_pdf.to_pdf(build(con, "2026-10", as_of=AS_OF))
    con.close()
    assert error is None
    return first, pypdf.PdfReader(io.BytesIO(pdf)), pypdf.PdfReader(io.BytesIO(again))


def _text(reader: pypdf.PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def _flat(text: str) -> str:
    return " ".join(text.split())


def kpi_segments(text: str) -> dict[str, str]:
    """The text of each KPI table row: from its name to the next KPI's name (registry order)."""
    flat = _flat(text)
    pos = flat.index("KPIs in detail")
    pos = flat.index("Change", pos) + len("Change")
    starts = []
    for k in reg.KPIS:
        pos = flat.index(k.name + " ", pos)
        starts.append(pos)
        pos += len(k.name)
    ends = starts[1:] + [flat.index("page", starts[-1])]
    return {k.key: flat[s + len(k.name):e].strip() for k, s, e in zip(reg.KPIS, starts, ends)}


def cli_kpis(store, capsys, *extra: str) -> dict:
    assert main(["kpis", "--db", str(store), "--from", "2026-10-01", "--to", "2026-10-31",
                 "--as-of", AS_OF.isoformat(), "--json", *extra]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    return rows[0]


def assert_kpis_match(text: str, cli: dict) -> None:
    rows = kpi_segments(text)
    for field, (key, stat) in CLI_FIELDS.items():
        k = reg.get(key)
        want = fmt(cli[field], k.unit)
        row = rows[key]
        if stat == "value":
            assert row.startswith(want + " "), f"{k.name}: PDF row {row!r}, kpis gives {want}"
        else:
            assert want in row, f"{k.name} {stat}: PDF row {row!r}, kpis gives {want}"
    for key, field in (("availability", "availability_pct"), ("mtbf", "mtbf_hours"),
                       ("response_sla", "response_sla_met_pct")):
        # The status the PDF prints follows from the figure and the seed target (no figure: the
        # demo's October has no outage, so no MTBF).
        k, value = reg.get(key), cli[field]
        ok = value is not None and (value >= k.default_target if k.direction == reg.HIGHER
                                    else value <= k.default_target)
        assert ("✓ met" if ok else "✗ missed" if value is not None else "? not measurable") in rows[key]


def test_every_section_heading_is_in_the_pdf(built):
    report, reader, _ = built
    text = _text(reader)
    assert report.title.split(" — ")[0] in _flat(text)
    for number, section in enumerate(report.sections[1:], 1):
        assert f"{number}. {section.title}" in _flat(text), section.title
    outline = [item.title for item in reader.outline if not isinstance(item, list)]
    assert outline == [report.sections[0].title] + [f"{i}. {s.title}" for i, s in enumerate(report.sections[1:], 1)]


def test_page_one_is_the_decision_and_provenance_is_last(built):
    report, reader, _ = built
    first, last = _flat(reader.pages[0].extract_text()), _flat(reader.pages[-1].extract_text())
    verdict = report.sections[0].blocks[0].text
    assert verdict.startswith("Ready to exit hypercare?") and _flat(verdict) in first
    for table in report.sections[0].tables:  # criteria, KPIs, risks: all on page 1
        assert table.title in first
        for name in table.view.iloc[:, 0]:
            assert _flat(str(name))[:30] in first, name
    assert "Sign-off: " in first and "Inputs fingerprint" not in first
    assert "Provenance" in last and report.fingerprint in _flat(_text(reader)).split("Provenance")[-1]
    # A short body: the appendix starts by page 9 (page 1 + at most 8 pages of sections).
    appendix = next(i for i, p in enumerate(reader.pages) if "Appendix: metric definitions" in p.extract_text())
    assert appendix <= 8


def test_kpi_figures_equal_the_kpis_command(built, store, capsys):
    assert_kpis_match(_text(built[1]), cli_kpis(store, capsys))


def test_kpi_figures_equal_the_kpis_command_with_a_severity_filter(store, capsys):
    con = db.connect(store)
    report = build(con, "2026-10", severity=("SEV-1", "SEV-2"), as_of=AS_OF)
    con.close()
    text = _text(pypdf.PdfReader(io.BytesIO(report_pdf.render(report))))  # no chart images needed here
    assert "Chart not drawn" in text
    assert_kpis_match(text, cli_kpis(store, capsys, "--severity", "SEV-1,SEV-2"))


def test_charts_are_images_in_the_pdf(built):
    report, reader, _ = built
    images = [img for page in reader.pages for img in page.images]
    assert len(images) == len(report.charts) >= 4
    assert all(img.image.size[0] >= 1000 for img in images)
    for chart in report.charts:
        assert _flat(f"Text alternative: {chart.alt}")[:60] in _flat(_text(reader))


def test_metadata_comes_from_the_inputs_not_the_clock(built):
    report, reader, _ = built
    meta = reader.metadata
    assert meta.title == report.title
    assert meta.creation_date == AS_OF.replace(tzinfo=timezone.utc)
    assert report.fingerprint in meta.get("/Keywords")


def test_same_inputs_give_the_same_pdf_text(built):
    _, one, two = built

    def lines(reader):
        return [line for line in _text(reader).splitlines() if not line.startswith("Generated at")]

    assert lines(one) == lines(two)
    assert len(one.pages) == len(two.pages)


# --- any text, any font -----------------------------------------------------------------

HOSTILE = ["Zahlung fehlgeschlagen – 支付失败 🚨", "مشكلة في الدفع", "tab\there\r\nnewline\x00nul\u202eevil",
           "x" * 400, "=HYPERLINK(\"http://evil\")", "Ünïcödé ≥ 5 → ok…", "\ud800 lone surrogate", ""]


@pytest.mark.parametrize("text, core, unicode", [
    ("✓ met", "+ met", "✓ met"), ("✗ missed", "x missed", "✗ missed"), ("café", "café", "café"),
    ("≥ 99.9 %", ">= 99.9 %", "≥ 99.9 %"), ("日本", "??", "??"), ("a\x00b\tc", "a b c", "a b c"),
    ("Ωmega", "?mega", "Ωmega"), ("ﬁle", "file", "ﬁle"),
])
def test_clean_keeps_what_the_font_draws(text, core, unicode):
    assert report_pdf.clean(text, CORE) == core
    dejavu = report_pdf.find_font()
    if not dejavu.unicode:
        pytest.skip("DejaVu Sans is not installed here")
    glyphs = report_pdf._Document(_report([]), dejavu).face  # loads the font's character map
    assert report_pdf.clean(text, glyphs) == unicode


def _report(blocks: list) -> Report:
    return Report(month="2026-10", start=date(2026, 10, 1), end=date(2026, 10, 31), as_of=AS_OF,
                  filters=Filters(), caption="Filters: none (all tickets)", tool_version="test ✓",
                  fingerprint="f" * 64, policy_versions=(),
                  sections=(Section("cover", "Cover", ()), Section("s", "Titles – 标题", tuple(blocks))))


@pytest.mark.parametrize("font", [None, CORE], ids=["default-font", "core-font"])
def test_no_title_breaks_the_pdf(font):
    # (A lone surrogate cannot be in a DataFrame or the store, only in free text.)
    cells = [t for t in HOSTILE if "\ud800" not in t]
    titles = pd.DataFrame({"title": cells, "status": ["met", "✗ missed", "! at risk", "✓ pass", "", "?", "–"],
                           "n": range(len(cells)), "when": [datetime(2026, 10, 1, 9, 5)] * len(cells)})
    fig = go.Figure(go.Bar(x=["a"], y=[1]))
    blocks = [Text(t) for t in HOSTILE] + [Text("sub ✓", "subheading"), Table("t", "Titles 🚨", titles),
                                          Table("empty", "Nothing", titles.head(0)),
                                          Chart("c", fig, "alt – 🚨", titles, titles.head(2))]
    pdf = report_pdf.render(_report(blocks), font=font)
    text = _flat(_text(pypdf.PdfReader(io.BytesIO(pdf))))
    assert "Zahlung fehlgeschlagen" in text and "lone surrogate" in text
    assert "(no rows)" in text and "Chart not drawn" in text


def test_unicode_ticket_titles_reach_the_pdf(store, tmp_path):
    path = tmp_path / "unicode.duckdb"
    shutil.copy(store, path)
    con = db.connect(path)
    for i in (1, 2):  # two SEV-1 incidents with the same title: their PIRs overdue
        con.execute(
            "INSERT INTO tickets (ticket_id, source, external_id, type, title, severity, status, status_category, "
            "service, component, opened_at, resolved_at) VALUES (?, 'test', ?, 'incident', ?, 'SEV-1', 'Resolved', "
            "'resolved', 'Zahlungen', 'core', ?, ?)",
            [f"test:U-{i}", f"U-{i}", HOSTILE[0], datetime(2026, 10, i, 8), datetime(2026, 10, i, 9)])
    update_clusters(con)
    report = build(con, "2026-10", as_of=AS_OF)
    con.close()
    overdue = next(t for t in report.section("pir").tables if t.name == "overdue").data
    assert {"test:U-1", "test:U-2"} <= set(overdue["ticket_id"])
    for font in (None, CORE):
        text = _flat(_text(pypdf.PdfReader(io.BytesIO(report_pdf.render(report, font=font)))))
        assert text.count("Zahlung fehlgeschlagen") >= 2  # the two overdue PIR rows


def test_charts_degrade_to_text_without_a_browser(monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.delenv("HYPERCARE_CHROMIUM", raising=False)
    monkeypatch.setattr(report_charts, "CHROMIUM", "/nonexistent/chromium")
    images, error = report_charts.render([go.Figure()])
    assert images == [None] and "no Chrome/Chromium" in error
    assert report_charts.render([]) == ([], None)
    with report_charts.EarlyBrowser() as browser:
        assert browser.render([go.Figure()])[0] == [None]


def test_cli_writes_the_pdf_with_its_charts(store, tmp_path, capsys):
    if report_charts.browser_path() is None:
        pytest.skip("no Chromium for the chart images")
    out = tmp_path / "october.pdf"
    assert main(["report", "--db", str(store), "--month", "2026-10", "--team", "Service Desk,Platform",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "wrote" in printed.out and "warning" not in printed.err
    reader = pypdf.PdfReader(out)
    assert sum(len(p.images) for p in reader.pages) >= 4
    assert "team = Service Desk, Platform" in _flat(_text(reader))
    assert reader.metadata.creation_date == AS_OF.replace(tzinfo=timezone.utc)  # the month's end by default


def test_an_early_browser_closes_when_no_chart_comes(monkeypatch):
    if report_charts.browser_path() is None:
        pytest.skip("no Chromium")
    with report_charts.EarlyBrowser() as browser:
        pass
    assert browser._images.done() and not browser._thread.is_alive()


def test_a_stuck_browser_costs_the_charts_not_the_report(monkeypatch):
    if report_charts.browser_path() is None:
        pytest.skip("no Chromium")
    monkeypatch.setattr(report_charts, "START_S", 0)
    monkeypatch.setattr(report_charts, "PER_CHART_S", 0)
    images, error = report_charts.render([go.Figure()])  # Chromium cannot be ready in 0 s
    assert images == [None] and error.startswith("TimeoutError: chart images not ready")


@pytest.mark.parametrize("value, text", [
    (None, "–"), (pd.NaT, "–"), (float("nan"), "–"), (True, "yes"), (False, "no"), (3.0, "3"),
    (1234.5678, "1,234.57"), (1234567, "1,234,567"), (["a", 2], "a; 2"),
    (datetime(2026, 10, 1, 9, 5, 7), "2026-10-01 09:05"), (pd.Timestamp("2026-10-01 09:05"), "2026-10-01 09:05"),
    (date(2026, 10, 1), "2026-10-01"), ("text", "text"),
])
def test_cell_text(value, text):
    assert report_pdf.cell_text(value) == text


def test_font_falls_back_to_the_core_font(monkeypatch, tmp_path):
    monkeypatch.delenv("HYPERCARE_PDF_FONT", raising=False)
    assert report_pdf.find_font(candidates=(str(tmp_path / "none.ttf"),)) == CORE
    installed = report_pdf.find_font()
    if installed.unicode:  # HYPERCARE_PDF_FONT picks a font of one's choice
        monkeypatch.setenv("HYPERCARE_PDF_FONT", installed.regular)
        assert report_pdf.find_font(candidates=()).regular == installed.regular


def test_charts_render_without_a_session():
    if report_charts.browser_path() is None:
        pytest.skip("no Chromium")
    images, error = report_charts.render([go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))], width=400, height=300)
    assert error is None and images[0][:8] == b"\x89PNG\r\n\x1a\n"
