"""What one uploaded file may cost, and gzip read within it (issue #14: small files that ate
the machine). The bounds are documented in README.md (Uploading exports); each refusal is one
FileRejected line naming the file.

- MAX_COLUMNS: the widest real export seen has 36 columns and a Jira "all fields" export a few
  hundred; a 3,000-column file cost 95 s and 1.45 GB before this bound.
- MAX_ROWS: ten times the 1,000,000 tickets Hypercare is benchmarked at (a 1,000,000-ticket
  status history has 4-6 M rows).
- MAX_HEADER_BYTES: the header line is read whole up to this size (the sniffed head is 64 KB).
- Gzip content counts against the upload limit as it expands, and may expand at most
  MAX_GZIP_RATIO times (the real exports: 14-33 times) once past RATIO_FLOOR; decompression
  stops as soon as either is crossed. Each member's CRC-32 and length are verified.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

MIB = 1024 * 1024
MAX_COLUMNS = 1_000
MAX_ROWS = 10_000_000
MAX_HEADER_BYTES = MIB
MAX_GZIP_RATIO = 100
RATIO_FLOOR = 16 * MIB  # below it any ratio is cheap: a small, very repetitive export still loads
_CHUNK = MIB


class FileRejected(ValueError):
    """The whole file cannot be loaded. str(exc) is a one-line user message that starts with the
    file name, e.g. "tickets.csv: the file is empty", "tickets.csv, line 1043: ..."."""


def check_size(name: str, size: int, max_bytes: int | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise FileRejected(f"{name}: the file is {size / MIB:.1f} MB, over the {max_bytes / MIB:.1f} MB "
                           "upload limit (HYPERCARE_MAX_UPLOAD_MB)")


def check_columns(name: str, count: int) -> None:
    if count > MAX_COLUMNS:
        raise FileRejected(f"{name}: the file has {count:,} columns, more than the {MAX_COLUMNS:,} Hypercare "
                           "reads; export only the columns you need")


def check_rows(name: str, count: int) -> None:
    if count > MAX_ROWS:
        raise FileRejected(f"{name}: the file has more than {MAX_ROWS:,} rows, the most Hypercare reads from "
                           "one file; split the export (by month, for example)")


def gunzip_file(name: str, path: str | Path, max_bytes: int | None) -> Path:
    """The decompressed content of a .gz file as a temp file (the caller deletes it)."""
    fd, tmp = tempfile.mkstemp(prefix="hypercare-gunzip-", suffix=".csv")
    try:
        with open(path, "rb") as src, os.fdopen(fd, "wb") as dst:
            _inflate(name, src, os.path.getsize(path), dst.write, max_bytes)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def gunzip_bytes(name: str, data: bytes, max_bytes: int | None) -> bytes:
    out = bytearray()
    _inflate(name, io.BytesIO(data), len(data), out.extend, max_bytes)
    return bytes(out)


def _inflate(name: str, src: BinaryIO, size: int, write: Callable[[bytes], object], max_bytes: int | None) -> None:
    """Decompress `src` (`size` bytes of gzip) chunk by chunk into `write`, within the bounds."""
    total = 0
    try:
        with gzip.GzipFile(fileobj=src, mode="rb") as f:
            while chunk := f.read(_CHUNK):
                total += len(chunk)
                _check_expansion(name, size, total, max_bytes)
                write(chunk)
    except gzip.BadGzipFile as exc:
        if str(exc).startswith("CRC check failed"):
            raise FileRejected(f"{name}: the gzip checksum does not match its content (the file is damaged)") from None
        if str(exc).startswith("Incorrect length"):
            raise FileRejected(f"{name}: the gzip length check does not match its content (the file is "
                               "damaged)") from None
        raise FileRejected(f"{name}: the gzip data is damaged ({exc})") from None
    except EOFError:
        raise FileRejected(f"{name}: the gzip data is cut off (the file is incomplete)") from None
    except (OSError, zlib.error) as exc:
        raise FileRejected(f"{name}: the gzip data is damaged ({exc})") from None


def _check_expansion(name: str, size: int, total: int, max_bytes: int | None) -> None:
    if max_bytes is not None and total > max_bytes:
        raise FileRejected(f"{name}: the file expands to more than {max_bytes / MIB:.1f} MB when decompressed, "
                           f"over the {max_bytes / MIB:.1f} MB upload limit (HYPERCARE_MAX_UPLOAD_MB)")
    if total > RATIO_FLOOR and total > MAX_GZIP_RATIO * size:
        raise FileRejected(f"{name}: the file expands more than {MAX_GZIP_RATIO} times when decompressed "
                           f"({size / MIB:.2f} MB to over {total / MIB:.0f} MB), which no export does; "
                           "upload the uncompressed file")
