"""Streamlit edge of Hypercare: cached state, the filter bar, rendering helpers."""
