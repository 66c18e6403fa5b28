"""Who is acting, and what they may do: roles, the permission matrix, identities, `require`.

Pure core (no Streamlit): the dashboard builds an `Identity` from the identity provider's
claims (ui/auth.py), the CLI, scripts and tests build one with `local_operator(name)`, and
every write function of the core calls `require(actor, permission)` so that hiding a button is
never the only guard. A plain string is refused (TypeError): nobody gets every role by a name.

Two modes:
- local (nothing configured): one local user with every role; the name comes from
  HYPERCARE_OPERATOR, else the OS login (`operator_name`).
- shared (OpenID Connect sign-in configured): roles come from an ID-token claim (e.g.
  "roles" or "groups", mapped through `RolePolicy.claim_values`) and from e-mail → roles maps
  (the deployment's secrets and the `auth_role_map` setting). A signed-in user matched by
  neither gets `RolePolicy.default_roles`, which is empty by default: no access until an
  admin grants a role. That is the safe default; a deployment can set it to ["viewer"].
"""

from __future__ import annotations

import getpass
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from analytics.store import db


class Permission(StrEnum):
    READ = "read"
    EXPORT = "export"
    UPLOAD = "upload"
    EDIT_MAPPINGS = "edit_mappings"
    DELETE_OWN_DATASETS = "delete_own_datasets"
    CHANGE_POLICIES = "change_policies"
    CHANGE_CALENDARS = "change_calendars"
    CHANGE_TARGETS = "change_targets"
    CHANGE_CLOSURE_RULES = "change_closure_rules"
    CHANGE_SETTINGS = "change_settings"
    MANAGE_ROLES = "manage_roles"
    DELETE_ANY_DATASET = "delete_any_dataset"
    SIGN_OFF = "sign_off"


# What each permission lets a person do, worded to follow "may not" in a refusal.
ACTIONS: dict[Permission, str] = {
    Permission.READ: "read the dashboard",
    Permission.EXPORT: "export data or reports",
    Permission.UPLOAD: "upload ticket exports or registers",
    Permission.EDIT_MAPPINGS: "save mapping profiles",
    Permission.DELETE_OWN_DATASETS: "delete datasets they uploaded",
    Permission.CHANGE_POLICIES: "change SLA policies",
    Permission.CHANGE_CALENDARS: "change business calendars",
    Permission.CHANGE_TARGETS: "change KPI targets",
    Permission.CHANGE_CLOSURE_RULES: "change closure rules",
    Permission.CHANGE_SETTINGS: "change settings",
    Permission.MANAGE_ROLES: "change who has which role",
    Permission.DELETE_ANY_DATASET: "delete datasets uploaded by others",
    Permission.SIGN_OFF: "record or revoke sign-offs",
}

ROLES: tuple[str, ...] = ("viewer", "analyst", "admin", "approver")
ALL_ROLES: frozenset[str] = frozenset(ROLES)

_P = Permission
_VIEWER = frozenset({_P.READ, _P.EXPORT})
_ANALYST = _VIEWER | {_P.UPLOAD, _P.EDIT_MAPPINGS, _P.DELETE_OWN_DATASETS}
# The permission matrix, declared once. Roles add up: a person may hold several. An admin
# does not sign off unless also an approver (the board's sign-off stays a separate duty);
# an approver reads and exports like a viewer.
ROLE_PERMISSIONS: dict[str, frozenset[Permission]] = {
    "viewer": _VIEWER,
    "analyst": _ANALYST,
    "admin": _ANALYST | {_P.CHANGE_POLICIES, _P.CHANGE_CALENDARS, _P.CHANGE_TARGETS,
                         _P.CHANGE_CLOSURE_RULES, _P.CHANGE_SETTINGS, _P.MANAGE_ROLES,
                         _P.DELETE_ANY_DATASET},
    "approver": _VIEWER | {_P.SIGN_OFF},
}

