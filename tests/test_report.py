"""The monthly report's content, data packs and CLI (the PDF itself: tests/test_report_pdf.py)."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest

from analytics.cli import main
from analytics.ingest.pipeline import ingest_file
from analytics.ingest.profiles import find_profile
from analytics.report import pack
from analytics.report.builder import build, default_as_of, month_range, split_values
from analytics.report.model import Report, Section, Table, Text
from analytics.report.sections import status_label
from analytics.store import db
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from tests.helpers import write_csv

AS_OF = datetime(2026, 11, 1)
SECTION_KEYS = ["summary", "kpis", "sla", "trends", "recurrence", "pir", "defects", "closure", "appendix",
                "provenance"]


@pytest.fixture(scope="module")
def demo_path(demo_file):
    return demo_file


@pytest.fixture(scope="module")
def demo(demo_path):
    con = db.connect(demo_path)
    yield con
    con.close()


@pytest.fixture(scope="module")
def october(demo):
    return build(demo, "2026-10", as_of=AS_OF)


# --- parameters -------------------------------------------------------------------------


@pytest.mark.parametrize("month, first, last", [
    ("2026-10", date(2026, 10, 1), date(2026, 10, 31)),
    ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    (" 2026-12 ", date(2026, 12, 1), date(2026, 12, 31)),
])
def test_month_range(month, first, last):
    assert month_range(month) == (first, last)


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "26-10", "2026-1", "October", "", "2026/10"])
def test_month_range_refuses_what_is_not_a_month(bad):
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_range(bad)


def test_default_as_of_is_the_month_end_or_now_if_earlier():
    assert default_as_of("2026-10", now=datetime(2026, 11, 23, 9, 30)) == datetime(2026, 11, 1)
    assert default_as_of("2026-11", now=datetime(2026, 11, 23, 9, 30, 5, 7)) == datetime(2026, 11, 23, 9, 30, 5)


def test_split_values():
    assert split_values(" SEV-1, SEV-2 ,,") == ("SEV-1", "SEV-2")
    assert split_values(None) == ()


@pytest.mark.parametrize("status, shown", [("met", "✓ met"), ("missed", "✗ missed"), ("pass", "✓ pass"),
                                           ("fail", "✗ fail"), ("at risk", "! at risk"),
                                           ("not measurable", "? not measurable"),
                                           ("met (small sample)", "✓ met (small sample)"), ("odd", "odd")])
def test_status_is_a_symbol_and_a_word(status, shown):
    assert status_label(status) == shown


# --- content ----------------------------------------------------------------------------


def test_sections_come_in_the_report_order(october):
    assert [s.key for s in october.sections] == SECTION_KEYS
    assert october.start == date(2026, 10, 1) and october.end == date(2026, 10, 31)
    assert october.as_of == AS_OF


def test_kpi_rows_count_the_months_tickets(demo, october):
    tickets = demo.execute("SELECT opened_at, severity FROM tickets").df()
    opened = pd.to_datetime(tickets["opened_at"])
    in_month = ((opened >= "2026-10-01") & (opened < "2026-11-01")).sum()
    kpis = october.section("kpis").tables[0].data.set_index("key")
    assert kpis.loc["tickets", "value"] == in_month
    from analytics.kpi.registry import KPIS

    assert list(kpis.index) == [k.key for k in KPIS]  # one row per registry KPI, in its order


def test_filters_reach_every_section(demo):
    service = demo.execute("SELECT service FROM tickets GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchall()[0][0]
    r = build(demo, "2026-10", severity=("SEV-2", "SEV-3"), service=(service,), as_of=AS_OF)
    t = demo.execute("SELECT opened_at, severity, service FROM tickets").df()
    opened = pd.to_datetime(t["opened_at"])
    want = ((opened >= "2026-10-01") & (opened < "2026-11-01") & t["severity"].isin(["SEV-2", "SEV-3"])
            & (t["service"] == service)).sum()
    kpis = r.section("kpis").tables[0].data.set_index("key")
    assert kpis.loc["tickets", "value"] == want
    assert f"{want:,} tickets" in r.caption and service in r.caption
    sla = r.section("sla").tables[0].data
    assert set(sla.loc[sla["n"] > 0, "severity"]) <= {"SEV-2", "SEV-3", "All"}
    daily = next(c for c in r.charts if c.name == "daily_volume").data
    assert daily["tickets"].sum() == want
    clusters = r.section("recurrence").tables[0].data
    assert set(clusters["service"]) <= {service}


def test_an_empty_store_still_gives_every_section(con):
    from analytics.report import pdf

    r = build(con, "2026-10", as_of=AS_OF)
    assert [s.key for s in r.sections] == SECTION_KEYS
    assert r.kpis["tickets"].value == 0 and r.kpis["mttr"].value is None
    assert "0 tickets" in r.caption
    assert r.section("provenance").tables[1].data.empty  # no dataset
    assert pdf.render(r)[:5] == b"%PDF-"
    assert len(zipfile.ZipFile(io.BytesIO(pack.to_csv_zip(r))).namelist()) > len(SECTION_KEYS)


@pytest.mark.slow  # seconds: in ./test.sh --all, not the quick run
def test_cover_lists_datasets_with_their_file_hash(tmp_path):
    con = db.connect(tmp_path / "s.duckdb")
    from analytics.demo.generator import DEMO_COLUMNS

    rows = []
    for i in range(4):
        row = {c: "" for c in DEMO_COLUMNS}
        row.update(external_id=f"X-{i}", type="incident", title="Login fails on node-1", severity="SEV-3",
                   status="Resolved", service="Portal", opened_at=f"2026-10-0{i + 1} 09:00:00",
                   resolved_at=f"2026-10-0{i + 1} 11:00:00")
        rows.append([row[c] for c in DEMO_COLUMNS])
    path = tmp_path / "tickets.csv"
    write_csv(path, list(DEMO_COLUMNS), rows)
    ingest_file(con, path, profile=find_profile("hypercare-tickets"), uploaded_by=local_operator("test"))
    r = build(con, "2026-10", as_of=AS_OF)
    ds = r.section("provenance").tables[1].data
    assert list(ds["file_name"]) == ["tickets.csv"]
    assert ds["sha256"].iloc[0] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ds["rows_loaded"].iloc[0] == 4 and ds["tickets_in_report"].iloc[0] == 4
    # September holds none of them.
    assert build(con, "2026-09", as_of=AS_OF).section("provenance").tables[1].data["tickets_in_report"].iloc[0] == 0


@pytest.mark.slow
def test_fingerprint_follows_the_inputs_and_nothing_else(demo_path, tmp_path):
    import shutil

    path = tmp_path / "copy.duckdb"
    shutil.copy(demo_path, path)
    con = db.connect(path)
    base = build(con, "2026-10", as_of=AS_OF).fingerprint
    assert build(con, "2026-10", as_of=AS_OF).fingerprint == base
    db.set_setting(con, "max_upload_mb", "50")  # not a figure
    assert build(con, "2026-10", as_of=AS_OF).fingerprint == base
    assert build(con, "2026-10", as_of=datetime(2026, 11, 2)).fingerprint != base
    assert build(con, "2026-10", severity=("SEV-1",), as_of=AS_OF).fingerprint != base
    db.set_setting(con, "kpi_target.mttr", "8")  # a target: the statuses may change
    changed = build(con, "2026-10", as_of=AS_OF)
    assert changed.fingerprint != base
    assert "kpi_target.mttr" in set(changed.section("provenance").tables[3].data["key"])
    # An edit that bypassed the upload path still changes it.
    con.execute("UPDATE tickets SET severity = 'SEV-1' WHERE ticket_id = (SELECT min(ticket_id) FROM tickets)")
    assert build(con, "2026-10", as_of=AS_OF).fingerprint != changed.fingerprint
    con.close()


def test_pir_section_lists_the_overdue_reviews(demo, october):
    from analytics.governance import pir

    reviews = pir.reviews(demo, Filters(date_from=date(2026, 10, 1), date_to=date(2026, 10, 31)), AS_OF)
    tables = {t.name: t for t in october.section("pir").tables}
    assert len(tables["overdue"].data) == (reviews["state"] == "overdue").sum()
    summary = tables["summary"].data.set_index("measure")["value"]
    assert summary["required"] == len(reviews)


def test_defect_section_counts_the_months_defects(demo, october):
    t = demo.execute("SELECT type, severity, opened_at, status_category FROM tickets").df()
    opened = pd.to_datetime(t["opened_at"])
    defects = t[(t["type"] == "defect") & (opened >= "2026-10-01") & (opened < "2026-11-01")
                & (t["status_category"] != "cancelled")]
    tables = {x.name: x for x in october.section("defects").tables}
    per_class = tables["summary"].data.set_index("severity")["defects"]
    for sev in ("SEV-1", "SEV-2", "SEV-3", "SEV-4"):
        assert per_class[sev] == (defects["severity"] == sev).sum()
    view = tables["summary"].view
    assert view["class"].iloc[0] == "Critical (SEV-1)"
    assert view["acknowledged in time"].iloc[2] == "–"  # Medium has no acknowledgement target
    assert tables["tags"].data.set_index("tag").loc["bug", "tickets"] == len(
        t[(t["type"] == "defect") & (opened >= "2026-10-01") & (opened < "2026-11-01")])


def test_closure_section_has_the_scorecard_and_every_role(october):
    from analytics.governance.signoff import ROLES

    tables = {t.name: t for t in october.section("closure").tables}
    assert len(tables["scorecard"].data) >= 5
    assert list(tables["signoffs"].data["role"]) == list(ROLES)
    assert all(s.split(" ")[0] in "✓✗!?–" for s in tables["scorecard"].view["status"])


# --- data packs -------------------------------------------------------------------------


def test_csv_pack_has_a_file_per_section_and_an_honest_manifest(october):
    z = zipfile.ZipFile(io.BytesIO(pack.to_csv_zip(october)))
    names = z.namelist()
    for number, key in enumerate(SECTION_KEYS):
        assert any(n.startswith(f"{number:02d}-{key}-") for n in names), key
    manifest = pd.read_csv(z.open("manifest.csv"))
    assert sorted(manifest["file"]) == sorted(n for n in names if n != "manifest.csv")
    for row in manifest.itertuples():
        body = z.read(row.file)
        assert hashlib.sha256(body).hexdigest() == row.sha256
        assert len(pd.read_csv(io.BytesIO(body))) == row.rows


@pytest.mark.slow
def test_same_inputs_give_the_same_pack_bytes(demo):
    one = build(demo, "2026-10", severity=("SEV-1", "SEV-2"), as_of=AS_OF)
    two = build(demo, "2026-10", severity=("SEV-1", "SEV-2"), as_of=AS_OF)
    assert one.fingerprint == two.fingerprint
    assert pack.to_csv_zip(one) == pack.to_csv_zip(two)
    assert pack.to_xlsx(one) == pack.to_xlsx(two)


def test_xlsx_has_one_sheet_per_section(october, tmp_path):
    path = tmp_path / "r.xlsx"
    path.write_bytes(pack.to_xlsx(october))
    wb = openpyxl.load_workbook(path)
    assert len(wb.sheetnames) == len(SECTION_KEYS)
    assert [wb[n]["A1"].value for n in wb.sheetnames] == [s.title for s in october.sections]
    assert wb.properties.created == AS_OF and wb.properties.modified == AS_OF
    kpis = [r for r in wb["KPIs"].iter_rows(values_only=True)]
    header = next(i for i, r in enumerate(kpis) if r[0] == "key")
    assert kpis[header + 1][0] == "tickets"
    assert kpis[header + 1][3] == october.kpis["tickets"].value


def _hostile_report() -> Report:
    data = pd.DataFrame({"title": ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                                   "bell\x07 and nul\x00", "plain"],
                         "number": [-2, 1, 2, 3, 4, 5], "ids": [["a", "b"], [], ["c"], [], [], []]})
    sections = (Section("cover", "Cover", (Table("summary", "t", data),)),
                Section("empty", "Only words: here", (Text("nothing to tabulate"),)))
    return Report(month="2026-10", start=date(2026, 10, 1), end=date(2026, 10, 31), as_of=AS_OF,
                  filters=Filters(), caption="Filters: none", tool_version="test", fingerprint="0" * 64,
                  policy_versions=(), sections=sections)


def test_packs_never_hold_a_formula(tmp_path):
    r = _hostile_report()
    z = zipfile.ZipFile(io.BytesIO(pack.to_csv_zip(r)))
    csv = pd.read_csv(z.open("00-cover-summary.csv"), keep_default_na=False)
    assert list(csv["title"][:4]) == ["'=HYPERLINK(\"http://x\")", "'+cmd|' /C calc'!A0", "'-2+3", "'@SUM(A1)"]
    assert list(csv["number"]) == [-2, 1, 2, 3, 4, 5]  # numbers stay numbers
    assert csv["ids"][0] == "a; b"
    notes = pd.read_csv(z.open("01-empty-notes.csv"))
    assert list(notes["text"]) == ["nothing to tabulate"]
    path = tmp_path / "h.xlsx"
    path.write_bytes(pack.to_xlsx(r))
    ws = openpyxl.load_workbook(path).worksheets[0]
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert "'=HYPERLINK(\"http://x\")" in [c.value for c in cells]
    assert "bell  and nul " in [c.value for c in cells]
    assert openpyxl.load_workbook(path).sheetnames[1] == "Only words  here"


def test_chart_data_is_packed_once(october):
    sla = pack.tables_of(october.section("sla"))
    assert [name for name, _, _ in sla] == ["compliance"]  # the chart's data is that same table
    trends = [name for name, _, _ in pack.tables_of(october.section("trends"))]
    assert trends == [c.name for c in october.section("trends").charts]


# --- CLI --------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_writes_each_format(demo_path, tmp_path, capsys):
    zpath, xpath = tmp_path / "pack.zip", tmp_path / "pack.xlsx"
    assert main(["report", "--db", str(demo_path), "--month", "2026-10", "--as-of", "2026-11-01T00:00:00Z",
                 "--severity", "SEV-1,SEV-2", "--out", str(zpath)]) == 0
    assert "inputs fingerprint" in capsys.readouterr().out
    names = zipfile.ZipFile(zpath).namelist()
    assert "01-kpis-kpis.csv" in names
    assert main(["report", "--db", str(demo_path), "--month", "2026-10", "--as-of", "2026-11-01",
                 "--out", str(xpath)]) == 0
    assert len(openpyxl.load_workbook(xpath).sheetnames) == len(SECTION_KEYS)
    other = tmp_path / "pack.bin"
    assert main(["report", "--db", str(demo_path), "--month", "2026-10", "--as-of", "2026-11-01",
                 "--format", "csv", "--out", str(other)]) == 0
    assert zipfile.is_zipfile(other)


def test_cli_refuses_a_bad_month(demo_path, tmp_path, capsys):
    out = tmp_path / "x.pdf"
    assert main(["report", "--db", str(demo_path), "--month", "2026-13", "--out", str(out)]) == 2
    assert "not a month YYYY-MM" in capsys.readouterr().err
    assert not out.exists()
