"""Table headers as words and durations as people write them (issue #15)."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics import labels


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
