"""The client stands alone and speaks the server's contract.

- ``sessionkeeper.client`` imports nothing of the server (nor FastAPI, SQLAlchemy, pydantic):
  it can ship with httpx as its only dependency.
- The constants it spells for itself equal the server's.
- Every field of every response schema in the OpenAPI document exists on the client's model
  of it, and every field of a client model exists in the schema.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessionkeeper.assembly import create_app
from sessionkeeper.client import (
    admin_models,
    analytics,
    learning_models,
    link_models,
    models,
    operation_models,
    presence_models,
    protocol,
    room_models,
    stats_models,
    webhook_models,
)
from sessionkeeper.client import errors as client_errors
from sessionkeeper.config import Settings
from sessionkeeper.domain import ids, lifecycle, policy
from sessionkeeper.services.runtime import Runtime
from tests.support import settings_for

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = r"""
import importlib.abc, sys

SERVER = ("sessionkeeper.",)
ALLOWED = ("sessionkeeper.client",)
FOREIGN = ("fastapi", "starlette", "sqlalchemy", "pydantic", "alembic", "psycopg", "uvicorn",
           "typer", "rich", "prometheus_client")

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in FOREIGN or (name.startswith(SERVER) and not name.startswith(ALLOWED)):
            raise ImportError(f"the client imported {name}")
        return None

