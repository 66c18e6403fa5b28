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
from functools import lru_cache
from typing import Literal
from zoneinfo import available_timezones

import holidays
import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import audit, auth, db
from .schema import SEVERITIES, TICKET_TYPES

ALWAYS = "24x7"  # the built-in calendar on which all time counts
BUSINESS = "business"  # the default policy's working-hours calendar
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_PAUSE_STATUSES = ["Awaiting*", "On Hold", "Pending*", "Waiting for*"]
SEED_VERSION = "seed-default"
_WEEKDAY_NAMES = {**{d: d for d in WEEKDAYS}, **dict(zip(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"), WEEKDAYS))}
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")
TARGET_KINDS = ("minutes", "business_days", "same_business_day", "next_release")


class PolicyError(ValueError):
    """A policy that cannot be read, validated or saved; the message is for the user."""


def _minutes_of_day(text: str) -> int:
    m = _HHMM.match(text.strip())
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"'{text}' is not a time of day HH:MM (00:00–24:00)")
    return int(m.group(1)) * 60 + int(m.group(2))


class Calendar(BaseModel):
    """Working hours per weekday in one time zone, minus public and custom holidays."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=60)
    timezone: str = "UTC"
    # weekday -> list of [start, end] local times; a weekday left out is not a working day.
    hours: dict[str, list[tuple[str, str]]] = Field(default_factory=dict)
    country: str | None = None  # ISO code for the `holidays` package, e.g. "US", "GB"
    subdivision: str | None = None  # e.g. "NY", "ENG"
    custom_holidays: list[date] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        if value not in _zone_names():
            raise ValueError(f"'{value}' is not an IANA time zone (e.g. Europe/London, America/New_York)")
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for day, spans in value.items():
            key = _WEEKDAY_NAMES.get(day.strip().lower())
            if key is None:
                raise ValueError(f"'{day}' is not a weekday (use {', '.join(WEEKDAYS)})")
            if key in out:
                raise ValueError(f"{key} is given twice")
            parsed = sorted((_minutes_of_day(a), _minutes_of_day(b), a, b) for a, b in spans)
            for i, (a, b, ta, tb) in enumerate(parsed):
                if a >= b:
                    raise ValueError(f"{key}: {ta}–{tb} ends before it starts")
                if i and a < parsed[i - 1][1]:
                    raise ValueError(f"{key}: {ta}–{tb} overlaps {parsed[i - 1][2]}–{parsed[i - 1][3]}")
            out[key] = [(ta.strip(), tb.strip()) for _, _, ta, tb in parsed]
        return out

    @model_validator(mode="after")
    def _checks(self) -> "Calendar":
        if self.name == ALWAYS:
            raise ValueError(f"'{ALWAYS}' is built in (all time counts); name your calendar differently")
        if not any(self.hours.values()):
            raise ValueError(f"calendar '{self.name}' has no working hours (e.g. hours.mon = [[\"09:00\", \"17:00\"]])")
        if self.subdivision and not self.country:
            raise ValueError("subdivision needs a country")
        if self.country:
            supported = holidays.list_supported_countries()
            if self.country not in supported:
                raise ValueError(f"no public holidays known for country '{self.country}' (use an ISO code, e.g. US, GB, NL)")
            if self.subdivision and self.subdivision not in supported[self.country]:
                raise ValueError(f"'{self.subdivision}' is not a subdivision of {self.country} "
                                 f"(known: {', '.join(supported[self.country][:30])})")
        return self

    def spans(self, weekday: int) -> list[tuple[int, int]]:
        """Working spans of a weekday (0 = Monday) as (start, end) minutes after local midnight."""
        return [(_minutes_of_day(a), _minutes_of_day(b)) for a, b in self.hours.get(WEEKDAYS[weekday], [])]

    def holiday_dates(self, years: range) -> set[date]:
        out = set(self.custom_holidays)
        if self.country:
            out |= set(holidays.country_holidays(self.country, subdiv=self.subdivision, years=list(years)))
        return out


class Target(BaseModel):
    """One SLA goal: for a severity (and optionally a ticket type), one metric, one clock."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: str
    ticket_type: str | None = None  # None: any type
    metric: Literal["response", "resolution"]
    calendar: str = ALWAYS
    minutes: float | None = Field(default=None, gt=0)  # elapsed minutes on the calendar
    business_days: int | None = Field(default=None, ge=1)  # close of business N working days on
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
        return self

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
        elif self.same_business_day:
            text = "same business day"
        else:
            text = "next release"
        return f"{text} ({self.calendar})"


class Policy(BaseModel):
    """A versioned SLA policy: what is measured, on which calendar, and how it is judged."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    version: str = Field(min_length=1, max_length=80)
    effective_from: date = date(1970, 1, 1)
    calendars: list[Calendar] = Field(default_factory=list)
    targets: list[Target] = Field(default_factory=list)
    # Case-insensitive whole-status patterns; `*` matches any text.
    pause_statuses: list[str] = Field(default_factory=lambda: list(DEFAULT_PAUSE_STATUSES))
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


def _error_text(err: dict) -> str:
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones() | {"UTC"})


# --- versioned storage ------------------------------------------------------------------


def save_policy(con, policy: Policy, who: auth.Identity | str) -> Policy:
    """Validate and append `policy` as a new version; refuses a version name already saved."""
    actor = auth.require(who, auth.Permission.CHANGE_POLICIES)
    # A version carries its business calendars, so saving one changes both.
    who = auth.require(actor, auth.Permission.CHANGE_CALENDARS).label
    policy = validate_policy(policy, f"policy '{policy.version}'")
    if policy.version == SEED_VERSION:
        raise PolicyError(f"'{SEED_VERSION}' names the built-in defaults; choose another version name")
    with audit.transaction(con) as cur:  # the version and its audit record, or neither
        taken = cur.execute("SELECT count(*) FROM sla_policies WHERE version = ?", [policy.version]).fetchall()
        if taken[0][0]:
            raise PolicyError(f"version '{policy.version}' is already saved; versions are never "
                              "overwritten, so history keeps the goals it was judged by — save a new version")
        text = policy.to_toml()
        cur.execute(
            "INSERT INTO sla_policies (version, effective_from, policy_toml, saved_by, saved_at) VALUES (?, ?, ?, ?, ?)",
            [policy.version, policy.effective_from, text, who, datetime.now(timezone.utc).replace(tzinfo=None)],
        )
        audit.record(cur, who, audit.POLICY_SAVE, f"policy:{policy.version}", {
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


def policy_in_force(pols: list[Policy], day: date) -> Policy:
    """The version in force on `day`: latest effective_from ≤ day (the earliest one before any)."""
    ordered = sorted(enumerate(pols), key=lambda ip: (ip[1].effective_from, ip[0]))
    chosen = ordered[0][1]
    for _, p in ordered:
        if p.effective_from <= day:
            chosen = p
    return chosen