ROLE_MAP_SETTING = "auth_role_map"  # settings key: JSON {"e-mail": ["role", ...]}
ENGAGEMENT_ROLE_MAP_SETTING = "engagement_role_map"  # the same, in one engagement's store
_CONTROL = re.compile(r"[\x00-\x1f\x7f<>]+")


class PermissionDenied(PermissionError):
    """An identity lacks a permission; the message names who, what, and the role needed."""

    def __init__(self, identity: Identity, permission: Permission):
        self.identity, self.permission = identity, permission
        super().__init__(f"{identity.name} ({identity.role_text}) may not {ACTIONS[permission]}: "
                         f"needs {' or '.join(roles_granting(permission))}")


def roles_granting(permission: Permission | str) -> list[str]:
    """The roles that grant `permission`, in ROLES order."""
    p = Permission(permission)
    return [r for r in ROLES if p in ROLE_PERMISSIONS[r]]


def _clean(text: Any) -> str:
    """One line without control characters or angle brackets (labels go into audit records)."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def _roles(values: Iterable[str]) -> frozenset[str]:
    roles = frozenset(str(v).strip().lower() for v in values)
    unknown = sorted(roles - ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown role(s) {', '.join(unknown)}; roles are {', '.join(ROLES)}")
    return roles


@dataclass(frozen=True)
class Identity:
    """A person acting in Hypercare. `label` is what audit records carry."""

    name: str
    email: str | None = None
    roles: frozenset[str] = frozenset()
    mode: str = "local"  # "local" (nobody signs in) or "shared" (signed in via OIDC)
    subject: str | None = None  # the identity provider's stable user id (`sub`)

    def __post_init__(self) -> None:
        if self.mode not in ("local", "shared"):
            raise ValueError(f"mode must be 'local' or 'shared', not {self.mode!r}")
        email = _clean(self.email).lower() if self.email else None
        object.__setattr__(self, "email", email or None)
        object.__setattr__(self, "name", _clean(self.name) or email or "unknown")
        object.__setattr__(self, "roles", _roles(self.roles))

    @property
    def label(self) -> str:
        """"Jane Doe <jane@example.org>", or the bare name when there is no e-mail."""
        if self.email and self.email != self.name.lower():
            return f"{self.name} <{self.email}>"
        return self.name

    @property
    def role_text(self) -> str:
        return ", ".join(r for r in ROLES if r in self.roles) or "no role"

    @property
    def permissions(self) -> frozenset[Permission]:
        return frozenset().union(*(ROLE_PERMISSIONS[r] for r in self.roles))

    def can(self, permission: Permission | str) -> bool:
        return Permission(permission) in self.permissions

    def owns(self, recorded_by: str | None) -> bool:
        """Whether a record's uploaded_by/actor names this identity (label, or same e-mail)."""
        if not recorded_by:
            return False
        if recorded_by == self.label:
            return True
        return bool(self.email) and recorded_by.strip().lower().endswith(f"<{self.email}>")


def operator_name(channel: str = "local") -> str:
    """HYPERCARE_OPERATOR, else "<channel>:<OS login>" (the CLI uses channel "cli")."""
    named = os.environ.get("HYPERCARE_OPERATOR")
    if named and _clean(named):
        return _clean(named)
    try:
        login = getpass.getuser()
    except (OSError, KeyError):  # no login name in a bare container
        login = "unknown"
    return f"{channel}:{login}"


def local_operator(name: str) -> Identity:
    """A trusted local operator with every role, recorded as `name`: the one way to act
    without signing in (the CLI, scripts, benches, the demo loader, the first start, tests)."""
    if not isinstance(name, str):
        raise TypeError(f"a local operator's name is a str, not {type(name).__name__} {name!r}")
    if not _clean(name):
        raise ValueError("a local operator needs a name (what audit records carry)")
    return Identity(name=name, roles=ALL_ROLES, mode="local")


def local_identity(channel: str = "local") -> Identity:
    """The single local user of local mode (or the CLI's operator, channel "cli"): every role."""
    return local_operator(operator_name(channel))


