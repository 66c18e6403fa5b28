"""The hypercare closure criteria: each declared once, with its rule text and editable parameters.

Defaults come from the seeds (000: closure criteria; 003: KPI targets and sign-off roles).
The parameters are a pydantic model stored as TOML in the setting "closure_rules"; saving them
goes through the audit log. `definition(key, rules)` is the text the scorecard, the report and
docs/governance.md show — the exact pass / at risk / fail / not measurable rule.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

import pandas as pd
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from analytics.governance.signoff import ROLES
from analytics.kpi.registry import BY_KEY as KPI_BY_KEY
from analytics.sla.definitions import SLA_SMALL_N
from analytics.store import audit, auth, db
from analytics.store.schema import SEVERITIES, TICKET_TYPES

SETTING = "closure_rules"
DEFAULT_KPIS = ("availability", "mttr_sev1", "mtbf")
PASS, FAIL, AT_RISK, NOT_MEASURABLE = "pass", "fail", "at risk", "not measurable"
STATUSES: tuple[str, ...] = (PASS, AT_RISK, FAIL, NOT_MEASURABLE)


class ClosureRulesError(ValueError):
    """Rules that cannot be read or validated; the message is for the user."""


class ClosureRules(BaseModel):
    """Parameters of the five criteria (see `definition` for what each one means)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # 1. No open critical/high defects. Incidents count too by default: many exports (ServiceNow
    # incidents, Statuspage) have no defect type at all, and an open SEV-1 incident blocks the
    # exit as much as an open SEV-1 defect. A ticket without a type counts as an incident.
    blocking_severities: list[str] = Field(default_factory=lambda: ["SEV-1", "SEV-2"], min_length=1)
    blocking_types: list[str] = Field(default_factory=lambda: ["defect", "incident"], min_length=1)
    # 2. SLA compliance over the last `sla_window_days` before as_of.
    sla_window_days: int = Field(default=28, ge=1, le=366)
    sla_target_pct: float | None = Field(default=None, gt=0, le=100)  # None: the SLA policy's target
    sla_margin_pct: float = Field(default=2.0, ge=0, le=100)  # met by less than this: at risk
    sla_min_sample: int = Field(default=SLA_SMALL_N, ge=1)  # fewer stopped clocks: at risk (small sample)
    # 3. KPI targets (Settings → KPI targets) over the last `kpi_window_days`, from go-live at
    # the earliest. 90 days by default: an MTBF above 30 days cannot show in a shorter window.
    kpi_keys: list[str] = Field(default_factory=lambda: list(DEFAULT_KPIS), min_length=1)
    kpi_window_days: int = Field(default=90, ge=1, le=3660)
    kpi_min_sample: int = Field(default=5, ge=1)  # MTTR on fewer resolved tickets: at risk
    # 4. Open tickets of these types need a priority and a target release or due date.
    scheduled_types: list[str] = Field(default_factory=lambda: ["enhancement"], min_length=1)
    # 5. Sign-off by these roles.
    required_roles: list[str] = Field(default_factory=lambda: list(ROLES))

    @field_validator("blocking_severities")
    @classmethod
    def _sev(cls, value: list[str]) -> list[str]:
        return _vocabulary(value, SEVERITIES, "severity")

    @field_validator("blocking_types", "scheduled_types")
    @classmethod
    def _types(cls, value: list[str]) -> list[str]:
        return _vocabulary(value, TICKET_TYPES, "ticket type")

    @field_validator("kpi_keys")
    @classmethod
    def _kpis(cls, value: list[str]) -> list[str]:
        return _vocabulary(value, tuple(KPI_BY_KEY), "KPI")

    @field_validator("required_roles")
    @classmethod
    def _roles(cls, value: list[str]) -> list[str]:
        return _vocabulary(value, ROLES, "sign-off role")


def _vocabulary(value: list[str], allowed: tuple[str, ...], what: str) -> list[str]:
    for v in value:
        if v not in allowed:
            raise ValueError(f"'{v}' is not a {what} (use {', '.join(allowed)})")
    if len(set(value)) != len(value):
        raise ValueError(f"a {what} is listed twice")
    return value


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    seed_text: str  # the seed's wording this criterion implements


CRITERIA: tuple[Criterion, ...] = (
    Criterion("open_defects", "No open critical or high defects",
              "All critical and high defects resolved or mitigated (seed 000)."),
    Criterion("sla", "SLA compliance at or above target",
              "Operational metrics meet agreed SLA targets (seed 000)."),
    Criterion("kpis", "KPI targets met",
              "Availability > 99.9 %, MTTR SEV-1 < 4 h, MTBF > 30 days (seed 003)."),
    Criterion("enhancements", "Enhancements prioritised and scheduled",
              "Roadmap items prioritised and scheduled in the product backlog (seed 000)."),
    Criterion("signoff", "Stakeholder sign-off recorded",
              "Stakeholders sign off on the post-implementation report (seeds 000, 003)."),
)
BY_KEY: dict[str, Criterion] = {c.key: c for c in CRITERIA}


