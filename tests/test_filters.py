"""The global filter: SQL clause, caption, URL round trip, and the rows it really selects."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.store.filters import (
    MAX_DATE,
    MIN_DATE,
    Filters,
    count_tickets,
    date_bounds,
    filter_options,
    picker_bounds,
)

D1 = datetime(2026, 9, 7)
D2 = datetime(2026, 11, 1)


@pytest.mark.parametrize(
    "filters,expected_sql,expected_params",
    [
        (Filters(), "TRUE", {}),
        (Filters(date_from=date(2026, 9, 7)), "opened_at >= $f_from", {"f_from": D1}),
        (Filters(date_to=date(2026, 10, 31)), "opened_at < $f_to", {"f_to": D2}),
        (
            Filters(date_from=date(2026, 9, 7), date_to=date(2026, 10, 31)),
            "opened_at >= $f_from AND opened_at < $f_to",
            {"f_from": D1, "f_to": D2},
        ),
        (Filters(severity=("SEV-1", "SEV-2")), "severity IN ($f_severity_0, $f_severity_1)",
         {"f_severity_0": "SEV-1", "f_severity_1": "SEV-2"}),
        (Filters(severity=("Unmapped",)), "severity IS NULL", {}),
        (
            Filters(severity=("SEV-1", "Unmapped")),
            "(severity IN ($f_severity_0) OR severity IS NULL)",
            {"f_severity_0": "SEV-1"},
        ),
        (Filters(service=("Payments API",)), "service IN ($f_service_0)", {"f_service_0": "Payments API"}),
        (Filters(team=("A", "B")), "team IN ($f_team_0, $f_team_1)", {"f_team_0": "A", "f_team_1": "B"}),
        (Filters(source=("jira",)), "source IN ($f_source_0)", {"f_source_0": "jira"}),
        (Filters(type=("incident",)), "type IN ($f_type_0)", {"f_type_0": "incident"}),
        (Filters(status=("open", "resolved")), "status_category IN ($f_status_0, $f_status_1)",
         {"f_status_0": "open", "f_status_1": "resolved"}),
        (
            Filters(date_from=date(2026, 9, 7), severity=("SEV-1",), service=("x'; DROP TABLE t;--",),
                    status=("open",)),
            "opened_at >= $f_from AND severity IN ($f_severity_0) AND service IN ($f_service_0) "
            "AND status_category IN ($f_status_0)",
            {"f_from": D1, "f_severity_0": "SEV-1", "f_service_0": "x'; DROP TABLE t;--", "f_status_0": "open"},
        ),
    ],
    ids=["empty", "from", "to-inclusive", "range", "severity", "unmapped-only",
         "severity-and-unmapped", "service", "team", "source", "type", "status", "combined"],
)
def test_where(filters: Filters, expected_sql: str, expected_params: dict):
    assert filters.where() == (expected_sql, expected_params)


def test_where_with_alias_and_name():
    sql, params = Filters(date_from=date(2026, 9, 7), severity=("SEV-1", "Unmapped")).where("t", name="prev")
    assert sql == "t.opened_at >= $prev_from AND (t.severity IN ($prev_severity_0) OR t.severity IS NULL)"
    assert params == {"prev_from": D1, "prev_severity_0": "SEV-1"}


CODES = {"severity": {"SEV-1": 0, "SEV-2": 1}, "service": {"Payments": 0, "Portal": 1}}


@pytest.mark.parametrize(
    "filters,expected_sql,expected_params",
    [
        (Filters(severity=("SEV-2", "SEV-1")), "severity__code IN ($f_severity_0, $f_severity_1)",
         {"f_severity_0": 1, "f_severity_1": 0}),
        (Filters(severity=("SEV-1", "Unmapped")), "(severity__code IN ($f_severity_0) OR severity__code IS NULL)",
         {"f_severity_0": 0}),
        (Filters(severity=("Unmapped",)), "severity__code IS NULL", {}),
        (Filters(service=("Portal", "Nowhere")), "service__code IN ($f_service_0)", {"f_service_0": 1}),
        (Filters(service=("Nowhere",)), "FALSE", {}),
        (Filters(severity=("SEV-4",), team=("Ops",)), "FALSE AND team IN ($f_team_0)", {"f_team_0": "Ops"}),
        (Filters(date_from=date(2026, 9, 7), service=("Payments",)),
         "opened_at >= $f_from AND service__code IN ($f_service_0)", {"f_from": D1, "f_service_0": 0}),
    ],
    ids=["codes", "code-or-null", "null-only", "unknown-value-dropped", "nothing-known", "uncoded-column",
         "with-date"],
)
def test_where_with_codes(filters: Filters, expected_sql: str, expected_params: dict):
    """Coded columns compare integer twins; a value the data does not hold matches nothing."""
    assert filters.where(codes=CODES) == (expected_sql, expected_params)


@pytest.mark.parametrize("name", ["f; DROP", "1f", "a.b", ""])
def test_where_rejects_bad_parameter_name(name: str):
    with pytest.raises(ValueError):
        Filters().where(name=name)


@pytest.mark.parametrize("alias", ["t; DROP TABLE x", "1t", "a.b", "t "])
def test_where_rejects_bad_alias(alias: str):
    with pytest.raises(ValueError):
        Filters().where(alias)


@pytest.mark.parametrize(
    "filters,n,expected",
    [
        (Filters(), None, "Filters: none (all tickets)"),
        (Filters(), 0, "Filters: none (all tickets) · 0 tickets"),
        (Filters(), 1, "Filters: none (all tickets) · 1 ticket"),
        (
            Filters(date_from=date(2026, 9, 7), date_to=date(2026, 10, 31),
                    severity=("SEV-1", "SEV-2"), service=("Payments API",)),
            1234,
            "Filters: SEV-1, SEV-2 · 7 Sep – 31 Oct 2026 · service = Payments API · 1,234 tickets",
        ),
        (Filters(date_from=date(2026, 9, 7), date_to=date(2026, 9, 30)), None,
         "Filters: 7 – 30 Sep 2026"),
        (Filters(date_from=date(2025, 12, 7), date_to=date(2026, 1, 31)), None,
         "Filters: 7 Dec 2025 – 31 Jan 2026"),
        (Filters(date_from=date(2026, 9, 7), date_to=date(2026, 9, 7)), None, "Filters: 7 Sep 2026"),
        (Filters(date_from=date(2026, 9, 7)), None, "Filters: from 7 Sep 2026"),
        (Filters(date_to=date(2026, 9, 7)), None, "Filters: until 7 Sep 2026"),
        (Filters(team=("A", "B"), source=("jira",), type=("incident",), status=("open",)), 5,
         "Filters: team = A, B · source = jira · type = incident · status = open · 5 tickets"),
    ],
    ids=["empty", "zero", "one", "brief-example", "same-month", "across-years", "one-day",
         "from-only", "until-only", "other-fields"],
)
def test_caption(filters: Filters, n: int | None, expected: str):
    assert filters.caption(n) == expected


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(date_from=date(2026, 9, 7), date_to=date(2026, 10, 31)),
        Filters(date_from=date(2026, 9, 7)),
        Filters(severity=("SEV-2", "SEV-1", "Unmapped")),
        Filters(service=("Payments, EU", "100% uptime", "a%2Cb"), team=("Ops",)),
        Filters(source=("jira",), type=("service_request",), status=("open", "cancelled")),
    ],
    ids=["empty", "range", "from-only", "severity-order-kept", "commas-and-percent", "others"],
)
def test_query_params_round_trip(filters: Filters):
    params = filters.to_query_params()
    assert all(isinstance(v, str) for v in params.values())
    assert Filters.from_query_params(params) == filters


def test_query_params_shape_matches_the_brief():
    f = Filters(date_from=date(2026, 9, 7), date_to=date(2026, 10, 31),
                severity=("SEV-1", "SEV-2"), service=("Payments API",))
    assert f.to_query_params() == {
        "from": "2026-09-07", "to": "2026-10-31", "severity": "SEV-1,SEV-2", "service": "Payments API",
    }
    assert Filters().to_query_params() == {}


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"from": "2026-13-01", "to": "yesterday"}, Filters()),
        ({"from": "1900-01-01"}, Filters()),
        ({"from": "2026-10-31", "to": "2026-09-07"},
         Filters(date_from=date(2026, 9, 7), date_to=date(2026, 10, 31))),
        ({"from": "2026-09-07T10:00:00"}, Filters(date_from=date(2026, 9, 7))),
        ({"severity": "SEV-1,SEV-9,sev-2,,SEV-1"}, Filters(severity=("SEV-1",))),
        ({"status": "open,closed,bogus"}, Filters(status=("open", "closed"))),
        ({"service": ["A", "B,C"]}, Filters(service=("A", "B", "C"))),
        ({"service": " A , "}, Filters(service=("A",))),
        ({"unknown": "x", "embed": "true"}, Filters()),
        ({"team": "x" * 301}, Filters()),
        ({"severity": 42}, Filters()),
        ({"from": ["2026-09-01", "2026-09-07"]}, Filters(date_from=date(2026, 9, 7))),
        ({"from": []}, Filters()),
    ],
    ids=["bad-dates", "out-of-range", "reversed", "datetime", "unknown-severity", "status-vocab",
         "repeated-keys", "blank-values", "unknown-keys", "overlong-value", "non-text", "last-wins",
         "empty-list"],
)
def test_from_query_params_is_tolerant(params: dict, expected: Filters):
    assert Filters.from_query_params(params) == expected


def test_from_query_params_lets_a_bug_through():
    # Any URL text reads (the cases above, the property below); a broken mapping is a bug, not a URL.
    class Broken(dict):
        def get(self, *a, **k):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        Filters.from_query_params(Broken())


def test_from_query_params_caps_the_number_of_values():
    f = Filters.from_query_params({"service": ",".join(f"s{i}" for i in range(1000))})
    assert len(f.service) == 200


@given(st.dictionaries(st.sampled_from(["from", "to", "severity", "service", "team", "source",
                                         "type", "status", "other"]),
                       st.text(max_size=40), max_size=9))
def test_any_url_reads_without_error_and_round_trips(params: dict[str, str]):
    f = Filters.from_query_params(params)
    assert Filters.from_query_params(f.to_query_params()) == f


def test_is_empty_and_hashable():
    assert Filters().is_empty
    assert not Filters(date_to=date(2026, 1, 1)).is_empty
    assert not Filters(status=("open",)).is_empty
    f = Filters(severity=["SEV-1"])  # lists from widgets become tuples
    assert f.severity == ("SEV-1",)
    assert hash(f) == hash(Filters(severity=("SEV-1",)))
    assert f.with_values(team=["A"]).team == ("A",)
    assert f.values("severity") == ("SEV-1",)
    with pytest.raises(KeyError):
        f.values("title")


# --- against a real store ---------------------------------------------------------------

TICKETS = [
    # ticket_id, severity, service, team, source, type, status_category, opened_at
    ("s:1", "SEV-1", "Payments API", "Ops", "servicenow", "incident", "open", datetime(2026, 9, 7, 0, 0)),
    ("s:2", "SEV-2", "Payments API", "Dev", "servicenow", "incident", "resolved", datetime(2026, 9, 30, 23, 59, 59)),
    ("s:3", None, "Web", "Ops", "jira", "defect", "closed", datetime(2026, 10, 1, 0, 0)),
    ("s:4", "SEV-3", "Web", None, "jira", "question", "cancelled", datetime(2026, 9, 6, 23, 59, 59)),
    ("s:5", "SEV-4", "Payments, EU", "Ops", "jira", "incident", "open", None),
]


@pytest.fixture
def store(con):
    for row in TICKETS:
        con.execute(
            "INSERT INTO tickets (ticket_id, severity, service, team, source, type, status_category, "
            "opened_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            list(row),
        )
    return con


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(TICKETS, columns=["ticket_id", "severity", "service", "team", "source",
                                          "type", "status_category", "opened_at"])


def _expected(df: pd.DataFrame, f: Filters) -> set[str]:
    """Independent reference: the same filter in plain pandas."""
    keep = pd.Series(True, index=df.index)
    if f.date_from:
        keep &= df["opened_at"] >= pd.Timestamp(f.date_from)
    if f.date_to:
        keep &= df["opened_at"] < pd.Timestamp(f.date_to) + pd.Timedelta(days=1)
    if f.severity:
        sev = df["severity"].isin([s for s in f.severity if s != "Unmapped"])
        if "Unmapped" in f.severity:
            sev |= df["severity"].isna()
        keep &= sev
    for name, col in [("service", "service"), ("team", "team"), ("source", "source"),
                      ("type", "type"), ("status", "status_category")]:
        if getattr(f, name):
            keep &= df[col].isin(getattr(f, name))
    return set(df.loc[keep.fillna(False).astype(bool), "ticket_id"])


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(date_from=date(2026, 9, 7), date_to=date(2026, 9, 30)),
        Filters(date_to=date(2026, 9, 6)),
        Filters(date_from=date(2026, 10, 1)),
        Filters(severity=("SEV-1", "Unmapped")),
        Filters(severity=("Unmapped",)),
        Filters(service=("Payments API", "Payments, EU")),
        Filters(team=("Ops",), status=("open",)),
        Filters(source=("jira",), type=("question", "defect")),
        Filters(date_from=date(2026, 9, 1), severity=("SEV-4",)),
    ],
    ids=["all", "whole-days", "until-edge", "from-edge", "sev1-or-unmapped", "unmapped", "services",
         "team-status", "source-type", "date-excludes-null-opened"],
)
def test_clause_selects_the_right_rows(store, frame, filters: Filters):
    sql, params = filters.where()
    got = {r[0] for r in store.execute(f"SELECT ticket_id FROM tickets WHERE {sql}", params).fetchall()}
    assert got == _expected(frame, filters)
    assert count_tickets(store, filters) == len(got)


def test_filter_options_come_from_the_data(store):
    options = filter_options(store)
    assert options == {
        "severity": ["SEV-1", "SEV-2", "SEV-3", "SEV-4", "Unmapped"],
        "service": ["Payments API", "Payments, EU", "Web"],
        "team": ["Dev", "Ops"],
        "source": ["jira", "servicenow"],
        "type": ["defect", "incident", "question"],
        "status": ["open", "resolved", "closed", "cancelled"],
    }


def test_filter_options_and_bounds_of_an_empty_store(con):
    assert filter_options(con) == {k: [] for k in
                                   ("severity", "service", "team", "source", "type", "status")}
    assert date_bounds(con) == (None, None)


def test_date_bounds(store):
    assert date_bounds(store) == (date(2026, 9, 6), date(2026, 10, 1))


def test_date_bounds_ignore_days_outside_the_filter_window(store):
    # 'infinity' parses as a timestamp; it and a year-1 typo must not stretch the date pickers.
    store.execute("INSERT INTO tickets (ticket_id, opened_at) VALUES ('x1', 'infinity'), ('x2', '0001-01-01'), "
                  "('x3', '-infinity')")
    assert date_bounds(store) == (date(2026, 9, 6), date(2026, 10, 1))


@pytest.mark.parametrize(
    "first,last,chosen,expected",
    [
        (date(2026, 9, 7), date(2026, 11, 21), (), (date(2026, 9, 1), date(2026, 11, 30))),
        (date(2016, 2, 29), date(2016, 2, 29), (None, None), (date(2016, 2, 1), date(2016, 2, 29))),
        (date(2016, 2, 29), date(2016, 3, 10), (date(2026, 9, 1), None), (date(2016, 2, 1), date(2026, 9, 1))),
        (date(2016, 2, 29), date(2016, 3, 10), (None, date(2001, 1, 1)), (date(2001, 1, 1), date(2016, 3, 31))),
        (date(2026, 9, 7), date(2026, 11, 21), (date(2026, 9, 10), date(2026, 9, 20)),
         (date(2026, 9, 1), date(2026, 11, 30))),
        (None, None, (), (MIN_DATE, MAX_DATE)),
        (None, None, (date(2026, 9, 1),), (MIN_DATE, MAX_DATE)),
        (date(1970, 1, 1), date(2100, 12, 31), (), (MIN_DATE, MAX_DATE)),
    ],
    ids=["whole-months", "one-day", "chosen-after", "chosen-before", "chosen-inside", "no-data",
         "no-data-chosen", "window-edges"],
)
def test_picker_bounds(first, last, chosen, expected):
    assert picker_bounds(first, last, *chosen) == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("plain", "plain"),
        ("**bold** _it_ `code`", r"\*\*bold\*\* \_it\_ \`code\`"),
        ("[link](http://x)", r"\[link\]\(http\://x\)"),
        (":red[alert] $x$", r"\:red\[alert\] \$x\$"),
        ("<b>hi</b>", r"\<b\>hi\</b\>"),
        ("# title\nnext line", r"\# title next line"),
    ],
    ids=["plain", "emphasis", "link", "directive-and-math", "html", "heading-and-newline"],
)
def test_captions_are_escaped_before_markdown(text: str, expected: str):
    from ui.widgets import escape_markdown

    assert escape_markdown(text) == expected