sys.meta_path.insert(0, Block())
import sessionkeeper.client
import sessionkeeper.client.calls, sessionkeeper.client.handles, sessionkeeper.client.presence
import sessionkeeper.client.outbox, sessionkeeper.client.backlog
client = sessionkeeper.client.Client("http://127.0.0.1:9", "sk_x")
client.close()
print("standalone")
"""


def test_the_client_imports_nothing_of_the_server() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCKER],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "standalone"


def test_the_protocol_constants_are_the_servers() -> None:
    assert {s.value for s in protocol.Status} == {s.value for s in lifecycle.Status}
    assert {r.value for r in protocol.EndReason} == {r.value for r in lifecycle.EndReason}
    assert protocol.DEFAULT_KIND == policy.DEFAULT_KIND
    assert protocol.TIMEOUT_HEARTBEATS == policy.TIMEOUT_HEARTBEATS
    assert Settings.model_fields["max_past_s"].default == protocol.MAX_PAST_S


def test_the_batch_limit_is_the_servers(openapi: dict[str, Any]) -> None:
    batch = openapi["components"]["schemas"]["HeartbeatBatch"]["properties"]["heartbeats"]
    assert batch["maxItems"] == protocol.BATCH_LIMIT


def test_client_made_ids_have_the_servers_format_and_order() -> None:
    first = protocol.new_session_id()
    time.sleep(0.002)
    second = protocol.new_session_id()
    assert ids.is_valid_session_id(first) and len(first) == 26
    assert first < second  # time-ordered, as the server's own
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{26}", first)


# The OpenAPI schema of each response body, and the client model that reads it.
CLIENT_MODEL_OF: dict[str, type[Any]] = {
    "SessionOut": models.Session,
    "AuditEntryOut": operation_models.AuditEntry,
    "QualityOut": operation_models.QualityReport,
    "QualityGroupOut": operation_models.QualityGroup,
    "ReasonOut": operation_models.ReasonTotals,
    "WorstOut": operation_models.QualityWorst,
    "AuditPage": operation_models.AuditPage,
    "HeartbeatOut": models.HeartbeatResult,
    "SessionPage": models.Page,
    "BatchResult": models.BatchResult,
    "BatchOutcome": models.BatchItem,
    "PolicyOut": operation_models.Policy,
    "PolicyList": operation_models.Policies,
    "HealthOut": operation_models.Health,
    "KindHealth": operation_models.KindHealth,
    "SweepInfo": operation_models.SweepInfo,
    "SweepOut": operation_models.SweepResult,
    "PresenceResult": presence_models.PresenceResult,
    "PresenceSummary": presence_models.PresenceSummary,
    "KeyOut": admin_models.ApiKey,
    "NewKeyOut": admin_models.NewApiKey,
    "KeyPage": admin_models.ApiKeyPage,
    "TenantOut": admin_models.Tenant,
    "NewTenantOut": admin_models.NewTenant,
    "TenantPage": admin_models.TenantPage,
    "EntryRef": presence_models.EntryRef,
    "SessionRef": presence_models.SessionRef,
    "EventBatchOut": analytics.EventBatchResult,
    "EventOutcomeOut": analytics.EventOutcome,
    "EventOut": analytics.Event,
    "EventPage": analytics.EventPage,
    "DailyOut": analytics.DailyMetrics,
    "DailyRowOut": analytics.DailyRow,
    "TopNameOut": analytics.TopName,
    "SummaryOut": analytics.Summary,
    "PeriodOut": analytics.PeriodMetrics,
    "ChangeOut": analytics.MetricsChange,
    "LiveOut": analytics.LiveMetrics,
    "LiveKindOut": analytics.LiveKind,
    "SettingsOut": analytics.TenantSettings,
    "RollupRunOut": analytics.RollupRun,
    "SessionStatsOut": stats_models.SessionStats,
    "StatsGroup": stats_models.StatsGroup,
    "WebhookOut": webhook_models.Webhook,
    "WebhookCreated": webhook_models.WebhookCreated,
    "WebhookSecret": webhook_models.WebhookSecret,
    "DeliveryOut": webhook_models.Delivery,
    "DeliveryPage": webhook_models.DeliveryPage,
    "JobInfo": operation_models.JobInfo,
    "RoomOut": room_models.Room,
    "RoomPage": room_models.RoomPage,
    "LinkOut": link_models.Link,
    "LinkCreated": link_models.NewLink,
    "LinkDetail": link_models.LinkDetail,
    "ClickOut": link_models.LinkClick,
    "LinkPage": link_models.LinkPage,
    "PublishableKeyOut": link_models.PublishableKey,
    "PublishableKeyCreated": link_models.NewPublishableKey,
    "PublishableKeyList": link_models.PublishableKeyList,
    "ParticipantOut": room_models.Participant,
    "SegmentOut": room_models.Segment,
    "InviteOut": room_models.Invite,
    "InviteStatusOut": room_models.InviteStatus,
    "CleanupOut": room_models.CleanupResult,
    "CleanupRun": room_models.CleanupRun,
    "CleanupStatusOut": room_models.CleanupStatus,
    "OutcomeOut": models.Outcome,
    "SessionWithOutcomeOut": learning_models.SessionWithOutcome,
    "UserSessionPage": learning_models.UserSessionPage,
    "MetricDefinitionOut": learning_models.MetricDefinition,
    "MetricDefinitionList": learning_models.MetricDefinitions,
    "AuthSettingsOut": learning_models.AuthSettings,
    "RecapSettingsOut": learning_models.RecapSettings,
    "KindStatsOut": learning_models.KindStats,
    "TrendPointOut": learning_models.TrendPoint,
    "MetricStatsOut": learning_models.MetricStats,
    "TagCountOut": learning_models.TagCount,
    "PeriodTotalsOut": learning_models.PeriodTotals,
    "StatsDeltaOut": learning_models.StatsDelta,
    "StreaksOut": learning_models.Streaks,
    "UserStatsOut": learning_models.UserStats,
    "FocusAreaOut": learning_models.FocusArea,
    "ReviewItemOut": learning_models.ReviewItem,
    "LastSessionOut": learning_models.LastSession,
    "RecapOut": learning_models.Recap,
    "EraseOut": learning_models.Erased,
}
# Response schemas the client reads some other way, and why.
NOT_MODELLED: dict[str, str] = {
    "Problem": "raised as an error; compared with the error classes below",
    "FieldError": "each refused field, read as a mapping in InvalidInput.errors",
    "WebhookList": "read as a tuple of Webhook by Client.webhooks()",
    "TrackerStarted": "read by the browser tracker (js/tracker.js), not by the Python client",
    "TrackerSession": "read by the browser tracker (js/tracker.js), not by the Python client",
}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    database = tmp_path_factory.mktemp("openapi") / "sk.db"
    runtime = Runtime.open(settings_for(f"sqlite:///{database}"))
    try:
        return create_app(runtime, run_jobs=False, migrate=False).openapi()
    finally:
        runtime.close()


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"].rsplit("/", 1)[-1])
        for value in node.values():
            found |= _refs(value)
        return found
    if isinstance(node, list):
        return set().union(*(_refs(item) for item in node)) if node else set()
    return set()


def _response_schemas(openapi: dict[str, Any]) -> set[str]:
    """Every component schema a response body can contain, followed through references."""
    components = openapi["components"]["schemas"]
    pending = set()
    for operations in openapi["paths"].values():
        for operation in operations.values():
            pending |= _refs(operation.get("responses", {}))
    seen: set[str] = set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending |= _refs(components[name]) - seen
    # Enumerations are values, not bodies with fields.
    return {name for name in seen if "properties" in components[name]}


def test_every_response_schema_has_a_client_model(openapi: dict[str, Any]) -> None:
    unmodelled = _response_schemas(openapi) - set(CLIENT_MODEL_OF) - set(NOT_MODELLED)
    assert unmodelled == set(), "add these response bodies to the client's models"


@pytest.mark.parametrize("schema", sorted(CLIENT_MODEL_OF))
def test_schema_and_client_model_have_the_same_fields(openapi: dict[str, Any], schema: str) -> None:
    server_fields = set(openapi["components"]["schemas"][schema]["properties"])
    client_fields = {field.name for field in dataclasses.fields(CLIENT_MODEL_OF[schema])}
    assert server_fields - client_fields == set(), "fields the client does not read"
    assert client_fields - server_fields == set(), "fields the server does not send"


def test_problem_fields_are_read_by_the_error_classes(openapi: dict[str, Any]) -> None:
    problem = set(openapi["components"]["schemas"]["Problem"]["properties"])
    error = client_errors.Conflict("x", status=409)
    invalid = client_errors.InvalidInput("x", status=422)
    read = set(vars(error)) | set(vars(invalid))
    assert problem - read == set()