def as_identity(actor: Identity) -> Identity:
    """`actor` itself if it is an Identity; anything else (a plain name included) TypeError."""
    if isinstance(actor, Identity):
        return actor
    raise TypeError("actor must be an auth.Identity (use auth.local_operator('name') for the CLI "
                    f"and scripts), not {type(actor).__name__} {actor!r}")


def require(actor: Identity, permission: Permission | str) -> Identity:
    """The actor's Identity if it holds `permission`; else raise PermissionDenied."""
    identity = as_identity(actor)
    p = Permission(permission)
    if not identity.can(p):
        raise PermissionDenied(identity, p)
    return identity


def require_delete(actor: Identity, uploaded_by: str | None) -> Identity:
    """Deleting a dataset: its uploader needs delete-own, anyone else delete-any."""
    identity = as_identity(actor)
    if identity.owns(uploaded_by) and identity.can(Permission.DELETE_OWN_DATASETS):
        return identity
    return require(identity, Permission.DELETE_ANY_DATASET)


def setting_permission(key: str) -> Permission:
    """Which permission changing the setting `key` needs (keys named by the modules that own them)."""
    if key in (ROLE_MAP_SETTING, ENGAGEMENT_ROLE_MAP_SETTING):
        return Permission.MANAGE_ROLES
    if key.startswith("kpi_target.") or key == "kpi_outage_severities":  # analytics/kpi/registry.py
        return Permission.CHANGE_TARGETS
    if key == "closure_rules":  # analytics/governance/closure_rules.py
        return Permission.CHANGE_CLOSURE_RULES
    if "calendar" in key:  # e.g. pir_calendar: which business calendar due dates count on
        return Permission.CHANGE_CALENDARS
    if key.startswith("pir_"):  # the post-incident review policy (analytics/governance/pir.py)
        return Permission.CHANGE_POLICIES
    return Permission.CHANGE_SETTINGS


# --- roles from the identity provider ------------------------------------------------------


def _role_table(table: Mapping[str, Any] | None, what: str) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for key, value in (table or {}).items():
        if not isinstance(value, (str, list, tuple, set, frozenset)):
            raise ValueError(f"{what} '{key}': expected a role or a list of roles")
        values = [value] if isinstance(value, str) else list(value)
        try:
            out[str(key)] = _roles(values)
        except ValueError as exc:
            raise ValueError(f"{what} '{key}': {exc}") from None
    return out


def _emails(table: Mapping[str, Any] | None, what: str) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for key, roles in _role_table(table, what).items():
        email = key.strip().lower()
        if "@" not in email or _clean(email) != email:
            raise ValueError(f"{what}: '{key}' is not an e-mail address")
        out[email] = out.get(email, frozenset()) | roles
    return out


@dataclass(frozen=True)
class RolePolicy:
    """How a signed-in user's roles are found (the [roles] table of .streamlit/secrets.toml).

    claim: the ID-token claim holding role or group values; a dotted path reaches nested
    claims (Keycloak: "realm_access.roles"); None or "" reads no claim.
    claim_values: claim value → Hypercare roles. By default each role's own name.
    emails: e-mail → roles fixed by the deployment (e.g. the first admin), added to the
    `auth_role_map` setting that admins edit in the app.
    default_roles: roles of a signed-in user matched by nothing: none (no access) by default.
    """

    claim: str | None = "roles"
    claim_values: Mapping[str, frozenset[str]] = field(
        default_factory=lambda: {r: frozenset({r}) for r in ROLES})
    emails: Mapping[str, frozenset[str]] = field(default_factory=dict)
    default_roles: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None) -> RolePolicy:
        """From the [roles] table; raises ValueError naming a bad entry."""
        section = dict(section or {})
        unknown = sorted(set(section) - {"claim", "claim_values", "emails", "default"})
        if unknown:
            raise ValueError(f"[roles]: unknown key(s) {', '.join(unknown)}")
        kwargs: dict[str, Any] = {"claim": section.get("claim", "roles") or None,
                                  "emails": _emails(section.get("emails"), "[roles.emails]"),
                                  "default_roles": _roles(section.get("default", []))}
        if "claim_values" in section:
            kwargs["claim_values"] = _role_table(section["claim_values"], "[roles.claim_values]")
        return cls(**kwargs)


