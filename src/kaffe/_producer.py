"""``Producer``: the threaded face. Calls block the calling thread, never the process."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import _base as _futures
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

from ._base import INLINE_SERVE_EVERY, NOT_TAKEN, BaseProducer, State, to_delivery
from ._config import ProducerConfig, ProducerOptions
from ._errors import (
    BatchProduceError,
    DeliveryTimeoutError,
    KaffeError,
    QueueFullError,
)
from ._types import Delivery, Headers, Message

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

__all__ = ["Producer"]

_SERVE_MASK = INLINE_SERVE_EVERY - 1
#: Seconds a waiting caller sleeps on its own report before checking whether it can lead.
_FOLLOWER_NAP = 0.1
#: What ``rk.produce`` raises for a message it did not take: a full queue, or input it
#: refused. ``BaseProducer._send`` then retries (bounded) and translates the error.
_RUNNING = _futures.RUNNING
_FINISHED = _futures.FINISHED
#: Guards the rare creation of a :class:`_DeliveryFuture`'s Condition.
_CONDITION_SETUP = threading.Lock()
_OPEN = State.OPEN
_new_tuple = tuple.__new__


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
    """
    A ``concurrent.futures.Future[Delivery]`` that is its own delivery callback.

    Built for ``produce()``'s hot path, where most futures are never waited on:

    * it starts *running*: the message is handed over and cannot be withdrawn, so
      ``cancel()`` returns False, as for a running task;
    * its Condition is created only when someone waits or watches (``result()``,
      ``add_done_callback()``, ``concurrent.futures.wait()``), and settling takes no
      lock while nobody does;
    * it keeps librdkafka's report and builds the :class:`Delivery` on the first
      ``result()``, so futures nobody reads cost no more than the report itself.
    """

    # Future.__init__ sets these per instance; class defaults save the allocations
    # until someone waits or watches (see _condition).
    _result = None
    _exception = None
    _waiters: Any = ()
    _done_callbacks: Any = ()
    _kaffe_condition: threading.Condition | None = None

    def __init__(self, producer: Producer) -> None:
        self._state = _RUNNING
        self._producer = producer

    @property
    def _condition(self) -> threading.Condition:
        condition = self._kaffe_condition
        if condition is None:
            with _CONDITION_SETUP:
                condition = self._kaffe_condition
                if condition is None:
                    self._waiters = []
                    self._done_callbacks = []
                    condition = self._kaffe_condition = threading.Condition()
        return condition

    @_condition.setter
    def _condition(self, condition: threading.Condition) -> None:
        self._kaffe_condition = condition

    def done(self) -> bool:
        """Return True once the delivery report has arrived."""
        return self._state == _FINISHED or super().done()

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """
        Wait up to ``timeout`` seconds; return the delivery error, or None when delivered.

        Raises:
            TimeoutError: Not settled within ``timeout``.
        """
        if self._state == _FINISHED:  # settled: no need to take (or make) the Condition
            return self._exception
        return super().exception(timeout)

    def result(self, timeout: float | None = None) -> Delivery:
        """
        Wait up to ``timeout`` seconds for the delivery and return it.

        Raises:
            KaffeError: The message was not delivered, typed as in the exception tree.
            TimeoutError: Not settled within ``timeout``.
        """
        if self._state == _FINISHED and self._exception is None:
            return self._result  # type: ignore[return-value]
        return super().result(timeout)  # type: ignore[no-any-return]

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        if error is None:
            # Built now: librdkafka's message objects must not outlive the callback
            # (keeping them for later made the garbage collector crash).
            result = to_delivery(message)
            exception: KaffeError | None = None
        else:
            producer = self._producer
            engine = producer._engine
            assert engine is not None
            result, exception = None, producer._failed(engine, error, message)
        self._producer = None  # type: ignore[assignment]
        if self._kaffe_condition is None:
            self._result = result
            self._exception = exception
            self._state = _FINISHED
            # Whoever creates the Condition from now on finds the state set above.
            if self._kaffe_condition is None:
                return
        # Someone waits or watches: settle as Future.set_result/set_exception do.
        with self._condition:
            self._result = result
            self._exception = exception
            self._state = _FINISHED
            for waiter in self._waiters:
                if exception is None:
                    waiter.add_result(self)
                else:
                    waiter.add_exception(self)
            self._condition.notify_all()
        self._invoke_callbacks()  # type: ignore[attr-defined]


class _Batch:
    """
    Collects the delivery reports of one batch; one wake-up for the whole batch.

    Reports arrive only on the thread holding the engine's poll lock, one at a time,
    so the counters need no lock of their own.
    """

    __slots__ = ("accepted", "deliveries", "errors", "lock", "producer", "reported", "topic")

    def __init__(self, topic: str, size: int, producer: Producer) -> None:
        self.topic = topic
        self.deliveries: list[Delivery | None] = [None] * size
        self.errors: list[KaffeError | None] = [None] * size
        self.producer = producer
        self.reported = 0
        #: How many messages librdkafka took; more than any count until all are sent.
        self.accepted = size + 1
        self.lock = threading.Lock()
        self.lock.acquire()

    def is_done(self) -> bool:
        return self.reported >= self.accepted

    def report(self, index: int, error: KafkaError | None, message: Any) -> None:
        if error is None:
            kind, stamp = message.timestamp()
            self.deliveries[index] = _new_tuple(
                Delivery,
                (self.topic, message.partition(), message.offset(), stamp if kind else None),
            )
        else:
            producer = self.producer
            engine = producer._engine
            assert engine is not None
            self.errors[index] = producer._failed(engine, error, message)
        self.reported += 1
        if self.reported == self.accepted:
            self.lock.release()


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

    _UNCLOSED_HINT = "call close() or use 'with' so queued messages are delivered"

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
            engine.discard()
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
        waiters = engine.sync_waiters
        waiters.append(None)  # from here on, whoever serves flushes instead of lingering
        try:
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
            self._wait(slot.lock, slot.is_done, now + self._delivery_wait)
        finally:
            waiters.pop()
        if not slot.done:
            where = f" partition {partition}" if partition >= 0 else ""
            raise DeliveryTimeoutError(
                f"no delivery report for topic {topic!r}{where} within {self._delivery_wait:g}s",
                topic=topic,
                partition=partition if partition >= 0 else None,
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
        engine = self._engine
        if self._state is not _OPEN or engine is None or engine.forked:
            engine = self._check_open()
        plain = self._plain_partition(args, headers)
        if plain is not None:
            topic, key, value = args
            chosen, headers_out = plain, None
        else:
            topic, partition, key, value = self._parse_call(args)
            chosen, key, value, headers_out = self._build(topic, partition, key, value, headers)
        future = _DeliveryFuture(self)
        try:
            if headers_out is None and timestamp is None:
                engine.rk.produce(topic, value, key, chosen, future)
            else:
                engine.rk.produce(
                    topic, value, key, chosen, future, None, timestamp or 0, headers_out
                )
        except NOT_TAKEN:
            self._send(
                engine,
                topic,
                chosen,
                key,
                value,
                headers_out,
                timestamp,
                future,
                time.monotonic() + self.config.queue_full_timeout,
            )
        produced = engine.produced = engine.produced + 1
        if not produced & _SERVE_MASK:
            engine.serve_inline()
        elif not engine.poller_busy:
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
        if not prepared:
            return []
        batch = _Batch(topic_name, len(prepared), self)
        report = batch.report
        produce = engine.rk.produce
        accepted = 0
        queue_stuck = False  # after one QueueFullError, fail the rest at once
        for index, (partition, key, value, headers, timestamp) in enumerate(prepared):
            callback = partial(report, index)
            try:
                if headers is None and timestamp is None:
                    produce(topic_name, value, key, partition, callback)
                else:
                    produce(
                        topic_name, value, key, partition, callback, None, timestamp or 0, headers
                    )
            except NOT_TAKEN:
                deadline = 0.0 if queue_stuck else time.monotonic() + self.config.queue_full_timeout
                try:
                    self._send(
                        engine,
                        topic_name,
                        partition,
                        key,
                        value,
                        headers,
                        timestamp,
                        callback,
                        deadline,
                    )
                except KaffeError as error:
                    batch.errors[index] = error
                    queue_stuck = isinstance(error, QueueFullError)
                    continue
                queue_stuck = False
            accepted += 1
            if not accepted & _SERVE_MASK:
                engine.produced += INLINE_SERVE_EVERY
                engine.serve_inline()
        batch.accepted = accepted
        if not batch.is_done():
            waiters = engine.sync_waiters
            waiters.append(None)
            try:
                self._wait(batch.lock, batch.is_done, time.monotonic() + self._delivery_wait)
            finally:
                waiters.pop()
        return self._batch_result(topic_name, batch)

    def _wait(self, lock: threading.Lock, done: Callable[[], bool], deadline: float) -> None:
        """
        Wait until ``done()`` or the deadline: lead the serving if nobody does, else follow.

        A follower sleeps on ``lock`` (released by its last delivery report), waking
        the poller to serve for it, and tries to lead again between naps in case the
        thread serving now steps down.
        """
        engine = self._engine
        assert engine is not None
        while not engine.serve_until(done, deadline):
            engine.wake_poller()
            remaining = deadline - time.monotonic()
            if remaining <= 0 or lock.acquire(timeout=min(remaining, _FOLLOWER_NAP)):
                return

    @staticmethod
    def _batch_result(topic: str, batch: _Batch) -> list[Delivery]:
        if not batch.is_done():
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
        engine = self._begin_close()
        if engine is not None:
            self._close_engine(engine, timeout, "close")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
