"""The monthly report's data pack: a zip of CSV files, or an XLSX workbook, from the same `Report`.

CSV zip: `NN-<section>-<table>.csv` for every table and chart's data (NN = the section's place
in the report, 00 = the first page's summary), a section without data gets `NN-<section>-notes.csv`
with its text, and `manifest.csv` lists every file with its section, rows and sha256 (the
provenance section's files, last, hold the period, filters, as-of time and inputs fingerprint). XLSX: one sheet per
section with its text, then each table under its title.

Both are formula-safe (analytics/csv_export: text that a spreadsheet would run as a formula gets
a leading "'") and byte-for-byte reproducible: floats are rounded to 6 decimals (parallel
aggregation may differ in the last bits), zip entries carry the report's as-of time, and the
workbook's created/modified properties are the as-of time too.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from datetime import date, datetime

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, WriteOnlyCell
from openpyxl.styles import Font

from analytics.report.model import Chart, Report, Section, Table, Text
from analytics.store.csv_export import neutralise_cell, to_csv_bytes

DECIMALS = 6
SHEET_NAMES = {"summary": "Summary", "provenance": "Provenance", "kpis": "KPIs", "sla": "SLA compliance", "trends": "Trends",
               "recurrence": "Recurring clusters", "pir": "PIR compliance", "defects": "Defect triage",
               "closure": "Closure and sign-offs", "appendix": "Appendix definitions"}
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def pack_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy fit for CSV/XLSX: lists joined by "; ", categoricals as text, floats rounded."""
    out = df.copy().reset_index(drop=True)
    out.columns = [str(c) for c in out.columns]
    for i in range(out.shape[1]):
        col = out.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        if pd.api.types.is_float_dtype(col):
            col = col.round(DECIMALS)
        elif pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            col = col.map(_plain, na_action="ignore")
        out.isetitem(i, col)
    return out


def _plain(value: object) -> object:
    if isinstance(value, (list, tuple, np.ndarray)):
        return "; ".join(str(v) for v in value)
    if isinstance(value, float):
        return round(value, DECIMALS)
    return value


def tables_of(section: Section) -> list[tuple[str, str, pd.DataFrame]]:
    """(name, title, data) of every table and chart of a section, in order; its text when it has
    neither (so every section has a file and a sheet of its own)."""
    out: list[tuple[str, str, pd.DataFrame]] = []
    for block in section.blocks:
        if isinstance(block, Table):
            out.append((block.name, block.title, block.data))
        elif isinstance(block, Chart) and not any(block.data is data for _, _, data in out):
            out.append((block.name, f"Chart data: {block.title}", block.data))
    if not out:
        texts = [b.text for b in section.blocks if isinstance(b, Text)]
        out.append(("notes", section.title, pd.DataFrame({"text": texts})))
    return out


def _zip_time(report: Report) -> tuple[int, int, int, int, int, int]:
    t = max(report.as_of, datetime(1980, 1, 1))  # the zip format starts in 1980
    return (t.year, t.month, t.day, t.hour, t.minute, t.second - t.second % 2)


def _write(zf: zipfile.ZipFile, name: str, data: bytes, when: tuple) -> None:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    zf.writestr(info, data)


def to_csv_zip(report: Report) -> bytes:
    """The CSV pack (see the module docstring) as zip bytes."""
    when = _zip_time(report)
    buf = io.BytesIO()
    manifest = []
    with zipfile.ZipFile(buf, "w") as zf:
        for number, section in enumerate(report.sections):
            for name, title, data in tables_of(section):
                file_name = f"{number:02d}-{section.key}-{name}.csv"
                body = to_csv_bytes(pack_frame(data))
                _write(zf, file_name, body, when)
                manifest.append({"file": file_name, "section": section.title, "table": title,
                                 "rows": len(data), "sha256": hashlib.sha256(body).hexdigest()})
        _write(zf, "manifest.csv", to_csv_bytes(pd.DataFrame(manifest)), when)
    return buf.getvalue()


# --- XLSX -------------------------------------------------------------------------------


def sheet_name(section: Section, taken: set[str]) -> str:
    """A valid, unique sheet name (≤ 31 characters, none of []:*?/\\)."""
    base = SHEET_NAMES.get(section.key) or _SHEET_BAD.sub(" ", section.title).strip()[:31] or section.key
    name, i = base[:31], 2
    while name.lower() in taken:
        name = f"{base[:28]} {i}"
        i += 1
    taken.add(name.lower())
    return name


def xlsx_value(value: object) -> object:
    """A cell value openpyxl stores as data: formula-safe text without illegal characters,
    plain numbers, naive datetimes; None for anything missing."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if np.isnan(value) else round(float(value), DECIMALS)
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, (datetime, date, int)):
        return value
    return ILLEGAL_CHARACTERS_RE.sub(" ", str(neutralise_cell(str(value))))


def _write_sheet(ws, section: Section) -> None:
    """Section title, its text, then each table under its title (write-only: rows stream out)."""
    def strong(value: object, size: float | None = None) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=xlsx_value(value))
        cell.font = Font(bold=True, size=size)
        return cell

    ws.column_dimensions["A"].width = 28
    for letter in "BCDEFGHIJ":
        ws.column_dimensions[letter].width = 18
    ws.append([strong(section.title, 13)])
    for block in section.blocks:
        if isinstance(block, Text):
            ws.append([xlsx_value(block.text)])
    for _, title, data in tables_of(section):
        frame = pack_frame(data)
        ws.append([])
        ws.append([strong(title)])
        ws.append([strong(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            ws.append([xlsx_value(v) for v in row])


def to_xlsx(report: Report) -> bytes:
    """The XLSX pack: one sheet per section (see the module docstring)."""
    wb = Workbook(write_only=True)
    taken: set[str] = set()
    for section in report.sections:
        _write_sheet(wb.create_sheet(sheet_name(section, taken)), section)
    wb.properties.creator = "Hypercare"
    wb.properties.title = report.title
    wb.properties.created = wb.properties.modified = report.as_of
    buf = io.BytesIO()
    wb.save(buf)
    return _rezip(buf.getvalue(), _zip_time(report), report.as_of)


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _rezip(data: bytes, when: tuple, as_of: datetime) -> bytes:
    """The same zip with every entry dated `when`, and the workbook's modified property set to
    the as-of time (openpyxl stamps the wall clock on both when it saves)."""
    stamp = as_of.strftime("%Y-%m-%dT%H:%M:%SZ").encode("ascii")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                body = _MODIFIED.sub(lambda m: m.group(1) + stamp + m.group(2), body)
            _write(dst, info.filename, body, when)
    return out.getvalue()
