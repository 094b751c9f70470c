"""
The bridge from librdkafka's log to Python's :mod:`logging`.

librdkafka hands its log lines to the ``logger`` property of a client. kaffe gives
every client it creates a :class:`LibrdkafkaLog`, so the lines reach the
``kaffe.librdkafka`` logger, with secrets masked, and nothing is printed unless the
application configures logging.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from ._errors import redact

__all__ = ["LibrdkafkaLog"]


class LibrdkafkaLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """
    Forwards librdkafka's log lines to the ``kaffe.librdkafka`` logger with secrets masked.

    Pass an instance as the ``logger`` property of a librdkafka client.

    Args:
        secrets: Strings (passwords, key bodies) to mask in every line; PEM blocks are
            masked as well.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(logging.getLogger("kaffe.librdkafka"), {})
        self._secrets = tuple(secrets)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        self.logger.log(level, "%s", redact(text, self._secrets), **kwargs)
