"""Outcomes, metric definitions and the tenant's end-user settings over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Response
from fastapi.responses import StreamingResponse

from sessionkeeper.api.deps import (
    AdminScope,
    IngestOrReadScope,
    IngestScope,
    ReadScope,
    ServicesDep,
)
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.filters import FILTER_PARAMETERS, FILTERS_DOC, session_filter
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.session_reports import SubjectFieldsQuery
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.export import parse_subject_fields
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.learning.outcome_export import export_csv
from sessionkeeper.learning.rules import MetricDefinition
from sessionkeeper.learning.schemas import (
    NAME_PATTERN,
    AuthSettingsBody,
    AuthSettingsOut,
    MetricDefinitionBody,
    MetricDefinitionList,
    MetricDefinitionOut,
    OutcomeBody,
    RecapSettingsBody,
    RecapSettingsOut,
    SessionWithOutcomeOut,
)
from sessionkeeper.learning.service import Learning, RecapSettings
from sessionkeeper.learning.tokens import AuthConfig

router = api_router(
    prefix="/v1", tags=["outcomes"], responses=PROBLEM_RESPONSES, route_class=StrictJSONRoute
)
MetricName = Annotated[str, Path(pattern=NAME_PATTERN)]


async def get_learning(services: ServicesDep) -> Learning:
    return services.of(Learning)


LearningDep = Annotated[Learning, Depends(get_learning)]


def json_response(model: SessionWithOutcomeOut, status_code: int = 200) -> Response:
    return Response(
        model.model_dump_json().encode(), status_code=status_code, media_type="application/json"
    )


@router.put(
    "/sessions/{session_id}/outcome",
    response_model=SessionWithOutcomeOut,
    responses=problems(404),
)
async def put_outcome(
    session_id: str, body: OutcomeBody, principal: IngestScope, learning: LearningDep
) -> Response:
    """Set what the session achieved, while active or after it closed. A repeated PUT
    replaces the outcome. A metric out of its defined range, or undefined while the tenant
    defines metrics, answers 422 naming it."""
    session, outcome = await learning.put_outcome(principal, session_id, body.outcome())
    return json_response(SessionWithOutcomeOut.with_outcome(session, outcome))


@router.get(
    "/sessions/{session_id}/outcome",
    response_model=SessionWithOutcomeOut,
    responses=problems(404),
)
async def get_outcome(
    session_id: str, principal: IngestOrReadScope, learning: LearningDep
) -> Response:
    """The session with its outcome; 404 when it has none yet."""
    session, outcome = await learning.outcome(principal, session_id)
    return json_response(SessionWithOutcomeOut.with_outcome(session, outcome))


@router.get(
    "/outcomes/export.csv",
    response_class=StreamingResponse,
    openapi_extra=FILTER_PARAMETERS,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    description="Sessions with their outcomes as RFC 4180 CSV, oldest first, streamed. "
    + FILTERS_DOC,
)
async def export_outcomes(
    principal: ReadScope,
    learning: LearningDep,
    where: Annotated[SessionFilter, Depends(session_filter("subject_fields"))],
    subject_fields: SubjectFieldsQuery = None,
) -> StreamingResponse:
    chunks = await export_csv(learning, principal, where, parse_subject_fields(subject_fields))
    return StreamingResponse(
        _encoded(chunks),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="outcomes.csv"'},
    )


async def _encoded(chunks: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk.encode()


def _definition_out(found: MetricDefinition) -> MetricDefinitionOut:
    return MetricDefinitionOut(
        name=found.name,
        min=found.min,
        max=found.max,
        unit=found.unit,
        higher_is_better=found.higher_is_better,
    )


@router.get("/metric-definitions", response_model=MetricDefinitionList)
async def list_definitions(principal: ReadScope, learning: LearningDep) -> MetricDefinitionList:
    """The tenant's metric definitions. With none, outcomes may carry any metric."""
    found = await learning.definitions(principal)
    return MetricDefinitionList(items=[_definition_out(d) for d in found.values()])


@router.put("/metric-definitions/{name}", response_model=MetricDefinitionOut)
async def put_definition(
    name: MetricName, body: MetricDefinitionBody, principal: AdminScope, learning: LearningDep
) -> MetricDefinitionOut:
    """Define (or redefine) a metric and its range. Outcomes stored before keep their values."""
    found = MetricDefinition(name, body.min, body.max, body.unit, body.higher_is_better)
    return _definition_out(await learning.put_definition(principal, found))


@router.delete(
    "/metric-definitions/{name}", status_code=204, response_class=Response, responses=problems(404)
)
async def delete_definition(name: MetricName, principal: AdminScope, learning: LearningDep) -> None:
    await learning.delete_definition(principal, name)


def _auth_out(auth: dict[str, object] | None) -> AuthSettingsOut:
    if not auth:
        return AuthSettingsOut(
            configured=False,
            algorithms=[],
            issuer=None,
            audience=None,
            user_claim=None,
            leeway_s=None,
            secret_set=False,
            jwks=None,
            jwks_url=None,
        )
    config = AuthConfig.from_json(auth)
    return AuthSettingsOut(
        configured=True,
        algorithms=list(config.algorithms),
        issuer=config.issuer,
        audience=config.audience,
        user_claim=config.user_claim,
        leeway_s=config.leeway_s,
        secret_set=config.secret is not None,
        jwks=None if config.jwks is None else dict(config.jwks),
        jwks_url=config.jwks_url,
    )


@router.get("/settings/auth", response_model=AuthSettingsOut)
async def get_auth(principal: AdminScope, learning: LearningDep) -> AuthSettingsOut:
    """How end-user tokens are checked (the secret is never sent back)."""
    return _auth_out((await learning.settings(principal)).auth)


@router.put("/settings/auth", response_model=AuthSettingsOut)
async def put_auth(
    body: AuthSettingsBody, principal: AdminScope, learning: LearningDep
) -> AuthSettingsOut:
    """Accept end-user tokens (JWT) checked this way; replaces the previous configuration."""
    url = body.jwks if isinstance(body.jwks, str) else None
    document = body.jwks if isinstance(body.jwks, dict) else None
    config = AuthConfig(
        algorithms=tuple(body.algorithms),
        issuer=body.issuer,
        audience=body.audience,
        user_claim=body.user_claim,
        leeway_s=body.leeway_s,
        secret=body.secret,
        jwks=document,
        jwks_url=url,
    )
    stored = await learning.put_auth(principal, config)
    return _auth_out(None if stored is None else stored.as_json())


@router.delete("/settings/auth", status_code=204, response_class=Response)
async def delete_auth(principal: AdminScope, learning: LearningDep) -> None:
    """Stop accepting end-user tokens."""
    await learning.put_auth(principal, None)


def _recap_out(recap: RecapSettings) -> RecapSettingsOut:
    return RecapSettingsOut(
        focus_field=recap.focus_field,
        learned_field=recap.learned_field,
        day_start=recap.day_start,
        min_minutes=recap.min_minutes,
    )


@router.get("/settings/recap", response_model=RecapSettingsOut)
async def get_recap(principal: ReadScope, learning: LearningDep) -> RecapSettingsOut:
    """Which tag fields feed the recap, and the streak rules."""
    return _recap_out(await learning.recap_settings(principal))


@router.put("/settings/recap", response_model=RecapSettingsOut)
async def put_recap(
    body: RecapSettingsBody, principal: AdminScope, learning: LearningDep
) -> RecapSettingsOut:
    recap = RecapSettings(body.focus_field, body.learned_field, body.day_start, body.min_minutes)
    return _recap_out(await learning.put_recap(principal, recap))
