"""Mapping profiles: how one export's columns become canonical ticket fields.

A profile is a TOML file (see docs/profiles.md). Built-in profiles live in
analytics/ingest/builtin_profiles/; profiles a user saves from the Upload page or writes by hand live
in the profiles folder (HYPERCARE_PROFILES, default data/profiles/).
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

import tomli_w
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from analytics.store import auth
from analytics.store.schema import (
    MAPPABLE_FIELDS,
    PAUSE_REASONS,
    SEVERITIES,
    STATUS_CATEGORIES,
    TICKET_TYPES,
    TIMESTAMP_FIELDS,
    UPDATED_FIELD,
)

BUILTIN_DIR = Path(__file__).resolve().parent / "builtin_profiles"
DEFAULT_USER_DIR = Path(__file__).resolve().parents[2] / "data" / "profiles"

DEFAULT_NULLS = ["", "?", "NULL", "null", "None", "N/A", "n/a", "NaN", "nan", "#N/B", "#N/A"]
_TEMPLATE = re.compile(r"\{([^{}]+)\}")
_MAP_VALUES = {"severity_map": SEVERITIES, "status_map": STATUS_CATEGORIES, "type_map": TICKET_TYPES,
               "waiting": PAUSE_REASONS}
# Event rule keys may be written "resolved" or "resolved_at".
EVENT_TARGETS = ("detected_at", "acknowledged_at", "mitigated_at", "resolved_at", "closed_at")
SEVERITY_GUESS_WARNING = "the order of this field is not documented by the source; this mapping is a guess"


class ProfileError(ValueError):
    """A profile that cannot be read or does not fit a file; the message is for the user."""


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    layout: Literal["tickets", "event_log", "history"] = "tickets"
    # The source label stored on each ticket (defaults to `name`); several profiles of one
    # vendor share it so a re-upload in another shape still upserts the same tickets.
    label: str | None = None
    description: str = ""
    # Its SEV-1/SEV-2 tickets are service outages, so availability may be computed from them
    # (stored per upload in datasets.describes_outages).
    describes_outages: bool = False
    # The source does not document the order of its severity field: the [severity_map] is a
    # guess, and the Upload page and the upload result say so.
    severity_guess: bool = False

    @property
    def source_label(self) -> str:
        return self.label or self.name


class TimestampSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: str = "auto"
    timezone: str | None = None  # None: the upload's choice, else Settings, else UTC
    # Per-column overrides, keyed by canonical field name (or "event_time").
    formats: dict[str, str] = Field(default_factory=dict)


class MatchSpec(BaseModel):
    """How detection recognises a file this profile fits."""

    model_config = ConfigDict(extra="forbid")
    # Columns that must all be present (defaults to every single-column mapping).
    required: list[str] = Field(default_factory=list)
    # The exact header a user's saved profile was made from: an identical header is a sure match.
    header: list[str] = Field(default_factory=list)


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: SourceSpec
    # canonical field = source column; a list gives alternatives (first present wins);
    # "{a}-{b}" builds the value from several columns.
    columns: dict[str, str | list[str]] = Field(default_factory=dict)
    timestamps: TimestampSpec = Field(default_factory=TimestampSpec)
    severity_map: dict[str, str] = Field(default_factory=dict)
    status_map: dict[str, str] = Field(default_factory=dict)
    type_map: dict[str, str] = Field(default_factory=dict)
    # Waiting statuses: raw status = whom it waits on (customer, user, vendor, change, problem,
    # other). Stored as pause_reason on the history row and on the ticket in that status.
    waiting: dict[str, str] = Field(default_factory=dict)
    # Event logs: which status values set which timestamp (first entry; resolved/closed: last).
    events: dict[str, list[str]] = Field(default_factory=dict)
    # Constant values for fields the export lacks, e.g. type = "incident".
    defaults: dict[str, str] = Field(default_factory=dict)
    # Multi-valued cells ("Git Operations;API Requests"): keep the first item, split on this.
    split: dict[str, str] = Field(default_factory=dict)
    null_values: list[str] = Field(default_factory=lambda: list(DEFAULT_NULLS))
    match: MatchSpec = Field(default_factory=MatchSpec)

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, value: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        allowed = set(MAPPABLE_FIELDS) | {"event_time", "event_seq", UPDATED_FIELD}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(
                f"unknown canonical field(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        return value

    @field_validator("severity_map", "status_map", "type_map", "waiting")
    @classmethod
    def _map_values(cls, value: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        name = info.field_name
        if name is None:  # pydantic names the field for a field validator; None is for model validators
            raise TypeError("_map_values validates the named map fields only")
        allowed = _MAP_VALUES[name]
        bad = {k: v for k, v in value.items() if v not in allowed}
        if bad:
            raise ValueError(f"{name} values must be one of {', '.join(allowed)}: {bad}")
        return value

    @field_validator("events")
    @classmethod
    def _event_keys(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, statuses in value.items():
            target = key if key.endswith("_at") else f"{key}_at"
            if target not in EVENT_TARGETS:
                raise ValueError(
                    f"[events] key '{key}' is not one of "
                    f"{', '.join(t.removesuffix('_at') for t in EVENT_TARGETS)}"
                )
            out[target] = list(statuses)
        return out

    @model_validator(mode="after")
    def _layout_needs(self) -> "Profile":
        if "external_id" not in self.columns:
            raise ValueError("[columns] must map external_id (the ticket id column)")
        if self.source.layout in ("event_log", "history") and "event_time" not in self.columns:
            raise ValueError(f"layout '{self.source.layout}' needs [columns] event_time")
        if self.source.layout == "tickets" and "opened_at" not in self.columns:
            raise ValueError("layout 'tickets' needs [columns] opened_at")
        return self

    # --- column helpers -------------------------------------------------------------------

    def source_columns(self, field: str) -> list[str]:
        """Every source column a mapping may read (alternatives and template parts)."""
        spec = self.columns.get(field)
        if spec is None:
            return []
        if isinstance(spec, list):
            return list(spec)
        parts = _TEMPLATE.findall(spec)
        return parts or [spec]

    def resolve(self, field: str, header: list[str]) -> str | None:
        """The column (or template) this mapping uses for a file with `header`, or None."""
        spec = self.columns.get(field)
        if spec is None:
            return None
        if isinstance(spec, list):
            return next((c for c in spec if c in header), None)
        parts = _TEMPLATE.findall(spec)
        if parts:
            return spec if all(p in header for p in parts) else None
        return spec if spec in header else None

    def required_columns(self) -> list[str]:
        if self.match.required:
            return list(self.match.required)
        cols = []
        for field, spec in self.columns.items():
            if isinstance(spec, str) and not _TEMPLATE.findall(spec):
                cols.append(spec)
            elif field == "external_id":
                cols.extend(self.source_columns(field))
        return cols

    def status_vocabulary(self) -> dict[str, str]:
        """Raw status → category as this profile declares it; other statuses use the built-in words.

        Statuses in the [events] resolved/closed lists count as resolved/closed unless
        [status_map] says otherwise."""
        vocab = {s: "resolved" for s in self.events.get("resolved_at", [])}
        vocab.update({s: "closed" for s in self.events.get("closed_at", [])})
        vocab.update(self.status_map)
        return vocab

    def timestamp_format(self, field: str) -> str:
        return self.timestamps.formats.get(field, self.timestamps.format)

    def mapped_timestamp_fields(self) -> list[str]:
        fields = [f for f in TIMESTAMP_FIELDS if f in self.columns]
        return fields + [f for f in ("event_time", UPDATED_FIELD) if f in self.columns]

    # --- TOML -----------------------------------------------------------------------------

    def to_toml(self) -> str:
        data = self.model_dump(exclude_none=True)
        data["events"] = {k.removesuffix("_at"): v for k, v in data["events"].items()}
        if data["null_values"] == DEFAULT_NULLS:
            del data["null_values"]
        for key in ("severity_map", "status_map", "type_map", "waiting", "events", "defaults", "split"):
            if not data[key]:
                del data[key]
        if not data["match"]["required"] and not data["match"]["header"]:
            del data["match"]
        return tomli_w.dumps(data)


def corrected(base: Profile, columns: dict, formats: dict, tz: str, severity_map: dict, **edits) -> Profile:
    """`base` with a person's mapping (the Upload page's corrections); ValidationError when unusable.

    `edits` may set status_map, waiting, and the [source] traits describes_outages and severity_guess."""
    data = base.model_dump()
    data["columns"] = columns
    data["timestamps"] = {**data["timestamps"], "timezone": tz,
                          "formats": {**data["timestamps"]["formats"], **formats}}
    data["severity_map"] = severity_map
    for key in ("status_map", "waiting"):
        data[key] = edits.get(key, data[key])
    data["source"].update({k: v for k, v in edits.items() if k in ("describes_outages", "severity_guess")})
    return Profile.model_validate(data)


def renamed(profile: Profile, name: str, header: list[str]) -> Profile:
    """`profile` under a new name, matching files with this `header` (to save a corrected mapping)."""
    source = profile.source.model_validate({**profile.source.model_dump(), "name": name.strip(),
                                            "label": profile.source.source_label})
    return profile.model_copy(update={"source": source, "match": profile.match.model_validate({"header": header})})


def parse_profile(text: str, origin: str = "profile") -> Profile:
    """Read a profile from TOML text; errors name the origin and the offending key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{origin}: not valid TOML ({exc})") from exc
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'profile'}: {err['msg']}" for err in exc.errors()
        )
        raise ProfileError(f"{origin}: {problems}") from exc


