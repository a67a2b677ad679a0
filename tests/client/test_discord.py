"""Presence entries from discord.py's own models, built offline from gateway payloads."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import discord
import pytest

from sessionkeeper.client import Client, Status
from sessionkeeper.client.discord import (
    MAX_LABEL,
    activity_entries,
    guild_snapshot,
    member_entries,
    voice_entries,
)

GUILD_ID = 1000
GENERAL = 2000
STAGE = 2001


def _member(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    user = {"id": str(user_id), "username": name, "discriminator": "0", "avatar": None}
    if bot:
        user["bot"] = True
    return {"user": user, "roles": [], "joined_at": None, "deaf": False, "mute": False, "flags": 0}


def _voice(user_id: int, channel_id: int, **flags: bool) -> dict[str, Any]:
    state = {
        "user_id": str(user_id),
        "channel_id": str(channel_id),
        "session_id": f"voice-{user_id}",
        "deaf": False,
        "mute": False,
        "self_deaf": False,
        "self_mute": False,
        "self_stream": False,
        "self_video": False,
        "suppress": False,
        "request_to_speak_timestamp": None,
    }
    state.update(flags)
    return state


def _presence(user_id: int, *activities: dict[str, Any]) -> dict[str, Any]:
    return {
        "user": {"id": str(user_id)},
        "status": "online",
        "activities": list(activities),
        "client_status": {"desktop": "online"},
    }


SPOTIFY = {
    "type": 2,
    "name": "Spotify",
    "details": "Paranoid Android",
    "state": "Radiohead",
    "assets": {"large_text": "OK Computer", "large_image": "spotify:ab67"},
    "sync_id": "6LgJvl0Xdtc73RJ1mmpotq",
    "session_id": "spotify-session",
    "timestamps": {"start": 1, "end": 2},
    "flags": 48,
}


@pytest.fixture
def guild() -> discord.Guild:
    """A guild as discord.py builds it from GUILD_CREATE, with no connection at all."""
    intents = discord.Intents.default()
    intents.members = True
    intents.presences = True
    state = discord.Client(intents=intents)._connection
    channel = {"guild_id": str(GUILD_ID), "position": 0, "permission_overwrites": []}
    data = {
        "id": str(GUILD_ID),
        "name": "Guild",
        "owner_id": "10",
        "member_count": 5,
        "roles": [],
        "channels": [
            {
                **channel,
                "id": str(GENERAL),
                "type": 2,
                "name": "General",
                "bitrate": 64000,
                "user_limit": 0,
            },
            {
                **channel,
                "id": str(STAGE),
                "type": 13,
                "name": "Town hall",
                "bitrate": 64000,
                "user_limit": 0,
            },
        ],
        "members": [
            _member(10, "ann"),
            _member(11, "bob"),
            _member(12, "cat"),
            _member(13, "dan"),
            _member(14, "robot", bot=True),
        ],
        "voice_states": [
            _voice(10, GENERAL, self_mute=True, self_stream=True),
            _voice(13, STAGE, self_deaf=True),
            _voice(14, GENERAL),
        ],
        "presences": [
            _presence(10, {"type": 0, "name": "Minecraft"}, SPOTIFY),
            _presence(
                11,
                {"type": 0, "name": "Factorio", "application_id": "4242"},
                {
                    "type": 1,
                    "name": "Twitch",
                    "url": "https://twitch.tv/bob",
                    "details": "Building a megabase",
                    "state": "Factorio",
                },
            ),
            _presence(
                12,
                {"type": 4, "name": "Custom Status", "state": "brb"},
                {"type": 3, "name": "a film"},
            ),
            _presence(14, {"type": 0, "name": "Minecraft"}),
        ],
    }
    return discord.Guild(data=data, state=state)


def by_name(guild: discord.Guild, name: str) -> discord.Member:
    member = guild.get_member_named(name)
    assert member is not None
    return member


def test_guild_snapshot_covers_games_spotify_streams_voice_and_screens(
    guild: discord.Guild,
) -> None:
    voice_place = {"guild_id": str(GUILD_ID), "channel_id": str(GENERAL)}
    assert guild_snapshot(guild) == [
        {"user_id": "10", "kind": "game", "label": "Minecraft", "attributes": {}},
        {
            "user_id": "10",
            "kind": "spotify",
            "label": "Paranoid Android",
            "attributes": {
                "artist": "Radiohead",
                "track": "Paranoid Android",
                "album": "OK Computer",
                "track_id": "6LgJvl0Xdtc73RJ1mmpotq",
            },
        },
        {
            "user_id": "10",
            "kind": "voice",
            "label": "General",
            "attributes": {**voice_place, "self_mute": True, "self_deaf": False},
        },
        {"user_id": "10", "kind": "screen_share", "label": "General", "attributes": voice_place},
        {
            "user_id": "11",
            "kind": "game",
            "label": "Factorio",
            "attributes": {"application_id": "4242"},
        },
        {
            "user_id": "11",
            "kind": "streaming",
            "label": "Factorio",
            "attributes": {"platform": "Twitch", "url": "https://twitch.tv/bob"},
        },
        # cat: a custom status and "watching" are not sessions. robot: a bot.
        {
            "user_id": "13",
            "kind": "voice",
            "label": "Town hall",
            "attributes": {
                "guild_id": str(GUILD_ID),
                "channel_id": str(STAGE),
                "self_mute": False,
                "self_deaf": True,
            },
        },
    ]


def test_discord_builds_the_activity_classes_the_mapping_expects(guild: discord.Guild) -> None:
    ann, bob = by_name(guild, "ann"), by_name(guild, "bob")
    assert [type(a) for a in ann.activities] == [discord.Game, discord.Spotify]
    assert [type(a) for a in bob.activities] == [discord.Activity, discord.Streaming]
    assert isinstance(ann.voice, discord.VoiceState) and ann.voice.self_stream


def test_activities_constructed_directly(guild: discord.Guild) -> None:
    member = by_name(guild, "cat")
    member.activities = (
        discord.Game("  Celeste  "),
        discord.Activity(type=discord.ActivityType.playing, name="Hades"),
        discord.Activity(type=discord.ActivityType.listening, name="a podcast"),
        discord.Activity(
            type=discord.ActivityType.streaming, name="YouTube", details="Speedrun", state=None
        ),
        discord.Streaming(name="Twitch", url="https://twitch.tv/cat", details="Just chatting"),
        discord.Spotify(session_id="s", details="", state="Unknown", sync_id="t"),
        discord.CustomActivity(name="working"),
    )
    assert [(e["kind"], e["label"]) for e in activity_entries(member)] == [
        ("game", "Celeste"),
        ("game", "Hades"),
        ("streaming", "Speedrun"),
        ("streaming", "Just chatting"),
        ("spotify", "Spotify"),  # no title: the label still names the activity
    ]


def test_labels_fit_the_server_limit(guild: discord.Guild) -> None:
    member = by_name(guild, "cat")
    member.activities = (discord.Game("x" * 1000), discord.Game("   "))
    labels = [e["label"] for e in activity_entries(member)]
    assert labels == ["x" * MAX_LABEL, None]


def test_bots_and_members_outside_voice(guild: discord.Guild) -> None:
    assert member_entries(by_name(guild, "robot")) == []
    assert voice_entries(by_name(guild, "bob")) == []
    assert voice_entries(by_name(guild, "robot")) != []  # only member_entries skips bots


def test_a_guild_snapshot_is_accepted_by_the_server(client: Client, guild: discord.Guild) -> None:
    result = client.presence_snapshot("discord", guild_snapshot(guild))
    assert result.started_count == 7
    kinds = sorted(s.kind for s in client.iter_sessions(source="discord", status=Status.ACTIVE))
    assert kinds == ["game", "game", "screen_share", "spotify", "streaming", "voice", "voice"]


def test_the_client_imports_without_discord() -> None:
    script = (
        "import sys; sys.modules['discord'] = None\n"
        "import sessionkeeper.client\n"
        "try:\n"
        "    import sessionkeeper.client.discord\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install 'sessionkeeper[discord]'" in out
