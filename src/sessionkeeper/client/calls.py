"""Each API operation as a value: method, path, body and how to read the answer.

The sync and the async client both send these, so what each operation means is written once
and the two clients differ only in how they wait. A call is built once per operation and
then sent unchanged on every attempt, which is what makes a retry safe: a start made here
carries its id, so a start whose answer was lost is answered 200 with the same session
instead of creating a second one.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar, Unpack
from urllib.parse import quote

import httpx

from sessionkeeper.client.admin_models import ApiKey, ApiKeyPage, NewApiKey, NewTenant, TenantPage
from sessionkeeper.client.errors import UnexpectedResponse, error_from_response
from sessionkeeper.client.models import BatchResult, EndBy, HeartbeatResult, Page, Session
from sessionkeeper.client.operation_models import (
    AuditPage,
    Health,
    Policies,
    Policy,
    QualityReport,
    SweepResult,
)
from sessionkeeper.client.presence_models import PresenceResult, PresenceSummary
from sessionkeeper.client.protocol import VERSION, Status, new_session_id
from sessionkeeper.client.stats_models import SessionStats
from sessionkeeper.client.webhook_models import (
    Delivery,
    DeliveryPage,
    Webhook,
    WebhookCreated,
    WebhookSecret,
    webhooks_from_json,
)

T = TypeVar("T")
# Fast enough to keep up with a snapshot a second, still about tenfold on snapshot JSON.
GZIP_LEVEL = 5


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any], T]
    json: Any = None
    params: Mapping[str, str] | None = None
    # Send the body gzip-compressed (the server decodes it; its caps apply to the decoded size).
    compress: bool = False

    def body(self) -> dict[str, Any]:
        """The body arguments of the request: JSON, gzipped when ``compress``."""
        if self.json is None:
            return {}
        if not self.compress:
            return {"json": self.json}
        encoded = json.dumps(self.json, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return {
            "content": gzip.compress(encoded.encode(), compresslevel=GZIP_LEVEL),
            "headers": {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        }

    def result(self, response: httpx.Response) -> T:
        """The parsed answer, or the error it stands for."""
        if not response.is_success:
            raise error_from_response(response)
        try:
            # A 204 (a revoked invitation) has no body to read.
            return self.parse(response.json() if response.content else None)
        except (ValueError, KeyError, TypeError) as exc:
            raise UnexpectedResponse(
                f"{self.method} {self.path}: answer {response.status_code} is not what the "
                f"API sends ({exc!r})",
                status=response.status_code,
            ) from exc


# The header in which an operator key names the tenant it acts on.
TENANT_HEADER = "Sessionkeeper-Tenant"


def default_headers(api_key: str, tenant: str | None = None) -> dict[str, str]:
    headers = {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json, application/problem+json",
        "User-Agent": f"sessionkeeper-python/{VERSION}",
    }
    if tenant is not None:
        headers[TENANT_HEADER] = tenant
    return headers


def iso(value: datetime) -> str:
    # The server refuses times without an offset; saying so here names the argument.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} has no timezone; pass an aware datetime")
    return value.isoformat()


def path_segment(value: str) -> str:
    """``value`` as one segment of a path: a "/" in it is sent as %2F."""
    return quote(value, safe="")


def _flag(value: bool) -> Mapping[str, str] | None:
    return {"dry_run": "true"} if value else None


def start(
    user_id: str,
    kind: str,
    *,
    label: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    id: str | None = None,
    started_at: datetime | None = None,
    continues: str | None = None,
    subject: Mapping[str, str] | None = None,
) -> Call[Session]:
    body: dict[str, Any] = {"id": id or new_session_id(), "user_id": user_id, "kind": kind}
    if continues is not None:
        body["continues"] = continues
    if label is not None:
        body["label"] = label
    if attributes is not None:
        body["attributes"] = dict(attributes)
    if subject:
        body["subject"] = dict(subject)
    if started_at is not None:
        body["started_at"] = iso(started_at)
    return Call("POST", "/v1/sessions", Session.from_json, json=body)


def heartbeat(
    session_id: str,
    *,
    at: datetime | None = None,
    attributes: Mapping[str, Any] | None = None,
) -> Call[HeartbeatResult]:
    # Without ``at`` the server stamps the beat on arrival: a retried beat is then as true
    # as the first, and the client's clock never matters.
    body: dict[str, Any] = {}
    if at is not None:
        body["at"] = iso(at)
    if attributes is not None:
        body["attributes"] = dict(attributes)
    path = f"/v1/sessions/{path_segment(session_id)}/heartbeat"
    return Call("POST", path, HeartbeatResult.from_json, json=body)


def heartbeat_batch(items: Iterable[str | tuple[str, datetime | None]]) -> Call[BatchResult]:
    beats: list[dict[str, Any]] = []
    for item in items:
        session_id, at = (item, None) if isinstance(item, str) else item
        beat: dict[str, Any] = {"session_id": session_id}
        if at is not None:
            beat["at"] = iso(at)
        beats.append(beat)
    return Call("POST", "/v1/heartbeats", BatchResult.from_json, json={"heartbeats": beats})


def outcome_body(
    metrics: Mapping[str, float] | None = None,
    counters: Mapping[str, int] | None = None,
    tags: Mapping[str, list[str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "metrics": dict(metrics or {}),
        "counters": dict(counters or {}),
        "tags": {name: list(items) for name, items in (tags or {}).items()},
        "metadata": dict(metadata or {}),
    }


def end(
    session_id: str,
    *,
    at: datetime | None = None,
    reason: EndBy = "client",
    outcome: Mapping[str, Any] | None = None,
) -> Call[Session]:
    """``outcome`` (``metrics``, ``counters``, ``tags``, ``metadata``) is stored with the end,
    in the same transaction: refused (422), it refuses the end."""
    body: dict[str, Any] = {"reason": reason}
    if at is not None:
        body["at"] = iso(at)
    if outcome is not None:
        body["outcome"] = outcome_body(**outcome)
    return Call(
        "POST", f"/v1/sessions/{path_segment(session_id)}/end", Session.from_json, json=body
    )


def get(session_id: str) -> Call[Session]:
    return Call("GET", f"/v1/sessions/{path_segment(session_id)}", Session.from_json)


class Filters(TypedDict, total=False):
    """Which sessions a listing, the stats or the export cover; every filter is optional.

    ``subject`` matches subject fields (``{"teacher_id": "t1"}``); ``active_during`` is a
    (from, to) pair; ``min_duration_s`` keeps closed sessions at least that long.
    """

    status: Status | str
    kind: str
    user_id: str
    label: str
    source: str
    continues: str
    subject: Mapping[str, str]
    started_after: datetime
    started_before: datetime
    ended_after: datetime
    ended_before: datetime
    active_during: tuple[datetime, datetime]
    min_duration_s: float


class SessionFilters(Filters, total=False):
    """The filters of a listing, and its page."""

    limit: int
    cursor: str


def query_params(filters: Mapping[str, Any]) -> dict[str, str]:
    """The query parameters of ``filters`` as the API spells them: times in ISO 8601, subject
    fields as ``subject.<field>``, an interval as ``<from>/<to>``; None values left out."""
    params: dict[str, str] = {}
    for name, value in filters.items():
        if value is None:
            continue
        if name == "subject":
            params.update({f"subject.{field}": str(v) for field, v in value.items()})
        elif name == "active_during":
            start, end = value
            params[name] = f"{iso(start)}/{iso(end)}"
        elif isinstance(value, datetime):
            params[name] = iso(value)
        else:
            params[name] = str(value)
    return params


def list_sessions(**filters: Unpack[SessionFilters]) -> Call[Page]:
    return Call("GET", "/v1/sessions", Page.from_json, params=query_params(filters))


def session_stats(group_by: str | None = None, **filters: Unpack[Filters]) -> Call[SessionStats]:
    params = query_params(filters)
    if group_by is not None:
        params["group_by"] = group_by
    return Call("GET", "/v1/sessions/stats", SessionStats.from_json, params=params)


EXPORT_PATH = "/v1/sessions/export.csv"


def export_params(
    subject_fields: Iterable[str] | None, filters: Mapping[str, Any]
) -> dict[str, str]:
    params = query_params(filters)
    if subject_fields is not None:
        params["subject_fields"] = ",".join(subject_fields)
    return params


def put_policy(
    kind: str,
    *,
    heartbeat_interval_s: float | None = None,
    timeout_s: float | None = None,
    grace_s: float | None = None,
    presence_interval_s: float | None = None,
    room_timeout_s: float | None = None,
) -> Call[Policy]:
    values = {
        "heartbeat_interval_s": heartbeat_interval_s,
        "timeout_s": timeout_s,
        "grace_s": grace_s,
        "presence_interval_s": presence_interval_s,
        "room_timeout_s": room_timeout_s,
    }
    body = {name: value for name, value in values.items() if value is not None}
    return Call("PUT", f"/v1/policies/{path_segment(kind)}", Policy.from_json, json=body)


def policies() -> Call[Policies]:
    return Call("GET", "/v1/policies", Policies.from_json)


def health(*, details: bool = False) -> Call[Health]:
    params = {"details": "true"} if details else None
    return Call("GET", "/v1/health", Health.from_json, params=params)


def quality(*, days: int | None = None, group_by: str | None = None) -> Call[QualityReport]:
    params = query_params({"days": days, "group_by": group_by})
    return Call("GET", "/v1/metrics/quality", QualityReport.from_json, params=params)


def audit(
    *, action: str | None = None, before: int | None = None, limit: int | None = None
) -> Call[AuditPage]:
    params = query_params({"action": action, "before": before, "limit": limit})
    return Call("GET", "/v1/audit", AuditPage.from_json, params=params)


def sweep() -> Call[SweepResult]:
    return Call("POST", "/v1/maintenance/sweep", SweepResult.from_json)


def _snapshot_request(
    source: str, entries: Iterable[Mapping[str, Any]], at: datetime | None, dry_run: bool
) -> tuple[str, dict[str, Any], dict[str, str]]:
    body: dict[str, Any] = {"entries": [dict(entry) for entry in entries]}
    if at is not None:
        body["at"] = iso(at)
    return f"/v1/presence/{path_segment(source)}", body, dict(_flag(dry_run) or {})


def presence_snapshot(
    source: str,
    entries: Iterable[Mapping[str, Any]],
    *,
    at: datetime | None = None,
    dry_run: bool = False,
    compress: bool = False,
) -> Call[PresenceResult]:
    path, body, params = _snapshot_request(source, entries, at, dry_run)
    return Call(
        "PUT", path, PresenceResult.from_json, json=body, params=params or None, compress=compress
    )


def presence_snapshot_summary(
    source: str,
    entries: Iterable[Mapping[str, Any]],
    *,
    at: datetime | None = None,
    dry_run: bool = False,
    compress: bool = False,
) -> Call[PresenceSummary]:
    """A snapshot answered with counts only: a few hundred bytes however many entries."""
    path, body, params = _snapshot_request(source, entries, at, dry_run)
    params["reply"] = "summary"
    return Call("PUT", path, PresenceSummary.from_json, json=body, params=params, compress=compress)


def presence_changes(
    source: str,
    joins: Iterable[Mapping[str, Any]] = (),
    leaves: Iterable[Mapping[str, Any]] = (),
    *,
    at: datetime | None = None,
    keepalive: bool = False,
    dry_run: bool = False,
    compress: bool = False,
) -> Call[PresenceResult]:
    body: dict[str, Any] = {
        "joins": [dict(entry) for entry in joins],
        "leaves": [dict(leave) for leave in leaves],
        "keepalive": keepalive,
    }
    if at is not None:
        body["at"] = iso(at)
    path = f"/v1/presence/{path_segment(source)}/changes"
    return Call(
        "POST",
        path,
        PresenceResult.from_json,
        json=body,
        params=_flag(dry_run),
        compress=compress,
    )


# Webhooks


def create_webhook(
    url: str, events: Iterable[str], *, description: str | None = None
) -> Call[WebhookCreated]:
    body: dict[str, Any] = {"url": url, "events": list(events)}
    if description is not None:
        body["description"] = description
    return Call("POST", "/v1/webhooks", WebhookCreated.from_json, json=body)


def webhooks() -> Call[tuple[Webhook, ...]]:
    return Call("GET", "/v1/webhooks", webhooks_from_json)


def get_webhook(webhook_id: str) -> Call[Webhook]:
    return Call("GET", f"/v1/webhooks/{path_segment(webhook_id)}", Webhook.from_json)


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/webhooks/{path_segment(webhook_id)}", _nothing)


def _nothing(_data: Any) -> None:
    return None


def rotate_webhook_secret(webhook_id: str) -> Call[WebhookSecret]:
    path = f"/v1/webhooks/{path_segment(webhook_id)}/rotate"
    return Call("POST", path, WebhookSecret.from_json)


def webhook_deliveries(
    webhook_id: str,
    *,
    status: str | None = None,
    limit: int | None = None,
    cursor: str | None = None,
) -> Call[DeliveryPage]:
    values = {"status": status, "limit": limit, "cursor": cursor}
    params = {name: str(value) for name, value in values.items() if value is not None}
    path = f"/v1/webhooks/{path_segment(webhook_id)}/deliveries"
    return Call("GET", path, DeliveryPage.from_json, params=params)


def retry_webhook_delivery(webhook_id: str, delivery_id: str) -> Call[Delivery]:
    path = f"/v1/webhooks/{path_segment(webhook_id)}/deliveries/{path_segment(delivery_id)}/retry"
    return Call("POST", path, Delivery.from_json)


# Admin: the API keys of the key's tenant (an admin key), tenants (the operator key).


def _page(cursor: str | None, limit: int | None) -> dict[str, str] | None:
    params = {"cursor": cursor, "limit": None if limit is None else str(limit)}
    return {name: value for name, value in params.items() if value is not None} or None


def keys(*, cursor: str | None = None, limit: int | None = None) -> Call[ApiKeyPage]:
    return Call("GET", "/v1/keys", ApiKeyPage.from_json, params=_page(cursor, limit))


def create_key(scope: str) -> Call[NewApiKey]:
    return Call("POST", "/v1/keys", NewApiKey.from_json, json={"scope": scope})


def revoke_key(key_id: int) -> Call[ApiKey]:
    return Call("DELETE", f"/v1/keys/{int(key_id)}", ApiKey.from_json)


def tenants(*, cursor: str | None = None, limit: int | None = None) -> Call[TenantPage]:
    return Call("GET", "/v1/tenants", TenantPage.from_json, params=_page(cursor, limit))


def create_tenant(name: str) -> Call[NewTenant]:
    return Call("POST", "/v1/tenants", NewTenant.from_json, json={"name": name})
