"""The bridge from librdkafka's log to Python logging, with secrets masked."""

from __future__ import annotations

import logging
from typing import Any

from ._errors import redact

__all__ = ["LibrdkafkaLog"]


class LibrdkafkaLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """
    Forwards librdkafka's log lines to the ``kaffe.librdkafka`` logger, secrets masked.

    Pass an instance as librdkafka's ``logger`` property.

    Args:
        secrets: Strings that must never be shown (passwords, key bodies).
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.getLogger("kaffe.librdkafka"), {})
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log one librdkafka line at ``level``, with secrets masked."""
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        self.logger.log(level, "%s", redact(text, self._secrets), **kwargs)
