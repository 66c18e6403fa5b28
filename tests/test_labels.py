"""Table headers as words and durations as people write them (issue #15)."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.charts import labels


@pytest.mark.parametrize(("column", "header"), [
    ("ticket_id", "Ticket"), ("opened_at", "Opened (UTC)"), ("rows_read", "Rows read"),
    ("target_minutes", "Target"), ("resolution_business_minutes", "Resolution business time"),
    ("mttr_hours", "MTTR"), ("compliance (95 % range)", "Compliance (95 % range)"), ("n", "n"),
    ("open_sla_breaches", "Open SLA breaches"),
])
def test_a_header_is_words(column, header):
    assert labels.header(column) == header


def test_duration_columns_are_written_as_durations_and_the_rest_is_untouched():
    df = pd.DataFrame({"ticket_id": ["a", "b"], "target_minutes": [240.0, None],
                       "resolution_business_minutes": [1440.0, 90.0], "downtime_hours": [2.5, 0.0], "n": [1, 2]})
    out = labels.durations_as_text(df)
    assert out["target_minutes"].tolist() == ["4 h", "—"]
    assert out["resolution_business_minutes"].tolist() == ["24 h", "1 h 30 min"]  # business time stays in hours
    assert out["downtime_hours"].tolist() == ["2 h 30 min", "0 s"]
    assert out["n"].tolist() == [1, 2] and df["target_minutes"].iloc[0] == 240.0  # a copy


@pytest.mark.parametrize(("column", "header"), [
    ("cluster_id", "Cluster ID"), ("problem_ids", "Problem IDs"), ("consumed_pct", "Consumed %"),
    ("calendar_minutes", "Calendar time"), ("sha256", "SHA-256"),
])
def test_ids_percentages_and_the_two_clocks_read_as_people_write_them(column, header):
    assert labels.header(column) == header


@pytest.mark.parametrize(("column", "values", "expected"), [
    ("rows_read", pd.Series([141712, 21135]), "%,d"),  # counts: "141,712"
    ("tickets", pd.Series([3, None], dtype="Int64"), "%,d"),
    ("impact", pd.Series([2834.0, 107.13]), "%,.2f"),  # the fewest decimals the values need
    ("availability", pd.Series([99.945, 100.0]), "%,.3f"),
    ("impact", pd.Series([2834.0, 12.5, float("nan")]), "%,.1f"),
    ("mean", pd.Series([2.0, 4.0]), "%,d"),
    ("ratio", pd.Series([0.0004, 1.0]), None),  # three decimals would show 0.000: Streamlit's default
    ("dataset_id", pd.Series([1, 2]), None), ("year", pd.Series([2026]), None),  # names, not quantities
    ("replace_newer", pd.Series([True, False]), None), ("title", pd.Series(["a"]), None),
])
def test_numbers_get_thousands_separators_and_only_the_decimals_they_need(column, values, expected):
    assert labels.number_format(column, values) == expected


def test_estimated_widths_are_close_to_those_measured_in_chromium():
    # Measured with st.dataframe(width="content") at 1280 px: header or widest value, borders excluded.
    measured = {("Criterion", "Enhancements prioritised and scheduled"): 256,
                ("File name", "incident_event_log.csv.gz"): 168, ("h", "missed (small sample)"): 147,
                ("Uploaded (UTC)", "x"): 109, ("Open and breached", "x"): 131, ("h", "x"): 50}
    for (head, value), px in measured.items():
        assert abs(labels.natural_px(head, labels.values_px(pd.Series([value]))) - px) <= 0.05 * px, head


def test_a_table_wider_than_the_page_narrows_its_widest_texts_and_names_what_is_still_beyond():
    widths = {"criterion": 256, "status": 70, "detail": 500, "evidence": 110}
    narrowed, beyond = labels.fit(widths, ["criterion", "detail"], budget=800)
    assert narrowed == {"detail": 800 - 256 - 70 - 110} and beyond == []
    # text never narrower than MIN_TEXT_PX; numbers are never narrowed; what does not fit is named
    narrowed, beyond = labels.fit({"title": 480, "n": 300, "opened": 140, "age": 90}, ["title"], budget=600)
    assert narrowed == {"title": labels.MIN_TEXT_PX} and beyond == ["opened", "age"]
    assert labels.fit({"a": 300, "b": 300}, ["a", "b"], budget=800) == ({}, [])  # fits: untouched
