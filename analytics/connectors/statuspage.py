"""Statuspage (Atlassian): incidents and their updates, rendered as the built-in profiles
statuspage-incidents and statuspage-updates read them (the githubstatus.com export's columns).

Two ways in. The public page, `GET {base_url}/api/v2/incidents.json`: no key, the 50 most
recent incidents. The manage API, `GET {api_url}/pages/{page_id}/incidents?page=N&per_page=100`
with `Authorization: OAuth <api_key>`: every incident, paged (a short page is the last), at
most one request a second as Statuspage documents. Neither can filter by updated time, so a
pull reads the whole list and keeps what changed since the watermark less OVERLAP.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from analytics.connectors.base import (
    JsonClient,
    Progress,
    Pull,
    RenderedFile,
    SourceError,
    Watermark,
    csv_bytes,
    keep_newest,
    utc_naive,
)
from analytics.connectors.http import HttpClient

API_URL = "https://api.statuspage.io/v1/"
PUBLIC_PATH = "api/v2/incidents.json"
PER_PAGE = 100  # the manage API's largest page
MAX_PAGES = 10_000  # a list that never ends is a broken server, not a big page
# Offset paging has no cursor: an incident added or moved while the list is read shifts the
# pages, and one can be missed or seen twice. So the list is read again until a reading brings
# no incident the earlier ones lacked; the union is what was there.
MAX_PASSES = 3
MIN_INTERVAL = 1.0  # seconds: Statuspage allows one request a second per API key

INCIDENT_COLUMNS = ("id", "name", "impact", "status", "created_at", "started_at", "updated_at", "monitoring_at",
                    "resolved_at", "first_investigating_update_at", "first_identified_update_at",
                    "first_monitoring_update_at", "resolved_update_at", "n_updates", "components", "shortlink")
UPDATE_COLUMNS = ("incident_id", "update_id", "status", "created_at", "display_at", "updated_at",
                  "affected_components", "body")


def _manage(config: Mapping[str, str]) -> bool:
    return bool(config.get("api_key") and config.get("page_id"))


def _updated(incident: Mapping[str, Any]) -> datetime | None:
    at = incident.get("updated_at") or incident.get("created_at")
    return utc_naive(at) if at else None


def _first(updates: list[Mapping[str, Any]], status: str) -> str | None:
    times = sorted(u["created_at"] for u in updates if u.get("status") == status and u.get("created_at"))
    return times[0] if times else None


def incident_row(incident: Mapping[str, Any]) -> dict[str, Any]:
    """One incidents-file row: the incident's fields, and from its updates the first time of each status."""
    updates = list(incident.get("incident_updates") or [])
    row = {c: incident.get(c) for c in INCIDENT_COLUMNS[:9]}
    row.update(first_investigating_update_at=_first(updates, "investigating"),
               first_identified_update_at=_first(updates, "identified"),
               first_monitoring_update_at=_first(updates, "monitoring"),
               resolved_update_at=_first(updates, "resolved"), n_updates=len(updates),
               components=";".join(c.get("name") or "" for c in incident.get("components") or []),
               shortlink=incident.get("shortlink"))
    return row


