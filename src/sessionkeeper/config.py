"""Settings, read from ``SESSIONKEEPER_*`` environment variables (or a ``.env`` file).

A value that cannot be used stops the program with one line per setting, naming the
environment variable and what it accepts (:func:`describe_errors`); the CLI prints those
lines instead of a traceback. Settings that take one of a few words accept them in any case.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, get_args

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

ENV_PREFIX = "SESSIONKEEPER_"
# Database URL schemes this build can open, and what an operator writes for each.
SUPPORTED_DATABASES = {
    "sqlite": "sqlite:///path/to/file.db",
    "postgresql": "postgresql://user:password@host:5432/database",
}
_SCHEMES = {
    "sqlite": "sqlite",
    "sqlite+pysqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
}
# The highest TCP port; 0 asks the system for any free one.
MAX_PORT = 65535
# What redis-py connects to (``redis.asyncio.from_url``).
REDIS_URL_FORMS = "a redis://, rediss:// or unix:// URL, e.g. redis://localhost:6379/0"
# Settings whose values an error never shows, besides those typed SecretStr: the connection
# URLs may carry a password, and a name with one of these words holds a credential.
_CONNECTION_URLS = ("database_url", "redis_url")
_SECRET_WORDS = ("key", "token", "secret", "password")
# Secrets handed to the server by the operator carry at least as many characters as a key
# made by the server (``sk_`` and 32 characters of base64: 192 bits).
MIN_SECRET_CHARS = 32
# 32 MiB of 4 KiB pages: Settings.sqlite_checkpoint_pages.
SQLITE_CHECKPOINT_PAGES = 8192


class SqliteSynchronous(StrEnum):
    FULL = "FULL"
    NORMAL = "NORMAL"
    EXTRA = "EXTRA"


class LogLevel(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"
    TRACE = "trace"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def database_kind(url: str) -> str | None:
    """``sqlite`` or ``postgresql`` for a URL this build can open, else None."""
    scheme = url.split("://", 1)[0].strip().lower() if "://" in url else ""
    return _SCHEMES.get(scheme)


def redis_url_usable(url: str) -> bool:
    """Whether redis-py can connect to ``url``. Its own message is not passed on: it may quote
    part of the URL, which may hold a password."""
    try:
        # Builds the client as the server will (and its pool, which checks the options), but
        # connects to nothing.
        Redis.from_url(url)
    except ValueError:
        return False
    return True


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9100`` for IPv6) as a pair; ValueError when malformed."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= MAX_PORT:
        raise ValueError("must be host:port, e.g. 127.0.0.1:9100")
    return host, int(port)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./sessionkeeper.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=MAX_PORT)
    # The path prefix under which a reverse proxy serves the API (``/sessionkeeper``).
    root_path: str = Field(default="", pattern=r"^(/[^/\s]+)*$")
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (the reverse proxy).
    forwarded_allow_ips: str = "127.0.0.1"

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
    # Caps on a request body as decoded (after gzip): most bodies, and presence snapshots and
    # change sets, which carry up to 10,000 entries.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    max_snapshot_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Open sessions of presence sources each process keeps in memory between snapshots
    # (``services/source_cache.py``), all sources together; 0 turns the cache off.
    presence_cache_sessions: int = Field(default=100_000, ge=0)
    # API keys are cached this long after a lookup; a revoked key stops working within it.
    key_cache_ttl_s: float = Field(default=5.0, ge=0)
    # FULL survives power loss, NORMAL survives a crash of the process (kill -9) only.
    sqlite_synchronous: Annotated[SqliteSynchronous, BeforeValidator(_upper)] = (
        SqliteSynchronous.FULL
    )
    # The writer copies SQLite's WAL back into the database file once it holds this many pages
    # (``PRAGMA wal_autocheckpoint``). SQLite's own 1,000 made a batch of 1,000 beats, which
    # writes about 900 pages, copy them back at nearly every commit; a longer WAL copies a
    # page rewritten by several commits once (see README's benchmark notes).
    sqlite_checkpoint_pages: int = Field(default=SQLITE_CHECKPOINT_PAGES, gt=0)
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

    # Rollups: how often dirty days are recomputed.
    rollup_interval_s: float = Field(default=60.0, gt=0)
    # Raw events older than this many days are dropped (None: kept for ever); rollups keep
    # their aggregates. At least 2, so no day still open to late events loses any.
    event_retention_days: int | None = Field(default=None, ge=2)
    # Optional Redis, never the record: a cache of GET /v1/metrics/live, and the rate limits'
    # buckets shared by every process.
    redis_url: str | None = None
    redis_prefix: str = "sessionkeeper:"
    live_cache_ttl_s: float = Field(default=2.0, gt=0)
    # Requests a second each API key may send (None: no limit), and how many at once
    # (None: ten seconds' worth). Shared across processes through Redis when it is set.
    rate_limit_per_key: float | None = Field(default=None, gt=0)
    rate_limit_burst: float | None = Field(default=None, ge=1)
    # Webhooks: private, loopback and link-local targets are refused unless allowed (SSRF).
    webhook_allow_private: bool = False
    # How often the delivery job looks for due deliveries.
    webhook_poll_interval_s: float = Field(default=1.0, gt=0)
    # Finished deliveries are kept this long, then pruned.
    webhook_retention_days: int = Field(default=30, ge=1)
    # Links: the address clients reach this server at, for the urls of tracking links
    # ({public_url}/t/{token}); None: the address the creating request came to.
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")
    # Link targets may use http, https and these schemes (apps that lessons open in).
    link_schemes: list[str] = Field(default_factory=lambda: ["zoommtg", "msteams"])
    # Where the browser tracker is served.
    tracker_path: str = Field(default="/tracker.js", pattern=r"^(/[A-Za-z0-9_.-]+)+$")
    # Read connections per process (the writer has one more of its own).
    db_pool_size: int = Field(default=8, gt=0, le=1000)

    log_level: Annotated[LogLevel, BeforeValidator(_lower)] = LogLevel.INFO
    log_format: Annotated[LogFormat, BeforeValidator(_lower)] = LogFormat.TEXT
    access_log: bool = True

    # The server-wide operator key (tenants, every tenant's health and sweep, metrics).
    operator_key: SecretStr | None = None
    # A bearer token for /metrics alone; and/or a separate address serving only /metrics.
    metrics_token: SecretStr | None = None
    metrics_listen: str | None = None
    # Kinds beyond this many distinct ones are counted under the label "other".
    metrics_max_kinds: int = Field(default=50, ge=1, le=10_000)

    # Signs the admin dashboard's login cookies (docs/dashboard.md). None: a random secret per
    # process, so logins end when the process does; every process of one server must share it.
    dashboard_secret: SecretStr | None = None
    # How long a dashboard login lasts.
    dashboard_login_ttl_s: float = Field(default=12 * 3600, gt=0, le=30 * 24 * 3600)
    # Login attempts one client address may make a minute (and at once), so that keys
    # cannot be guessed by trying: 429 beyond it.
    dashboard_login_attempts_per_min: float = Field(default=10, gt=0, le=10_000)

    # Slow or idle clients: the time to send a request's headers, then its body; the idle
    # time between two requests on one connection; and how many connections may be open.
    request_header_timeout_s: float = Field(default=10.0, gt=0)
    request_body_timeout_s: float = Field(default=60.0, gt=0)
    keepalive_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=1000, ge=1)

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: str) -> str:
        if database_kind(value) is None:
            scheme = value.split("://", 1)[0] if "://" in value else value
            supported = ", ".join(SUPPORTED_DATABASES.values())
            raise ValueError(f"unsupported database URL scheme {scheme!r}; use {supported}")
        try:
            _ = make_url(value).port  # read for its check: a port that is no number
        except ValueError:
            raise ValueError("must be a URL like scheme://user@host:port/name") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        # Checked here, or the first command to build the services would end in a traceback.
        if not value:
            return None  # an empty variable leaves Redis off
        if not redis_url_usable(value):
            raise ValueError(f"must be {REDIS_URL_FORMS}")
        return value

    @field_validator("operator_key", "metrics_token", "dashboard_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"must be at least {MIN_SECRET_CHARS} characters "
                "(e.g. the output of `openssl rand -base64 32`)"
            )
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value:
            listen_address(value)
        return value or None


def describe_errors(error: ValidationError) -> list[str]:
    """One line per refused setting: the environment variable, what it accepts, and the value
    unless it may be secret (:func:`is_secret`)."""
    lines = []
    for item in error.errors():
        name = ENV_PREFIX + "_".join(str(part) for part in item["loc"]).upper()
        message = item["msg"].removeprefix("Value error, ")
        message = message.replace("Input should be", "should be")
        value = item.get("input")
        hidden = not item["loc"] or is_secret(str(item["loc"][0])) or isinstance(value, dict)
        shown = "" if hidden else f" (got {value!r})"
        lines.append(f"{name}: {message}{shown}")
    return lines


def is_secret(field: str) -> bool:
    """Whether the value of the setting ``field`` must never be printed."""
    info = Settings.model_fields.get(field)
    annotation = info.annotation if info is not None else None
    typed_secret = SecretStr is annotation or SecretStr in get_args(annotation)
    named_secret = any(word in field.lower() for word in _SECRET_WORDS)
    return typed_secret or named_secret or field in _CONNECTION_URLS
