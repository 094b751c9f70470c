"""Small value types shared by every face of the producer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Union

__all__ = [
    "Delivery",
    "Headers",
    "Message",
    "OutgoingMessage",
    "PartitionStrategyFunction",
]

#: Message headers: a mapping or a sequence of ``(name, value)`` pairs. Names are
#: ``str``; values are ``str`` (sent as UTF-8), ``bytes`` or ``None``.
Headers = Union[  # noqa: UP007 - an alias evaluated at run time on Python 3.10
    Mapping[str, str | bytes | None], Sequence[tuple[str, str | bytes | None]]
]

#: A custom strategy: ``fn(topic, current_partition, partitions_count, key, value) -> int``.
#: ``current_partition`` is the partition the strategy last chose for that topic,
#: ``None`` at first; key and value are passed exactly as the caller gave them.
PartitionStrategyFunction = Callable[[str, int | None, int, Any, Any], int]


class Delivery(NamedTuple):
    """
    Where the broker stored an acknowledged message.

    Attributes:
        topic: The topic, as named in the Kafka log.
        partition: The partition the message was written to.
        offset: The message's offset in that partition.
        timestamp: The message timestamp in milliseconds since the epoch, when known.
    """

    topic: str
    partition: int
    offset: int
    timestamp: int | None = None


class Message(NamedTuple):
    """
    One message of a batch for :meth:`kaffe.Producer.produce_batch_sync`.

    Attributes:
        key: ``bytes``, ``str`` (UTF-8) or ``None``; other types need a ``key_serializer``.
        value: ``bytes``, ``str`` or ``None`` (a tombstone); other types need a
            ``value_serializer``.
        headers: Optional headers, see :data:`Headers`.
        partition: An explicit partition; ``None`` lets the strategy choose.
        timestamp: An explicit timestamp in milliseconds; ``None`` lets the client set it.
    """

    key: Any
    value: Any
    headers: Headers | None = None
    partition: int | None = None
    timestamp: int | None = None


class OutgoingMessage(NamedTuple):
    """
    One message as kaffe hands it to librdkafka: validated, encoded and placed.

    Observers receive it (see :class:`kaffe.Observer`).

    Attributes:
        topic: The topic, as named in the Kafka log.
        partition: The partition kaffe chose (or the caller named).
        key: The key as sent: ``bytes``, ``str`` (sent as UTF-8) or ``None``.
        value: The value as sent: ``bytes``, ``str`` or ``None`` (a tombstone).
        headers: ``(name, value)`` pairs, or ``None`` when there are none. With
            observers configured it is always a list, which ``on_send`` may extend.
        timestamp: The timestamp in milliseconds, or ``None`` for the client's clock.

    .. versionadded:: 0.2.0
    """

    topic: str
    partition: int
    key: bytes | str | None
    value: bytes | str | None
    headers: list[tuple[str, bytes | str | None]] | None
    timestamp: int | None

    @property
    def value_size(self) -> int:
        """The value's size in bytes as sent (0 for a tombstone)."""
        value = self.value
        if value is None:
            return 0
        if type(value) is str:
            return len(value.encode())
        return len(value)
