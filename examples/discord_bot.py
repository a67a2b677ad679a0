"""A Discord bot that reports who plays, listens, streams, talks and shares screens.

    pip install 'sessionkeeper[discord]'
    export DISCORD_TOKEN=...                      # the bot's token
    export SESSIONKEEPER_URL=http://127.0.0.1:8000
    export SESSIONKEEPER_API_KEY=sk_...           # an ingest key
    python examples/discord_bot.py

The bot needs the privileged "Presence" and "Server Members" intents (Developer Portal, Bot).

All guilds the bot is in form one presence source, so a member seen in two guilds is counted
once. Every presence or voice event pushes the current state at once; the snapshot every
minute is the checkpoint that keeps the sessions alive and corrects any missed event. If the
bot dies, its sessions time out on the server with estimated ends; if it comes back in time,
they simply continue.
"""

from __future__ import annotations

import asyncio
import logging
import os

import discord

from sessionkeeper.client import AsyncClient, AsyncPresenceReporter, PresenceEntry
from sessionkeeper.client.discord import guild_snapshot

SOURCE = "discord"


class Tracker(discord.Client):
    def __init__(self, sessionkeeper: AsyncClient) -> None:
        intents = discord.Intents.default()
        intents.members = True
        intents.presences = True
        super().__init__(intents=intents)
        self.reporter = AsyncPresenceReporter(sessionkeeper, SOURCE, self.snapshot, every=60)
        self.reporting = False

    def snapshot(self) -> list[PresenceEntry]:
        return [entry for guild in self.guilds for entry in guild_snapshot(guild)]

    async def on_ready(self) -> None:
        # Not before: until the gateway has filled the cache, a snapshot would be empty and
        # would end every session the bot reported before a restart.
        if not self.reporting:
            self.reporting = True
            await self.reporter.start()
        else:  # on_ready comes again after a reconnect; the cache may have changed meanwhile
            self.reporter.report_now()

    async def on_presence_update(self, before: discord.Member, after: discord.Member) -> None:
        self.reporter.report_now()

    async def on_voice_state_update(
        self, member: discord.Member, before: discord.VoiceState, after: discord.VoiceState
    ) -> None:
        self.reporter.report_now()

    async def on_member_remove(self, member: discord.Member) -> None:
        self.reporter.report_now()

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.reporter.report_now()

    async def close(self) -> None:
        await self.reporter.stop()
        await super().close()


async def main() -> None:
    url = os.environ.get("SESSIONKEEPER_URL", "http://127.0.0.1:8000")
    async with (
        AsyncClient(url, os.environ["SESSIONKEEPER_API_KEY"]) as sessionkeeper,
        Tracker(sessionkeeper) as bot,
    ):
        await bot.start(os.environ["DISCORD_TOKEN"])


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(main())
