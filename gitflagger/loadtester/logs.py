"""JSON-lines logging for the load tester: one object per event, fields as keys.

Log pipelines (Loki, Elasticsearch) index keys, so ``canary`` and ``command`` are
fields rather than words inside a message. This stays on the standard library's
:mod:`logging` so tests can read records with ``caplog`` and an embedding program
can route them anywhere.

Every line is redacted (:mod:`gitflagger.model.redact`): a command such as
``curl -H 'Authorization: Bearer …' https://user:pw@host/?token=…`` is logged with
those values replaced by ``<redacted>``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO

from gitflagger.model.redact import redact_text, redact_value

LOGGER_NAME = "gitflagger.loadtester"


class JsonFormatter(logging.Formatter):
    """Formats a record as ``{"ts", "level", "logger", "msg", ...fields}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact_text(record.getMessage()),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update({k: redact_value(str(v) if _opaque(v) else v) for k, v in fields.items()})
        if record.exc_info:
            entry["error"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def _opaque(value: object) -> bool:
    """Not JSON's own kind of value: written as its ``str``, so that text is redacted too."""
    return not isinstance(value, str | int | float | bool | list | dict | type(None))


class EventLog:
    """A logger that takes structured fields as keyword arguments.

    >>> EventLog().info("command finished", canary="podinfo.test")
    """

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(LOGGER_NAME)

    def debug(self, msg: str, **fields: object) -> None:
        self.logger.debug(msg, extra={"fields": fields})

    def info(self, msg: str, **fields: object) -> None:
        self.logger.info(msg, extra={"fields": fields})

    def warning(self, msg: str, **fields: object) -> None:
        self.logger.warning(msg, extra={"fields": fields})

    def error(self, msg: str, **fields: object) -> None:
        self.logger.error(msg, extra={"fields": fields})


def configure_json_logging(level: str = "info", stream: IO[str] | None = None) -> None:
    """Send the load tester's records to ``stream`` (stderr by default) as JSON lines."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
