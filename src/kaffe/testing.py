"""
Recording stand-ins for kaffe's producers, for your own unit tests.

They build and place messages with the real producers' core (the same strategies,
serializers, type checks and errors) and settle them through the same outcome path
(observers included), but send nothing: every message is appended to ``sent``.

Example::

    from kaffe.testing import RecordingProducer

    producer = RecordingProducer(topics={"events": 8})
    service = MyService(producer)          # anything that calls produce_sync(...)
    service.sign_up("user-42")
    assert producer.sent[0].key == b"user-42"
    assert producer.sent[0].partition == kaffe.partitioners.md5(b"user-42", 8)

The asyncio twin, :class:`AsyncRecordingProducer`, has the same constructor and
the same operations, awaited.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple

from ._config import ProducerConfig
from ._core import Core, MissingMetadata, batch_result, now
from ._errors import KaffeError, ProducerClosedError, UnknownTopicError
from ._hot import (
    Batch,
    DeliveryFuture,
    FutureWaiter,
    LoopHandOff,
    LoopWaiter,
    SyncWaiter,
    Waiter,
    announce,
)
from ._types import Delivery, Headers, Message, OutgoingMessage

if sys.version_info >= (3, 11):
    from typing import Self
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self

__all__ = ["AsyncRecordingProducer", "RecordingProducer", "SentMessage"]

_ENDPOINT = "recording.invalid:9092"


class SentMessage(NamedTuple):
    """
    One message a recording producer accepted.

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


class _Report:
    """A stand-in for librdkafka's delivery report of a recorded message."""

    __slots__ = ("_offset", "_partition", "_timestamp", "_topic")

    def __init__(self, topic: str, partition: int, offset: int, timestamp: int | None) -> None:
        self._topic = topic
        self._partition = partition
        self._offset = offset
        self._timestamp = timestamp

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int | None]:
        return (0, None) if self._timestamp is None else (1, self._timestamp)


