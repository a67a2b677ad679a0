"""Typed results of the links API and of publishable keys, parsed from their JSON (unknown
fields are ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessionkeeper.client.models import Json, parse_time, time_or_none


@dataclass(frozen=True, slots=True)
class Link:
    id: str
    target_url: str
    kind: str
    mode: str
    user_id: str | None
    subject: Mapping[str, str]
    attributes: Mapping[str, Any]
    reusable: bool
    expires_at: datetime | None
    clicks: int
    last_click_at: datetime | None
    created_at: datetime
    deleted_at: datetime | None

    @staticmethod
    def fields_of(data: Json) -> dict[str, Any]:
        return {
            "id": data["id"],
            "target_url": data["target_url"],
            "kind": data["kind"],
            "mode": data["mode"],
            "user_id": data.get("user_id"),
            "subject": dict(data.get("subject") or {}),
            "attributes": dict(data.get("attributes") or {}),
            "reusable": bool(data["reusable"]),
            "expires_at": time_or_none(data.get("expires_at")),
            "clicks": int(data["clicks"]),
            "last_click_at": time_or_none(data.get("last_click_at")),
            "created_at": parse_time(data["created_at"]),
            "deleted_at": time_or_none(data.get("deleted_at")),
        }

    @classmethod
    def from_json(cls, data: Json) -> Link:
        return cls(**cls.fields_of(data))


@dataclass(frozen=True, slots=True)
class NewLink(Link):
    """A link just made: its token and url are shown only in this answer."""

    token: str = ""
    url: str = ""

    @classmethod
    def from_json(cls, data: Json) -> NewLink:
        return cls(**Link.fields_of(data), token=data["token"], url=data["url"])


@dataclass(frozen=True, slots=True)
class LinkClick:
    session_id: str
    clicked_at: datetime
    user_agent: str

    @classmethod
    def from_json(cls, data: Json) -> LinkClick:
        return cls(
            session_id=data["session_id"],
            clicked_at=parse_time(data["clicked_at"]),
            user_agent=data["user_agent"],
        )


@dataclass(frozen=True, slots=True)
class LinkDetail(Link):
    recent_clicks: tuple[LinkClick, ...] = ()

    @classmethod
    def from_json(cls, data: Json) -> LinkDetail:
        clicks = tuple(LinkClick.from_json(c) for c in data.get("recent_clicks", []))
        return cls(**Link.fields_of(data), recent_clicks=clicks)


@dataclass(frozen=True, slots=True)
class LinkPage:
    items: tuple[Link, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> LinkPage:
        return cls(
            items=tuple(Link.from_json(item) for item in data["items"]),
            next_cursor=data.get("next_cursor"),
        )


@dataclass(frozen=True, slots=True)
class PublishableKey:
    id: int
    prefix: str
    scope: str
    origins: tuple[str, ...]
    created_at: datetime
    revoked_at: datetime | None

    @staticmethod
    def fields_of(data: Json) -> dict[str, Any]:
        return {
            "id": int(data["id"]),
            "prefix": data["prefix"],
            "scope": data.get("scope", "publish"),
            "origins": tuple(data["origins"]),
            "created_at": parse_time(data["created_at"]),
            "revoked_at": time_or_none(data.get("revoked_at")),
        }

    @classmethod
    def from_json(cls, data: Json) -> PublishableKey:
        return cls(**cls.fields_of(data))


@dataclass(frozen=True, slots=True)
class NewPublishableKey(PublishableKey):
    key: str = ""

    @classmethod
    def from_json(cls, data: Json) -> NewPublishableKey:
        return cls(**PublishableKey.fields_of(data), key=data["key"])


@dataclass(frozen=True, slots=True)
class PublishableKeyList:
    items: tuple[PublishableKey, ...]

    @classmethod
    def from_json(cls, data: Json) -> PublishableKeyList:
        return cls(items=tuple(PublishableKey.from_json(item) for item in data["items"]))
