"""Presence entries from discord.py member state (``pip install 'sessionkeeper[discord]'``).

Pure functions: they read what discord.py has cached and touch no network, so a bot can call
them from a :class:`~sessionkeeper.client.AsyncPresenceReporter` snapshot function.

- playing (``Game``, or an ``Activity`` of type playing): kind ``game``, label the game's
  name, attributes ``application_id`` when Discord gives one;
- listening on Spotify: kind ``spotify``, label the track title, attributes ``artist``,
  ``track``, ``album``, ``track_id``;
- streaming (``Streaming``): kind ``streaming``, label the game streamed (else the stream's
  title), attributes ``platform``, ``url``;
- in a voice or stage channel: kind ``voice``, label the channel's name, attributes
  ``guild_id``, ``channel_id``, ``self_mute``, ``self_deaf``;
- sharing a screen there (Go Live): kind ``screen_share``, label the channel's name,
  attributes ``guild_id``, ``channel_id``.

Bots are skipped.

User, kind and label decide which session an entry continues, and a session's attributes are
recorded when it starts. So a label names what identifies an activity (a new song is a new
Spotify session, which keeps its artist and album true), and attributes describe the start:
mute and deafen are as they were when the voice session began.
Ids are strings, since Discord's 64-bit ids do not survive JSON readers that use doubles.
"""

from __future__ import annotations

from typing import Any

try:
    import discord
except ImportError as exc:
    raise ImportError(
        "sessionkeeper.client.discord needs discord.py: pip install 'sessionkeeper[discord]'"
    ) from exc

from sessionkeeper.client.presence_models import PresenceEntry

# The server refuses labels longer than this, and one bad entry refuses a whole snapshot.
MAX_LABEL = 256


def _label(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:MAX_LABEL] or None


def _entry(
    member: discord.Member, kind: str, label: str | None, attributes: dict[str, Any]
) -> PresenceEntry:
    return {"user_id": str(member.id), "kind": kind, "label": label, "attributes": attributes}


def activity_entries(member: discord.Member) -> list[PresenceEntry]:
    """Games, Spotify and streams of ``member``; other activities (a custom status,
    watching, competing) are not sessions."""
    found = (_activity_entry(member, activity) for activity in member.activities)
    return [entry for entry in found if entry is not None]


def _activity_entry(member: discord.Member, activity: object) -> PresenceEntry | None:
    if isinstance(activity, discord.Spotify):
        attributes = {
            "artist": activity.artist,
            "track": activity.title,
            "album": activity.album,
            "track_id": activity.track_id,
        }
        return _entry(member, "spotify", _label(activity.title) or "Spotify", attributes)
    if isinstance(activity, discord.Streaming):
        label = _label(activity.game) or _label(activity.name)
        return _entry(
            member, "streaming", label, {"platform": activity.platform, "url": activity.url}
        )
    if isinstance(activity, discord.Game):
        return _entry(member, "game", _label(activity.name), {})
    if isinstance(activity, discord.Activity):
        # What discord.py makes of a game with an application id, or a stream without a url.
        if activity.type is discord.ActivityType.playing:
            game: dict[str, Any] = {}
            if activity.application_id is not None:
                game["application_id"] = str(activity.application_id)
            return _entry(member, "game", _label(activity.name), game)
        if activity.type is discord.ActivityType.streaming:
            # Same payload as Streaming's, read as Streaming reads it: name is the platform.
            label = _label(activity.state) or _label(activity.details)
            stream = {"platform": activity.name, "url": activity.url}
            return _entry(member, "streaming", label, stream)
    return None


def voice_entries(member: discord.Member) -> list[PresenceEntry]:
    """Being in a voice (or stage) channel, and sharing a screen there."""
    voice = member.voice
    if voice is None or voice.channel is None:
        return []
    channel = voice.channel
    where = {"guild_id": str(channel.guild.id), "channel_id": str(channel.id)}
    label = _label(channel.name)
    entries = [
        _entry(
            member,
            "voice",
            label,
            {**where, "self_mute": bool(voice.self_mute), "self_deaf": bool(voice.self_deaf)},
        )
    ]
    if voice.self_stream:
        entries.append(_entry(member, "screen_share", label, dict(where)))
    return entries


def member_entries(member: discord.Member) -> list[PresenceEntry]:
    """Everything ``member`` is doing; nothing for bots, whose activity is not a person's."""
    if member.bot:
        return []
    return activity_entries(member) + voice_entries(member)


def guild_snapshot(guild: discord.Guild) -> list[PresenceEntry]:
    """The entries of every member of ``guild`` that discord.py has cached.

    Member activities are only cached with the ``presences`` and ``members`` intents.
    """
    return [entry for member in guild.members for entry in member_entries(member)]
