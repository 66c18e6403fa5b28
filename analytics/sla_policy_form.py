"""The Settings page's policy form as plain data: targets as a table, form values to a Policy.

Kept out of the UI module so the mapping between what people edit and the policy model is
tested without Streamlit.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from . import sla_policy as sp

ANY_TYPE = "any"
KIND_LABELS = {"minutes": "minutes", "business_days": "business days", "same_business_day": "same business day",
               "next_release": "next release"}


def targets_frame(policy: sp.Policy) -> pd.DataFrame:
    rows = []
    for t in policy.targets:
        kind = next(k for k in sp.TARGET_KINDS if getattr(t, k) not in (None, False))
        amount = getattr(t, kind) if kind in ("minutes", "business_days") else None
        rows.append({"severity": t.severity, "ticket type": t.ticket_type or ANY_TYPE, "clock": t.metric,
                     "calendar": t.calendar, "kind": KIND_LABELS[kind], "amount": amount})
    return pd.DataFrame(rows)


def policy_from_form(base: sp.Policy, version: str, effective: date, targets: pd.DataFrame, tz: str,
                     country: str | None, subdivision: str | None, hours: str, pauses: str,
                     compliance: float) -> sp.Policy:
    """The edited policy; raises PolicyError naming the row or field that is wrong."""
    kinds = {label: key for key, label in KIND_LABELS.items()}
    rows = []
    for i, r in enumerate(targets.to_dict("records")):
        kind = kinds.get(r.get("kind"))
        if kind is None:
            raise sp.PolicyError(f"targets row {i + 1}: choose a kind ({', '.join(KIND_LABELS.values())})")
        row = {"severity": r["severity"], "metric": r["clock"], "calendar": r["calendar"] or sp.ALWAYS,
               "ticket_type": None if r["ticket type"] in (None, ANY_TYPE) else r["ticket type"]}
        if kind in ("minutes", "business_days"):
            if r.get("amount") is None or pd.isna(r["amount"]):
                raise sp.PolicyError(f"targets row {i + 1}: {KIND_LABELS[kind]} needs an amount")
            row[kind] = float(r["amount"]) if kind == "minutes" else int(r["amount"])
        else:
            row[kind] = True
        rows.append(row)
    spans = [s.strip() for s in hours.split(",") if s.strip()]
    day_hours = [tuple(x.strip() for x in span.split("-", 1)) for span in spans]
    if any(len(h) != 2 for h in day_hours):
        raise sp.PolicyError("working hours: write spans like 09:00-12:00, 13:00-17:00")
    calendar = {"name": sp.BUSINESS, "timezone": tz, "hours": {d: day_hours for d in sp.WEEKDAYS[:5]},
                "country": country or None, "subdivision": subdivision or None}
    data = {**base.model_dump(), "version": version.strip(), "effective_from": effective, "targets": rows,
            "calendars": [calendar], "compliance_target_pct": compliance,
            "pause_statuses": [p.strip() for p in pauses.splitlines() if p.strip()]}
    return sp.validate_policy(data, f"policy '{version.strip()}'")
