"""SLA policies: calendars, targets and pause rules, as pydantic models, TOML and versions in the DB.

A policy is a TOML document (see docs/sla.md). Saved versions are append-only rows of
`sla_policies`; a ticket is judged by the version in force on the (UTC) day it opened, so
changing a goal never rewrites the history judged by an earlier version.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import date, datetime, timezone
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from analytics.sla.calendar import ALWAYS, WEEKDAYS, Calendar
from analytics.store import audit, auth, db
from analytics.store.schema import SEVERITIES, TICKET_TYPES

BUSINESS = "business"  # the default policy's working-hours calendar
DEFAULT_PAUSE_STATUSES = ["Awaiting*", "On Hold", "Pending*", "Waiting for*"]
# Waiting on someone outside the team stops the resolution clock; nothing stops the response.
DEFAULT_RESOLUTION_PAUSE_REASONS = ["customer", "vendor", "user"]
SEED_VERSION = "seed-default"
TARGET_KINDS = ("minutes", "business_days", "same_business_day", "next_release")


class PolicyError(ValueError):
    """A policy that cannot be read, validated or saved; the message is for the user."""


class Target(BaseModel):
    """One SLA goal: for a severity (and optionally a ticket type), one metric, one clock."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: str
    ticket_type: str | None = None  # None: any type
    metric: Literal["response", "resolution"]
    calendar: str = ALWAYS
    minutes: float | None = Field(default=None, gt=0)  # elapsed minutes on the calendar
    business_days: int | None = Field(default=None, ge=1)  # N × the calendar's working-day length
    # None (= "duration"): N working days of business time; "end_of_day": close of business on
    # the N-th working day after the day the clock starts.
    business_days_rule: Literal["duration", "end_of_day"] | None = None
    same_business_day: bool | None = None  # close of business of the start day
    next_release: bool | None = None  # close of business of the policy's release_date

    @field_validator("severity")
    @classmethod
    def _sev(cls, value: str) -> str:
        if value not in SEVERITIES:
            raise ValueError(f"'{value}' is not one of {', '.join(SEVERITIES)}")
        return value

    @field_validator("ticket_type")
    @classmethod
    def _type(cls, value: str | None) -> str | None:
        if value is not None and value not in TICKET_TYPES:
            raise ValueError(f"'{value}' is not one of {', '.join(TICKET_TYPES)}")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "Target":
        if len(self.kinds_set()) != 1:
            raise ValueError(f"{self.label} needs exactly one of {', '.join(TARGET_KINDS)}")
        if self.business_days_rule is not None and self.business_days is None:
            raise ValueError(f"{self.label}: business_days_rule applies to business_days targets only")
        return self

    @property
    def end_of_day(self) -> bool:
        """A business-days target read as "by close of business on the N-th working day"."""
        return self.business_days_rule == "end_of_day"

    def kinds_set(self) -> list[str]:
        return [k for k in TARGET_KINDS if getattr(self, k) not in (None, False)]

    @property
    def kind(self) -> str:
        return self.kinds_set()[0]

    @property
    def label(self) -> str:
        return " ".join(p for p in (self.severity, self.ticket_type, self.metric) if p)

    def describe(self) -> str:
        """Human text of the goal, e.g. "4 h (24x7)" or "3 business days (business)"."""
        if self.minutes is not None:
            m = self.minutes
            text = f"{m / 60:g} h" if m >= 60 and m % 60 == 0 else f"{m:g} min"
        elif self.business_days is not None:
            text = f"{self.business_days} business day{'s' if self.business_days > 1 else ''}"
            text += " (by end of day)" if self.end_of_day else ""
        elif self.same_business_day:
            text = "same business day"
        else:
            text = "next release"
        return f"{text} ({self.calendar})"


