"""Logging: one line per fact, as plain text or as JSON (``SESSIONKEEPER_LOG_FORMAT``).

Each fact is a message plus named fields (``fact(log, "sweep closed sessions", closed=3)``):
the text format appends them as ``key=value``, the JSON format as keys of the object. A line
logged while a request is served carries that request's id (``X-Request-ID``).

The loggers, by what they report:

- ``sessionkeeper.startup``: version, database, migrations, jobs, listening address;
- ``sessionkeeper.requests``: one line per request (the access log), every 5xx;
- ``sessionkeeper.sweep``: each sweep that closed something;
- ``sessionkeeper.database``: the database lost and regained.
"""

from __future__ import annotations

import json
import logging
import logging.config
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request being served, for every line logged while serving it.
REQUEST_ID: ContextVar[str | None] = ContextVar("sessionkeeper_request_id", default=None)

startup_log = logging.getLogger("sessionkeeper.startup")
request_log = logging.getLogger("sessionkeeper.requests")
sweep_log = logging.getLogger("sessionkeeper.sweep")
database_log = logging.getLogger("sessionkeeper.database")

TRACE = 5  # uvicorn's level below debug
_LEVELS = {"trace": TRACE}
# Attributes every LogRecord has; anything else on a record came in through ``extra``.
_FIELDS_KEY = "fields"


def fact(logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """Log ``message`` with named fields, if the logger's level lets it through."""
    if logger.isEnabledFor(level):
        logger.log(level, message, extra={_FIELDS_KEY: fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = dict(getattr(record, _FIELDS_KEY, None) or {})
    request_id = REQUEST_ID.get()
    if request_id is not None:
        fields.setdefault("request_id", request_id)
    return fields


def _time(record: logging.LogRecord) -> str:
    stamp = datetime.fromtimestamp(record.created, tz=UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """``2026-01-05T09:00:00.000Z INFO sessionkeeper.startup: listening address=…``"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [_time(record), record.levelname, f"{record.name}: {record.getMessage()}"]
        parts.extend(f"{key}={_text(value)}" for key, value in _fields(record).items())
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return json.dumps(text) if not text or any(c in text for c in ' "=\n') else text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _time(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def level_number(level: str) -> int:
    number = _LEVELS.get(level.lower()) or logging.getLevelName(level.upper())
    return number if isinstance(number, int) else logging.INFO


def configure(level: str, log_format: str) -> None:
    """Send the server's and uvicorn's loggers to stderr in one format."""
    logging.addLevelName(TRACE, "TRACE")
    formatter = JsonFormatter if log_format == "json" else TextFormatter
    handler = {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr"}
    number = level_number(level)
    loggers = {
        name: {"handlers": ["main"], "level": number, "propagate": False}
        for name in ("sessionkeeper", "uvicorn", "uvicorn.error", "uvicorn.access")
    }
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"main": {"()": formatter}},
            "handlers": {"main": handler},
            "loggers": loggers,
        }
    )
