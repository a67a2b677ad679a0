"""The Python client's rooms against a real server: rooms, invitations, and participants tied
to a ``with`` block that send presence in the background, join again after a timeout and
leave on exit; blocking and asyncio."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessionkeeper.client import (
    AsyncClient,
    Client,
    Conflict,
    EndReason,
    Gone,
    NotFound,
    Status,
)
from tests.client.live import await_until, wait_until


class Boom(Exception):
    pass


def test_rooms_invitations_and_a_participant_block(client: Client) -> None:
    room = client.create_room("reading", "host", label="Tarot", attributes={"deck": "marseille"})
    assert room.is_open and room.label == "Tarot" and room.participants == ()
    assert (
        client.create_room(
            "reading", "host", id=room.id, label="Tarot", attributes={"deck": "marseille"}
        ).id
        == room.id
    )
    invite = client.invite(room.id, max_uses=2)
    assert invite.token.startswith("inv_") and invite.url.endswith(invite.token)
    status = client.inspect_invite(invite.token)
    assert status.valid and status.uses_left == 2
    assert status.minutes_until_inactive in (59, 60)  # whole minutes left of the hour

    with client.room(room.id).join("ann", invite_token=invite.token, presence_every=0.05) as p:
        assert p.participant.present and p.participant.presence_interval_s == 30
        first = p.participant.last_seen_at
        wait_until(lambda: client.get_room(room.id).participants[0].last_seen_at > first)
        assert client.inspect_invite(invite.token).uses_left == 1
    left = client.get_room(room.id).participants[0]
    assert not left.present and left.segments[-1].end_reason is EndReason.CLIENT
    assert p.participant == left and not p.room_closed and p.rejoins == 0

    with pytest.raises(Boom), client.room(room.id).join("bob", presence_every=60):
        raise Boom
    bob = client.get_room(room.id).participants[1]
    assert (bob.user_id, bob.present) == ("bob", False)

    ended = client.room(room.id).end()
    assert ended.status is Status.ENDED and ended.end_reason is EndReason.CLIENT
    with pytest.raises(Conflict) as closed:
        client.join_room(room.id, "cat")
    assert closed.value.code == "room_closed" and closed.value.session is not None
    with pytest.raises(Gone) as expired:
        client.join_room(room.id, "cat", invite_token=invite.token)
    assert expired.value.code == "invite_expired"


def test_invitation_answers_raise_with_their_code(client: Client) -> None:
    room = client.create_room("reading", "host")
    single = client.invite(room.id, max_uses=1, expires_at=datetime.now(UTC) + timedelta(hours=1))
    client.join_room(room.id, "ann", invite_token=single.token)
    with pytest.raises(Conflict) as used_up:
        client.join_room(room.id, "bob", invite_token=single.token)
    assert used_up.value.code == "invite_used_up"
    revoked = client.invite(room.id)
    client.revoke_invite(revoked.id)
    with pytest.raises(Gone) as gone:
        client.join_room(room.id, "bob", invite_token=revoked.token)
    assert gone.value.code == "invite_revoked"
    assert client.inspect_invite(revoked.token).reason == "invite_revoked"
    with pytest.raises(NotFound) as unknown:
        client.inspect_invite("inv_nothing")
    assert unknown.value.code == "invite_not_found"
    page = client.list_rooms(user_id="ann")
    assert [r.id for r in page.items] == [room.id] and page.items[0].participants is None


def test_a_timed_out_participant_joins_again(client: Client) -> None:
    # Participants time out after 2.5 s; presence comes every 3.5 s: each one finds the
    # attendance closed, and the handle joins again into a new segment.
    client.put_policy("quick", presence_interval_s=1, room_timeout_s=60)
    assert client.policies().for_kind("quick").presence_interval_s == 1  # type: ignore[union-attr]
    room = client.create_room("quick", "host")
    with client.room(room.id).join("ann", presence_every=3.5) as p:
        wait_until(lambda: p.rejoins >= 1, timeout=10)
        segments = client.get_room(room.id).participants[0].segments
        assert len(segments) >= 2 and segments[0].status is Status.TIMED_OUT
    assert not client.get_room(room.id).participants[0].present


def test_a_room_closed_meanwhile_stops_the_handle(client: Client) -> None:
    room = client.create_room("reading", "host")
    with client.room(room.id).join("ann", presence_every=0.05) as p:
        client.end_room(room.id)
        wait_until(lambda: p.room_closed)
    assert p.last_error is None
    final = client.get_room(room.id).participants[0]
    assert final.segments[0].end_reason is EndReason.CLIENT


def test_cleanup_and_its_status(client: Client) -> None:
    result = client.cleanup()
    assert result.rooms_closed == 0 and result.purged == 0
    status = client.cleanup_status()
    assert status.last_run is not None and status.interval_s == 900
    # next_run_at follows the server's last run shown to the tenant, a step after its start
    # (tests/api/test_job_timing.py): not yet, this close to the server's start.
    assert status.retention_days is None
    # The tenant's own run; the server's is shown to it a step after its start.
    assert any(name.startswith("cleanup@") for name in client.health().jobs)


async def test_async_participant_block(aclient: AsyncClient) -> None:
    room = await aclient.create_room("reading", "host")
    invite = await aclient.room(room.id).invite()
    async with aclient.room(room.id).join(
        "ann", invite_token=invite.token, presence_every=0.05
    ) as p:
        first = p.participant.last_seen_at

        async def moved() -> bool:
            return (await aclient.get_room(room.id)).participants[0].last_seen_at > first  # type: ignore[index]

        await await_until(moved)
    after = (await aclient.room(room.id).get()).participants[0]  # type: ignore[index]
    assert not after.present and after.segments[-1].end_reason is EndReason.CLIENT
    assert (await aclient.inspect_invite(invite.token)).valid


async def test_async_handle_notices_a_closed_room(aclient: AsyncClient) -> None:
    room = await aclient.create_room("reading", "host")
    with pytest.raises(Boom):
        async with aclient.room(room.id).join("ann", presence_every=0.05) as p:
            await aclient.end_room(room.id)
            await await_until(lambda: p.room_closed)
            raise Boom
    assert (await aclient.get_room(room.id)).status is Status.ENDED
