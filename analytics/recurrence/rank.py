"""How a recurrence cluster is described and ordered: its kind, why it is one, its impact."""

from __future__ import annotations

import pandas as pd

from analytics.recurrence.titles import is_field_signature

NEW_DAYS = 14  # kind "new": first seen within the last 14 days of the data
FREQUENT_MIN_TICKETS = 5  # kind "frequent": at least 5 tickets and on average one
FREQUENT_EVERY_DAYS = 30  # every 30 days since first seen; everything else is "rare"
RECENCY_HALF_DAYS = 30  # impact: a cluster last seen 30 days before the newest counts half
TOP_CLUSTERS = 20  # the Recurrence page lists the most impactful first


def impact(df: pd.DataFrame) -> pd.Series:
    """tickets × (1 + downtime hours) × recency, recency halving for every RECENCY_HALF_DAYS the
    cluster was last seen before the newest ticket in view (see DEFINITIONS["impact"])."""
    if df.empty:
        return pd.Series([], dtype="float64")
    last = pd.to_datetime(df["last_seen"])
    days = ((last.max() - last).dt.total_seconds() / 86400).fillna(0)
    recency = 0.5 ** (days / RECENCY_HALF_DAYS)
    return (df["tickets"] * (1 + df["downtime_hours"]) * recency).astype("float64").round(2)


def kinds(df: pd.DataFrame) -> list[str]:
    """Each cluster's kind: new, frequent or rare (DEFINITIONS["kinds"])."""
    if df.empty:
        return []
    as_of = pd.to_datetime(df["last_seen"]).max()
    first = pd.to_datetime(df["first_seen"])
    age_days = (as_of - first).dt.total_seconds() / 86400
    new = age_days <= NEW_DAYS
    frequent = (df["tickets"] >= FREQUENT_MIN_TICKETS) & (
        df["tickets"] >= age_days / FREQUENT_EVERY_DAYS)
    return ["new" if n else "frequent" if f else "rare" for n, f in zip(new, frequent, strict=True)]


def why(service: str, component: str, label: str, variants: int, threshold: float) -> str:
    """Why the cluster's tickets are one: service, component or fields, title, merging."""
    if is_field_signature(label):
        what = f"no title, same {label.removeprefix('[no title] ')}"
    else:
        what = f"component '{component or '(none)'}'; normalised title '{label}'"
    merged = (f"{variants} title variants merged at similarity ≥ {threshold:.2f}" if variants > 1
              else f"identical normalised titles (merge threshold {threshold:.2f})")
    return f"same service '{service or '(none)'}'; {what}; {merged}"
