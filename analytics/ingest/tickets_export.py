"""The canonical tickets as a table for export (CLI `tickets`, the Upload page's download)."""

from __future__ import annotations

import pandas as pd

from analytics.ingest.transform import qident
from analytics.store.schema import DERIVED_TICKET_COLUMNS, DERIVED_TICKET_FIELDS, TICKET_COLUMNS, TIMESTAMP_FIELDS


def tickets_frame(con, where: str = "TRUE", params: list | None = None) -> pd.DataFrame:
    """Every canonical column, then the derived ones (resolved_at_reported, resolved_at_basis,
    pause_reason), ordered by opened time then id. `where` is a parameterised clause."""
    cols = ", ".join(qident(c) for c in TICKET_COLUMNS + DERIVED_TICKET_COLUMNS)
    return con.cursor().execute(
        f"SELECT {cols} FROM tickets WHERE {where} ORDER BY opened_at, ticket_id", params or []
    ).df()


def to_json_records(frame: pd.DataFrame) -> list[dict]:
    """Records with ISO 8601 UTC timestamps ("2026-09-07T09:05:00Z") and null for missing."""
    out = frame.copy()
    for col in TIMESTAMP_FIELDS + tuple(n for n, t in DERIVED_TICKET_FIELDS if t == "TIMESTAMP"):
        if col in out:
            out[col] = out[col].map(lambda v: None if pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%dT%H:%M:%SZ"))
    out = out.astype(object).where(out.notna(), None)
    return [{k: (int(v) if hasattr(v, "is_integer") and not isinstance(v, (bool, float)) else v)
             for k, v in rec.items()} for rec in out.to_dict(orient="records")]
