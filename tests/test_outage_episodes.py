"""analytics/kpi/outage_episodes.py against a plain minute-by-minute reading of the same rule."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kpi import outage_episodes

T0 = datetime(2026, 9, 1)
windows = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.integers(1, 20)), max_size=25)
bucket_list = st.lists(st.tuples(st.integers(0, 70), st.integers(1, 30), st.integers(0, 30)),
                       min_size=1, max_size=4)


def _down_minutes(ws: list[tuple[int, int, int]], group: int) -> set[int]:
    return {m for g, s, d in ws if g == group for m in range(s, s + d)}


def _episode_starts(ws: list[tuple[int, int, int]], group: int) -> list[int]:
    """Starts of the episodes, walking the windows by start: a window beginning after every
    earlier one has ended (strictly) starts a new episode."""
    starts, end = [], None
    for _, s, d in sorted((w for w in ws if w[0] == group), key=lambda w: (w[1], w[1] + w[2])):
        if end is None or s > end:
            starts.append(s)
            end = s + d
        end = max(end, s + d)
    return starts


@settings(max_examples=300, deadline=None)
@given(windows, bucket_list)
def test_merge_and_clip_match_a_minute_walk(ws, raw_buckets):
    minute = 60_000
    group = np.array([g for g, _, _ in ws], dtype=np.int64)
    start = np.array([s * minute for _, s, _ in ws], dtype=np.int64)
    end = np.array([(s + d) * minute for _, s, d in ws], dtype=np.int64)
    g, s, e = outage_episodes.merge(group, start, end)
    buckets = [(b0, b0 + length, b0 + min(seen, length)) for b0, length, seen in raw_buckets]
    got = outage_episodes.per_bucket(g, s, e, [(b0 * minute, b1 * minute, obs * minute)
                                              for b0, b1, obs in buckets])
    want = []
    for i, (b0, b1, obs) in enumerate(buckets):
        for grp in sorted({w[0] for w in ws}):
            starts = _episode_starts(ws, grp)
            # An episode touches the bucket when it overlaps [b0, b1): its minutes reach into it.
            ends = [max(s2 + d2 for g2, s2, d2 in ws if g2 == grp and s2 >= st_ and
                        (k + 1 == len(starts) or s2 < starts[k + 1])) for k, st_ in enumerate(starts)]
            touching = [k for k, st_ in enumerate(starts) if st_ < b1 and ends[k] > b0]
            if not touching:
                continue
            down = len({m for m in _down_minutes(ws, grp) if b0 <= m < obs})
            n = sum(1 for k in touching if b0 <= starts[k] < b1)
            want.append((i, grp, float(down * minute), n))
    assert sorted(map(tuple, got.itertuples(index=False))) == sorted(want)


def test_frame_names_groups_services_and_exclusions():
    ms = outage_episodes.epoch_ms
    windows = {
        "grp": np.array(["All"] * 5, dtype=object),
        "service": np.array(["API", "API", "Web", "API", "Web"], dtype=object),
        "why": np.array([0, 0, 0, 1, 3]),
        "s_ms": np.array([ms(T0), ms(T0 + timedelta(hours=1)), ms(T0), 0, 0]),
        "e_ms": np.array([ms(T0 + timedelta(hours=2)), ms(T0 + timedelta(hours=3)),
                          ms(T0 + timedelta(minutes=30)), 0, 0]),
    }
    df = outage_episodes.frame(windows, [(T0, T0 + timedelta(days=1), T0 + timedelta(days=1))])
    used = {r.service: (r.bucket, r.grp, r.down, r.n) for r in df[df["why"] == 0].itertuples()}
    assert used == {"API": (0, "All", 3.0, 1),  # 00:00-02:00 and 01:00-03:00 merged: one 3 h outage
                    "Web": (0, "All", 0.5, 1)}
    excluded = {r.why: (r.grp, r.n) for r in df[df["why"] > 0].itertuples()}
    assert excluded == {1: ("All", 1), 3: ("All", 1)}
    assert ms(datetime(1970, 1, 1, 0, 0, 1)) == 1000


def test_no_windows():
    empty = np.array([], dtype=np.int64)
    g, s, e = outage_episodes.merge(empty, empty, empty)
    assert len(g) == len(s) == len(e) == 0
    assert outage_episodes.per_bucket(g, s, e, [(0, 10, 10)]).empty
    df = outage_episodes.frame({"grp": np.array([], dtype=object), "service": np.array([], dtype=object),
                                "why": empty, "s_ms": empty, "e_ms": empty}, [(T0, T0, T0)])
    assert df.empty and list(df.columns) == ["bucket", "grp", "service", "why", "down", "n"]