class PauseReasons(BaseModel):
    """Per clock, the waiting states (a status's `pause_reason`, e.g. "customer") that stop it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    response: list[str] = Field(default_factory=list)
    resolution: list[str] = Field(default_factory=lambda: list(DEFAULT_RESOLUTION_PAUSE_REASONS))

    @field_validator("response", "resolution")
    @classmethod
    def _words(cls, value: list[str]) -> list[str]:
        out = list(dict.fromkeys(v.strip().lower() for v in value))
        if any(not v for v in out):
            raise ValueError("a pause reason must not be blank")
        return out

    def of(self, metric: str) -> list[str]:
        return self.response if metric == "response" else self.resolution


class Policy(BaseModel):
    """A versioned SLA policy: what is measured, on which calendar, and how it is judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1, max_length=80)
    effective_from: date = date(1970, 1, 1)
    calendars: list[Calendar] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    # Case-insensitive whole-status patterns; `*` matches any text.
    pause_statuses: list[str] = Field(default_factory=lambda: list(DEFAULT_PAUSE_STATUSES))
    pause_reasons: PauseReasons = Field(default_factory=PauseReasons)
    ever_breached: bool = True  # a reopened ticket that breached once stays breached
    compliance_target_pct: float = Field(default=95.0, gt=0, le=100)
    at_risk_buckets: list[float] = Field(default_factory=lambda: [50.0, 75.0, 90.0, 100.0], min_length=1)
    release_date: date | None = None
    escalate_after_minutes: float = Field(default=30.0, gt=0)  # no response by then: next tier
    escalate_lead_pct: float = Field(default=50.0, gt=0)  # resolution SLA consumed: incident lead

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("version must not be blank")
        return value.strip()

    @field_validator("at_risk_buckets")
    @classmethod
    def _buckets(cls, value: list[float]) -> list[float]:
        if any(b <= 0 for b in value) or any(b >= c for b, c in zip(value, value[1:])):
            raise ValueError("at_risk_buckets must be positive and strictly increasing, e.g. [50, 75, 90, 100]")
        return value

    @model_validator(mode="after")
    def _references(self) -> "Policy":
        names = [c.name for c in self.calendars]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"calendars: '{dupes[0]}' is defined twice")
        known = [ALWAYS, *names]
        seen: dict[tuple, int] = {}
        for i, t in enumerate(self.targets):
            if t.calendar not in known:
                raise ValueError(f"targets[{i}]: {t.label}: calendar '{t.calendar}' is not defined "
                                 f"(known: {', '.join(known)})")
            if t.calendar == ALWAYS and t.kind in ("business_days", "same_business_day"):
                raise ValueError(f"targets[{i}]: {t.label}: {t.kind} needs a working-hours calendar, not {ALWAYS}")
            key = (t.severity, t.ticket_type, t.metric)
            if key in seen:
                raise ValueError(f"targets[{i}]: {t.label} is already set by targets[{seen[key]}]")
            seen[key] = i
        return self

    def calendar(self, name: str) -> Calendar | None:
        """The named calendar; None for the built-in 24x7."""
        if name == ALWAYS:
            return None
        return next(c for c in self.calendars if c.name == name)

    def target(self, severity: str, metric: str, ticket_type: str | None = None) -> Target | None:
        """The most specific target: the type's own row wins over the any-type row."""
        rows = [t for t in self.targets if t.severity == severity and t.metric == metric]
        return next((t for t in rows if t.ticket_type == ticket_type and ticket_type is not None),
                    next((t for t in rows if t.ticket_type is None), None))

    def to_toml(self) -> str:
        data = self.model_dump(mode="python", exclude_none=True)
        for cal in data["calendars"]:
            cal["hours"] = {d: [list(s) for s in spans] for d, spans in cal["hours"].items()}
            if not cal["custom_holidays"]:
                del cal["custom_holidays"]
        for t in data["targets"]:
            for k in ("same_business_day", "next_release"):
                if t.get(k) is False:
                    del t[k]
        return tomli_w.dumps(data)


def pause_matcher(patterns: list[str]) -> re.Pattern:
    """One regex for the pause patterns: case-insensitive, whole status, `*` = any text."""
    alts = [".*".join(re.escape(part) for part in p.strip().split("*")) for p in patterns if p.strip()]
    return re.compile(r"^\s*(?:" + "|".join(alts or ["(?!)"]) + r")\s*$", re.IGNORECASE)


def business_calendar(tz: str = "UTC") -> Calendar:
    """The default business calendar: Mon–Fri 09:00–17:00 in `tz`, no holidays."""
    day = [("09:00", "17:00")]
    return Calendar(name=BUSINESS, timezone=tz, hours={d: day for d in WEEKDAYS[:5]})


def default_policy(tz: str = "UTC") -> Policy:
    """The seeds' targets (docs/sla.md §Defaults); business calendar in `tz`."""
    rows: list[dict] = [
        dict(severity="SEV-1", metric="response", minutes=15),
        dict(severity="SEV-1", metric="resolution", minutes=240),
        dict(severity="SEV-2", metric="response", minutes=30),
        dict(severity="SEV-2", metric="resolution", minutes=480),
        dict(severity="SEV-3", metric="response", minutes=240, calendar=BUSINESS),
        dict(severity="SEV-3", metric="resolution", business_days=3, calendar=BUSINESS),
        dict(severity="SEV-4", metric="response", business_days=1, calendar=BUSINESS),
        dict(severity="SEV-4", metric="resolution", next_release=True, calendar=BUSINESS),
        # Defect triage (seed 000): Critical / High. "fix within 3 days" is plain days: 24x7.
        dict(severity="SEV-1", ticket_type="defect", metric="response", minutes=60),
        dict(severity="SEV-1", ticket_type="defect", metric="resolution", minutes=24 * 60),
        dict(severity="SEV-2", ticket_type="defect", metric="response", same_business_day=True, calendar=BUSINESS),
        dict(severity="SEV-2", ticket_type="defect", metric="resolution", minutes=3 * 24 * 60),
    ]
    return Policy(version=SEED_VERSION, effective_from=date(1970, 1, 1), calendars=[business_calendar(tz)],
                  targets=[Target(**r) for r in rows])


