"""Loading the seeded demo data through the real ingest path (so the demo tests ingest too)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from . import demo
from .ingest import IngestResult, ingest_file
from .profiles import find_profile


def load_demo(con, n_tickets: int = 5000, seed: int = 42) -> list[IngestResult]:
    """Generate `n_tickets` demo tickets with their status history and upsert them."""
    with tempfile.TemporaryDirectory(prefix="hypercare-demo-") as d:
        tickets_csv, history_csv = demo.write_csvs(Path(d), n_tickets, seed)
        name = f"demo-{n_tickets}-seed{seed}"
        return [
            ingest_file(con, tickets_csv, name=f"{name}-tickets.csv", profile=find_profile("hypercare-tickets"),
                        uploaded_by="demo", max_bytes=2**40),
            ingest_file(con, history_csv, name=f"{name}-history.csv", profile=find_profile("hypercare-history"),
                        uploaded_by="demo", max_bytes=2**40),
        ]