def load_profile(path: str | os.PathLike) -> Profile:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"{p}: cannot read profile ({exc.strerror})") from exc
    return parse_profile(text, origin=str(p))


def user_profile_dir() -> Path:
    return Path(os.environ.get("HYPERCARE_PROFILES") or DEFAULT_USER_DIR)


def builtin_profiles() -> list[Profile]:
    return [load_profile(p) for p in sorted(BUILTIN_DIR.glob("*.toml"))]


def user_profiles(directory: Path | None = None) -> list[Profile]:
    d = directory or user_profile_dir()
    return [load_profile(p) for p in sorted(d.glob("*.toml"))] if d.is_dir() else []


def all_profiles(directory: Path | None = None) -> list[Profile]:
    """User profiles first, so a saved correction wins over the built-in it was made from."""
    return user_profiles(directory) + builtin_profiles()


def find_profile(name: str, directory: Path | None = None) -> Profile:
    for profile in all_profiles(directory):
        if profile.source.name == name:
            return profile
    raise ProfileError(f"no profile named '{name}'")


def save_profile(profile: Profile, directory: Path | None = None, *,
                 actor: auth.Identity) -> Path:
    """Write a profile as <name>.toml in the user folder; returns the path.

    auth.PermissionDenied unless `actor` (an auth.Identity) may edit mappings."""
    auth.require(actor, auth.Permission.EDIT_MAPPINGS)
    d = directory or user_profile_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{profile.source.name}.toml"
    path.write_text(profile.to_toml(), encoding="utf-8")
    return path
