"""Outage episodes for availability, MTBF and MTBSI: impact windows merged per service, then
clipped to each bucket.

Rule (kpi_registry's availability definition): windows [s, e) of one group and service, taken
in order of their start, form one episode while each starts at or before the running end of the
earlier ones; an episode runs from its first start to the latest end. Per bucket [b0, b1):
downtime = the episode time inside [b0, observed end of the bucket), failures = episodes that
start in the bucket.

Numpy rather than SQL window functions: DuckDB's two window passes and their sort cost an order
of magnitude more per filter change than a running maximum over the sorted windows
(docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

_EPOCH = datetime(1970, 1, 1)


def epoch_ms(t: datetime) -> int:
    """Milliseconds since 1970 of a naive UTC datetime (as DuckDB's epoch_ms)."""
    return (t - _EPOCH) // timedelta(milliseconds=1)


def merge(group: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Episodes (group, start, end) of the windows [start, end) per integer group (see the
    module docstring), ordered by group and start."""
    if len(start) == 0:
        return group[:0], start[:0], end[:0]
    # By group, then start (one int64 key: a third of lexsort's time; 2**42 ms = 139 years of
    # starts). The order among windows with the same start does not change the episodes.
    order = np.argsort(group * (1 << 42) + (start - start.min()), kind="stable")
    g, s, e = group[order], start[order], end[order]
    first_of_group = np.r_[True, g[1:] != g[:-1]]
    bounds = np.flatnonzero(first_of_group)
    running_end = np.empty_like(e)
    for a, b in zip(bounds, np.r_[bounds[1:], len(e)], strict=True):
        np.maximum.accumulate(e[a:b], out=running_end[a:b])
    new = first_of_group.copy()
    new[1:] |= s[1:] > running_end[:-1]
    firsts = np.flatnonzero(new)
    lasts = np.r_[firsts[1:], len(e)] - 1
    return g[firsts], s[firsts], running_end[lasts]


def per_bucket(group: np.ndarray, start: np.ndarray, end: np.ndarray,
               buckets: Sequence[tuple[int, int, int]]) -> pd.DataFrame:
    """Per bucket (b0, b1, observed end; ms) and group with an episode touching [b0, b1):
    columns bucket (index into `buckets`), group, down_ms (time inside [b0, observed end)),
    n (episodes starting in [b0, b1))."""
    out = []
    size = int(group.max()) + 1 if len(group) else 0
    for i, (b0, b1, observed) in enumerate(buckets):
        touch = (start < b1) & (end > b0)
        if not touch.any():
            continue
        g, s, e = group[touch], start[touch], end[touch]
        down = np.maximum(0, np.minimum(e, observed) - np.maximum(s, b0))
        # Float sums of whole milliseconds are exact below 2**53 ms (285,000 years).
        down_by = np.bincount(g, weights=down.astype(np.float64), minlength=size)
        starts_by = np.bincount(g, weights=(s >= b0).astype(np.float64), minlength=size)
        for gi in np.flatnonzero(np.bincount(g, minlength=size)):
            out.append((i, int(gi), float(down_by[gi]), int(starts_by[gi])))
    return pd.DataFrame(out, columns=["bucket", "group", "down_ms", "n"])


def frame(windows: dict[str, np.ndarray], buckets: Sequence[tuple[datetime, datetime, datetime]]) -> pd.DataFrame:
    """Availability inputs from the windows of kpi.registry.OUTAGE_SQL (numpy columns grp,
    service, why, s_ms, e_ms): one row per (bucket, grp, service) with downtime hours and
    failures (why 0), and one per (grp, why) counting the excluded windows (why > 0, bucket
    and service None). Columns bucket, grp, service, why, down, n."""
    grp = np.asarray(windows["grp"], dtype=object)
    service = np.asarray(windows["service"], dtype=object)
    why = np.asarray(windows["why"], dtype=np.int64)
    used = why == 0
    # One integer per (group, service): factorising each column beats factorising the pairs.
    grp_code, grp_names = pd.factorize(grp[used])
    svc_code, svc_names = pd.factorize(service[used])
    pair = grp_code.astype(np.int64) * max(len(svc_names), 1) + svc_code
    g, s, e = merge(pair, np.asarray(windows["s_ms"], dtype=np.int64)[used],
                    np.asarray(windows["e_ms"], dtype=np.int64)[used])
    ms = [(epoch_ms(b0), epoch_ms(b1), epoch_ms(obs)) for b0, b1, obs in buckets]
    rows = [(r.bucket, grp_names[r.group // len(svc_names)], svc_names[r.group % len(svc_names)], 0,
             r.down_ms / 3_600_000.0, r.n) for r in per_bucket(g, s, e, ms).itertuples(index=False)]
    excluded = pd.DataFrame({"grp": grp[~used], "why": why[~used]})
    rows += [(None, gr, None, int(w), 0.0, int(n))
             for (gr, w), n in excluded.groupby(["grp", "why"]).size().items()]
    return pd.DataFrame(rows, columns=["bucket", "grp", "service", "why", "down", "n"])
