"""Line numbers as a text editor shows them, for the messages that refuse a CSV file. Both
helpers stream, since uploads can be 150+ MB."""

from __future__ import annotations

import re
from pathlib import Path

_BREAK_OR_QUOTE = re.compile(rb'"|\r\n?|\n')
_BREAK_NAMES = {b"\n": "LF", b"\r\n": "CRLF", b"\r": "CR"}


def physical_lines(path: str | Path, offsets: list[int]) -> dict[int, int]:
    """Byte offset (DuckDB's line_byte_position) -> 1-based line number as an editor shows it."""
    result, line, pos = {}, 1, 0
    with open(path, "rb") as f:
        for target in sorted(set(offsets)):
            while pos < target and (chunk := f.read(min(1 << 20, target - pos))):
                line += chunk.count(b"\n")
                pos += len(chunk)
            result[target] = line
    return result


def stray_line_break(path: str | Path) -> tuple[int, str, str] | None:
    """(line, that break, the file's own) for the first line break outside quotes that is not
    the file's own (its first one): DuckDB's strict mode refuses such a file without saying where."""
    own, quoted, lf, cr, pending = None, False, 0, 0, b""
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            data = pending + chunk
            # A CRLF may straddle two chunks: keep a final CR for the next one.
            pending = b"\r" if chunk and data.endswith(b"\r") else b""
            for m in _BREAK_OR_QUOTE.finditer(data[:len(data) - len(pending)]):
                token = m.group()
                if token == b'"':
                    quoted = not quoted  # a doubled quote "" flips twice
                    continue
                if not quoted:
                    own = own or token
                    if token != own:
                        return (cr if own == b"\r" else lf) + 1, _BREAK_NAMES[token], _BREAK_NAMES[own]
                lf += token.count(b"\n")
                cr += token.count(b"\r")
            if not chunk:
                return None