def update_rows(incident: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The updates-file rows of one incident, oldest first."""
    for u in sorted(incident.get("incident_updates") or [], key=lambda u: u.get("created_at") or ""):
        affected = ";".join(f"{c.get('name')}:{c.get('old_status')}->{c.get('new_status')}"
                            for c in u.get("affected_components") or [])
        yield {"incident_id": incident["id"], "update_id": u.get("id"), "status": u.get("status"),
               "created_at": u.get("created_at"), "display_at": u.get("display_at"),
               "updated_at": u.get("updated_at"), "affected_components": affected, "body": u.get("body")}


def render(incidents: list[Mapping[str, Any]]) -> list[RenderedFile]:
    """The two export files of `incidents`, in the export's order (by created time)."""
    ordered = sorted(incidents, key=lambda i: (i.get("created_at") or "", i["id"]))
    return [
        RenderedFile("statuspage-incidents", "statuspage-incidents-sync.csv",
                     csv_bytes(INCIDENT_COLUMNS, (incident_row(i) for i in ordered))),
        RenderedFile("statuspage-updates", "statuspage-updates-sync.csv",
                     csv_bytes(UPDATE_COLUMNS, (r for i in ordered for r in update_rows(i)))),
    ]


def _checked(value: Any, path: str) -> list[Mapping[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(i, Mapping) and i.get("id") for i in value):
        raise SourceError(f"Statuspage: GET {path}: not a list of incidents")
    return value


class StatuspageConnector:
    """Statuspage incidents and their updates."""

    name = "statuspage"
    label = "Statuspage"
    required = (("base_url",), ("api_key", "page_id"))

    def make_client(self, config: Mapping[str, str]) -> HttpClient:
        interval = float(config.get("min_interval", MIN_INTERVAL))
        if _manage(config):
            return HttpClient(config.get("api_url") or API_URL, name=self.label, min_interval=interval,
                              auth_headers={"Authorization": f"OAuth {config['api_key']}"})
        return HttpClient(config["base_url"], auth_headers={}, name=self.label)

    def check(self, client: JsonClient, config: Mapping[str, str]) -> str:
        if _manage(config):
            page = client.get_json(f"pages/{config['page_id']}")
            name = page.get("name") if isinstance(page, Mapping) else None
            return f"Statuspage: page {name or config['page_id']} (manage API) answers"
        body = client.get_json(PUBLIC_PATH)
        if not isinstance(body, Mapping):
            raise SourceError(f"Statuspage: GET /{PUBLIC_PATH}: not a Statuspage incidents document")
        incidents = _checked(body.get("incidents"), f"/{PUBLIC_PATH}")
        name = (body.get("page") or {}).get("name") or config.get("base_url")
        return f"Statuspage: {name} (public page) answers, {len(incidents)} recent incidents"

    def pull(self, client: JsonClient, config: Mapping[str, str], since: Watermark,
             progress: Progress | None = None) -> Pull:
        incidents = self._all(client, config, progress) if _manage(config) else self._public(client)
        start = since.since()
        kept = [i for i in incidents if start is None or (_updated(i) or start) >= start]
        watermark = since
        for incident in kept:
            watermark = watermark.advance(_updated(incident), str(incident["id"]))
        read = len(incidents) + sum(len(i.get("incident_updates") or []) for i in incidents)
        return Pull(files=render(kept) if kept else [], records_read=read, watermark=watermark)

    def _public(self, client: JsonClient) -> list[Mapping[str, Any]]:
        body = client.get_json(PUBLIC_PATH)
        if not isinstance(body, Mapping):
            raise SourceError(f"Statuspage: GET /{PUBLIC_PATH}: not a Statuspage incidents document")
        return keep_newest(_checked(body.get("incidents"), f"/{PUBLIC_PATH}"), lambda i: str(i["id"]), _updated)

    def _all(self, client: JsonClient, config: Mapping[str, str],
             progress: Progress | None) -> list[Mapping[str, Any]]:
        seen: list[Mapping[str, Any]] = []
        ids: set[str] = set()
        for _ in range(MAX_PASSES):
            found = self._pass(client, config["page_id"], progress, len(seen))
            new = {str(i["id"]) for i in found} - ids
            seen += found
            if ids and not new:
                return keep_newest(seen, lambda i: str(i["id"]), _updated)
            ids |= new
        raise SourceError(f"Statuspage: GET /pages/{config['page_id']}/incidents: the list changed on each of "
                          f"{MAX_PASSES} readings; try again later")

    def _pass(self, client: JsonClient, page_id: str, progress: Progress | None,
              before: int) -> list[Mapping[str, Any]]:
        path = f"pages/{page_id}/incidents"
        found: list[Mapping[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            batch = _checked(client.get_json(path, {"page": page, "per_page": PER_PAGE}), f"/{path}")
            found += batch
            if progress is not None:
                progress(before + len(found), None)
            if len(batch) < PER_PAGE:
                return found
        raise SourceError(f"Statuspage: GET /{path}: more than {MAX_PAGES:,} pages")


CONNECTOR = StatuspageConnector()

__all__ = ["CONNECTOR", "INCIDENT_COLUMNS", "UPDATE_COLUMNS", "StatuspageConnector", "incident_row", "render",
           "update_rows"]
