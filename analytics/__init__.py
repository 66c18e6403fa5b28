"""Hypercare's analytics core: storage, ingest and metrics. Never imports streamlit."""