class _Recorder:
    """What both recording producers share: the real core, and the record."""

    def __init__(
        self,
        topics: Mapping[str, int] | Iterable[str],
        partitions_count: int,
        fail_with: KaffeError | None,
        options: dict[str, Any],
    ) -> None:
        counts = (
            dict(topics) if isinstance(topics, Mapping) else dict.fromkeys(topics, partitions_count)
        )
        self.config = ProducerConfig(endpoints=_ENDPOINT, topics=list(counts), **options)
        self._core = Core(self.config)
        for name, count in counts.items():
            self._core.learn(self.config.topic_name(name), count, range(count))
        #: Every message accepted, in order.
        self.sent: list[SentMessage] = []
        #: An error every produce call fails with, to test failure paths; ``None`` for none.
        self.fail_with = fail_with
        self._open = True

    def _check_open(self) -> None:
        if not self._open:
            raise ProducerClosedError("the producer is closed; create a new one", reason="closed")

    def _unknown(self, topic: str) -> UnknownTopicError:
        return UnknownTopicError(
            f"topic {topic!r} is not one of the recording producer's topics "
            f"({', '.join(self._core.topics) or 'none'})",
            topic=topic,
            reason="unknown topic",
        )

    def _message(
        self, args: tuple[Any, ...], headers: Headers | None, timestamp: int | None
    ) -> OutgoingMessage:
        self._check_open()
        try:
            return self._core.message(args, headers, timestamp)
        except MissingMetadata as missing:
            if missing.partition is None:
                raise self._unknown(missing.topic) from None
        return self._core.message(args, headers, timestamp, refreshed=True)

    def _batch(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[OutgoingMessage]:
        self._check_open()
        name = self._core.topic_name(topic)
        items = list(messages)
        try:
            return self._core.batch(name, items)
        except MissingMetadata as missing:
            if missing.partition is None:
                raise self._unknown(missing.topic) from None
        return self._core.batch(name, items, refreshed=True)

    def _record(self, message: OutgoingMessage, waiter: Waiter, started: float) -> None:
        """Accept one message and settle its waiter through the real outcome path."""
        observers = self._core.observers
        if observers:
            announce(observers, message, waiter, started)
        if self.fail_with is not None:
            waiter(self.fail_with, None)
            return
        topic, partition, key, value, headers, timestamp = message
        offset = sum(1 for sent in self.sent if sent.topic == topic and sent.partition == partition)
        self.sent.append(
            SentMessage(
                topic,
                partition,
                offset,
                _wire(key),
                _wire(value),
                [(name, _wire(data)) for name, data in headers or ()],
                timestamp,
            )
        )
        waiter(None, _Report(topic, partition, offset, timestamp))

    def _record_batch(self, messages: list[OutgoingMessage]) -> list[Delivery]:
        started = now()
        batch = Batch(len(messages))
        for message, slot in zip(messages, batch.slots(self._core, messages), strict=True):
            self._record(message, slot, started)
        return batch_result(batch, messages[0].topic)

    @property
    def topics(self) -> tuple[str, ...]:
        """The recorded topics, broker-side names."""
        return self.config.topics

    @property
    def closed(self) -> bool:
        """True once the producer is closed."""
        return not self._open

    def messages(self, topic: str | None = None) -> list[SentMessage]:
        """The recorded messages, all or of one topic."""
        if topic is None:
            return list(self.sent)
        name = self.config.topic_name(topic)
        return [sent for sent in self.sent if sent.topic == name]

    def _partitions_count(self, topic: str | None) -> int:
        core = self._core
        name = core.default_topic() if topic is None else core.topic_name(topic)
        state = core.topics.get(name)
        if state is None:
            raise self._unknown(name)
        return state.partitions_count


class RecordingProducer(_Recorder):
    """
    A :class:`kaffe.Producer` that records instead of sending.

    Args:
        topics: Topic names with their partition counts (``{"events": 8}``), or names
            alone, each then having ``partitions_count`` partitions. The first topic is
            the default of ``produce_sync(key, value)``.
        partitions_count: Partition count of topics given by name alone.
        fail_with: An error every produce call fails with, to test failure paths.
        **options: Other producer options (``partition_strategy``, serializers,
            ``observers``, ...).
    """

    def __init__(
        self,
        topics: Mapping[str, int] | Iterable[str] = (),
        *,
        partitions_count: int = 1,
        fail_with: KaffeError | None = None,
        **options: Any,
    ) -> None:
        super().__init__(topics, partitions_count, fail_with, options)

    def produce_sync(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Delivery:
        """Record one message; same forms as :meth:`kaffe.Producer.produce_sync`."""
        started = now()
        message = self._message(args, headers, timestamp)
        waiter = SyncWaiter(self._core, message.topic, message.partition)
        self._record(message, waiter, started)
        return waiter.outcome()

    def produce(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> DeliveryFuture:
        """Record one message and return its future, already settled."""
        started = now()
        message = self._message(args, headers, timestamp)
        waiter = FutureWaiter(self._core, message.topic, message.partition)
        self._record(message, waiter, started)
        return DeliveryFuture(waiter)

    def produce_batch_sync(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[Delivery]:
        """Record a batch; bad input raises before anything is recorded."""
        built = self._batch(topic, messages)
        if not built:
            return []
        return self._record_batch(built)

    def partitions_count(self, topic: str | None = None) -> int:
        """The partition count of a recorded topic."""
        return self._partitions_count(topic)

    def refresh_metadata(self) -> None:
        """Nothing to refresh: the partition counts are the ones given."""
        self._check_open()

    def flush(self, timeout: float | None = None) -> int:
        """Nothing is ever outstanding."""
        return 0

    def close(self, timeout: float | None = None) -> None:
        """Stop accepting messages."""
        self._open = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class AsyncRecordingProducer(_Recorder):
    """
    A :class:`kaffe.AsyncProducer` that records instead of sending.

    Takes the arguments of :class:`RecordingProducer`; every operation is awaited as
    on :class:`kaffe.AsyncProducer`.

    Example::

        async with AsyncRecordingProducer(topics={"events": 8}) as producer:
            delivery = await producer.produce_sync("user-42", "signed up")
        assert producer.sent[0].partition == delivery.partition

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        topics: Mapping[str, int] | Iterable[str] = (),
        *,
        partitions_count: int = 1,
        fail_with: KaffeError | None = None,
        **options: Any,
    ) -> None:
        super().__init__(topics, partitions_count, fail_with, options)

    async def start(self) -> None:
        """Nothing to connect to."""
        self._check_open()

    async def produce_sync(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Delivery:
        """Record one message; same forms as :meth:`kaffe.AsyncProducer.produce_sync`."""
        return await (await self.produce(*args, headers=headers, timestamp=timestamp))

    async def produce(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> asyncio.Future[Delivery]:
        """Record one message and return its asyncio future, already settled."""
        started = now()
        message = self._message(args, headers, timestamp)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivery] = loop.create_future()
        waiter = LoopWaiter(
            self._core, message.topic, message.partition, future, LoopHandOff(loop, on_loop=True)
        )
        self._record(message, waiter, started)
        return future

    async def produce_batch_sync(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[Delivery]:
        """Record a batch; bad input raises before anything is recorded."""
        built = self._batch(topic, messages)
        if not built:
            return []
        return self._record_batch(built)

    async def partitions_count(self, topic: str | None = None) -> int:
        """The partition count of a recorded topic."""
        return self._partitions_count(topic)

    async def refresh_metadata(self) -> None:
        """Nothing to refresh: the partition counts are the ones given."""
        self._check_open()

    async def flush(self, timeout: float | None = None) -> int:
        """Nothing is ever outstanding."""
        return 0

    async def aclose(self, timeout: float | None = None) -> None:
        """Stop accepting messages."""
        self._open = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
