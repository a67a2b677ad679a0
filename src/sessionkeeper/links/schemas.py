"""Request and response bodies of links, the tracker and publishable keys."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StrictStr

from sessionkeeper.api.fields import Attributes, ClientTime, Kind, Subject, UserId, WriteBody
from sessionkeeper.domain.times import from_ms
from sessionkeeper.links.rules import (
    MAX_TARGET_LENGTH,
    ORIGIN_PATTERN,
    Mode,
    TrackerMode,
    origin_error,
)
from sessionkeeper.links.store import Click, Link


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


class LinkCreate(WriteBody):
    target_url: Annotated[
        StrictStr,
        Field(
            min_length=1,
            max_length=MAX_TARGET_LENGTH,
            description="Where the click leads: http(s) or an allowed app scheme (zoommtg, …)",
            examples=["https://zoom.us/j/123456789"],
        ),
    ]
    kind: Kind
    mode: Mode = Field(description="companion: a page beside the lesson; redirect: a 302")
    user_id: UserId | None = None
    subject: Subject | None = None
    attributes: Attributes | None = None
    reusable: StrictBool = Field(
        default=True, description="false: only the first click starts a session"
    )
    expires_at: ClientTime | None = Field(default=None, description="After it the url is 410")


class LinkOut(BaseModel):
    id: str
    target_url: str
    kind: str
    mode: Mode
    user_id: str | None
    subject: dict[str, str]
    attributes: dict[str, Any]
    reusable: bool
    expires_at: datetime | None
    clicks: int
    last_click_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None

    @staticmethod
    def values(link: Link) -> dict[str, Any]:
        return {
            "id": link.id,
            "target_url": link.target_url,
            "kind": link.kind,
            "mode": link.mode,
            "user_id": link.user_id,
            "subject": link.subject,
            "attributes": link.attributes,
            "reusable": link.reusable,
            "expires_at": _time(link.expires_at),
            "clicks": link.clicks,
            "last_click_at": _time(link.last_click_at),
            "created_at": from_ms(link.created_at),
            "deleted_at": _time(link.deleted_at),
        }

    @classmethod
    def of(cls, link: Link) -> LinkOut:
        return cls(**cls.values(link))


class LinkCreated(LinkOut):
    token: str = Field(description="The link's secret token, shown only now")
    url: str = Field(description="The tracking url to hand out: {public base}/t/{token}")


class ClickOut(BaseModel):
    session_id: str
    clicked_at: datetime
    user_agent: str = Field(description="The browser's family (Chrome, Firefox, …)")

    @classmethod
    def of(cls, click: Click) -> ClickOut:
        return cls(
            session_id=click.session_id,
            clicked_at=from_ms(click.clicked_at),
            user_agent=click.user_agent,
        )


class LinkDetail(LinkOut):
    recent_clicks: list[ClickOut] = Field(
        description="The newest clicks (up to 100), each with the session it started"
    )


class LinkPage(BaseModel):
    items: list[LinkOut]
    next_cursor: str | None


# --- the tracker ---------------------------------------------------------------------------


class TrackerStartBody(BaseModel):
    """Sent as text/plain JSON (no CORS preflight); the key may also come as a Bearer."""

    model_config = {"extra": "forbid"}

    key: StrictStr | None = Field(default=None, max_length=128)
    kind: Kind
    mode: TrackerMode = TrackerMode.PAGE
    user_id: UserId | None = None
    attributes: Attributes | None = None
    subject: Subject | None = None


class TrackerStarted(BaseModel):
    session_id: str
    token: str = Field(description="Beats and ends this one session; shown only now")
    heartbeat_interval_s: float
    hidden_timeout_s: float


class TrackerSession(BaseModel):
    session_id: str
    status: str
    engaged_ms: int
    visible_ms: int
    wall_ms: int


# --- publishable keys ----------------------------------------------------------------------


def _distinct(origins: list[str]) -> list[str]:
    if len(set(origins)) != len(origins):
        raise ValueError("each origin may be named once")
    return origins


def _matchable(origin: str) -> str:
    error = origin_error(origin)
    if error is not None:
        raise ValueError(error)
    return origin


Origin = Annotated[
    StrictStr,
    Field(max_length=256, pattern=ORIGIN_PATTERN, examples=["https://school.example"]),
    AfterValidator(_matchable),
]


class PublishableKeyCreate(WriteBody):
    origins: Annotated[
        list[Origin],
        Field(min_length=1, max_length=20, description="Pages the key works on: scheme://host"),
        AfterValidator(_distinct),
    ]


class PublishableKeyOut(BaseModel):
    id: int
    prefix: str
    scope: Literal["publish"] = "publish"
    origins: list[str]
    created_at: datetime
    revoked_at: datetime | None


class PublishableKeyCreated(PublishableKeyOut):
    key: str = Field(description="The key (pk_…), safe to embed in a page; shown only now")


class PublishableKeyList(BaseModel):
    items: list[PublishableKeyOut]
