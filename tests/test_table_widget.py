"""ui/widgets.table: numbers with thousands separators, headers as words, and a table kept within
the page (long texts narrowed and wrapped, what is still beyond named), the page's config first."""

from __future__ import annotations

import json
import pickle

import pandas as pd
from streamlit.testing.v1 import AppTest


def _script(frame_pickle: bytes, options: dict) -> None:
    import pickle

    import streamlit as st

    from ui import widgets

    config = {"hidden_list": None, "impact": st.column_config.NumberColumn("Impact", format="%,.1f"),
              "evidence": st.column_config.NumberColumn("Evidence rows")}
    widgets.table(pickle.loads(frame_pickle), alt="t", column_config=config, **options)


def _shown(frame: pd.DataFrame, **options) -> tuple[dict, object, list[str]]:
    """(column config by name, the dataframe element, captions) of widgets.table(frame)."""
    at = AppTest.from_function(_script, args=(pickle.dumps(frame), options)).run()
    assert not at.exception, [e.message for e in at.exception]
    element = at.dataframe[0]
    config = {k.removeprefix("col:name:"): v for k, v in json.loads(element.proto.columns).items()}
    return config, element, [c.value.replace("\\", "") for c in at.caption]


def test_counts_show_thousands_separators_and_stay_numbers():
    config, element, _ = _shown(pd.DataFrame({"rows_read": [141712, 21135], "dataset_id": [1, 2],
                                              "mean_x": [2834.25, 1.5]}))
    assert config["rows_read"]["type_config"] == {"type": "number", "format": "%,d"}
    assert config["rows_read"]["label"] == "Rows read"
    assert config["mean_x"]["type_config"]["format"] == "%,.2f"
    assert "type_config" not in config["dataset_id"]  # an id: "#1234", not "1,234"
    assert element.value["rows_read"].dtype.kind == "i"  # sortable as numbers, not text


def test_the_pages_own_config_wins_field_by_field():
    config, _, _ = _shown(pd.DataFrame({"impact": [2834.0], "evidence": [14051], "hidden_list": [1]}))
    assert config["impact"]["type_config"]["format"] == "%,.1f"  # the page's format
    assert config["evidence"]["label"] == "Evidence rows"  # the page's label …
    assert config["evidence"]["type_config"]["format"] == "%,d"  # … and the default format
    assert config["hidden_list"]["hidden"] is True


def test_a_wide_table_narrows_its_long_text_wraps_it_and_names_the_columns_beyond_the_page(monkeypatch):
    import streamlit as st

    calls = []
    real = st.dataframe
    monkeypatch.setattr(st, "dataframe", lambda *a, **k: calls.append(k) or real(*a, **k))
    frame = pd.DataFrame({"ticket_id": ["hypercare:HC-002763"] * 3, "severity": ["SEV-3"] * 3,
                          "title": ["Message Queue: validation message shows raw error on checkout page"] * 3,
                          "service": ["Order Sync"] * 3, "team": ["Platform Engineering"] * 3,
                          "status": ["Awaiting Customer"] * 3,
                          "opened_at": pd.to_datetime(["2026-11-12 20:35:03"] * 3),
                          "age_days": [9.1, 10.25, 1.0]})
    config, element, captions = _shown(frame)
    assert config["title"]["width"] == 200 and element.proto.row_height > 64  # narrowed, so wrapped
    assert config["status"].get("width") is None  # Status back within the page (it was beyond)
    assert any(c.startswith("Scroll the table sideways for Opened (UTC), Age days.") for c in captions), captions
    assert calls[0]["height"] == 3 * 72 + 38  # every wrapped row shows ("auto": five)


def test_a_table_that_fits_is_left_as_streamlit_sizes_it():
    config, element, captions = _shown(pd.DataFrame({"service": ["Checkout Web"], "clusters": [97]}))
    assert all(c.get("width") is None for c in config.values() if c.get("label"))
    assert not element.proto.row_height and not captions
