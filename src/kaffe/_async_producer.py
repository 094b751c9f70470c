"""
``AsyncProducer``: the asyncio face. Nothing that can wait runs on the event loop.

librdkafka's ``produce()`` never blocks (it raises when its queue is full, and the
loop then sleeps without blocking); metadata requests run in a worker thread; and
delivery reports are served by the engine's poller thread, which resolves the
waiting futures in batches with one ``call_soon_threadsafe`` per poll.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, overload

from ._base import NOT_TAKEN, BaseProducer, Engine, State, TopicState, to_delivery
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

__all__ = ["AsyncProducer"]

_QUEUE_FULL_PAUSE = 0.005
_OPEN = State.OPEN
#: What ``rk.produce`` raises for a message it did not take (see ``_enqueue``).


class _AsyncSlot:
    """Delivery callback that hands the outcome of one message to the event loop."""

    __slots__ = ("future", "producer")

    def __init__(self, future: asyncio.Future[Delivery], producer: AsyncProducer) -> None:
        self.future = future
        self.producer = producer

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        engine = self.producer._engine
        assert engine is not None
        if error is None:
            engine.async_done.append((self.future, to_delivery(message), False))
        else:
            engine.async_done.append(
                (self.future, self.producer._failed(engine, error, message), True)
            )


class AsyncProducer(BaseProducer):
    """
    The asyncio twin of :class:`kaffe.Producer`, with the same options and operations.

    Example::

        async with kaffe.AsyncProducer(endpoints="127.0.0.1:9092", topics=["events"]) as producer:
            delivery = await producer.produce_sync("key", "value")

    Construct it anywhere; ``await start()`` (or ``async with``) connects and analyses
    the topics. Use it from the event loop that started it.

    Args:
        config: A prepared :class:`ProducerConfig`; keyword options override it.
        **options: The options of :class:`ProducerConfig`.
    """

    _UNCLOSED_HINT = "await aclose() or use 'async with'"

    def __init__(
        self, config: ProducerConfig | None = None, /, **options: Unpack[ProducerOptions]
    ) -> None:
        super().__init__(config, **options)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: True while a serving turn is scheduled on the loop (see ``_serve_soon``).
        self._serve_scheduled = False
        #: Futures ``produce_sync`` awaits, with their deadlines (loop time), oldest first.
        #: One watchdog timer fails overdue ones: far cheaper than a timer per message.
        self._awaited: dict[asyncio.Future[Delivery], float] = {}
        self._watchdog: asyncio.TimerHandle | None = None

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
        """
        if self._state is State.OPEN:
            return
        if self._state is not State.UNOPENED:
            self._check_open()
        self._loop = asyncio.get_running_loop()
        engine = await asyncio.to_thread(self._open_engine)
        engine.async_loop = self._loop
        self._state = State.OPEN
        try:
            await asyncio.to_thread(self._analyse_topics)
        except BaseException:
            self._state = State.CLOSED
            await asyncio.to_thread(engine.discard)
            raise
        self._start_refresher()

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

    # --- producing ------------------------------------------------------------------------

    async def _state_of(self, topic: str) -> TopicState:
        state = self._topics.get(topic)
        if state is None:
            state = await asyncio.to_thread(self._analyse_topic, topic)
        return state

    async def _submit(
        self,
        engine: Engine,
        args: tuple[Any, ...],
        headers: Headers | None,
        timestamp: int | None,
    ) -> asyncio.Future[Delivery]:
        chosen = self._plain_partition(args, headers)
        if chosen is not None:
            topic, key, value = args
            built: tuple[int, Any, Any, Any] = (chosen, key, value, None)
        else:
            topic, partition, key, value = self._parse_call(args)
            if topic not in self._topics:
                await self._state_of(topic)
            built = self._build(topic, partition, key, value, headers)
        future = self._enqueue_now(engine, topic, *built, timestamp)
        if future is None:  # librdkafka's queue is full: wait for room without blocking
            future = await self._enqueue(engine, topic, *built, timestamp)
        return future

    def _enqueue_now(
        self,
        engine: Engine,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        headers: Any,
        timestamp: int | None,
    ) -> asyncio.Future[Delivery] | None:
        """Hand one message to librdkafka; ``None`` when its queue is full."""
        assert self._loop is not None
        future: asyncio.Future[Delivery] = self._loop.create_future()
        slot = _AsyncSlot(future, self)
        try:
            if headers is None and timestamp is None:
                engine.rk.produce(topic, value, key, partition, slot)
            else:
                engine.rk.produce(topic, value, key, partition, slot, None, timestamp or 0, headers)
        except NOT_TAKEN:
            if not self._send(engine, topic, partition, key, value, headers, timestamp, slot, None):
                return None
        self._produced_one(engine)
        return future

    def _produced_one(self, engine: Engine) -> None:
        engine.produced += 1
        if not self._serve_scheduled:
            # Serve reports on the loop once per loop iteration while it produces:
            # callbacks then run here, without a GIL hand-off per report.
            self._serve_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._serve_soon)
        if not engine.poller_busy:
            engine.wake_poller()

    def _serve_soon(self) -> None:
        self._serve_scheduled = False
        engine = self._engine
        if engine is not None and self._state is _OPEN:
            engine.serve_ready_on_loop()

    async def _enqueue(
        self,
        engine: Engine,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        headers: Any,
        timestamp: int | None,
    ) -> asyncio.Future[Delivery]:
        assert self._loop is not None
        future: asyncio.Future[Delivery] = self._loop.create_future()
        slot = _AsyncSlot(future, self)
        deadline = time.monotonic() + self.config.queue_full_timeout
        while not self._send(engine, topic, partition, key, value, headers, timestamp, slot, None):
            if time.monotonic() >= deadline:
                raise QueueFullError(
                    f"librdkafka's queue stayed full for {self.config.queue_full_timeout:g}s "
                    f"while producing to {topic!r}; the cluster is not keeping up",
                    topic=topic,
                    partition=partition,
                    reason="queue full",
                    retriable=True,
                )
            await asyncio.sleep(_QUEUE_FULL_PAUSE)
        self._produced_one(engine)
        return future

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
        (without blocking the loop) when librdkafka's queue is full.

        Returns:
            An asyncio future that resolves on acknowledgement.
        """
        engine = self._engine
        if self._state is not _OPEN or engine is None or engine.forked:
            engine = self._check_open()
        return await self._submit(engine, args, headers, timestamp)

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
        engine = self._engine
        if self._state is not _OPEN or engine is None or engine.forked:
            engine = self._check_open()
        waiters = engine.sync_waiters
        waiters.append(None)  # from here on, whoever serves flushes instead of lingering
        try:
            future = await self._submit(engine, args, headers, timestamp)
            if not future.done():
                loop = self._loop
                assert loop is not None
                awaited = self._awaited
                awaited[future] = loop.time() + self._delivery_wait
                if self._watchdog is None:
                    self._watchdog = loop.call_later(self._delivery_wait, self._expire_overdue)
                try:
                    return await future
                finally:
                    del awaited[future]
            return future.result()
        finally:
            waiters.pop()

    def _expire_overdue(self) -> None:
        """Fail awaited futures whose report is overdue; re-arm for the next deadline."""
        loop = self._loop
        assert loop is not None
        now = loop.time()
        overdue = []
        next_deadline = None
        for future, deadline in self._awaited.items():  # oldest first
            if deadline > now:
                next_deadline = deadline
                break
            overdue.append(future)
        for future in overdue:
            if not future.done():  # a report that comes in later is ignored
                future.set_exception(
                    DeliveryTimeoutError(
                        f"no delivery report within {self._delivery_wait:g}s",
                        reason="timed out",
                        retriable=True,
                    )
                )
        self._watchdog = (
            None if next_deadline is None else loop.call_at(next_deadline, self._expire_overdue)
        )

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
        engine = self._check_open()
        topic_name = self._topic_arg(topic)
        await self._state_of(topic_name)
        prepared = self._prepare_batch(topic_name, messages)
        futures: list[asyncio.Future[Delivery] | KaffeError] = []
        waiters = engine.sync_waiters
        waiters.append(None)  # the batch is awaited: whoever serves flushes, not lingers
        try:
            for partition, key, value, headers, timestamp in prepared:
                try:
                    sent = self._enqueue_now(
                        engine, topic_name, partition, key, value, headers, timestamp
                    )
                    if sent is None:
                        sent = await self._enqueue(
                            engine, topic_name, partition, key, value, headers, timestamp
                        )
                    futures.append(sent)
                except KaffeError as error:
                    futures.append(error)
            pending = [future for future in futures if isinstance(future, asyncio.Future)]
            if pending:
                engine.wake_poller()
                await asyncio.wait(pending, timeout=self._delivery_wait)
        finally:
            waiters.pop()
        deliveries: list[Delivery | None] = []
        errors: list[KaffeError | None] = []
        for future in futures:
            if isinstance(future, KaffeError):
                deliveries.append(None)
                errors.append(future)
            elif not future.done():
                future.cancel()
                deliveries.append(None)
                errors.append(
                    DeliveryTimeoutError(
                        "no delivery report in time",
                        topic=topic_name,
                        reason="timed out",
                        retriable=True,
                    )
                )
            elif future.exception() is not None:
                deliveries.append(None)
                errors.append(future.exception())  # type: ignore[arg-type]
            else:
                deliveries.append(future.result())
                errors.append(None)
        failed = sum(error is not None for error in errors)
        if failed:
            raise BatchProduceError(
                f"{failed} of {len(errors)} messages to {topic_name!r} were not delivered",
                topic=topic_name,
                deliveries=deliveries,
                errors=errors,
            )
        return deliveries  # type: ignore[return-value]

    async def partitions_count(self, topic: str | None = None) -> int:
        """
        How many partitions a topic has, analysing it first if needed.

        Args:
            topic: The topic; the first configured topic when ``None``.

        Returns:
            The partition count.
        """
        self._check_open()
        name = self._parse_call((None, None))[0] if topic is None else self._topic_arg(topic)
        return (await self._state_of(name)).partitions_count

    # --- lifecycle ------------------------------------------------------------------------

    async def flush(self, timeout: float | None = None) -> int:
        """
        Wait until everything sent so far is acknowledged or failed.

        Args:
            timeout: Seconds; ``delivery_timeout`` when ``None``.

        Returns:
            How many messages are still outstanding.
        """
        engine = self._check_open()
        return await asyncio.to_thread(
            engine.flush, self._delivery_wait if timeout is None else timeout
        )

    async def aclose(self, timeout: float | None = None) -> None:
        """
        Deliver what is outstanding, then release the connection. Calling it again does nothing.

        Args:
            timeout: Seconds to wait; ``delivery_timeout`` when ``None``.

        Raises:
            UndeliveredMessagesError: Messages were still unacknowledged at the timeout.
        """
        if self._state is State.OPEN and self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        engine = self._begin_close()
        if engine is None:
            return
        try:
            await asyncio.to_thread(self._close_engine, engine, timeout, "aclose")
        finally:
            await asyncio.sleep(0)  # let the last resolutions run
