"""Several sessions at once on one process connection: uploads serialise, readers keep reading.

Streamlit runs each browser session on its own thread; they share the process's DuckDB
connection (ui.connection caches one) and take a cursor per query.
"""

from __future__ import annotations

import threading

import pytest

from analytics.demo import generator
from analytics.ingest.pipeline import ingest_file
from analytics.kpi.overview import summary
from analytics.store.auth import local_operator
from analytics.store.filters import Filters
from analytics.store.periods import utc_now

pytestmark = pytest.mark.slow  # ./test.sh's quick run leaves it out; --all and CI run it


def test_parallel_uploads_and_reads_stay_consistent(con, tmp_path):
    files = []
    for seed in (1, 2, 3):
        folder = tmp_path / f"s{seed}"
        folder.mkdir()
        tickets_csv, _ = generator.write_csvs(folder, 400, seed=seed)
        # The same ids in every file: uploads overlap on purpose and must upsert, not duplicate.
        files.append(tickets_csv)
    errors: list[BaseException] = []
    results = []
    stop = threading.Event()

    def upload(path):
        try:
            results.append(ingest_file(con, path, name=path.parent.name + ".csv", uploaded_by=local_operator("local")))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    def read():
        try:
            while not stop.is_set():
                s = summary(con, Filters(), utc_now())
                assert s["tickets"] in (0, 400)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(2)]
    writers = [threading.Thread(target=upload, args=(f,)) for f in files]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    stop.set()
    for t in readers:
        t.join(timeout=30)
    assert not errors, errors
    assert len(results) == 3
    assert sum(r.tickets_inserted for r in results) == 400
    assert con.execute("SELECT count(*), count(DISTINCT ticket_id) FROM tickets").fetchall() == [(400, 400)]
    assert con.execute("SELECT count(*) FROM datasets").fetchall()[0][0] == 3
