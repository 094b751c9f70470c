"""
``AsyncProducer``: the asyncio face. It holds only the waiting, and the loop never waits.

librdkafka's ``produce()`` never blocks (it refuses when its queue is full, and the
task then sleeps without blocking the loop). A plain call costs the loop a
placement, a hand-over and one asyncio future (:meth:`kaffe._hot.HotPath.loop_waiter`);
everything that can wait runs in a worker thread: start-up analysis, metadata for a
topic not analysed yet or for a partition beyond the known count,
``refresh_metadata()``, ``flush()``, ``aclose()``, batches and every transactional
call. The engine's poller serves librdkafka's delivery reports and hands outcomes
to the loop in bursts: one ``call_soon_threadsafe`` wakes the loop for every
outcome that arrives before it runs (:class:`kaffe._hot.LoopHandOff`).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, overload

from ._config import ProducerConfig, ProducerOptions
from ._core import MissingMetadata, ProducerBase, State, batch_result, now
from ._engine import Engine
from ._errors import (
    ProducerClosedError,
    QueueFullError,
    UndeliveredMessagesError,
)
from ._hot import HotPath, LoopBatch, LoopHandOff, LoopWaiter
from ._transactions import Transactions, require, start_transactions
from ._types import Delivery, Headers, Message, OutgoingMessage

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

__all__ = ["AsyncProducer"]

_QUEUE_FULL_PAUSE = 0.005
_OPEN = State.OPEN


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
        self._path: HotPath | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._hand_off: LoopHandOff | None = None
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
        self._hand_off = LoopHandOff(loop)
        engine = await asyncio.to_thread(Engine, self._core)
        try:
            await asyncio.to_thread(engine.analyse_configured)
            self._transactions = await asyncio.to_thread(start_transactions, engine)
        except BaseException:
            await asyncio.to_thread(engine.abandon)
            raise
        engine.start_refresher()
        self._engine = engine
        self._path = engine.path

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
        self._hand_off = LoopHandOff(loop)

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

    async def _send(
        self, args: tuple[Any, ...], headers: Headers | None, timestamp: int | None
    ) -> LoopWaiter:
        """
        Hand one message over: the path's way for a plain call, else the core's.

        Returns:
            Its waiter, whose ``future`` resolves on acknowledgement.
        """
        path = self._path
        if path is None or not path.open:
            self._open_engine()
        assert path is not None
        assert self._hand_off is not None
        waiter = None
        if headers is None and timestamp is None:
            waiter = path.loop_waiter(args, self._hand_off)
        if waiter is None:
            return await self._send_built(args, headers, timestamp)
        if waiter.queued is not None:
            await self._hand_over_when_room(waiter.queued, waiter, 0.0)
        return waiter

    async def _send_built(
        self, args: tuple[Any, ...], headers: Headers | None, timestamp: int | None
    ) -> LoopWaiter:
        """Hand one message over that the core builds (fetching metadata as needed)."""
        path = self._open_engine().path
        started = now() if self._observing else 0.0
        try:
            message = self._core.message(args, headers, timestamp)
        except MissingMetadata:
            message = await self._message(args, headers, timestamp)
        loop = self._loop
        assert loop is not None
        assert self._hand_off is not None
        waiter = LoopWaiter(
            self._core, message.topic, message.partition, loop.create_future(), self._hand_off
        )
        if not path.send((message,), (waiter,), None, started):
            await self._hand_over_when_room(message, waiter, started)
        return waiter

    async def _hand_over_when_room(
        self, message: OutgoingMessage, waiter: LoopWaiter, started: float
    ) -> None:
        """Offer a message again while librdkafka's queue is full, sleeping between tries."""
        loop = self._loop
        assert loop is not None
        deadline = loop.time() + self._queue_full_timeout
        while True:
            await asyncio.sleep(_QUEUE_FULL_PAUSE)
            engine = self._open_engine()
            if engine.path.send((message,), (waiter,), None, started):
                return
            if loop.time() >= deadline:
                error = QueueFullError(
                    f"librdkafka's queue stayed full for {self._queue_full_timeout:g}s "
                    f"while producing to {message.topic!r}; the cluster is not keeping up",
                    topic=message.topic,
                    partition=message.partition,
                    reason="queue full",
                    retriable=True,
                )
                waiter(error, None)
                raise error

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
        waiter = await self._send(args, headers, timestamp)
        return waiter.future

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
        and is delivered (once) all the same. librdkafka reports every message
        within ``delivery_timeout`` (its ``delivery.timeout.ms``), so the call
        resolves, or raises, by then.

        Returns:
            Where the message was stored.
        """
        path = self._path
        if path is None or not path.open:
            self._open_engine()
        assert path is not None
        hand_off = self._hand_off
        assert hand_off is not None
        waiting = path.engine.sync_waiters
        waiting.append(None)  # from here on, whoever serves flushes instead of lingering
        try:
            # The plain call's way inline: no coroutine of its own per message.
            plain = headers is None and timestamp is None
            waiter = path.loop_waiter(args, hand_off) if plain else None
            if waiter is None:
                waiter = await self._send_built(args, headers, timestamp)
            elif waiter.queued is not None:
                await self._hand_over_when_room(waiter.queued, waiter, 0.0)
            return await waiter.future
        finally:
            waiting.pop()

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
        path = engine.path
        started = now() if self._observing else 0.0
        core = self._core
        name = core.topic_name(topic)
        if not isinstance(messages, (list, tuple)):
            messages = list(messages)
        loop = self._loop
        hand_off = self._hand_off
        assert loop is not None
        assert hand_off is not None
        wait = self._queue_full_timeout
        waiting = engine.sync_waiters
        # A full queue is waited out in a worker thread (the context goes along, so
        # observers see the caller's), never on the loop.
        if messages:
            batch = LoopBatch(len(messages), loop.create_future(), hand_off)
            waiting.append(None)  # the batch is awaited: whoever serves flushes, not lingers
            try:
                if await asyncio.to_thread(path.batch, name, messages, batch, wait, False):
                    return await self._batch_outcome(batch, name)
            finally:
                waiting.pop()
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
        batch = LoopBatch(len(built), loop.create_future(), hand_off)
        waiting.append(None)
        try:
            await asyncio.to_thread(path.send, built, batch.slots(core, built), wait, started)
            return await self._batch_outcome(batch, name)
        finally:
            waiting.pop()

    async def _batch_outcome(self, batch: LoopBatch, topic: str) -> list[Delivery]:
        engine = self._open_engine()
        engine.wake_poller()
        if not batch.future.done():
            await asyncio.wait([batch.future], timeout=engine.delivery_wait)
        return batch_result(batch, topic)

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
