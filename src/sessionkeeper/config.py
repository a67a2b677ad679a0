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
    # Writes waiting for the writer beyond this are refused at once with 503 (load shedding).
    writer_max_queue: int = Field(default=10_000, gt=0)
    # The longest a request waits for its write to commit before it gets 503.
    write_timeout_s: float = Field(default=10.0, gt=0)
    # PostgreSQL: how long to wait for a connection, and for one statement.
    database_connect_timeout_s: float = Field(default=3.0, gt=0)
    database_statement_timeout_s: float = Field(default=30.0, gt=0)
    # How long /v1/health waits for the database before it answers "down".
    health_timeout_s: float = Field(default=1.5, gt=0)
    # How often each server process records that it is alive. A longer silence of every
    # process is an outage of the service, and does not count as silence of the clients.
    alive_interval_s: float = Field(default=5.0, gt=0)
    log_level: str = "info"

    # Rollups: how often dirty days are recomputed.
    rollup_interval_s: float = Field(default=60.0, gt=0)
    # Raw events older than this many days are dropped (None: kept for ever); rollups keep
    # their aggregates. At least 2, so no day still open to late events loses any.
    event_retention_days: int | None = Field(default=None, ge=2)
    # Optional Redis, only ever a cache (of GET /v1/metrics/live); never the record.
    redis_url: str | None = None
    redis_prefix: str = "sessionkeeper:"
    live_cache_ttl_s: float = Field(default=2.0, gt=0)
    # Webhooks: private, loopback and link-local targets are refused unless allowed (SSRF).
    webhook_allow_private: bool = False
    # How often the delivery job looks for due deliveries.
    webhook_poll_interval_s: float = Field(default=1.0, gt=0)
    # Finished deliveries are kept this long, then pruned.
    webhook_retention_days: int = Field(default=30, ge=1)
