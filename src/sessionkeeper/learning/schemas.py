"""Request and response bodies of outcomes, metric definitions, end-user settings and /v1/me."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from sessionkeeper.api.fields import (
    TEXT_PATTERN,
    Attributes,
    ClientTime,
    Kind,
    Label,
    SessionId,
    Subject,
    WriteBody,
)
from sessionkeeper.api.responses import SessionOut
from sessionkeeper.domain.session import Session
from sessionkeeper.domain.times import from_ms
from sessionkeeper.learning.store import Outcome

NAME_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MAX_NAMES = 64
MAX_TAGS_PER_FIELD = 200

Name = Annotated[StrictStr, Field(pattern=NAME_PATTERN, examples=["pronunciation"])]
Tag = Annotated[StrictStr, Field(min_length=1, max_length=128, pattern=TEXT_PATTERN)]
Counter = Annotated[StrictInt, Field(ge=0, le=2**53)]


def _held_exactly(value: object) -> object:
    """A number is kept as a float: a whole number a float cannot hold exactly (beyond 2^53)
    would be stored rounded, and answered other than it was sent."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            exact = float(value) == value
        except OverflowError:
            exact = False
        if not exact:
            raise ValueError("is a whole number a float cannot hold exactly: at most 2^53")
    return value


Measure = Annotated[StrictFloat, BeforeValidator(_held_exactly)]
ShortText = Annotated[StrictStr, Field(min_length=1, max_length=512, pattern=TEXT_PATTERN)]


class OutcomeBody(WriteBody):
    metrics: Annotated[dict[Name, Measure], Field(max_length=MAX_NAMES)] = Field(
        default_factory=dict, description='Scores by name, e.g. {"pronunciation": 85.5}'
    )
    counters: Annotated[dict[Name, Counter], Field(max_length=MAX_NAMES)] = Field(
        default_factory=dict, description='Whole numbers ≥ 0 by name, e.g. {"words_spoken": 120}'
    )
    tags: Annotated[
        dict[Name, Annotated[list[Tag], Field(max_length=MAX_TAGS_PER_FIELD)]],
        Field(max_length=MAX_NAMES),
    ] = Field(
        default_factory=dict,
        description='Lists of tags by field, e.g. {"topics": ["travel"]}',
    )
    metadata: Attributes = Field(default_factory=dict, description="Free JSON, kept as sent")

    def outcome(self) -> Outcome:
        return Outcome(
            metrics=dict(self.metrics),
            counters=dict(self.counters),
            tags={name: list(dict.fromkeys(items)) for name, items in self.tags.items()},
            metadata=dict(self.metadata),
        )


class OutcomeOut(BaseModel):
    metrics: dict[str, float]
    counters: dict[str, int]
    tags: dict[str, list[str]]
    metadata: dict[str, Any]
    updated_at: datetime | None

    @classmethod
    def of(cls, outcome: Outcome) -> OutcomeOut:
        updated = None if outcome.updated_at is None else from_ms(outcome.updated_at)
        return cls(
            metrics=outcome.metrics,
            counters=outcome.counters,
            tags=outcome.tags,
            metadata=outcome.metadata,
            updated_at=updated,
        )


class SessionWithOutcomeOut(SessionOut):
    """A session and what it achieved (null until an outcome is set)."""

    outcome: OutcomeOut | None

    @classmethod
    def with_outcome(cls, session: Session, outcome: Outcome | None) -> SessionWithOutcomeOut:
        return cls.of(session, outcome=None if outcome is None else OutcomeOut.of(outcome))

    @classmethod
    def with_answered(
        cls, session: Session, answered: dict[str, Any] | None
    ) -> SessionWithOutcomeOut:
        """With the outcome as the session field gave it (its JSON form): made a model again,
        since ``of`` builds without validation."""
        outcome = None if answered is None else OutcomeOut.model_validate(answered)
        return cls.of(session, outcome=outcome)


class UserSessionPage(BaseModel):
    items: list[SessionWithOutcomeOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class MetricDefinitionBody(WriteBody):
    min: Measure
    max: Measure
    unit: Annotated[StrictStr, Field(min_length=1, max_length=32, pattern=TEXT_PATTERN)] | None = (
        None
    )
    higher_is_better: StrictBool = True


class MetricDefinitionOut(BaseModel):
    name: str
    min: float
    max: float
    unit: str | None
    higher_is_better: bool


class MetricDefinitionList(BaseModel):
    items: list[MetricDefinitionOut]


class AuthSettingsBody(WriteBody):
    algorithms: Annotated[list[StrictStr], Field(min_length=1, max_length=10)] = Field(
        examples=[["HS256"], ["RS256", "ES256"]]
    )
    secret: Annotated[StrictStr, Field(min_length=1, max_length=1024)] | None = Field(
        default=None, description="The shared secret of HS* algorithms (≥ 32 bytes)"
    )
    jwks: dict[str, Any] | StrictStr | None = Field(
        default=None,
        description='The JWKS document ({"keys": [...]}) of RS*/PS*/ES*/EdDSA algorithms. '
        "Only inline documents are accepted: a URL is refused",
    )
    issuer: ShortText
    audience: ShortText
    user_claim: Annotated[StrictStr, Field(min_length=1, max_length=64)] = "sub"
    leeway_s: Annotated[StrictInt, Field(ge=0, le=300)] = 0


class AuthSettingsOut(BaseModel):
    configured: bool
    algorithms: list[str]
    issuer: str | None
    audience: str | None
    user_claim: str | None
    leeway_s: int | None
    secret_set: bool = Field(description="Whether a secret is set; it is never sent back")
    jwks: dict[str, Any] | None = Field(description="The document in use")
    jwks_url: str | None = Field(description="Where it is fetched from, when given as a URL")


class RecapSettingsBody(WriteBody):
    focus_field: Name = Field(description="The tag field whose tags are the focus areas")
    learned_field: Name = Field(description="The tag field whose tags are items to review")
    day_start: Annotated[StrictStr, Field(pattern=r"^\d{2}:\d{2}$")] = Field(
        default="00:00", description="When a streak day starts, local time HH:MM"
    )
    min_minutes: Annotated[StrictFloat, Field(ge=0, le=1440)] = Field(
        default=1.0, description="Minutes of sessions that make a day active for streaks"
    )


class RecapSettingsOut(BaseModel):
    focus_field: str
    learned_field: str
    day_start: str
    min_minutes: float


class MeStart(WriteBody):
    id: SessionId | None = None
    kind: Kind
    label: Label | None = None
    attributes: Attributes | None = None
    started_at: ClientTime | None = None
    continues: SessionId | None = None
    subject: Subject | None = None


class MeEnd(WriteBody):
    at: ClientTime | None = None
    outcome: OutcomeBody | None = Field(
        default=None, description="The session's outcome, set with the end"
    )


Period = Literal["week", "month"]


class EraseOut(BaseModel):
    user_id: str
    erased: dict[str, int] = Field(description="Rows removed (or, for rooms, kept) per kind")