def _claim_values(claims: Mapping[str, Any], path: str) -> list[str]:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value] if isinstance(value, list) else []


def roles_from_claims(claims: Mapping[str, Any], policy: RolePolicy,
                      role_map: Mapping[str, frozenset[str]] | None = None) -> frozenset[str]:
    """The union of roles from the claim and from both e-mail maps; else the default.

    An e-mail counts only when the provider has not flagged it unverified
    (`email_verified` false): otherwise anyone could claim an admin's address.
    """
    roles: set[str] = set()
    if policy.claim:
        for value in _claim_values(claims, policy.claim):
            roles |= policy.claim_values.get(value, frozenset())
    email = str(claims.get("email") or "").strip().lower()
    if email and claims.get("email_verified") not in (False, "false"):
        roles |= policy.emails.get(email, frozenset())
        roles |= (role_map or {}).get(email, frozenset())
    return frozenset(roles) or policy.default_roles


def identity_from_claims(claims: Mapping[str, Any], policy: RolePolicy,
                         role_map: Mapping[str, frozenset[str]] | None = None) -> Identity:
    """A signed-in user's Identity from their ID-token claims (st.user)."""
    email = claims.get("email") or None
    name = claims.get("name") or claims.get("preferred_username") or email or claims.get("sub") or ""
    return Identity(name=str(name), email=email, roles=roles_from_claims(claims, policy, role_map),
                    mode="shared", subject=str(claims["sub"]) if claims.get("sub") else None)


# --- the e-mail → roles map admins edit in the app ------------------------------------------


def parse_role_map(value: str | Mapping[str, Any] | None) -> dict[str, frozenset[str]]:
    """Validate a role map given as JSON text or a mapping; raises ValueError."""
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"role map: not valid JSON ({exc.msg})") from None
    if not isinstance(value, Mapping):
        raise ValueError("role map: expected an object of e-mail → list of roles")
    return _emails(value, "role map")


def role_map(con) -> dict[str, frozenset[str]]:
    """The `auth_role_map` setting (empty when unset); audit.save_role_map replaces it."""
    return parse_role_map(db.get_setting(con, ROLE_MAP_SETTING))


def role_map_json(mapping: Mapping[str, Iterable[str]]) -> str:
    """Canonical JSON of a role map: sorted e-mails, roles in ROLES order."""
    clean = parse_role_map(dict(mapping))
    return json.dumps({e: [r for r in ROLES if r in clean[e]] for e in sorted(clean)})


def role_map_rows(mapping: Mapping[str, Iterable[str]]) -> list[dict[str, Any]]:
    """One row per e-mail, sorted, with a True/False column per role (for a table editor)."""
    return [{"email": e, **{r: r in set(roles) for r in ROLES}} for e, roles in sorted(mapping.items())]


def role_map_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Back from rows: blank e-mails and rows without any role are dropped."""
    out: dict[str, list[str]] = {}
    for row in rows:
        email = str(row.get("email") or "").strip()
        roles = [r for r in ROLES if row.get(r) is True]
        if email and email.lower() != "nan" and roles:
            out[email] = sorted(set(out.get(email, [])) | set(roles), key=ROLES.index)
    return out


__all__ = ["ACTIONS", "ALL_ROLES", "Identity", "Permission", "PermissionDenied", "ROLES",
           "ROLE_MAP_SETTING", "ROLE_PERMISSIONS", "RolePolicy", "as_identity", "identity_from_claims",
           "local_identity", "local_operator", "operator_name", "parse_role_map", "require", "require_delete",
           "role_map", "role_map_from_rows", "role_map_json", "role_map_rows", "roles_from_claims", "roles_granting",
           "setting_permission"]