def policy_from_toml(text: str, origin: str = "policy") -> Policy:
    """Read and validate a policy; errors name the offending entry, e.g. "targets[3]: …"."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: not valid TOML ({exc})") from exc
    return validate_policy(data, origin)


def policy_to_toml(policy: Policy) -> str:
    return policy.to_toml()


def validate_policy(data: dict | Policy, origin: str = "policy") -> Policy:
    """A Policy from a mapping (or re-check one), with pydantic's errors made readable."""
    try:
        return Policy.model_validate(data.model_dump() if isinstance(data, Policy) else data)
    except ValidationError as exc:
        raise PolicyError(f"{origin}: " + "; ".join(_error_text(e) for e in exc.errors())) from exc


def _error_text(err: ErrorDetails) -> str:
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


# --- versioned storage ------------------------------------------------------------------


def save_policy(con, policy: Policy, who: auth.Identity) -> Policy:
    """Validate and append `policy` as a new version; refuses a version name already saved."""
    actor = auth.require(who, auth.Permission.CHANGE_POLICIES)
    # A version carries its business calendars, so saving one changes both.
    label = auth.require(actor, auth.Permission.CHANGE_CALENDARS).label
    policy = validate_policy(policy, f"policy '{policy.version}'")
    if policy.version == SEED_VERSION:
        raise PolicyError(f"'{SEED_VERSION}' names the built-in defaults; choose another version name")
    with audit.transaction(con) as cur:  # the version and its audit record, or neither
        taken = cur.execute("SELECT count(*) FROM sla_policies WHERE version = $version", {"version": policy.version}).fetchall()
        if taken[0][0]:
            raise PolicyError(f"version '{policy.version}' is already saved; versions are never "
                              "overwritten, so history keeps the goals it was judged by — save a new version")
        text = policy.to_toml()
        cur.execute(
            "INSERT INTO sla_policies (version, effective_from, policy_toml, saved_by, saved_at) "
            "VALUES ($version, $effective_from, $policy_toml, $saved_by, $saved_at)",
            {"version": policy.version, "effective_from": policy.effective_from, "policy_toml": text,
             "saved_by": label, "saved_at": datetime.now(timezone.utc).replace(tzinfo=None)},
        )
        audit.record(cur, label, audit.POLICY_SAVE, f"policy:{policy.version}", {
            "version": policy.version, "effective_from": policy.effective_from,
            "compliance_target_pct": policy.compliance_target_pct, "targets": len(policy.targets),
            "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})
    return policy


def policies(con) -> list[Policy]:
    """Every saved version, oldest effective first (ties: saved later wins, so it sorts later);
    just the seed defaults (business calendar in the "default_timezone" setting) when none is saved."""
    rows = con.cursor().execute(
        "SELECT version, policy_toml FROM sla_policies ORDER BY effective_from, saved_at, version"
    ).fetchall()
    if not rows:
        return [default_policy(db.get_setting(con, "default_timezone", "UTC") or "UTC")]
    return [policy_from_toml(text, origin=f"saved policy '{version}'") for version, text in rows]


def policy_versions(con):
    """A DataFrame of the saved versions (version, effective_from, saved_by, saved_at) for display."""
    return con.cursor().execute(
        "SELECT version, effective_from, saved_by, saved_at FROM sla_policies ORDER BY effective_from, saved_at"
    ).df()


def untargeted(policy: Policy) -> frozenset[tuple[str, str]]:
    """(clock, severity) pairs the policy sets no target for, for any ticket type: their
    compliance is "no target set", not "no data"."""
    have = {(t.metric, t.severity) for t in policy.targets}
    return frozenset((m, s) for m in ("response", "resolution") for s in SEVERITIES) - have


def policy_in_force(pols: list[Policy], day: date) -> Policy:
    """The version in force on `day`: latest effective_from ≤ day (the earliest one before any)."""
    ordered = sorted(enumerate(pols), key=lambda ip: (ip[1].effective_from, ip[0]))
    chosen = ordered[0][1]
    for _, p in ordered:
        if p.effective_from <= day:
            chosen = p
    return chosen
