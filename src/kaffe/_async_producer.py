"""
``AsyncProducer``: the asyncio face. It holds only the waiting, and the loop never waits.

librdkafka's ``produce()`` never blocks (it refuses when its queue is full, and the
task then sleeps without blocking the loop). Everything that can wait runs in a
worker thread: start-up analysis, metadata for a topic not analysed yet or for a
partition beyond the known count, ``refresh_metadata()``, ``flush()``,
``aclose()`` and every transactional call. Outcomes are served by the engine's
threads (or on the loop itself, once per loop iteration while tasks produce) and
handed to the loop in bursts: one ``call_soon_threadsafe`` wakes the loop for
every outcome that arrives before it runs.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, overload

from ._config import ProducerConfig, ProducerOptions
from ._core import Batch, Core, MissingMetadata, ProducerBase, State, Waiter, now
from ._engine import Engine
from ._errors import (
    DeliveryTimeoutError,
    KaffeError,
    ProducerClosedError,
    QueueFullError,
    UndeliveredMessagesError,
)
from ._transactions import Transactions, require, start_transactions
from ._types import Delivery, Headers, Message, OutgoingMessage

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

__all__ = ["AsyncProducer"]

_QUEUE_FULL_PAUSE = 0.005
_OPEN = State.OPEN


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled by its waiter; the message was still sent
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class _LoopHandOff:
    """
    Hands outcomes to the event loop: one wake-up for every burst of outcomes.

    Outcomes served on the loop thread itself settle at once; outcomes served on
    another thread queue up, and the first of a burst schedules one drain on the
    loop (``append``/``popleft`` are atomic, and the flag is re-armed before the
    drain empties the queue, so no outcome is ever left behind).
    """

    __slots__ = ("loop", "on_loop", "pending", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: collections.deque[tuple[asyncio.Future[Any], Any, bool]] = collections.deque()
        self.scheduled = False
        #: True while the loop thread itself serves outcomes.
        self.on_loop = False

    def push(self, future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
        if self.on_loop:
            _settle(future, outcome, failed)
            return
        self.pending.append((future, outcome, failed))
        if not self.scheduled:
            self.scheduled = True
            # RuntimeError: the loop is closed, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        self.scheduled = False
        pending = self.pending
        while pending:
            _settle(*pending.popleft())


class _AsyncWaiter(Waiter):
    """Where the outcome of one message of the asyncio face lands: an asyncio future."""

    __slots__ = ("future", "hand_off")

    def __init__(self, core: Core, future: asyncio.Future[Delivery], hand_off: _LoopHandOff):
        self.core = core
        self.contexts = None
        self.future = future
        self.hand_off = hand_off

    def resolve(self, delivery: Delivery) -> None:
        self.hand_off.push(self.future, delivery, False)

    def reject(self, error: KaffeError) -> None:
        self.hand_off.push(self.future, error, True)


class _LoopBatch(Batch):
    """A batch a task awaits: its future resolves when the last outcome is in."""

    __slots__ = ("future", "hand_off")

    def __init__(self, size: int, future: asyncio.Future[None], hand_off: _LoopHandOff) -> None:
        super().__init__(size)
        self.future = future
        self.hand_off = hand_off

    def complete(self) -> None:
        self.hand_off.push(self.future, None, False)


class AsyncProducer(ProducerBase):
    """
    The asyncio twin of :class:`kaffe.Producer`, with the same options and operations.

    Example::

        async with kaffe.AsyncProducer(endpoints="127.0.0.1:9092", topics=["events"]) as producer:
            delivery = await producer.produce_sync("key", "value")

    Construct it anywhere; ``await start()`` (or ``async with``) connects and analyses
    the topics. Use it from the event loop that started it. In a process forked after
    it started, its first call there opens the process's own connection and binds the
    producer to that process's running loop, as :class:`kaffe.Producer` does after
    ``fork()``; the parent's messages in flight stay the parent's.

    Args:
        config: A prepared :class:`ProducerConfig`; keyword options override it.
        **options: The options of :class:`ProducerConfig`.
    """

    _UNCLOSED_HINT = "await aclose() or use 'async with'"

    def __init__(
        self, config: ProducerConfig | None = None, /, **options: Unpack[ProducerOptions]
    ) -> None:
        super().__init__(config, **options)
        self._engine: Engine | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hand_off: _LoopHandOff | None = None
        #: True while a serving turn is scheduled on the loop (see ``_serve_soon``).
        self._serve_scheduled = False
        #: Futures ``produce_sync`` awaits, with their deadlines (loop time), oldest first;
        #: settled ones leave when the watchdog passes them. One watchdog timer fails
        #: overdue ones: far cheaper than a timer per message.
        self._awaited: collections.deque[tuple[float, asyncio.Future[Delivery]]] = (
            collections.deque()
        )
        self._watchdog: asyncio.TimerHandle | None = None
        self._closing = False
        self._transactions: Transactions | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Self:
        """
        Build an unstarted producer from ``KAFFE_*`` variables.

        Args:
            environ: The environment; ``os.environ`` when ``None``.
            **overrides: Options that win over the environment.

        Returns:
            The producer; ``await start()`` it or use ``async with``.
        """
        return cls(ProducerConfig.from_env(environ, **overrides))

    async def start(self) -> None:
        """
        Connect and analyse the configured topics, like Kaffe's ``start_link``.

        Raises:
            BrokerUnavailableError: No broker answered within ``start_timeout``.
            UnknownTopicError: A configured topic does not exist.
            TransactionError: With ``transactional_id``, transactions could not be
                initialised within ``start_timeout``.
        """
        if self._engine is not None:
            self._open_engine()
            return
        if self._closing:
            raise ProducerClosedError("the producer is closed; create a new one", reason="closed")
        loop = self._loop = asyncio.get_running_loop()
        self._hand_off = _LoopHandOff(loop)
        engine = await asyncio.to_thread(Engine, self._core)
        try:
            await asyncio.to_thread(engine.analyse_configured)
            self._transactions = await asyncio.to_thread(start_transactions, engine)
        except BaseException:
            await asyncio.to_thread(engine.abandon)
            raise
        engine.start_refresher()
        self._engine = engine

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

    def _open_engine(self) -> Engine:
        engine = self._engine
        if engine is None:
            if self._closing:
                raise ProducerClosedError(
                    "the producer is closed; create a new one", reason="closed"
                )
            raise ProducerClosedError("the producer is not started yet", reason="not started")
        if engine.state is not _OPEN:
            forked = engine.state is State.FORKED
            engine.check_open()  # re-opens a producer inherited through fork()
            if forked:
                self._bind_to_running_loop()
        return engine

    def _bind_to_running_loop(self) -> None:
        """
        Serve this process's running loop: the producer was inherited through fork().

        The parent's loop, and the futures its tasks await, stay the parent's: they are
        never settled here.
        """
        loop = self._loop = asyncio.get_running_loop()
        self._hand_off = _LoopHandOff(loop)
        self._serve_scheduled = False
        self._awaited = collections.deque()
        self._watchdog = None

    # --- building, with metadata fetched off the loop ------------------------------------

    async def _message(
        self, args: tuple[Any, ...], headers: Headers | None, timestamp: int | None
    ) -> OutgoingMessage:
        core = self._core
        refreshed = False
        for _ in range(2):
            try:
                return core.message(args, headers, timestamp, refreshed=refreshed)
            except MissingMetadata as missing:
                refreshed = await self._fetch(missing)
        return core.message(args, headers, timestamp, refreshed=True)

    async def _fetch(self, missing: MissingMetadata) -> bool:
        """Fetch what the core misses in a worker thread; return True when it was a re-read."""
        engine = self._open_engine()
        if missing.partition is None:
            await asyncio.to_thread(engine.analyse, missing.topic)
            return False
        await asyncio.to_thread(engine.refresh, missing.topic)
        return True

    # --- producing ------------------------------------------------------------------------

    def _hand_over(
        self, engine: Engine, message: OutgoingMessage, started: float
    ) -> tuple[asyncio.Future[Delivery], _AsyncWaiter | None]:
        """
        Hand one message to librdkafka at once, without awaiting anything.

        Returns:
            Its future, and ``None``; or, when librdkafka's queue is full, the future and
            the waiter still to hand over (see :meth:`_hand_over_when_room`).
        """
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[Delivery] = loop.create_future()
        waiter = _AsyncWaiter(self._core, future, self._hand_off)  # type: ignore[arg-type]
        if not engine.send((message,), (waiter,), None, started):
            return future, waiter
        if not self._serve_scheduled:
            self._produced()
        return future, None

    async def _hand_over_when_room(
        self, message: OutgoingMessage, waiter: _AsyncWaiter, started: float
    ) -> None:
        """Offer a message again while librdkafka's queue is full, sleeping between tries."""
        loop = self._loop
        assert loop is not None
        deadline = loop.time() + self._queue_full_timeout
        while True:
            await asyncio.sleep(_QUEUE_FULL_PAUSE)
            engine = self._open_engine()
            if engine.send((message,), (waiter,), None, started):
                self._produced()
                return
            if loop.time() >= deadline:
                error = QueueFullError(
                    f"librdkafka's queue stayed full for {self._queue_full_timeout:g}s "
                    f"while producing to {message[0]!r}; the cluster is not keeping up",
                    topic=message[0],
                    partition=message[1],
                    reason="queue full",
                    retriable=True,
                )
                waiter(error, None)
                raise error

    def _produced(self) -> None:
        if not self._serve_scheduled:
            # Serve reports on the loop once per loop iteration while it produces:
            # callbacks then run here, without a GIL hand-off per report.
            self._serve_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._serve_soon)

    def _serve_soon(self) -> None:
        self._serve_scheduled = False
        engine = self._engine
        hand_off = self._hand_off
        if engine is None or hand_off is None or engine.state is not _OPEN:
            return
        hand_off.on_loop = True
        try:
            engine.serve_ready()
        finally:
            hand_off.on_loop = False

    @overload
    async def produce(
        self,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> asyncio.Future[Delivery]: ...
    @overload
    async def produce(
        self,
        topic: str,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> asyncio.Future[Delivery]: ...
    @overload
    async def produce(
        self,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> asyncio.Future[Delivery]: ...
    async def produce(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> asyncio.Future[Delivery]:
        """
        Hand one message over and return a future of its :class:`Delivery` at once.

        Takes the same forms as :meth:`produce_sync`. Awaiting this call only waits
        (without blocking the loop) for metadata of a topic not analysed yet, or
        while librdkafka's queue is full.

        Returns:
            An asyncio future that resolves on acknowledgement.
        """
        engine = self._open_engine()
        started = now() if self._observing else 0.0
        try:
            message = self._core.message(args, headers, timestamp)
        except MissingMetadata:
            message = await self._message(args, headers, timestamp)
        future, waiting = self._hand_over(engine, message, started)
        if waiting is not None:
            await self._hand_over_when_room(message, waiting, started)
        return future

    @overload
    async def produce_sync(
        self,
        key: Any,
        value: Any,
        /,
        *,
        headers: Headers | None = None,
        timestamp: int | None = None,
    ) -> Delivery: ...
    @overload
    async def produce_sync(
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
    async def produce_sync(
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
    async def produce_sync(
        self, *args: Any, headers: Headers | None = None, timestamp: int | None = None
    ) -> Delivery:
        """
        Send one message and resolve once the broker acknowledges it.

        The forms are those of :meth:`kaffe.Producer.produce_sync`. Cancelling the
        awaiting task does not withdraw the message: it was handed to librdkafka
        and is delivered (once) all the same.

        Returns:
            Where the message was stored.
        """
        engine = self._open_engine()
        started = now() if self._observing else 0.0
        try:
            message = self._core.message(args, headers, timestamp)
        except MissingMetadata:
            message = await self._message(args, headers, timestamp)
        waiting = engine.sync_waiters
        waiting.append(None)  # from here on, whoever serves flushes instead of lingering
        try:
            future, stuck = self._hand_over(engine, message, started)
            if stuck is not None:
                await self._hand_over_when_room(message, stuck, started)
            if not future.done():
                loop = self._loop
                assert loop is not None
                awaited = self._awaited
                while awaited and awaited[0][1].done():  # keep it short: drop settled ones
                    awaited.popleft()
                awaited.append((loop.time() + engine.delivery_wait, future))
                if self._watchdog is None:
                    self._watchdog = loop.call_later(engine.delivery_wait, self._expire_overdue)
            return await future
        finally:
            waiting.pop()

    def _expire_overdue(self) -> None:
        """Fail awaited futures whose report is overdue; re-arm for the next deadline."""
        loop = self._loop
        engine = self._engine
        assert loop is not None
        assert engine is not None
        now_ = loop.time()
        awaited = self._awaited
        while awaited:
            deadline, future = awaited[0]
            if future.done():  # settled in time: nothing to do
                awaited.popleft()
                continue
            if deadline > now_:
                break
            awaited.popleft()
            future.set_exception(  # a report that comes in later is ignored
                DeliveryTimeoutError(
                    f"no delivery report within {engine.delivery_wait:g}s",
                    reason="timed out",
                    retriable=True,
                )
            )
        self._watchdog = loop.call_at(awaited[0][0], self._expire_overdue) if awaited else None

    async def produce_batch_sync(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[Delivery]:
        """
        Send many messages to one topic; resolve when every one is acknowledged.

        See :meth:`kaffe.Producer.produce_batch_sync`; every message is checked
        before any is sent.

        Returns:
            The deliveries, in input order.

        Raises:
            BatchProduceError: Some messages failed; it lists which were delivered.
        """
        engine = self._open_engine()
        started = now() if self._observing else 0.0
        core = self._core
        name = core.topic_name(topic)
        if not isinstance(messages, (list, tuple)):
            messages = list(messages)
        refreshed = False
        for attempt in range(3):
            try:
                built = core.batch(name, messages, refreshed=refreshed or attempt == 2)
                break
            except MissingMetadata as missing:
                if attempt == 2:
                    raise
                refreshed = await self._fetch(missing)
        if not built:
            return []
        loop = self._loop
        assert loop is not None
        assert self._hand_off is not None
        done: asyncio.Future[None] = loop.create_future()
        batch = _LoopBatch(len(built), done, self._hand_off)
        slots = batch.slots(core)
        waiting = engine.sync_waiters
        waiting.append(None)  # the batch is awaited: whoever serves flushes, not lingers
        try:
            # A full queue is waited out in a worker thread (the context goes along,
            # so observers see the caller's), never on the loop.
            await asyncio.to_thread(engine.send, built, slots, self._queue_full_timeout, started)
            self._produced()
            engine.wake_poller()
            if not done.done():
                await asyncio.wait([done], timeout=engine.delivery_wait)
        finally:
            waiting.pop()
        return batch.result(name)

    # --- transactions ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """
        Run the block as one transaction: commit on a clean exit, abort when it raises.

        See :meth:`kaffe.Producer.transaction`; beginning, committing and aborting
        run in a worker thread, never on the event loop.

        Example::

            async with producer.transaction():
                await producer.produce_sync("orders", "order-7", "paid")

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
        self._open_engine()
        transactions = require(self._transactions, "transaction()")
        await asyncio.to_thread(transactions.begin)
        try:
            yield
        except BaseException as error:
            await asyncio.to_thread(transactions.abort, error)
            raise
        await asyncio.to_thread(transactions.commit)

    async def send_offsets_to_transaction(
        self, offsets: Iterable[Any], group_metadata: Any, timeout: float | None = None
    ) -> None:
        """
        Commit a consumer group's offsets with the open transaction, in a worker thread.

        See :meth:`kaffe.Producer.send_offsets_to_transaction`.

        .. versionadded:: 0.2.0
        """
        self._open_engine()
        transactions = require(self._transactions, "send_offsets_to_transaction")
        await asyncio.to_thread(transactions.send_offsets, offsets, group_metadata, timeout)

    async def partitions_count(self, topic: str | None = None) -> int:
        """
        How many partitions a topic has, analysing it first if needed.

        Args:
            topic: The topic; the first configured topic when ``None``.

        Returns:
            The partition count.
        """
        engine = self._open_engine()
        core = self._core
        name = core.default_topic() if topic is None else core.topic_name(topic)
        if name not in core.topics:
            await asyncio.to_thread(engine.analyse, name)
        return core.topics[name].partitions_count

    async def refresh_metadata(self) -> None:
        """
        Re-read the partition count of every known topic now, in a worker thread.

        Raises:
            ProducerClosedError: The producer is closed.
        """
        engine = self._open_engine()
        await asyncio.to_thread(engine.refresh_all)

    # --- lifecycle ------------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> int:
        """
        Wait until everything sent so far is acknowledged or failed.

        Args:
            timeout: Seconds; ``delivery_timeout`` when ``None``.

        Returns:
            How many messages are still outstanding.
        """
        engine = self._open_engine()
        return await asyncio.to_thread(
            engine.flush, engine.delivery_wait if timeout is None else timeout
        )

    async def aclose(self, timeout: float | None = None) -> None:
        """
        Deliver what is outstanding, then release the connection and its threads.

        Calling it again does nothing.

        Args:
            timeout: Seconds to wait; ``delivery_timeout`` when ``None``.

        Raises:
            UndeliveredMessagesError: Messages were still unacknowledged at the timeout.
        """
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        engine = self._engine
        if engine is not None and engine.state is State.FORKED:
            engine.close(0)  # inherited through fork() and never used here: nothing to deliver
        if engine is None or engine.state is not _OPEN:
            return
        try:
            left = await asyncio.to_thread(
                engine.close, engine.delivery_wait if timeout is None else timeout
            )
        finally:
            await asyncio.sleep(0)  # let the last resolutions run
        if left:
            raise UndeliveredMessagesError(
                f"aclose() timed out with {left} message(s) not acknowledged; they were dropped",
                undelivered=left,
            )
