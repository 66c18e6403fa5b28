"""Roles per engagement: an engagement's own e-mail → roles list, over the installation's roles.

For a person the list names, its roles replace the installation's inside that engagement (an
analyst of one go-live can be a viewer of another). An installation admin stays admin in every
engagement, so no engagement's list can lock out the people who manage it. A person it does
not name keeps the installation's roles. Getting in at all still takes a role in the
installation (claim, secrets or the installation's list): the sign-in gate comes before an
engagement is chosen. docs/auth.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from analytics.store import audit, auth, db
from analytics.store.auth import Identity

SETTING = auth.ENGAGEMENT_ROLE_MAP_SETTING


def read(con) -> dict[str, frozenset[str]]:
    """The engagement's list (empty when unset); ValueError when it is unreadable."""
    return auth.parse_role_map(db.get_setting(con, SETTING))


def save(con, mapping: Mapping[str, Iterable[str]], actor: Identity) -> None:
    """Replace the engagement's list (admins only), audited."""
    audit.set_setting(con, SETTING, auth.role_map_json(mapping), actor)


def in_engagement(identity: Identity, mapping: Mapping[str, frozenset[str]], email_verified: bool = True) -> Identity:
    """`identity` as it acts in the engagement whose list is `mapping`.

    Only a signed-in person's verified e-mail counts (an unverified one could be anyone's)."""
    if identity.mode != "shared" or not identity.email or not email_verified:
        return identity
    listed = mapping.get(identity.email)
    if listed is None:
        return identity
    kept = {"admin"} & identity.roles
    return dataclasses.replace(identity, roles=frozenset(listed) | kept)
