"""Ingest: one exported file into canonical tickets, all or nothing.

readers, file_formats, file_limits, csv_lines, xlsx_reader (reading), timeparse (timestamps),
profiles and detect (which columns mean what), normalise (vendor words to canonical values),
transform and events (rows and event logs to tickets and history), stage, compare and pipeline
(the upload itself: `pipeline.ingest_file`, `pipeline.apply_staged`), datasets (what was
uploaded, rejected rows, data quality), tickets_export. Imports only analytics.store.
"""

__all__ = ["compare", "csv_lines", "datasets", "detect", "events", "file_formats", "file_limits",
           "normalise", "pipeline", "profiles", "readers", "stage", "tickets_export", "timeparse",
           "transform", "xlsx_reader"]
