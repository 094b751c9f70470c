"""
A recording stand-in for :class:`kaffe.Producer`, for your own unit tests.

It places and checks messages with the same code as the real producer (the same
strategies, serializers, type checks and errors) but sends nothing: every message
is appended to :attr:`RecordingProducer.sent`.

Example::

    from kaffe.testing import RecordingProducer

    producer = RecordingProducer(topics={"events": 8})
    service = MyService(producer)          # anything that calls produce_sync(...)
    service.sign_up("user-42")
    assert producer.sent[0].key == b"user-42"
    assert producer.sent[0].partition == kaffe.partitioners.md5(b"user-42", 8)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, NamedTuple

from ._base import BaseProducer, State, TopicState
from ._errors import BatchProduceError, KaffeError, ProducerClosedError, UnknownTopicError
from ._types import Delivery, Headers, Message

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = ["RecordingProducer", "SentMessage"]

_ENDPOINT = "recording.invalid:9092"


class SentMessage(NamedTuple):
    """
    One message a :class:`RecordingProducer` accepted.

    Attributes:
        topic: The topic.
        partition: The partition the strategy (or the caller) chose.
        offset: Its offset in that partition, counting from 0.
        key: The key as it would go on the wire (bytes), or ``None``.
        value: The value as it would go on the wire (bytes), or ``None``.
        headers: Headers as ``(name, bytes)`` pairs.
        timestamp: The timestamp given, if any.
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    timestamp: int | None


def _wire(data: Any) -> bytes | None:
    return data.encode() if isinstance(data, str) else data


class RecordingProducer(BaseProducer):
    """
    A producer that records instead of sending.

    Args:
        topics: Topic names with their partition counts (``{"events": 8}``), or names
            alone, each then having ``partitions_count`` partitions. The first topic is
            the default of ``produce_sync(key, value)``.
        partitions_count: Partition count of topics given by name alone.
        fail_with: An error to raise from every produce call, to test failure paths.
        **options: Other producer options (``partition_strategy``, serializers, ...).
    """

    def __init__(
        self,
        topics: Mapping[str, int] | Iterable[str] = (),
        *,
        partitions_count: int = 1,
        fail_with: KaffeError | None = None,
        **options: Any,
    ) -> None:
        counts = (
            dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, partitions_count)
        )
        super().__init__(None, endpoints=_ENDPOINT, topics=list(counts), **options)
        for name, count in counts.items():
            full = self.config.topic_name(name)
            self._topics[full] = TopicState(full, count, tuple(range(count)))
        self.sent: list[SentMessage] = []
        self.fail_with = fail_with
        self._state = State.OPEN

    def _analyse_topic(self, topic: str) -> TopicState:
        raise UnknownTopicError(
            f"topic {topic!r} is not one of the RecordingProducer's topics "
            f"({', '.join(self._topics) or 'none'})",
            topic=topic,
            reason="unknown topic",
        )

    def _record(
        self,
        topic: str,
        partition: int | None,
        key: Any,
        value: Any,
        headers: Headers | None,
        timestamp: int | None,
    ) -> Delivery:
        if self._state is not State.OPEN:
            raise ProducerClosedError("the producer is closed; create a new one", reason="closed")
        partition, key_out, value_out, headers_out = self._build(
            topic, partition, key, value, headers
        )
        if self.fail_with is not None:
            raise self.fail_with
        offset = sum(1 for sent in self.sent if sent.topic == topic and sent.partition == partition)
        self.sent.append(
            SentMessage(
                topic,
                partition,
                offset,
                _wire(key_out),
                _wire(value_out),
                [(name, _wire(data)) for name, data in headers_out or []],
                timestamp,
            )
        )
        return Delivery(topic, partition, offset, timestamp)

    def produce_sync(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Delivery:
        """Record one message; same forms as :meth:`kaffe.Producer.produce_sync`."""
        topic, partition, key, value = self._parse_call(args)
        return self._record(topic, partition, key, value, headers, timestamp)

    def produce(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Future[Delivery]:
        """Record one message and return an already resolved future."""
        future: Future[Delivery] = Future()
        future.set_result(self.produce_sync(*args, headers=headers, timestamp=timestamp))
        return future

    def produce_batch_sync(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[Delivery]:
        """Record a batch; bad input raises before anything is recorded."""
        name = self._topic_arg(topic)
        prepared = self._prepare_batch(name, messages)
        if self.fail_with is not None:
            raise BatchProduceError(
                f"{len(prepared)} of {len(prepared)} messages to {name!r} were not delivered",
                topic=name,
                deliveries=[None] * len(prepared),
                errors=[self.fail_with] * len(prepared),
            )
        return [
            self._record(name, partition, key, value, headers, timestamp)
            for partition, key, value, headers, timestamp in prepared
        ]

    def partitions_count(self, topic: str | None = None) -> int:
        """The partition count of a recorded topic."""
        name = self._parse_call((None, None))[0] if topic is None else self._topic_arg(topic)
        return self._topic_state(name).partitions_count

    def messages(self, topic: str | None = None) -> list[SentMessage]:
        """The recorded messages, all or of one topic."""
        if topic is None:
            return list(self.sent)
        name = self.config.topic_name(topic)
        return [sent for sent in self.sent if sent.topic == name]

    def flush(self, timeout: float | None = None) -> int:
        """Nothing is ever outstanding."""
        return 0

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting messages."""
        self._state = State.CLOSED

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
