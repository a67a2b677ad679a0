"""Tracking links: create, list, read (with its clicks and their sessions), delete.

Creating and deleting need an ingest (or admin) key; reading an ingest or read key.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from fastapi import Query, Request, Response

from sessionkeeper.api.deps import IngestOrReadScope, IngestScope, ServicesDep
from sessionkeeper.api.fields import Kind, UserId, ms_or_none
from sessionkeeper.api.openapi import problems
from sessionkeeper.api.query import reads_query
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.subject import SUBJECT_PREFIX, is_subject_field
from sessionkeeper.errors import InvalidInput, NotFound
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.schemas import (
    ClickOut,
    LinkCreate,
    LinkCreated,
    LinkDetail,
    LinkOut,
    LinkPage,
)
from sessionkeeper.links.service import LinkService, LinkSpec

router = api_router(prefix="/v1/links", tags=["links"], route_class=StrictJSONRoute)

MAX_PAGE = 200
_ID = re.compile(r"lnk_[0-9A-Z]{26}")
_LIST_PARAMS = {"kind", "user_id", "include_deleted", "limit", "cursor"}


def _links(services: ServicesDep) -> LinkService:
    return services.of(LinkServices).links


def _known(link_id: str) -> str:
    if not _ID.fullmatch(link_id):
        raise NotFound(f"no link '{link_id}'")
    return link_id


def link_url(request: Request, public_url: str | None, token: str) -> str:
    base = public_url or str(request.base_url)
    return f"{base.rstrip('/')}/t/{token}"


def _cursor(value: str | None) -> tuple[int, str] | None:
    if not value:
        return None
    try:
        created, _, link_id = base64.urlsafe_b64decode(value.encode()).decode().partition(",")
        if not created.isdigit() or len(created) > 18 or not _ID.fullmatch(link_id):
            raise ValueError("not a position")
        return int(created), link_id
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidInput("cursor is not one this server issued", field="cursor") from None


@router.post("", status_code=201, response_model=LinkCreated)
async def create_link(
    body: LinkCreate, request: Request, principal: IngestScope, services: ServicesDep
) -> LinkCreated:
    """Make a tracking link. Its token (and the url holding it) is shown only now."""
    created = await _links(services).create(
        principal,
        LinkSpec(
            target_url=body.target_url,
            kind=body.kind,
            mode=body.mode,
            user_id=body.user_id,
            subject=body.subject,
            attributes=body.attributes,
            reusable=body.reusable,
            expires_at=ms_or_none(body.expires_at),
        ),
    )
    url = link_url(request, services.runtime.settings.public_url, created.token)
    return LinkCreated(**LinkOut.values(created.link), token=created.token, url=url)


@router.get("", response_model=LinkPage)
@reads_query  # its subject.<field> filters, and refuses any other parameter
async def list_links(
    request: Request,
    principal: IngestOrReadScope,
    services: ServicesDep,
    kind: Kind | None = None,
    user_id: UserId | None = None,
    include_deleted: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=128)] = None,
) -> LinkPage:
    """Links newest first; filter by ``kind``, ``user_id`` and ``subject.<field>``."""
    subject: dict[str, str] = {}
    for name in request.query_params:
        if name.startswith(SUBJECT_PREFIX) and is_subject_field(name[len(SUBJECT_PREFIX) :]):
            values = request.query_params.getlist(name)
            if len(values) != 1:
                raise InvalidInput(f"{name} is given more than once", field=name)
            subject[name[len(SUBJECT_PREFIX) :]] = values[0]
        elif name not in _LIST_PARAMS:
            raise InvalidInput(f"unknown parameter {name!r}", field=name)
    links = await _links(services).list(
        principal,
        kind=kind,
        user_id=user_id,
        subject=subject,
        include_deleted=include_deleted,
        before=_cursor(cursor),
        limit=limit + 1,
    )
    page = links[:limit]
    next_cursor = None
    if len(links) > limit and page:
        last = page[-1]
        next_cursor = base64.urlsafe_b64encode(f"{last.created_at},{last.id}".encode()).decode()
    return LinkPage(items=[LinkOut.of(link) for link in page], next_cursor=next_cursor)


@router.get("/{link_id}", response_model=LinkDetail, responses=problems(404))
async def get_link(link_id: str, principal: IngestOrReadScope, services: ServicesDep) -> LinkDetail:
    """The link, its click count and its newest clicks with the sessions they started."""
    link, clicks = await _links(services).get(principal, _known(link_id))
    return LinkDetail(**LinkOut.values(link), recent_clicks=[ClickOut.of(c) for c in clicks])


@router.delete("/{link_id}", status_code=204, response_class=Response, responses=problems(404))
async def delete_link(link_id: str, principal: IngestScope, services: ServicesDep) -> Response:
    """Withdraw the link: its url answers 410 from now on. Deleting again changes nothing."""
    await _links(services).delete(principal, _known(link_id))
    return Response(status_code=204)
