"""``Producer``: the threaded face. Calls block the calling thread, never the process."""

from __future__ import annotations

import sys
import threading
import time
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

from ._base import BaseProducer, State, to_delivery
from ._config import ProducerConfig, ProducerOptions
from ._errors import BatchProduceError, DeliveryTimeoutError, KaffeError, UndeliveredMessagesError
from ._types import Delivery, Headers, Message

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

__all__ = ["Producer"]


class _SyncSlot:
    """Where the delivery report of one ``produce_sync`` lands."""

    __slots__ = ("done", "error", "lock", "message")

    def __init__(self) -> None:
        self.done = False
        self.error: KafkaError | None = None
        self.message: Any = None
        self.lock = threading.Lock()
        self.lock.acquire()

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        self.error = error
        self.message = message
        self.done = True
        self.lock.release()

    def is_done(self) -> bool:
        return self.done


class _DeliveryFuture(Future):  # type: ignore[type-arg]
    """A ``concurrent.futures.Future[Delivery]`` that is its own delivery callback."""

    __slots__ = ("_producer",)

    def __init__(self, producer: Producer) -> None:
        super().__init__()
        self._producer = producer

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        if error is None:
            self.set_result(to_delivery(message))
        else:
            engine = self._producer._engine
            assert engine is not None
            self.set_exception(self._producer._failed(engine, error, message))
        self._producer = None  # type: ignore[assignment]


class _Batch:
    """Collects the delivery reports of one batch; one wake-up for the whole batch."""

    __slots__ = ("deliveries", "errors", "lock", "remaining")

    def __init__(self, size: int) -> None:
        self.deliveries: list[Delivery | None] = [None] * size
        self.errors: list[KaffeError | None] = [None] * size
        self.remaining = size
        self.lock = threading.Lock()
        self.lock.acquire()

    def is_done(self) -> bool:
        return self.remaining <= 0

    def settle(self, count: int = 1) -> None:
        self.remaining -= count
        if self.remaining == 0:
            self.lock.release()


class _BatchItem:
    __slots__ = ("batch", "index", "producer")

    def __init__(self, batch: _Batch, index: int, producer: Producer) -> None:
        self.batch = batch
        self.index = index
        self.producer = producer

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        batch = self.batch
        if error is None:
            batch.deliveries[self.index] = to_delivery(message)
        else:
            engine = self.producer._engine
            assert engine is not None
            batch.errors[self.index] = self.producer._failed(engine, error, message)
        batch.settle()


