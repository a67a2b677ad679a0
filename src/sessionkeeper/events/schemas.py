"""Bodies of the event endpoints.

A batch is parsed item by item (``EventIn``), so that one malformed event is answered with
its own ``invalid`` outcome instead of refusing the whole batch.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictStr, TypeAdapter, ValidationError

from sessionkeeper.api.fields import (
    Attributes,
    ClientTime,
    Label,
    SessionId,
    UserId,
    WriteBody,
    ms_or_none,
)
from sessionkeeper.domain.ids import MAX_SESSION_ID, SESSION_ID_PATTERN
from sessionkeeper.domain.times import from_ms
from sessionkeeper.events.rules import MAX_BATCH, Event, EventType, ItemOutcome, NewEvent, Outcome

EventId = Annotated[
    StrictStr,
    Field(
        max_length=MAX_SESSION_ID,
        pattern=SESSION_ID_PATTERN,
        description="Made by the client, unique per tenant: 1-64 of [A-Za-z0-9_.:-]",
        examples=["evt-01J9Z3"],
    ),
]


class EventIn(WriteBody):
    event_id: EventId
    session_id: SessionId | None = Field(
        default=None, description="The session it happened in; a heartbeat of it at `at`"
    )
    user_id: UserId
    type: Literal["page_view", "action", "custom"]
    name: Label = Field(description="What happened; for a page_view, the page")
    properties: Attributes | None = None
    at: ClientTime | None = Field(default=None, description="When it happened (default: now)")

    def new_event(self) -> NewEvent:
        return NewEvent(
            event_id=self.event_id,
            session_id=self.session_id,
            user_id=self.user_id,
            type=EventType(self.type),
            name=self.name,
            properties=self.properties,
            at=ms_or_none(self.at),
        )


class EventBatch(WriteBody):
    events: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_BATCH,
            description="Up to 1,000 events; each is checked on its own",
            # Any item is accepted: one that is not an event gets the outcome ``invalid``.
            json_schema_extra={
                "items": {
                    "anyOf": [EventIn.model_json_schema(), {}],
                    "description": "An event; anything else is answered as invalid",
                }
            },
        ),
    ]


_BATCH = TypeAdapter(list[EventIn])


def parse_batch(raws: list[Any]) -> list[NewEvent | ItemOutcome]:
    """Every event of a batch, or the outcome of each that is invalid.

    The common case, a batch without a bad event, is checked in one call; only a batch with
    one is checked again item by item, to give each its own outcome."""
    try:
        return [event.new_event() for event in _BATCH.validate_python(raws)]
    except ValidationError:
        return [parse_item(i, raw) for i, raw in enumerate(raws)]


def parse_item(index: int, raw: Any) -> NewEvent | ItemOutcome:
    """One event of a batch, or the ``invalid`` outcome naming its first bad field."""
    try:
        return EventIn.model_validate(raw).new_event()
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(part) for part in ("events", index, *first["loc"]))
        return ItemOutcome(Outcome.INVALID, field=path, reason=first["msg"])


def event_id_of(raw: Any) -> str | None:
    """The event_id an item carries, when it carries a readable one."""
    value = raw.get("event_id") if isinstance(raw, dict) else None
    return value if isinstance(value, str) and len(value) <= 64 else None


def batch_answer(raws: list[Any], outcomes: list[ItemOutcome]) -> bytes:
    """The answer to a batch as JSON, the shape of :class:`EventBatchOut`, built without a
    model per event: on a batch of 1,000 that is a noticeable share of the request."""
    results = []
    counts = dict.fromkeys(Outcome, 0)
    for raw, outcome in zip(raws, outcomes, strict=True):
        counts[outcome.outcome] += 1
        results.append(
            {
                "event_id": event_id_of(raw),
                "outcome": outcome.outcome.value,
                "field": outcome.field,
                "reason": outcome.reason,
            }
        )
    body = {"results": results, **{outcome.value: n for outcome, n in counts.items()}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


class EventOutcomeOut(BaseModel):
    event_id: str | None = Field(description="The item's event_id, if it had a readable one")
    outcome: Outcome
    field: str | None = Field(default=None, description="For invalid: the refused field")
    reason: str | None = Field(default=None, description="For invalid: why")


class EventBatchOut(BaseModel):
    results: list[EventOutcomeOut] = Field(description="One per event, in the batch's order")
    stored: int
    duplicate: int
    session_not_found: int
    invalid: int


class EventOut(BaseModel):
    event_id: str
    session_id: str | None
    user_id: str
    type: EventType
    name: str
    properties: dict[str, Any] | None
    at: datetime
    received_at: datetime

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(
            event_id=event.event_id,
            session_id=event.session_id,
            user_id=event.user_id,
            type=event.type,
            name=event.name,
            properties=None if event.properties is None else dict(event.properties),
            at=from_ms(event.at),
            received_at=from_ms(event.received_at),
        )


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
