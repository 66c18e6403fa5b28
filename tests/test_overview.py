"""Overview metrics on a handful of crafted tickets, each checked against plain pandas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pandas as pd
import pytest

from analytics.kpi import overview
from analytics.store.filters import Filters

AS_OF = datetime(2026, 10, 1, 12, 0)
H = timedelta(hours=1)
D = timedelta(days=1)

# ticket_id, title, severity, status_category, service, opened_at
ROWS = [
    ("t:1", "Login fails", "SEV-1", "open", "Payments", AS_OF - 0.5 * D),   # <1 d
    ("t:2", "Login fails", "SEV-2", "open", "Payments", AS_OF - 1 * D),     # exactly 1 d -> 1–3 d
    ("t:3", "Slow page", "SEV-3", "open", "Web", AS_OF - 3 * D + H),       # just under 3 d
    ("t:4", "Slow page", None, "open", "Web", AS_OF - 7 * D),              # exactly 7 d -> 7–30 d
    ("t:5", "=HYPERLINK()", "SEV-4", "open", "Web", AS_OF - 30 * D),       # exactly 30 d -> >30 d
    ("t:6", "Login fails", "SEV-1", "resolved", "Payments", AS_OF - 2 * D),
    ("t:7", "Export broken", "SEV-2", "closed", "Web", AS_OF - 10 * D),
    ("t:8", "", "SEV-3", "cancelled", "Web", AS_OF - 10 * D + 5 * H),
    ("t:9", "Future", "SEV-2", "open", "Web", AS_OF + 2 * H),              # after as-of
    ("t:10", "No time", None, "open", "Web", None),                         # no opened_at
]
COLUMNS = ["ticket_id", "title", "severity", "status_category", "service", "opened_at"]


@pytest.fixture
def store(con):
    for row in ROWS:
        con.execute(
            "INSERT INTO tickets (ticket_id, title, severity, status_category, service, opened_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            list(row),
        )
    return con


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=COLUMNS)


def _open(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df.status_category == "open") & df.opened_at.notna() & (df.opened_at <= AS_OF)]


@pytest.mark.parametrize("filters", [Filters(), Filters(service=("Web",)), Filters(severity=("Unmapped",))],
                         ids=["all", "web", "unmapped"])
def test_summary_matches_pandas(store, df, filters):
    sel = df
    if filters.service:
        sel = sel[sel.service.isin(filters.service)]
    if filters.severity:
        sel = sel[sel.severity.isna()]
    op = _open(sel)
    got = overview.summary(store, filters, AS_OF)
    assert got["tickets"] == len(sel)
    assert got["open_backlog"] == len(op)
    assert got["sev12_open"] == int(op.severity.isin(["SEV-1", "SEV-2"]).sum())
    assert got["unmapped"] == int(sel.severity.isna().sum())
    assert got["no_opened_at"] == int(sel.opened_at.isna().sum())
    assert got["first_opened"] == sel.opened_at.min()
    assert got["last_opened"] == sel.opened_at.max()
    assert got["as_of"] == AS_OF


def test_summary_values(store):
    got = overview.summary(store, Filters(), AS_OF)
    assert (got["tickets"], got["open_backlog"], got["sev12_open"], got["unmapped"]) == (10, 5, 2, 2)


def test_backlog_ageing_buckets_include_their_lower_bound(store, df):
    got = overview.backlog_ageing(store, Filters(), AS_OF)
    ages = (AS_OF - _open(df).opened_at).dt.total_seconds() / 86400
    expected = pd.cut(ages, [0, 1, 3, 7, 30, float("inf")], right=False,
                      labels=["<1 d", "1–3 d", "3–7 d", "7–30 d", ">30 d"]).value_counts(sort=False)
    assert list(got.bucket) == ["<1 d", "1–3 d", "3–7 d", "7–30 d", ">30 d"]
    assert list(got.tickets) == list(expected.values)
    assert list(got.tickets) == [1, 2, 0, 1, 1]


def test_backlog_lists_open_tickets_most_severe_first(store, df):
    got = overview.backlog(store, Filters(), AS_OF)
    assert list(got.ticket_id) == ["t:1", "t:2", "t:3", "t:5", "t:4"]
    assert list(got.columns) == ["ticket_id", "severity", "title", "service", "team", "status",
                                 "opened_at", "age_days"]
    assert got.loc[got.ticket_id == "t:4", "severity"].item() == "Unmapped"
    expected_age = {r.ticket_id: (AS_OF - r.opened_at).total_seconds() / 86400
                    for r in _open(df).itertuples()}
    for r in got.itertuples():
        assert r.age_days == pytest.approx(expected_age[r.ticket_id])


def test_as_of_accepts_aware_datetimes(store):
    aware = AS_OF.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2)))
    assert overview.summary(store, Filters(), aware)["as_of"] == AS_OF
    assert overview.backlog_ageing(store, Filters(), aware).equals(
        overview.backlog_ageing(store, Filters(), AS_OF))


def test_as_of_defaults_to_now(store):
    before = datetime.now(UTC).replace(tzinfo=None)
    got = overview.summary(store, Filters())
    assert before <= got["as_of"] <= datetime.now(UTC).replace(tzinfo=None)
    assert got["open_backlog"] == 6  # now is after every opened_at, so t:9 counts too


def test_severity_mix_counts_and_shares(store, df):
    got = overview.severity_mix(store, Filters())
    counts = df.severity.fillna("Unmapped").value_counts()
    assert list(got.severity) == ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "Unmapped"]
    assert list(got.tickets) == [int(counts.get(s, 0)) for s in got.severity]
    assert list(got.percent) == [round(100 * counts.get(s, 0) / len(df), 1) for s in got.severity]
    assert got.tickets.sum() == len(df)


def test_severity_mix_of_nothing_is_zero(store):
    got = overview.severity_mix(store, Filters(service=("none",)))
    assert list(got.tickets) == [0] * 5 and list(got.percent) == [0.0] * 5


def test_severity_mix_keeps_an_unexpected_severity(con):
    con.execute("INSERT INTO tickets (ticket_id, severity, opened_at) VALUES (?, ?, ?)",
                ["x:1", "P5", AS_OF])
    got = overview.severity_mix(con, Filters())
    assert list(got.severity) == ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "P5", "Unmapped"]
    assert got.loc[got.severity == "P5", "percent"].item() == 100.0


def test_volume_by_day_fills_empty_days(store, df):
    got = overview.volume_by_day(store, Filters())
    days = df.opened_at.dropna().dt.date
    expected = days.value_counts().reindex(
        pd.date_range(days.min(), days.max(), freq="D").date, fill_value=0)
    assert list(got.day) == list(expected.index)
    assert list(got.tickets) == list(expected.values)
    assert got.tickets.sum() == len(df) - 1  # the ticket without opened_at is left out
    assert got.tickets.dtype == "int64"


def test_volume_by_day_empty(store):
    got = overview.volume_by_day(store, Filters(service=("none",)))
    assert got.empty and list(got.columns) == ["day", "tickets"]


def test_weekly_volume_by_severity(store, df):
    got = overview.weekly_volume_by_severity(store, Filters())
    dated = df[df.opened_at.notna()].assign(
        week=lambda x: (x.opened_at - pd.to_timedelta(x.opened_at.dt.day_of_week, unit="D")).dt.date,
        sev=lambda x: x.severity.fillna("Unmapped"))
    expected = dated.groupby(["week", "sev"]).size()
    assert got.tickets.sum() == len(dated)
    for r in got.itertuples():
        assert r.tickets == expected.get((r.week, r.severity), 0)
        assert r.week.weekday() == 0
    weeks = sorted(set(got.week))
    assert len(got) == len(weeks) * got.severity.nunique()  # every week × severity, zeros too
    first_week = list(got[got.week == weeks[0]].severity)
    assert first_week == ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "Unmapped"]


def test_top_titles(store, df):
    got = overview.top_titles(store, Filters(), limit=2)
    assert list(got.title) == ["Login fails", "Slow page"]
    assert list(got.tickets) == [3, 2]
    everything = overview.top_titles(store, Filters())
    assert "" not in set(everything.title)
    assert everything.tickets.sum() == int((df.title != "").sum())


def test_open_major_tickets(store, df):
    got = overview.open_major_tickets(store, Filters())
    want = df[(df.status_category == "open") & df.severity.isin(["SEV-1", "SEV-2"])]
    assert set(got.ticket_id) == set(want.ticket_id)
    assert list(got.opened_at) == sorted(got.opened_at)


def test_filters_apply_everywhere(store):
    f = Filters(date_from=date(2026, 9, 29), date_to=date(2026, 9, 30))
    assert overview.summary(store, f, AS_OF)["tickets"] == 2  # t:6 (29 Sep), t:2 (30 Sep)
    assert overview.volume_by_day(store, f).tickets.sum() == 2
    assert overview.severity_mix(store, f).tickets.sum() == 2


def test_figure_captions_state_definition_and_n(store):
    captions = overview.figure_captions(overview.summary(store, Filters(), AS_OF))
    assert captions["tickets"].startswith(overview.DEFINITIONS["tickets"])
    assert captions["tickets"].endswith("n = 10.")
    assert "2 without a severity are shown as Unmapped" in captions["severity_mix"]
    assert "1 without opened_at are not shown" in captions["volume_by_day"]
    assert "At 2026-10-01 12:00 UTC; n = 5 open tickets." in captions["ageing"]
    assert captions["sev12_open"].endswith("n = 2.")
    clean = overview.figure_captions(overview.summary(store, Filters(service=("Payments",)), AS_OF))
    assert "every ticket has a severity" in clean["severity_mix"]
    assert "are not shown" not in clean["volume_by_day"]


def test_empty_store(con):
    s = overview.summary(con, Filters(), AS_OF)
    assert (s["tickets"], s["open_backlog"], s["first_opened"]) == (0, 0, None)
    assert overview.backlog(con, Filters(), AS_OF).empty
    assert list(overview.backlog_ageing(con, Filters(), AS_OF).tickets) == [0] * 5
    assert overview.weekly_volume_by_severity(con, Filters()).empty
    assert overview.top_titles(con, Filters()).empty
    assert overview.open_major_tickets(con, Filters()).empty


def _opened(con, days: list[datetime], resolved: datetime | None = None) -> None:
    for i, when in enumerate(days):
        con.execute("INSERT INTO tickets (ticket_id, severity, status_category, opened_at, resolved_at) "
                    "VALUES (?, 'SEV-3', ?, ?, ?)",
                    [f"v:{i}", "resolved" if resolved and i == 0 else "open", when, resolved if i == 0 else None])


SEPTEMBER = Filters(date_from=date(2023, 9, 1), date_to=date(2023, 9, 30))


def test_a_month_has_all_its_days_when_its_last_ones_have_no_ticket(con):
    """The report's September stopped at 27 Sep, the last day with a ticket, so its average was
    per 27 days (G): the data goes on (a resolution on 6 Oct), so 28–30 Sep count as 0."""
    _opened(con, [datetime(2023, 9, d, 10) for d in (1, 5, 27)], resolved=datetime(2023, 10, 6, 9))
    got = overview.volume_by_day(con, SEPTEMBER, datetime(2026, 1, 1))
    assert list(got.day) == list(pd.date_range("2023-09-01", "2023-09-30").date)
    assert got.tickets.sum() == 3 and list(got.tickets.iloc[-3:]) == [0, 0, 0]
    from analytics.charts import overview as charts
    assert "over 30 days" in charts.describe_volume_by_day(got) and "average 0.1 per day" in charts.describe_volume_by_day(got)


@pytest.mark.parametrize("as_of,resolved,last", [
    (datetime(2023, 9, 20, 8), datetime(2023, 10, 6, 9), date(2023, 9, 20)),  # the as-of time: no future days
    (datetime(2026, 1, 1), None, date(2023, 9, 27)),  # the data ends on the 27th: no days after it
], ids=["as-of", "data-end"])
def test_the_days_stop_at_the_as_of_time_or_the_end_of_the_data(con, as_of, resolved, last):
    _opened(con, [datetime(2023, 9, d, 10) for d in (1, 5, 27) if datetime(2023, 9, d, 10) <= as_of],
            resolved=resolved)
    got = overview.volume_by_day(con, SEPTEMBER, as_of)
    assert got.day.iloc[0] == date(2023, 9, 1) and got.day.iloc[-1] == last


def test_hypercare_phase_follows_the_engagement_window():
    volume = pd.DataFrame({"day": pd.date_range("2026-09-07", periods=90).date, "tickets": 1})
    got = overview.hypercare_from(volume, date(2026, 9, 7), 70)
    assert (got.phase == "hypercare").sum() == 70 and got.phase.iloc[70] == "after"
    assert got.loc[got.phase == "after", "day"].min() == date(2026, 11, 16)
