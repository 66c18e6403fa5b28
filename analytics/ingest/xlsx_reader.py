"""An XLSX upload's first sheet as text columns (openpyxl, read-only: rows stream from the zip)."""

from __future__ import annotations

import datetime as dt
import io
import re
import threading
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from analytics.ingest import file_limits
from analytics.ingest.file_formats import unique_names
from analytics.ingest.file_limits import FileRejected, check_columns, check_rows

_SIZE_HEAD = 64 * 1024
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)"')
_PATCH_LOCK = threading.Lock()


def xlsx_table(name: str, data: bytes, max_rows: int | None = None):
    """(names, values, whole sheet read, the sheet's declared row count less the header or None).

    Reads at most `max_rows` data rows (a preview), else up to MAX_ROWS + 1. Formulas come back
    as their "=..." text; blank rows are skipped."""
    import openpyxl  # lazily: ~0.3 s to import, and most uploads are CSV

    with _unreadable(name), _size_from_head():
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    try:
        with _unreadable(name):
            ws = wb.worksheets[0]
            declared = ws.max_row
            ws.reset_dimensions()  # else every row is padded to the declared width: "A1:XFD1" is 16,384 cells
        rows = _rows(name, ws)
        header = next((r for r in rows if r), None)
        if header is None:
            raise FileRejected(f"{name}: the file is empty")
        limit = file_limits.MAX_ROWS if max_rows is None else max_rows
        body: list[list[str | None]] = []
        whole = True
        for r in rows:
            if r and len(body) >= limit:
                whole = False
                break
            if r:
                body.append(r)
    finally:
        wb.close()
    if max_rows is None and not whole:
        check_rows(name, file_limits.MAX_ROWS + 1)
    width = max(len(r) for r in [header, *body])
    names = unique_names([(header[i] if i < len(header) else None) or "" for i in range(width)])
    values = [[r[i] if i < len(r) else None for r in body] for i in range(width)]
    return names, values, whole, declared - 1 if declared else None


@contextmanager
def _size_from_head():
    """openpyxl sizes a sheet by parsing its XML up to <dimension>, or all of it when there is
    none (openpyxl's own writer leaves it out): minutes for 1M rows before the first row is read.
    The schema puts <dimension> before <sheetData>, so the start of the XML tells."""
    from openpyxl.reader import excel
    from openpyxl.utils.cell import range_boundaries

    class Sheet(excel.ReadOnlyWorksheet):
        def _get_size(self):
            with self._get_source() as src:
                head = src.read(_SIZE_HEAD).split(b"sheetData", 1)[0]
            if m := _DIMENSION.search(head):
                self._min_column, self._min_row, self._max_column, self._max_row = range_boundaries(
                    m.group(1).decode())

    with _PATCH_LOCK:  # the reader's module-level name, for the duration of one load
        original, excel.ReadOnlyWorksheet = excel.ReadOnlyWorksheet, Sheet
        try:
            yield
        finally:
            excel.ReadOnlyWorksheet = original


# What openpyxl raises on a broken file (seen on corrupted workbooks): the zip's errors, a part
# missing from it (KeyError), its XML's (ParseError, a SyntaxError), a value its typed
# attributes refuse (TypeError, ValueError), no sheet (IndexError). Raised by our code, a bug.
_BROKEN_FILE = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, KeyError, SyntaxError,
                TypeError, ValueError, OverflowError, IndexError)


@contextmanager
def _unreadable(name: str) -> Iterator[None]:
    """openpyxl's failures on a broken file, inside the block, as FileRejected."""
    try:
        yield
    except _BROKEN_FILE as exc:
        raise FileRejected(f"{name}: cannot read this Excel file ({type(exc).__name__}: {exc})") from None


def _rows(name: str, ws) -> Iterator[list[str | None]]:
    """The sheet's rows as text (_sheet_row), openpyxl's reading of each under `_unreadable`."""
    with _unreadable(name):
        cells = iter(ws.iter_rows(values_only=True))
    while True:
        with _unreadable(name):
            row = next(cells, None)
        if row is None:
            return
        yield _sheet_row(name, row)


def _sheet_row(name: str, cells: tuple) -> list[str | None]:
    row = [_cell(v) for v in cells]
    while row and row[-1] is None:  # trailing cells with no value are formatting residue, not data
        row.pop()
    check_columns(name, len(row))
    return row


def _cell(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        v = (v + dt.timedelta(microseconds=500_000)).replace(microsecond=0)  # Excel float noise
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.strftime("%Y-%m-%d 00:00:00")
    if isinstance(v, dt.time):
        return v.strftime("%H:%M:%S")
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float):
        return f"{v:.15g}"  # what Excel shows: 0.1+0.2 is 0.3, 5.0 is 5
    text = str(getattr(v, "text", v))  # .text: array formulas
    return text if text != "" else None
