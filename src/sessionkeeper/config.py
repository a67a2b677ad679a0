"""Settings, read from ``SESSIONKEEPER_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SESSIONKEEPER_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./sessionkeeper.db"
    host: str = "127.0.0.1"
    port: int = 8000

    sweep_interval_s: float = Field(default=15.0, gt=0)
    # Rooms: how often the cleanup closes inactive rooms; closed rooms older than this many
    # days are deleted with their attendances and invites (None: kept for ever).
    cleanup_interval_s: float = Field(default=900.0, gt=0)
    room_retention_days: float | None = Field(default=None, gt=0)
    # Where invitation links point, with {token} in it; None: this server's /v1/invites/{token}.
    invite_url: str | None = Field(default=None, pattern=r"\{token\}")
    # How far a client-reported time may lie from the server clock.
    max_past_s: int = Field(default=24 * 3600, ge=0)
    max_future_s: int = Field(default=300, ge=0)

    health_overdue_threshold: int = Field(default=5, ge=0)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # API keys are cached this long after a lookup; a revoked key stops working within it.
    key_cache_ttl_s: float = Field(default=5.0, ge=0)
    # FULL survives power loss, NORMAL survives a crash of the process (kill -9) only.
    sqlite_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL|EXTRA)$")
    # Most ops gathered into one group commit.
    writer_max_batch: int = Field(default=1000, gt=0)
    log_level: str = "info"
