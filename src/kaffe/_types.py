"""Small value types shared by every face of the producer."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Union

__all__ = [
    "Delivery",
    "Headers",
    "Message",
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
