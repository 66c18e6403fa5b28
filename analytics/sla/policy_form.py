"""The Settings page's policy form as plain data: targets as a table, form values to a Policy.

Kept out of the UI module so the mapping between what people edit and the policy model is
tested without Streamlit.
"""

from __future__ import annotations

from datetime import date

import pandas as pd

from analytics.sla import policy as sp
from analytics.sla.calendar import ALWAYS, WEEKDAYS

ANY_TYPE = "any"
# "business days (by end of day)" is a business_days target with business_days_rule = "end_of_day".
END_OF_DAY = "business_days_end_of_day"
KIND_LABELS = {"minutes": "minutes", "business_days": "business days",
               END_OF_DAY: "business days (by end of day)", "same_business_day": "same business day",
               "next_release": "next release"}


def targets_frame(policy: sp.Policy) -> pd.DataFrame:
    rows = []
    for t in policy.targets:
        kind = t.kind
        amount = getattr(t, kind) if kind in ("minutes", "business_days") else None
        kind = END_OF_DAY if t.end_of_day else kind
        rows.append({"severity": t.severity, "ticket type": t.ticket_type or ANY_TYPE, "clock": t.metric,
                     "calendar": t.calendar, "kind": KIND_LABELS[kind], "amount": amount})
    return pd.DataFrame(rows)


def policy_from_form(base: sp.Policy, version: str, effective: date, targets: pd.DataFrame, tz: str,
                     country: str | None, subdivision: str | None, hours: str, pauses: str,
                     compliance: float, pause_reasons: dict[str, str] | None = None) -> sp.Policy:
    """The edited policy; raises PolicyError naming the row or field that is wrong.

    `pause_reasons`: per clock ("response", "resolution") the reasons that stop it, comma-separated
    ("customer, vendor"); a clock left out keeps the base policy's list."""
    kinds = {label: key for key, label in KIND_LABELS.items()}
    rows = []
    for i, r in enumerate(targets.to_dict("records")):
        kind = kinds.get(r.get("kind"))
        if kind is None:
            raise sp.PolicyError(f"targets row {i + 1}: choose a kind ({', '.join(KIND_LABELS.values())})")
        row = {"severity": r["severity"], "metric": r["clock"], "calendar": r["calendar"] or ALWAYS,
               "ticket_type": None if r["ticket type"] in (None, ANY_TYPE) else r["ticket type"]}
        if kind in ("minutes", "business_days", END_OF_DAY):
            if r.get("amount") is None or pd.isna(r["amount"]):
                raise sp.PolicyError(f"targets row {i + 1}: {KIND_LABELS[kind]} needs an amount")
            if kind == "minutes":
                row[kind] = float(r["amount"])
            else:
                row["business_days"] = int(r["amount"])
                row["business_days_rule"] = "end_of_day" if kind == END_OF_DAY else None
        else:
            row[kind] = True
        rows.append(row)
    spans = [s.strip() for s in hours.split(",") if s.strip()]
    day_hours = [tuple(x.strip() for x in span.split("-", 1)) for span in spans]
    if any(len(h) != 2 for h in day_hours):
        raise sp.PolicyError("working hours: write spans like 09:00-12:00, 13:00-17:00")
    calendar = {"name": sp.BUSINESS, "timezone": tz, "hours": {d: day_hours for d in WEEKDAYS[:5]},
                "country": country or None, "subdivision": subdivision or None}
    data = {**base.model_dump(), "version": version.strip(), "effective_from": effective, "targets": rows,
            "calendars": [calendar], "compliance_target_pct": compliance,
            "pause_statuses": [p.strip() for p in pauses.splitlines() if p.strip()],
            "pause_reasons": {**base.pause_reasons.model_dump(), **{
                clock: [w.strip() for w in text.split(",") if w.strip()] for clock, text in (pause_reasons or {}).items()}}}
    return sp.validate_policy(data, f"policy '{version.strip()}'")
