"""
``Producer``: the threaded face. It holds only the waiting; calls block the calling thread.

A call is built into one message by the core, handed to librdkafka by the engine's
one ``send``, and settled through the core's one outcome function. This module
adds the three ways a thread waits for outcomes: a lock per ``produce_sync``, a
:class:`DeliveryFuture` per ``produce()``, and one wake-up per batch.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future
from types import TracebackType
from typing import Any, overload

from ._config import ProducerConfig, ProducerOptions
from ._core import Batch, Core, MissingMetadata, ProducerBase, State, Waiter, now
from ._engine import Engine
from ._errors import DeliveryTimeoutError, KaffeError, UndeliveredMessagesError
from ._transactions import Transactions, require, start_transactions
from ._types import Delivery, Headers, Message, OutgoingMessage

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

__all__ = ["DeliveryFuture", "Producer"]

#: Seconds a waiting caller sleeps on its own report before checking whether it can lead.
_FOLLOWER_NAP = 0.1
_OPEN = State.OPEN
#: Guards turning a :class:`DeliveryFuture` into a full ``concurrent.futures.Future``.
_MATERIALIZE = threading.Lock()


def _new_locks_after_fork() -> None:
    """In a forked child, replace the module's lock: a parent's thread may have held it."""
    global _MATERIALIZE
    _MATERIALIZE = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_locks_after_fork)


class _SyncWaiter(Waiter):
    """Where the outcome of one ``produce_sync`` lands; its lock opens when it does."""

    __slots__ = ("delivery", "done", "error", "lock")

    def __init__(self, core: Core) -> None:
        self.core = core
        self.contexts = None
        self.done = False
        self.delivery: Delivery | None = None
        self.error: KaffeError | None = None
        self.lock = threading.Lock()
        self.lock.acquire()

    def resolve(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.done = True
        self.lock.release()

    def reject(self, error: KaffeError) -> None:
        self.error = error
        self.done = True
        self.lock.release()

    def is_done(self) -> bool:
        return self.done


class DeliveryFuture(Waiter, Future[Delivery]):
    """
    The future of one ``produce()``: a ``concurrent.futures.Future[Delivery]``.

    It works wherever a ``concurrent.futures.Future`` does (``result()``,
    ``exception()``, ``add_done_callback()``, ``concurrent.futures.wait()`` and
    ``as_completed()``, ``asyncio.wrap_future()``), with these semantics:

    * it starts *running*: the message is handed over and cannot be withdrawn, so
      ``cancel()`` returns False and ``cancelled()`` is always False;
    * it resolves with the :class:`~kaffe.Delivery` once the broker acknowledges the
      message, or with the :class:`~kaffe.KaffeError` it failed with;
    * futures nobody waits on stay cheap: the machinery of a full
      ``concurrent.futures.Future`` (its condition variable) is set up, through its
      public constructor, only when something waits on a future still pending or
      hands it to ``concurrent.futures``.

    .. versionadded:: 0.2.0
       Its own type; ``produce()`` returned a plain ``concurrent.futures.Future`` before.
    """

    # Class defaults instead of per-instance assignments: most futures are never
    # waited on, so creating one must cost as little as possible. (Instances keep a
    # __dict__, as concurrent.futures.Future has no __slots__.)
    contexts = None
    _settled = False
    _outcome: Delivery | KaffeError | None = None
    _stdlib = False

    def __init__(self, core: Core) -> None:  # no Future.__init__ yet: see _materialize
        self.core = core

    # --- settling (from the outcome function) -------------------------------------------

    def resolve(self, delivery: Delivery) -> None:
        self._outcome = delivery
        self._settled = True
        if self._stdlib:  # someone waits or watches through the full Future
            with _MATERIALIZE:
                self._settle_stdlib()

    def reject(self, error: KaffeError) -> None:
        self._outcome = error
        self._settled = True
        if self._stdlib:
            with _MATERIALIZE:
                self._settle_stdlib()

    def _settle_stdlib(self) -> None:
        # Called with _MATERIALIZE held, once the full Future exists.
        if Future.done(self):
            return
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            Future.set_exception(self, outcome)
        elif outcome is not None:
            Future.set_result(self, outcome)

    def _materialize(self) -> None:
        """Set up the full ``concurrent.futures.Future``, through its public API only."""
        with _MATERIALIZE:
            if self._stdlib:
                return
            Future.__init__(self)
            Future.set_running_or_notify_cancel(self)
            self._stdlib = True
            if self._settled:
                self._settle_stdlib()

    # --- the Future API ---------------------------------------------------------------------

    def done(self) -> bool:
        """Return True once the message is acknowledged or failed."""
        return self._settled

    def running(self) -> bool:
        """Return True while the outcome is pending."""
        return not self._settled

    def cancelled(self) -> bool:
        """Return False: a message handed to librdkafka cannot be withdrawn."""
        return False

    def cancel(self) -> bool:
        """Return False: a message handed to librdkafka cannot be withdrawn."""
        return False

    def result(self, timeout: float | None = None) -> Delivery:
        """
        Wait up to ``timeout`` seconds for the delivery and return it.

        Raises:
            KaffeError: The message was not delivered, typed as in the exception tree.
            TimeoutError: Not settled within ``timeout``.
        """
        if self._settled:
            outcome = self._outcome
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome  # type: ignore[return-value]
        self._materialize()
        return Future.result(self, timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """
        Wait up to ``timeout`` seconds; return the delivery error, or None when delivered.

        Raises:
            TimeoutError: Not settled within ``timeout``.
        """
        if self._settled:
            outcome = self._outcome
            return outcome if isinstance(outcome, BaseException) else None
        self._materialize()
        return Future.exception(self, timeout)

    def add_done_callback(self, fn: Callable[[Future[Delivery]], object]) -> None:
        """Call ``fn(future)`` when the future settles (at once when it has)."""
        if self._settled and not self._stdlib:
            fn(self)
            return
        self._materialize()
        Future.add_done_callback(self, fn)

    def set_result(self, result: Any) -> None:
        """Refused: only the producer settles its futures."""
        raise RuntimeError("a kaffe DeliveryFuture is settled by its producer only")

    def set_exception(self, exception: BaseException | None) -> None:
        """Refused: only the producer settles its futures."""
        raise RuntimeError("a kaffe DeliveryFuture is settled by its producer only")

    def __repr__(self) -> str:
        if not self._settled:
            return f"<DeliveryFuture at {id(self):#x} pending>"
        outcome = self._outcome
        kind = "failed" if isinstance(outcome, BaseException) else "delivered"
        return f"<DeliveryFuture at {id(self):#x} {kind}: {outcome!r}>"


def _read_after_materializing(name: str) -> functools.cached_property[Any]:
    def read(future: DeliveryFuture) -> Any:
        future._materialize()
        return future.__dict__[name]

    read.__name__ = name
    return functools.cached_property(read)


# What concurrent.futures.wait(), as_completed() and Future's own methods read.
# Until something waits or watches, a DeliveryFuture has none of them: the first read
# runs Future's public constructor (see DeliveryFuture._materialize), which sets them on
# the instance, where every later read finds them directly.
for _name in ("_condition", "_state", "_waiters", "_done_callbacks", "_result", "_exception"):
    _field = _read_after_materializing(_name)
    _field.__set_name__(DeliveryFuture, _name)
    setattr(DeliveryFuture, _name, _field)
del _name, _field


_new_future = object.__new__


def _bound_futures(core: Core) -> type[DeliveryFuture]:
    """
    A :class:`DeliveryFuture` type bound to one producer's core.

    ``produce()`` runs once per message, and most futures are never waited on: with
    the core on the type, a future is made by ``object.__new__`` alone, without a
    constructor call or an attribute to set.
    """
    return type(
        DeliveryFuture.__name__,
        (DeliveryFuture,),
        {
            "__slots__": (),
            "__module__": DeliveryFuture.__module__,
            "__qualname__": DeliveryFuture.__qualname__,
            "core": core,
        },
    )


class _ThreadBatch(Batch):
    """A batch a thread waits for: its lock opens when the last outcome is in."""

    __slots__ = ("lock",)

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.lock = threading.Lock()
        self.lock.acquire()

    def complete(self) -> None:
        self.lock.release()


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
        self._future_type = _bound_futures(self._core)
        engine = self._engine = Engine(self._core)
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
        if engine.state is not _OPEN:
            engine.check_open()
        started = now() if self._observing else 0.0
        message = self._message(args, headers, timestamp)
        waiter = _SyncWaiter(self._core)
        waiting = engine.sync_waiters
        waiting.append(None)  # from here on, whoever serves flushes instead of lingering
        try:
            engine.send(
                (message,),
                (waiter,),
                self._queue_full_timeout,
                started,
                serving=len(waiting) == 1,  # a lone waiter serves itself; see _wait
            )
            self._wait(waiter.lock, waiter.is_done, time.monotonic() + engine.delivery_wait)
        finally:
            waiting.pop()
        if not waiter.done:
            raise DeliveryTimeoutError(
                f"no delivery report for topic {message[0]!r} partition "
                f"{message[1]} within {engine.delivery_wait:g}s",
                topic=message[0],
                partition=message[1],
                reason="timed out",
                retriable=True,
            )
        if waiter.error is not None:
            raise waiter.error
        return waiter.delivery  # type: ignore[return-value]

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
        engine = self._engine
        if engine.state is not _OPEN:
            engine.check_open()
        started = now() if self._observing else 0.0
        core = self._core
        try:
            message = core.message(args, headers, timestamp)
        except MissingMetadata:
            message = self._message(args, headers, timestamp)
        future = _new_future(self._future_type)  # no per-instance setup: see _bound_futures
        engine.send((message,), (future,), self._queue_full_timeout, started)
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
        engine = self._engine
        if engine.state is not _OPEN:
            engine.check_open()
        started = now() if self._observing else 0.0
        core = self._core
        name = core.topic_name(topic)
        if not isinstance(messages, (list, tuple)):
            messages = list(messages)
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
        batch = _ThreadBatch(len(built))
        waiting = engine.sync_waiters
        waiting.append(None)  # the batch is waited for: whoever serves flushes, not lingers
        try:
            engine.send(built, batch.slots(core), self._queue_full_timeout, started, serving=True)
            if not batch.is_done():
                self._wait(batch.lock, batch.is_done, time.monotonic() + engine.delivery_wait)
        finally:
            waiting.pop()
        return batch.result(name)

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
