"""
``Producer``: the threaded face. It holds only the waiting; calls block the calling thread.

A plain call is placed and handed over by the per-message path
(:class:`kaffe._hot.HotPath`); any other call is built into one message by the core
first. Either way the outcome is settled through the one outcome function,
:meth:`Waiter.__call__ <kaffe._hot.Waiter>`. This module adds how a thread waits for
outcomes: on a lock per ``produce_sync``, on a :class:`DeliveryFuture` per
``produce()``, and on one lock per batch.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, overload

from ._config import ProducerConfig, ProducerOptions
from ._core import MissingMetadata, ProducerBase, State, batch_result, now
from ._engine import Engine
from ._errors import DeliveryTimeoutError, UndeliveredMessagesError
from ._hot import DeliveryFuture, FutureWaiter, SyncWaiter, ThreadBatch
from ._transactions import Transactions, require, start_transactions
from ._types import Delivery, Headers, Message, OutgoingMessage

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

__all__ = ["Producer"]

#: Seconds a waiting caller sleeps on its own report before checking whether it can lead.
_FOLLOWER_NAP = 0.1
_OPEN = State.OPEN


class Producer(ProducerBase):
    """
    A Kafka producer: Kaffe's ``Kaffe.Producer`` for Python.

    Constructing it connects and analyses every configured topic, like Kaffe's
    ``start_link``. Use it from any number of threads; concurrent callers share
    librdkafka's batches and each waits only for its own message.

    A producer survives ``fork()`` (gunicorn ``--preload``, ``multiprocessing``'s fork
    start method, Celery's prefork pool): its first call in the child opens the
    child's own librdkafka handle from the same configuration, once, whichever
    threads call at the same time. The parent's messages in flight stay the
    parent's, delivered and settled there; the parent is unaffected. A transactional
    producer refuses in the child with :class:`ProducerForkedError` instead, as its
    ``transactional_id`` would fence its siblings: create it after forking.

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
        TransactionError: With ``transactional_id``, transactions could not be
            initialised within ``start_timeout``.
    """

    _UNCLOSED_HINT = "call close() or use 'with' so queued messages are delivered"
    _engine: Engine
    _transactions: Transactions | None

    def __init__(
        self, config: ProducerConfig | None = None, /, **options: Unpack[ProducerOptions]
    ) -> None:
        super().__init__(config, **options)
        engine = self._engine = Engine(self._core)
        self._path = engine.path
        try:
            engine.analyse_configured()
            self._transactions = start_transactions(engine)
        except BaseException:
            engine.abandon()
            raise
        engine.start_refresher()

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

    # --- building, with the metadata fetched on this thread ------------------------------

    def _message(
        self, args: tuple[Any, ...], headers: Headers | None, timestamp: int | None
    ) -> OutgoingMessage:
        core = self._core
        try:
            return core.message(args, headers, timestamp)
        except MissingMetadata as missing:
            refreshed = self._fetch(missing)
        try:
            return core.message(args, headers, timestamp, refreshed=refreshed)
        except MissingMetadata as missing:
            refreshed = self._fetch(missing)
        return core.message(args, headers, timestamp, refreshed=True)

    def _fetch(self, missing: MissingMetadata) -> bool:
        """Fetch what the core misses; return True when it was a re-read."""
        engine = self._engine
        assert engine is not None
        if missing.partition is None:
            engine.analyse(missing.topic)
            return False
        engine.refresh(missing.topic)
        return True

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
        engine = self._engine
        path = self._path
        if not path.open:
            engine.check_open()
        waiting = engine.sync_waiters
        waiting.append(None)  # from here on, whoever serves flushes instead of lingering
        try:
            serving = len(waiting) == 1  # a lone waiter serves itself; see _wait
            waiter = None
            if headers is None and timestamp is None:
                waiter = path.sync_waiter(args, serving)
            if waiter is None:
                started = now() if self._observing else 0.0
                message = self._message(args, headers, timestamp)
                waiter = SyncWaiter(self._core, message.topic, message.partition)
                path.send((message,), (waiter,), self._queue_full_timeout, started, serving=serving)
            self._wait(waiter.lock, waiter.is_done, time.monotonic() + engine.delivery_wait)
        finally:
            waiting.pop()
        if not waiter.done:
            raise DeliveryTimeoutError(
                f"no delivery report for topic {waiter.topic!r} partition "
                f"{waiter.partition} within {engine.delivery_wait:g}s",
                topic=waiter.topic,
                partition=waiter.partition,
                reason="timed out",
                retriable=True,
            )
        return waiter.outcome()

    @overload
    def produce(
        self,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> DeliveryFuture: ...
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
    ) -> DeliveryFuture: ...
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
    ) -> DeliveryFuture: ...
    def produce(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> DeliveryFuture:
        """
        Send one message without waiting; the future resolves on acknowledgement.

        Takes the same forms as :meth:`produce_sync`. Bad input raises at once;
        delivery failures arrive through the future. When librdkafka's queue is
        full, waits up to ``queue_full_timeout`` for room, then raises
        :class:`QueueFullError`.

        Returns:
            A future of the :class:`Delivery` (a ``concurrent.futures.Future``).
        """
        if headers is None and timestamp is None:
            future: DeliveryFuture | None = self._path.future(args, DeliveryFuture)
            if future is not None:
                return future
        return self._produce_built(args, headers, timestamp)

    def _produce_built(
        self, args: tuple[Any, ...], headers: Headers | None, timestamp: int | None
    ) -> DeliveryFuture:
        """``produce()`` of a call that is not plain: the core builds its message."""
        path = self._path
        if not path.open:
            self._engine.check_open()
        started = now() if self._observing else 0.0
        core = self._core
        try:
            message = core.message(args, headers, timestamp)
        except MissingMetadata:
            message = self._message(args, headers, timestamp)
        waiter = FutureWaiter(core, message.topic, message.partition)
        path.send((message,), (waiter,), self._queue_full_timeout, started)
        return DeliveryFuture(waiter)

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
        engine = self._engine
        path = self._path
        if not path.open:
            engine.check_open()
        started = now() if self._observing else 0.0
        core = self._core
        name = core.topic_name(topic)
        if not isinstance(messages, (list, tuple)):
            messages = list(messages)
        wait = self._queue_full_timeout
        waiting = engine.sync_waiters
        if messages:
            batch = ThreadBatch(len(messages))
            waiting.append(None)  # the batch is waited for: whoever serves flushes, not lingers
            try:
                if path.batch(name, messages, batch, wait, serving=True):
                    self._wait_for(batch)
                    return batch_result(batch, name)
            finally:
                waiting.pop()
        try:
            built = core.batch(name, messages)
        except MissingMetadata as missing:
            refreshed = self._fetch(missing)
            try:
                built = core.batch(name, messages, refreshed=refreshed)
            except MissingMetadata as missing:
                built = core.batch(name, messages, refreshed=self._fetch(missing))
        if not built:
            return []
        batch = ThreadBatch(len(built))
        waiting.append(None)
        try:
            path.send(built, batch.slots(core, built), wait, started, serving=True)
            self._wait_for(batch)
        finally:
            waiting.pop()
        return batch_result(batch, name)

    def _wait_for(self, batch: ThreadBatch) -> None:
        if not batch.is_done():
            deadline = time.monotonic() + self._engine.delivery_wait
            self._wait(batch.lock, batch.is_done, deadline)

    def _wait(self, lock: threading.Lock, done: Callable[[], bool], deadline: float) -> None:
        """
        Wait until ``done()`` or the deadline.

        A lone waiter serves librdkafka's events itself, so no thread hand-off stands
        between its report and its return. When others wait too, the poller serves
        everyone (flushing, so nobody waits for ``linger.ms``) and each waiter sleeps
        on ``lock``, which its last outcome releases: waiters then wake in parallel
        instead of queueing behind one another for the poll lock.
        """
        engine = self._engine
        while True:
            if len(engine.sync_waiters) > 1 or not engine.serve_until(done, deadline):
                engine.wake_poller()
            elif done():
                return
            # The poller serves, or this thread stopped because the producer is closing
            # (close() then delivers or drops the message, and its outcome opens the lock).
            remaining = deadline - time.monotonic()
            if remaining <= 0 or lock.acquire(timeout=min(remaining, _FOLLOWER_NAP)):
                return

    # --- transactions ---------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """
        Run the block as one transaction: commit on a clean exit, abort when it raises.

        Everything produced inside (``produce_sync``, ``produce``,
        ``produce_batch_sync``, from any thread) belongs to the transaction. A
        ``produce_sync`` returns once the broker has the message, but consumers with
        ``isolation.level=read_committed`` see it only after the commit. The commit
        delivers what is still outstanding first, so every ``produce()`` future of
        the transaction is settled when the block ends; an abort fails the pending
        ones with :class:`TransactionAbortedError`. An exception in the block aborts
        the transaction, then propagates as it is.

        Example::

            with producer.transaction():
                producer.produce_sync("orders", "order-7", "paid")
                producer.produce_sync("audit", "order-7", "payment recorded")

        Raises:
            TransactionStateError: The producer has no ``transactional_id``, or a
                transaction is already open on it (transactions do not nest).
            TransactionAbortedError: The commit failed, so the transaction was
                aborted; run it again.
            ProducerFencedError: A newer producer with the same ``transactional_id``
                took over; this one is closed.
            TransactionError: Another failure of the commit; see its flags.

        .. versionadded:: 0.2.0
        """
        engine = self._engine
        if engine.state is not _OPEN:
            engine.check_open()  # a transactional producer inherited through fork() refuses
        transactions = require(self._transactions, "transaction()")
        transactions.begin()
        try:
            yield
        except BaseException as error:
            transactions.abort(error)
            raise
        transactions.commit()

    def send_offsets_to_transaction(
        self, offsets: Iterable[Any], group_metadata: Any, timeout: float | None = None
    ) -> None:
        """
        Commit a consumer group's offsets with the open transaction: consume-transform-produce.

        The offsets count as committed only if the transaction commits, so what was
        read and what was produced from it move together.

        Args:
            offsets: ``confluent_kafka.TopicPartition`` objects holding the *next*
                offset to read per partition, such as ``consumer.position(
                consumer.assignment())``. Logical offsets (no position yet) are skipped.
            group_metadata: The consumer's ``consumer_group_metadata()``.
            timeout: Seconds, retries included; ``delivery_timeout`` when ``None``.

        Raises:
            TransactionStateError: No transaction is open, or the producer is not
                transactional.
            InvalidOffsetsError: ``offsets`` or ``group_metadata`` is malformed.
            TransactionError: The call failed; an ``abortable`` failure fails the
                transaction, which the block then aborts.

        .. versionadded:: 0.2.0
        """
        self._engine.check_open()
        transactions = require(self._transactions, "send_offsets_to_transaction")
        transactions.send_offsets(offsets, group_metadata, timeout)

    # --- topics ---------------------------------------------------------------------------

    def partitions_count(self, topic: str | None = None) -> int:
        """
        How many partitions a topic has, analysing it first if needed.

        Args:
            topic: The topic; the first configured topic when ``None``.

        Returns:
            The partition count.
        """
        engine = self._engine
        engine.check_open()
        name = self._core.default_topic() if topic is None else self._core.topic_name(topic)
        engine.analyse(name)
        return self._core.topics[name].partitions_count

    def refresh_metadata(self) -> None:
        """
        Re-read the partition count of every known topic now.

        Raises:
            ProducerClosedError: The producer is closed.
        """
        self._engine.check_open()
        self._engine.refresh_all()

    # --- lifecycle ------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> int:
        """
        Wait until everything sent so far is acknowledged or failed.

        Args:
            timeout: Seconds to wait; ``delivery_timeout`` when ``None``.

        Returns:
            How many messages are still outstanding (0 when all are settled).
        """
        engine = self._engine
        return engine.flush(engine.delivery_wait if timeout is None else timeout)

    def close(self, timeout: float | None = None) -> None:
        """
        Deliver what is outstanding, then release the connection and its threads.

        Calling it again does nothing.

        Args:
            timeout: Seconds to wait for outstanding messages; ``delivery_timeout`` when ``None``.

        Raises:
            UndeliveredMessagesError: Messages were still unacknowledged at the timeout; they
                were dropped and their futures failed. ``undelivered`` holds the count.
        """
        engine = self._engine
        left = engine.close(engine.delivery_wait if timeout is None else timeout)
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
