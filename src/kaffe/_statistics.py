"""librdkafka statistics, typed: what ``statistics_interval`` delivers."""

from __future__ import annotations

from typing import Any

__all__ = ["Statistics"]


class Statistics:
    """
    One librdkafka statistics snapshot.

    Attributes:
        raw: The parsed JSON document, as librdkafka emitted it.

    .. versionadded:: 0.2.0
    """

    __slots__ = ("raw",)

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