@dataclass(frozen=True)
class Outcome:
    """One criterion evaluated: its status, the sentence saying why, and the evidence rows."""

    status: str
    detail: str
    evidence: pd.DataFrame | None  # None when only the count was asked for
    count: int | None = None  # rows of the evidence, when it was not built

    @property
    def evidence_count(self) -> int:
        if self.count is not None:
            return self.count
        if self.evidence is None:
            raise ValueError(f"closure outcome {self.status!r} has neither evidence rows nor their count")
        return len(self.evidence)


def definition(key: str, rules: ClosureRules) -> str:
    """The exact rule of one criterion under `rules`, in words (shown beside its status)."""
    r = rules
    sev, types = "/".join(r.blocking_severities), ", ".join(r.blocking_types)
    if key == "open_defects":
        return (f"Tickets of type {types} (no type counts as incident) with severity {sev}, opened by the "
                "as-of time and open then as the open backlog defines it (its status history, else its "
                "timestamps; a ticket open today ignores an earlier resolution: it was reopened). A ticket "
                "resolved, closed or cancelled by then is done; one only mitigated by then is not. "
                f"Pass: none open. Fail: at least one open. At risk: none open, but some only mitigated "
                "(not resolved) or an open ticket of those types has no mapped severity. Not measurable: "
                f"no {types} ticket with a mapped severity opened by then.")
    if key == "sla":
        target = f"{r.sla_target_pct:g} %" if r.sla_target_pct else "the compliance target of the SLA policy in force"
        return (f"Response and resolution compliance = met ÷ (met + breached) over the clocks that stopped in the "
                f"{r.sla_window_days} days before the end of the data or the as-of time, whichever is earlier "
                "(the SLA page's cohort; open clocks are not counted), "
                f"against {target}. Fail: either below target. At risk: both at or above target, but one by "
                f"less than {r.sla_margin_pct:g} points or on fewer than {r.sla_min_sample} clocks. Pass: "
                "both clear of that. Not measurable: no clock of a metric stopped in the window, or no "
                "SLA policy can be applied.")
    if key == "kpis":
        names = ", ".join(KPI_BY_KEY[k].name for k in r.kpi_keys)
        return (f"{names} from the KPI engine over the {r.kpi_window_days} days before the end of the data "
                "or the as-of time, whichever is earlier (from the go-live date if later), against the targets "
                "in Settings → KPI targets. "
                f"Fail: any missed. At risk: none missed, but one is not computable (its reason is given) "
                f"or has no target, or an MTTR rests on fewer than {r.kpi_min_sample} tickets. Pass: all "
                "met. Not measurable: none of them computable.")
    if key == "enhancements":
        stypes = ", ".join(r.scheduled_types)
        return (f"Every {stypes} ticket open at the as-of time (as the open backlog defines it) needs a priority (severity or raw priority) and a schedule (target "
                "release, sprint or version, or a due date). Fail: one lacks either. At risk: all "
                "scheduled, but some past their due date. Pass: all scheduled and none overdue, or none "
                f"open. Not measurable: no {stypes} ticket at all, or open ones but no export in scope "
                "carries a target release or due date (map one on the Upload page).")
    if key == "signoff":
        roles = ", ".join(r.required_roles) or "(none)"
        return (f"Sign-off state of each required role ({roles}) as of the as-of time: a sign-off counts "
                "from its date (or its recording, if earlier), a revocation from when it was recorded; "
                "the later recorded event wins. "
                "Pass: every required role signed. Fail: a required role's sign-off is revoked, or none "
                "signed. At risk: some but not all signed. Not measurable: no role is required.")
    raise KeyError(key)


def load_rules(con) -> ClosureRules:
    """The saved rules, or the seed defaults when none are saved."""
    text = db.get_setting(con, SETTING)
    return ClosureRules() if not text else rules_from_toml(text, origin="saved closure rules")


def rules_from_toml(text: str, origin: str = "closure rules") -> ClosureRules:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClosureRulesError(f"{origin}: not valid TOML ({exc})") from exc
    return validate_rules(data, origin)


def validate_rules(data: dict | ClosureRules, origin: str = "closure rules") -> ClosureRules:
    try:
        return ClosureRules.model_validate(data.model_dump() if isinstance(data, ClosureRules) else data)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                 if e["loc"] else e["msg"] for e in exc.errors()]
        raise ClosureRulesError(f"{origin}: " + "; ".join(parts)) from exc


def rules_to_toml(rules: ClosureRules) -> str:
    return tomli_w.dumps(rules.model_dump(mode="python", exclude_none=True))


def save_rules(con, rules: ClosureRules | dict, actor: auth.Identity) -> bool:
    """Validate and save the rules with an audit record of what changed; False when unchanged."""
    label = auth.require(actor, auth.Permission.CHANGE_CLOSURE_RULES).label
    new = validate_rules(rules)
    old = load_rules(con)
    if new == old and db.get_setting(con, SETTING) is not None:
        return False
    changes = {k: {"old": getattr(old, k), "new": v} for k, v in new.model_dump().items()
               if getattr(old, k) != v}
    with audit.transaction(con) as cur:
        cur.execute("INSERT INTO settings VALUES ($key, $value) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    {"key": SETTING, "value": rules_to_toml(new)})
        audit.record(cur, label, audit.CLOSURE_RULES_SAVE, SETTING, {"changes": changes})
    return True