class Producer(BaseProducer):
    """
    A Kafka producer: Kaffe's ``Kaffe.Producer`` for Python.

    Constructing it connects and analyses every configured topic, like Kaffe's
    ``start_link``. Use it from any number of threads; concurrent callers share
    librdkafka's batches and each waits only for its own message.

    Example::

        with kaffe.Producer(endpoints="127.0.0.1:9092", topics=["events"]) as producer:
            delivery = producer.produce_sync("key", "value")

    Args:
        config: A prepared :class:`ProducerConfig`; keyword options override it.
        **options: The options of :class:`ProducerConfig`.

    Raises:
        ConfigError: An option is invalid.
        BrokerUnavailableError: No broker answered within ``start_timeout``.
        AuthenticationError: The TLS handshake or SASL login failed.
        UnknownTopicError: A configured topic does not exist.
    """

    def __init__(
        self, config: ProducerConfig | None = None, /, **options: Unpack[ProducerOptions]
    ) -> None:
        super().__init__(config, **options)
        engine = self._open_engine()
        self._state = State.OPEN
        try:
            self._analyse_topics()
        except BaseException:
            self._state = State.CLOSED
            engine.purge_and_stop()
            raise
        self._start_refresher()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """
        Build a producer from ``KAFFE_*`` variables (see :meth:`ProducerConfig.from_env`).

        Args:
            environ: The environment; ``os.environ`` when ``None``.
            **overrides: Options that win over the environment.

        Returns:
            A started producer.
        """
        return cls(ProducerConfig.from_env(environ, **overrides))

    # --- producing ------------------------------------------------------------------------

    @overload
    def produce_sync(
        self,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Delivery: ...
    @overload
    def produce_sync(
        self,
        topic: str,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Delivery: ...
    @overload
    def produce_sync(
        self,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Delivery: ...
    def produce_sync(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Delivery:
        """
        Send one message and wait until the broker acknowledges it.

        Forms, as in Kaffe:

        * ``produce_sync(key, value)`` sends to the first configured topic;
        * ``produce_sync(topic, key, value)`` lets the strategy choose the partition;
        * ``produce_sync(topic, partition, key, value)`` names the partition.

        Args:
            *args: One of the forms above.
            headers: Optional message headers.
            timestamp: Optional timestamp in milliseconds since the epoch.

        Returns:
            Where the message was stored.

        Raises:
            DeliveryTimeoutError: Not acknowledged within ``delivery_timeout``.
            ProduceError: The cluster refused the message.
            KaffeError: Any other failure, typed as in the exception tree.
        """
        engine = self._check_open()
        topic, partition, key, value = self._parse_call(args)
        partition, key, value, headers_out = self._build(topic, partition, key, value, headers)
        slot = _SyncSlot()
        now = time.monotonic()
        self._send(
            engine,
            topic,
            partition,
            key,
            value,
            headers_out,
            timestamp,
            slot,
            now + self.config.queue_full_timeout,
        )
        deadline = now + self._delivery_wait
        if not engine.serve_until(slot.is_done, deadline):
            slot.lock.acquire(timeout=max(deadline - time.monotonic(), 0))
        if not slot.done:
            raise DeliveryTimeoutError(
                f"no delivery report for topic {topic!r} partition {partition} within "
                f"{self._delivery_wait:g}s",
                topic=topic,
                partition=partition,
                reason="timed out",
                retriable=True,
            )
        if slot.error is not None:
            raise self._failed(engine, slot.error, slot.message)
        return to_delivery(slot.message)

    @overload
    def produce(
        self,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Future[Delivery]: ...
    @overload
    def produce(
        self,
        topic: str,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Future[Delivery]: ...
    @overload
    def produce(
        self,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Future[Delivery]: ...
    def produce(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Future[Delivery]:
        """
        Send one message without waiting; the future resolves on acknowledgement.

        Takes the same forms as :meth:`produce_sync`. Bad input raises at once;
        delivery failures arrive through the future. When librdkafka's queue is
        full, waits up to ``queue_full_timeout`` for room, then raises
        :class:`QueueFullError`.

        Returns:
            A future of the :class:`Delivery`.
        """
        engine = self._check_open()
        topic, partition, key, value = self._parse_call(args)
        partition, key, value, headers_out = self._build(topic, partition, key, value, headers)
        future = _DeliveryFuture(self)
        self._send(
            engine,
            topic,
            partition,
            key,
            value,
            headers_out,
            timestamp,
            future,
            time.monotonic() + self.config.queue_full_timeout,
        )
        engine.wake_poller()
        return future

    def produce_batch_sync(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[Delivery]:
        """
        Send many messages to one topic and wait until every one is acknowledged.

        Every message is checked before any is sent, so bad input sends nothing.

        Args:
            topic: The topic.
            messages: ``(key, value)`` pairs or :class:`Message` objects.

        Returns:
            The deliveries, in input order.

        Raises:
            BatchProduceError: Some messages failed; it lists which were delivered.
            KaffeError: Bad input, raised before anything is sent.
        """
        engine = self._check_open()
        topic_name = self._topic_arg(topic)
        prepared = self._prepare_batch(topic_name, messages)
        batch = _Batch(len(prepared))
        if not prepared:
            return []
        deadline = time.monotonic() + self.config.queue_full_timeout
        for index, (partition, key, value, headers, timestamp) in enumerate(prepared):
            try:
                self._send(
                    engine,
                    topic_name,
                    partition,
                    key,
                    value,
                    headers,
                    timestamp,
                    _BatchItem(batch, index, self),
                    deadline,
                )
            except KaffeError as error:
                batch.errors[index] = error
                batch.settle()
            else:
                deadline = time.monotonic() + self.config.queue_full_timeout
        wait_until = time.monotonic() + self._delivery_wait
        if not batch.is_done() and not engine.serve_until(batch.is_done, wait_until):
            engine.wake_poller()
            batch.lock.acquire(timeout=max(wait_until - time.monotonic(), 0))
        return self._batch_result(topic_name, batch)

    @staticmethod
    def _batch_result(topic: str, batch: _Batch) -> list[Delivery]:
        if batch.remaining > 0:
            for index, delivery in enumerate(batch.deliveries):
                if delivery is None and batch.errors[index] is None:
                    batch.errors[index] = DeliveryTimeoutError(
                        "no delivery report in time",
                        topic=topic,
                        reason="timed out",
                        retriable=True,
                    )
        failed = sum(error is not None for error in batch.errors)
        if failed:
            first = next(error for error in batch.errors if error is not None)
            raise BatchProduceError(
                f"{failed} of {len(batch.errors)} messages to {topic!r} were not delivered "
                f"(first: {first.message})",
                topic=topic,
                deliveries=batch.deliveries,
                errors=batch.errors,
            )
        return batch.deliveries  # type: ignore[return-value]

    # --- topics ---------------------------------------------------------------------------

    def partitions_count(self, topic: str | None = None) -> int:
        """
        How many partitions a topic has, analysing it first if needed.

        Args:
            topic: The topic; the first configured topic when ``None``.

        Returns:
            The partition count.
        """
        self._check_open()
        topic = self._parse_call((None, None))[0] if topic is None else self._topic_arg(topic)
        return self._topic_state(topic).partitions_count

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> int:
        """
        Wait until everything sent so far is acknowledged or failed.

        Args:
            timeout: Seconds to wait; ``delivery_timeout`` when ``None``.

        Returns:
            How many messages are still outstanding (0 when all are settled).
        """
        engine = self._check_open()
        return engine.flush(self._delivery_wait if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """
        Deliver what is outstanding, then release the connection. Calling it again does nothing.

        Args:
            timeout: Seconds to wait for outstanding messages; ``delivery_timeout`` when ``None``.

        Raises:
            UndeliveredMessagesError: Messages were still unacknowledged at the timeout; they
                were dropped and their futures failed. ``undelivered`` holds the count.
        """
        if self._state is not State.OPEN:
            return
        engine = self._engine
        assert engine is not None
        self._state = State.CLOSED
        self._refresh_wake.set()
        if engine.forked:
            self._state = State.FORKED
            return
        left = engine.flush(self._delivery_wait if timeout is None else timeout)
        engine.purge_and_stop()
        if left:
            raise UndeliveredMessagesError(
                f"close() timed out with {left} message(s) not acknowledged; they were dropped",
                undelivered=left,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", None) is not State.OPEN:
            return
        engine = self._engine
        if engine is None or engine.forked:
            return
        warnings.warn(
            f"unclosed {self!r}; call close() or use 'with' so queued messages are delivered",
            ResourceWarning,
            source=self,
            stacklevel=2,
        )
        self._state = State.CLOSED
        self._refresh_wake.set()
        engine.flush(min(self._delivery_wait, 5.0))
        engine.stop_poller()
