"""
The per-message path: place a message, hand it to librdkafka, settle its outcome.

Everything here runs once per message; everything else stays in the plain
modules around it. When kaffe is built, this module is compiled by mypyc (see
``hatch_build.py``); the source is also the pure-Python fallback, imported when
the compiled module is absent or ``KAFFE_PURE_PYTHON=1`` (see :mod:`kaffe._mode`).
Both run the same code, so both behave the same.

What is here:

* **Placement.** :class:`Placer` and one subclass per strategy, and
  :class:`StickyRandom` for keyless messages (``kaffe.partitioners`` builds them).
* **Outcomes.** :meth:`Waiter.__call__` is the one function every outcome goes
  through: librdkafka's delivery report of each message, or kaffe's own refusal
  of a message it could not hand over. Its subclasses are the ways of waiting: a
  thread's lock (:class:`SyncWaiter`), a :class:`DeliveryFuture
  <kaffe.DeliveryFuture>` (:class:`FutureWaiter`), a batch slot
  (:class:`BatchSlot`), an asyncio future (:class:`LoopWaiter`), and a slot that
  keeps only a failure (:class:`CountedSlot`), for a producer that asks librdkafka
  for failure reports only and counts what it sent instead (:class:`Counted`).
* **Hand-over.** :meth:`HotPath.send` is the one function that calls librdkafka's
  ``produce`` and ``produce_batch``. :class:`HotPath` also takes plain calls (known
  topic, ``bytes``/``str`` key and value, no headers or timestamp, a built-in
  strategy, no serializer or prefix) from the call to the hand-over without the
  core: without building an :class:`~kaffe.OutgoingMessage` at all when no observer
  watches, else building the one the observers see. A call that is not plain
  returns ``None`` there, and the core builds its message in full.
  :meth:`HotPath.count_lines` takes lines of input (the ``kaffe produce``
  command's) from the split at a key separator to the hand-over in the same way.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import itertools
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any, Final

from confluent_kafka import KafkaError, KafkaException
from mypy_extensions import mypyc_attr

from ._errors import (
    KaffeError,
    MessageTypeError,
    PartitionStrategyError,
    ProducerClosedError,
    QueueFullError,
    is_queue_full,
    translate_kafka_error,
)
from ._on_demand import MachineryOnDemand
from ._types import Delivery, OutgoingMessage

__all__ = [
    "BATCH_CHUNK",
    "CALLER_SERVES",
    "DEFAULT_STICKY_BATCH_BYTES",
    "POLLER_SERVES",
    "SERVE_EVERY",
    "THREAD_SERVES",
    "Batch",
    "BatchSlot",
    "Counted",
    "CountedSlot",
    "CursorPlacer",
    "DeliveryFuture",
    "FunctionPlacer",
    "FutureWaiter",
    "HashPlacer",
    "HotPath",
    "LoopBatch",
    "LoopHandOff",
    "LoopWaiter",
    "Observation",
    "Placer",
    "RandomPlacer",
    "StickyRandom",
    "SyncWaiter",
    "ThreadBatch",
    "TopicState",
    "Waiter",
    "announce",
    "md5_of_bytes",
    "new_delivery",
    "place",
]

#: Bytes of keyless messages one partition takes before :class:`StickyRandom` draws
#: another: the Java client's ``batch.size`` default.
DEFAULT_STICKY_BATCH_BYTES: Final = 16384
#: Producing threads serve ready delivery reports once per this many messages (a
#: power of two). Running the callbacks there, instead of on the poller, spares a GIL
#: hand-off per report while a thread is busy producing.
SERVE_EVERY: Final = 256
_SERVE_MASK: Final = SERVE_EVERY - 1
#: Messages per ``produce_batch`` call.
BATCH_CHUNK: Final = 10_000
#: Who serves the delivery reports of messages just handed over: the producing thread
#: now and then (every :data:`SERVE_EVERY` messages), and the poller meanwhile;
THREAD_SERVES: Final = 0
#: the caller, right after (a lone ``produce_sync`` caller), so the poller sleeps on;
CALLER_SERVES: Final = 1
#: the poller alone: the event loop never waits for the poll lock.
POLLER_SERVES: Final = 2
#: What ``rk.produce`` raises for a message it refused for its content.
_REFUSED: Final = (TypeError, OverflowError, UnicodeEncodeError, ValueError)
#: Everything ``rk.produce`` raises for a message it did not take.
_NOT_TAKEN: Final = (BufferError, KafkaException, RuntimeError, *_REFUSED)


# --- placement --------------------------------------------------------------------------


def md5_of_bytes(key: bytes, partitions_count: int) -> int:
    """
    Kaffe's md5 rule on a ``bytes`` key: the sum of the 16 digest bytes, mod the count.

    Args:
        key: The key bytes.
        partitions_count: How many partitions the topic has (at least 1).

    Returns:
        The partition.
    """
    total = 0
    for byte in hashlib.md5(key).digest():
        total += byte
    return total % partitions_count


class StickyRandom:
    """
    Where keyless messages go under ``murmur2``, ``crc32`` and ``fnv1a``.

    Like the Java client's built-in partitioner (KIP-794), one randomly chosen
    available partition takes keyless messages until about ``batch_bytes`` of them
    have gone there, then another is chosen. This keeps batches full without
    piling every keyless message on one partition.

    Args:
        batch_bytes: Bytes to send to one partition before switching; Java's
            ``batch.size`` default is 16384.

    Raises:
        ValueError: ``batch_bytes`` is below 1.
    """

    def __init__(self, batch_bytes: object = DEFAULT_STICKY_BATCH_BYTES) -> None:
        if type(batch_bytes) is not int or batch_bytes < 1:
            raise ValueError(f"StickyRandom: batch_bytes must be an int >= 1, got {batch_bytes!r}")
        self._batch_bytes: int = batch_bytes
        self._partition = -1
        self._sent = 0

    def __call__(self, size: int, available: Sequence[int]) -> int:
        """
        Return the partition for a keyless message of ``size`` bytes.

        Args:
            size: The message's size in bytes.
            available: Partitions that currently have a leader (all when unknown).

        Returns:
            The partition.

        Raises:
            ValueError: ``available`` is empty.
        """
        if not available:
            raise ValueError("StickyRandom: no partition is available")
        partition = self._partition
        if partition < 0 or self._sent >= self._batch_bytes or partition not in available:
            partition = random.choice(available)
            self._partition = partition
            self._sent = 0
        self._sent += size
        return partition


class Placer:
    """
    One topic's placement: a strategy's choice of partition, with its memory for that topic.

    Attributes:
        strategy: The strategy's name, for error messages.
        calls_user_code: True when placing runs the caller's own function.
    """

    def __init__(self, strategy: str, calls_user_code: bool = False) -> None:
        self.strategy = strategy
        self.calls_user_code = calls_user_code

    def place(
        self,
        key_bytes: bytes | None,
        key: object,
        value: object,
        value_size: int,
        partitions_count: int,
        available: tuple[int, ...],
    ) -> object:
        """
        Choose the partition of one message.

        Args:
            key_bytes: The key as sent, in bytes (``None`` for a keyless message).
            key: The key as the caller gave it.
            value: The value as the caller gave it.
            value_size: The value's size as sent.
            partitions_count: How many partitions the topic has.
            available: Partitions that have a leader now (all of them when unknown).

        Returns:
            The partition (a strategy function may return something else, which
            :func:`place` refuses).
        """
        raise NotImplementedError

    def __call__(
        self,
        key_bytes: bytes | None,
        key: object,
        value: object,
        value_size: int,
        partitions_count: int,
        available: tuple[int, ...],
    ) -> object:
        return self.place(key_bytes, key, value, value_size, partitions_count, available)


class HashPlacer(Placer):
    """A key hash for keyed messages; sticky random (or a refusal, for md5) for keyless ones."""

    def __init__(self, strategy: str, key_hash: Callable[[bytes, int], int], topic: str) -> None:
        super().__init__(strategy)
        self.key_hash = key_hash
        self._topic = topic
        self._sticky = StickyRandom()

    def place(
        self,
        key_bytes: bytes | None,
        key: object,
        value: object,
        value_size: int,
        partitions_count: int,
        available: tuple[int, ...],
    ) -> object:
        if key_bytes is not None:
            return self.key_hash(key_bytes, partitions_count)
        if self.strategy == "md5":
            raise PartitionStrategyError(
                "the md5 strategy needs a key, but the key is None; give the message a key, "
                "name a partition, or choose another strategy",
                topic=self._topic,
                reason="key is None",
            )
        return self._sticky(value_size, available)


class CursorPlacer(Placer):
    """``round_robin``: the topic's cursor moves one partition on per message."""

    def __init__(self) -> None:
        super().__init__("round_robin")
        self._cursor = itertools.count()  # next() is atomic, whichever thread places

    def place(
        self,
        key_bytes: bytes | None,
        key: object,
        value: object,
        value_size: int,
        partitions_count: int,
        available: tuple[int, ...],
    ) -> object:
        cursor: int = next(self._cursor)
        return cursor % partitions_count


class RandomPlacer(Placer):
    """``random``: a uniformly random partition per message."""

    def __init__(self) -> None:
        super().__init__("random")

    def place(
        self,
        key_bytes: bytes | None,
        key: object,
        value: object,
        value_size: int,
        partitions_count: int,
        available: tuple[int, ...],
    ) -> object:
        return random.randrange(partitions_count)


class FunctionPlacer(Placer):
    """A caller's function, ``fn(topic, current_partition, partitions_count, key, value)``."""

    def __init__(self, strategy: str, function: Callable[..., object], topic: str) -> None:
        super().__init__(strategy, calls_user_code=True)
        self._function = function
        self._topic = topic
        self.current_partition: int | None = None

    def place(
        self,
        key_bytes: bytes | None,
        key: object,
        value: object,
        value_size: int,
        partitions_count: int,
        available: tuple[int, ...],
    ) -> object:
        partition = self._function(
            self._topic, self.current_partition, partitions_count, key, value
        )
        if type(partition) is int:
            self.current_partition = partition
        return partition


class TopicState:
    """
    What kaffe knows about one topic, and its strategy's memory for it.

    Attributes:
        name: The topic's broker-side name.
        partitions_count: How many partitions it has.
        available: Partitions that have a leader now.
        placer: The strategy's placement for this topic.
    """

    def __init__(
        self, name: str, partitions_count: int, available: Sequence[int], placer: Placer
    ) -> None:
        self.name = name
        self.partitions_count = partitions_count
        self.available: tuple[int, ...] = tuple(available) or tuple(range(partitions_count))
        self.placer = placer

    def __repr__(self) -> str:
        return f"TopicState({self.name!r}, partitions_count={self.partitions_count})"


def place(
    state: TopicState, key_bytes: bytes | None, key: object, value: object, value_size: int
) -> int:
    """
    The partition the topic's strategy chooses for one message.

    Returns:
        The partition; it may be out of the topic's range (the caller checks).

    Raises:
        PartitionStrategyError: The strategy raised, or returned something not an int.
    """
    placer = state.placer
    try:
        partition = placer.place(
            key_bytes, key, value, value_size, state.partitions_count, state.available
        )
    except KaffeError:
        raise
    except Exception as error:
        raise PartitionStrategyError(
            f"partition strategy {placer.strategy!r} raised {type(error).__name__}: {error}",
            topic=state.name,
            reason="strategy failed",
        ) from error
    if type(partition) is not int:
        raise PartitionStrategyError(
            f"partition strategy {placer.strategy!r} returned "
            f"{type(partition).__name__} {partition!r}; it must return an int",
            topic=state.name,
            reason="strategy returned non-int",
        )
    return partition


# --- outcomes ---------------------------------------------------------------------------


def new_delivery(topic: str, partition: int, offset: int, timestamp: int | None) -> Delivery:
    """
    A :class:`~kaffe.Delivery`, made the way ``Delivery._make`` makes one.

    That is ``tuple.__new__`` on the ``Delivery`` type: the same object as
    ``Delivery(...)`` returns, without the Python-level call of a NamedTuple's
    ``__new__``, which costs more than the rest of settling a message.
    """
    return tuple.__new__(Delivery, (topic, partition, offset, timestamp))


class Observation:
    """
    What the observers of one message keep until its outcome.

    Attributes:
        contexts: Each observer's context for the message, from ``on_send``.
        message: The message.
        started: When the produce call began, for the observers' ``seconds``.
    """

    def __init__(self, contexts: tuple[Any, ...], message: OutgoingMessage, started: float):
        self.contexts = contexts
        self.message = message
        self.started = started


def announce(observers: Any, message: OutgoingMessage, waiter: Waiter, started: float) -> None:
    """Tell the observers a message is being handed over; its waiter keeps their contexts."""
    waiter.observed = Observation(observers.send(message), message, started)


def _observed_message(topic: str, partition: int, key: Any, value: Any) -> OutgoingMessage:
    """
    The message of a plain call, as an observed producer's core builds it.

    Its headers are a list of their own, which the observers may extend. Made with
    ``tuple.__new__``, as ``OutgoingMessage._make`` makes one (see :func:`new_delivery`).
    """
    headers: list[tuple[str, bytes | str | None]] = []
    return tuple.__new__(OutgoingMessage, (topic, partition, key, value, headers, None))


class Waiter:
    """
    Whatever waits for the outcome of one message; calling it delivers the outcome.

    ``__call__`` is the one function every outcome goes through: librdkafka calls it
    with each delivery report ``(error, report)``, and the message path calls it
    with a :class:`~kaffe.KaffeError` (and no report) when a message could not be
    handed over. It builds the :class:`~kaffe.Delivery` or the error, tells the
    observers, and hands the result to :meth:`resolve` or :meth:`reject`, which
    each way of waiting implements.

    Attributes:
        core: The core of the producer that sent the message (``kaffe._core.Core``).
        topic: The topic the message was sent to.
        partition: The partition it was sent to (librdkafka keeps the one it is given).
        observed: What the observers keep for the message until its outcome, or
            ``None`` while no observer watches it.
    """

    #: Set only on an observed producer's waiters (see :func:`announce`): as a default
    #: here, a plain call's waiter spends nothing on it.
    observed: Observation | None = None

    def __init__(self, core: Any, topic: str, partition: int) -> None:
        self.core = core
        self.topic = topic
        self.partition = partition

    def __call__(self, error: Any, report: Any) -> None:
        observed = self.observed
        if error is None:
            if observed is None:
                self.acknowledged(report)
                return
            delivery = self.delivery_from(report)
            self.observed = None
            self.core.observers.outcome(
                observed.contexts, observed.message, delivery, observed.started
            )
            self.resolve(delivery)
            return
        failure: KaffeError = (
            error if isinstance(error, KaffeError) else self.core.failed(error, report)
        )
        if observed is not None:
            self.observed = None
            self.core.observers.outcome(
                observed.contexts, observed.message, failure, observed.started
            )
        self.reject(failure)

    def delivery_from(self, report: Any) -> Delivery:
        """The :class:`~kaffe.Delivery` of the message's delivery report."""
        timestamp: tuple[int, Any] = report.timestamp()
        stamp = timestamp[1] if timestamp[0] else None
        # new_delivery(...), written out: this runs once per message.
        return tuple.__new__(Delivery, (self.topic, self.partition, report.offset(), stamp))

    def acknowledged(self, report: Any) -> None:
        """The message was acknowledged, and no observer watches it: settle from the report."""
        self.resolve(self.delivery_from(report))

    def resolve(self, delivery: Delivery) -> None:
        """The message was acknowledged."""
        raise NotImplementedError

    def reject(self, error: KaffeError) -> None:
        """The message was not delivered."""
        raise NotImplementedError


class SyncWaiter(Waiter):
    """Where the outcome of one ``produce_sync`` lands; its lock opens when it does."""

    def __init__(self, core: Any, topic: str, partition: int) -> None:
        self.core = core  # the base's fields, set here: one call less per message
        self.topic = topic
        self.partition = partition
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
        """True once the outcome is in."""
        return self.done

    def outcome(self) -> Delivery:
        """
        The delivery, once the outcome is in.

        Raises:
            KaffeError: The message was not delivered.
        """
        if self.error is not None:
            raise self.error
        assert self.delivery is not None
        return self.delivery


class FutureWaiter(Waiter):
    """
    The outcome of one ``produce()``, which its :class:`DeliveryFuture` reads.

    An acknowledgement only records the offset and timestamp: the
    :class:`~kaffe.Delivery` is built when someone asks for it, since most futures
    are only checked for an error.

    Attributes:
        settled: True once the outcome is in.
        future: The future, while something waits on it through the machinery of
            ``concurrent.futures.Future``; ``None`` otherwise (no reference cycle).
    """

    def __init__(self, core: Any, topic: str, partition: int) -> None:
        self.core = core  # the base's fields, set here: one call less per message
        self.topic = topic
        self.partition = partition
        self.offset = -1
        self.timestamp: int | None = None
        self.delivery: Delivery | None = None
        self.error: KaffeError | None = None
        self.settled = False
        #: True once the future's ``concurrent.futures`` machinery exists.
        self.has_machinery = False
        self.future: DeliveryFuture | None = None

    def acknowledged(self, report: Any) -> None:
        self.offset = report.offset()
        timestamp: tuple[int, Any] = report.timestamp()
        if timestamp[0]:
            self.timestamp = timestamp[1]
        self.settled = True
        future = self.future
        if future is not None:
            future.outcome_arrived()

    def resolve(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.settled = True
        future = self.future
        if future is not None:
            future.outcome_arrived()

    def reject(self, error: KaffeError) -> None:
        self.error = error
        self.settled = True
        future = self.future
        if future is not None:
            future.outcome_arrived()

    def result(self) -> Delivery:
        """The delivery of a settled, acknowledged message."""
        delivery = self.delivery
        if delivery is None:
            delivery = self.delivery = new_delivery(
                self.topic, self.partition, self.offset, self.timestamp
            )
        return delivery


#: Guards setting up a future's ``concurrent.futures.Future`` machinery. It is held
#: only while ``Future.__init__`` builds the machinery, which takes no other lock and
#: runs no callback: a thread holding futures' conditions (``concurrent.futures.wait()``
#: holds all of them) may wait for it, so its holder must never wait for a condition.
_MACHINERY = threading.RLock()


def _new_lock_after_fork() -> None:
    """In a forked child, replace the machinery's lock: a parent's thread may have held it."""
    global _MACHINERY
    _MACHINERY = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_after_fork)


@mypyc_attr(allow_interpreted_subclasses=True)
class DeliveryFuture(MachineryOnDemand, Future[Delivery]):
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
      public constructor, the first time anything needs it, such as
      ``concurrent.futures.wait()`` on a pending future.

    .. versionadded:: 0.2.0
       Its own type; ``produce()`` returned a plain ``concurrent.futures.Future`` before.
    """

    __slots__ = ("delivery_waiter",)

    def __init__(self, waiter: FutureWaiter) -> None:
        self.delivery_waiter = waiter

    # --- the machinery, on demand (see kaffe._on_demand) --------------------------------

    def set_up_machinery(self) -> None:
        """
        Set up the full ``concurrent.futures.Future``, through its public API only.

        The machinery is left *pending*: this future's own ``running()``, ``cancel()``
        and ``cancelled()`` answer for it, and moving it to *running* would take its
        condition, which another thread may hold while it waits for this set-up.
        """
        waiter = self.delivery_waiter
        with _MACHINERY:
            if waiter.has_machinery:
                return
            Future.__init__(self)
            waiter.has_machinery = True
            # First the link, then the look: an outcome coming in meanwhile either sees
            # the link or is seen here (settling twice is harmless, see outcome_arrived).
            waiter.future = self
        if waiter.settled:
            self.outcome_arrived()

    def outcome_arrived(self) -> None:
        """
        Settle the machinery with the outcome that came in; the first call wins.

        It runs without the set-up lock: settling takes this future's condition and
        runs its done callbacks. ``Future`` itself refuses a second settling.
        """
        waiter = self.delivery_waiter
        waiter.future = None
        error = waiter.error
        try:
            if error is not None:
                Future.set_exception(self, error)
            else:
                Future.set_result(self, waiter.result())
        except InvalidStateError:
            return  # the other side settled it first

    # --- the Future API ------------------------------------------------------------------

    def done(self) -> bool:
        """Return True once the message is acknowledged or failed."""
        return self.delivery_waiter.settled

    def running(self) -> bool:
        """Return True while the outcome is pending."""
        return not self.delivery_waiter.settled

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
        waiter = self.delivery_waiter
        if waiter.settled:
            error = waiter.error
            if error is not None:
                raise error
            return waiter.result()
        self.set_up_machinery()
        outcome: Delivery = Future.result(self, timeout)
        return outcome

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """
        Wait up to ``timeout`` seconds; return the delivery error, or None when delivered.

        Raises:
            TimeoutError: Not settled within ``timeout``.
        """
        waiter = self.delivery_waiter
        if waiter.settled:
            return waiter.error
        self.set_up_machinery()
        return Future.exception(self, timeout)

    def add_done_callback(self, fn: Callable[[Future[Delivery]], object]) -> None:
        """Call ``fn(future)`` when the future settles (at once when it has)."""
        waiter = self.delivery_waiter
        if waiter.settled and not waiter.has_machinery:
            fn(self)
            return
        self.set_up_machinery()
        Future.add_done_callback(self, fn)

    def set_result(self, result: object) -> None:
        """Refused: only the producer settles its futures."""
        raise RuntimeError("a kaffe DeliveryFuture is settled by its producer only")

    def set_exception(self, exception: BaseException | None) -> None:
        """Refused: only the producer settles its futures."""
        raise RuntimeError("a kaffe DeliveryFuture is settled by its producer only")

    def __repr__(self) -> str:
        waiter = self.delivery_waiter
        if not waiter.settled:
            return f"<DeliveryFuture at {id(self):#x} pending>"
        if waiter.error is not None:
            return f"<DeliveryFuture at {id(self):#x} failed: {waiter.error!r}>"
        return f"<DeliveryFuture at {id(self):#x} delivered: {waiter.result()!r}>"


class Batch:
    """
    The outcomes of one batch, in input order; :meth:`complete` runs when the last is in.

    Each message of the batch has its own :class:`BatchSlot`. The subclasses add
    the way a waiter is woken up (a lock, an asyncio future).

    Attributes:
        size: How many messages the batch has.
        deliveries: The delivery of each acknowledged message, else ``None``.
        errors: The error of each failed message, else ``None``.
        finished: True once every message has its outcome.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.deliveries: list[Delivery | None] = [None] * size
        self.errors: list[KaffeError | None] = [None] * size
        self.finished = False
        #: Counts outcomes in, from any thread: the one that draws ``size`` completes
        #: the batch, once.
        self._settled = itertools.count(1)

    def slots(self, core: Any, messages: Sequence[OutgoingMessage]) -> list[BatchSlot]:
        """One waiter per message of the batch."""
        return [
            BatchSlot(core, message.topic, message.partition, self, index)
            for index, message in enumerate(messages)
        ]

    def is_done(self) -> bool:
        """True once every message of the batch has its outcome."""
        return self.finished

    def settled_one(self) -> None:
        """Count one outcome in; the last one completes the batch."""
        settled: int = next(self._settled)
        if settled == self.size:
            self.finished = True
            self.complete()

    def complete(self) -> None:
        """Wake whoever waits for the batch (nobody, here)."""


class BatchSlot(Waiter):
    """The waiter of one message of a :class:`Batch`."""

    def __init__(self, core: Any, topic: str, partition: int, batch: Batch, index: int) -> None:
        self.core = core  # the base's fields, set here: one call less per message
        self.topic = topic
        self.partition = partition
        self.batch = batch
        self.index = index

    def acknowledged(self, report: Any) -> None:
        # Waiter's, with delivery_from written out: this runs once per message.
        timestamp: tuple[int, Any] = report.timestamp()
        stamp = timestamp[1] if timestamp[0] else None
        self.resolve(tuple.__new__(Delivery, (self.topic, self.partition, report.offset(), stamp)))

    def resolve(self, delivery: Delivery) -> None:
        """Record the delivery at the message's index."""
        batch = self.batch
        batch.deliveries[self.index] = delivery
        # batch.settled_one(), written out: this runs once per message.
        settled: int = next(batch._settled)
        if settled == batch.size:
            batch.finished = True
            batch.complete()

    def reject(self, error: KaffeError) -> None:
        """Record the error at the message's index."""
        batch = self.batch
        batch.errors[self.index] = error
        batch.settled_one()


class ThreadBatch(Batch):
    """A batch a thread waits for: its lock opens when the last outcome is in."""

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.lock = threading.Lock()
        self.lock.acquire()

    def complete(self) -> None:
        self.lock.release()


def _settle_loop_future(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.done():  # cancelled by its waiter; the message was still sent
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class LoopHandOff:
    """
    Hands outcomes to the event loop: one wake-up for every burst of outcomes.

    Outcomes settled on the loop thread itself (``on_loop``) settle at once;
    outcomes served on another thread queue up, and the first of a burst schedules
    one drain on the loop (``append``/``popleft`` are atomic, and the flag is
    re-armed before the drain empties the queue, so no outcome is left behind).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, *, on_loop: bool = False) -> None:
        self.loop = loop
        self.pending: collections.deque[tuple[asyncio.Future[Any], Any, bool]] = collections.deque()
        self.scheduled = False
        #: True while outcomes are settled on the loop thread itself.
        self.on_loop = on_loop

    def push(self, future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
        """Settle ``future`` on its loop: at once when on it, else with the next burst."""
        if self.on_loop:
            _settle_loop_future(future, outcome, failed)
            return
        self.pending.append((future, outcome, failed))
        if not self.scheduled:
            self.scheduled = True
            # RuntimeError: the loop is closed, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        """Settle every outcome queued so far (on the loop)."""
        self.scheduled = False
        pending = self.pending
        while pending:
            future, outcome, failed = pending.popleft()
            _settle_loop_future(future, outcome, failed)


class LoopWaiter(Waiter):
    """
    Where the outcome of one message of the asyncio face lands: an asyncio future.

    Attributes:
        future: The future of the message's :class:`~kaffe.Delivery`.
        queued: The message, while librdkafka's queue was too full to take it (the
            face offers it again, without blocking the loop); else ``None``.
    """

    def __init__(
        self,
        core: Any,
        topic: str,
        partition: int,
        future: asyncio.Future[Delivery],
        hand_off: LoopHandOff,
    ) -> None:
        self.core = core  # the base's fields, set here: one call less per message
        self.topic = topic
        self.partition = partition
        self.future = future
        self.hand_off = hand_off
        self.queued: OutgoingMessage | None = None

    def resolve(self, delivery: Delivery) -> None:
        self.hand_off.push(self.future, delivery, False)

    def reject(self, error: KaffeError) -> None:
        self.hand_off.push(self.future, error, True)


class LoopBatch(Batch):
    """A batch a task awaits: its future resolves when the last outcome is in."""

    def __init__(self, size: int, future: asyncio.Future[None], hand_off: LoopHandOff) -> None:
        super().__init__(size)
        self.future = future
        self.hand_off = hand_off

    def complete(self) -> None:
        self.hand_off.push(self.future, None, False)


class Counted:
    """
    What a counted hand-over sent, and which of its messages failed.

    A producer that asks librdkafka for failure reports only
    (``delivery.report.only.error``) hears nothing of a message that was
    acknowledged. So each message is counted when it is handed over, and a failure
    takes it back out. Once every outcome is in (librdkafka's queue is empty), what
    was counted and did not fail was acknowledged: see :meth:`acknowledged`.

    Attributes:
        sent: Messages handed over, or refused on the way (those fail at once).
        payload_bytes: Bytes of their keys and values.
        partitions: Messages per partition.
        failed: The slot of each message that failed, in the order the failures came in.
    """

    def __init__(self) -> None:
        self.sent = 0
        self.payload_bytes = 0
        self.partitions: dict[int, int] = {}
        self.failed: list[CountedSlot] = []

    def add(self, partition: int, messages: int, payload_bytes: int) -> None:
        """Count ``messages`` sent to ``partition``, with ``payload_bytes`` of keys and values."""
        self.sent += messages
        self.payload_bytes += payload_bytes
        self.partitions[partition] = self.partitions.get(partition, 0) + messages

    def failures(self) -> list[tuple[int, KaffeError]]:
        """Each failed message's tag and error, in the order the failures came in."""
        return [(slot.tag, slot.error) for slot in self.failed if slot.error is not None]

    def acknowledged(self) -> tuple[int, int, dict[int, int]]:
        """
        What was acknowledged: valid once every message counted has its outcome.

        Returns:
            The messages, the bytes of their keys and values, and the messages per
            partition (partitions none reached are left out).
        """
        messages = self.sent
        payload = self.payload_bytes
        partitions = dict(self.partitions)
        for slot in self.failed:
            messages -= 1
            payload -= slot.size
            partitions[slot.partition] -= 1
        return messages, payload, {part: count for part, count in partitions.items() if count}


class CountedSlot(Waiter):
    """
    The waiter of one message of a :class:`Counted` hand-over; it keeps only a failure.

    An acknowledgement changes nothing: the message was counted when handed over (and
    a producer with failure reports only never hears of it).

    Attributes:
        counted: The hand-over it belongs to.
        tag: The caller's number for the message (such as its index in the input).
        size: The bytes of its key and value.
        error: Why it failed, once it has.
    """

    def __init__(
        self, core: Any, topic: str, partition: int, counted: Counted, tag: int, size: int
    ) -> None:
        self.core = core  # the base's fields, set here: one call less per message
        self.topic = topic
        self.partition = partition
        self.observed = None
        self.counted = counted
        self.tag = tag
        self.size = size
        self.error: KaffeError | None = None

    def acknowledged(self, report: Any) -> None:
        """Nothing to do: the message was counted when it was handed over."""

    def resolve(self, delivery: Delivery) -> None:
        """Nothing to do (an observed message's acknowledgement): it was counted already."""

    def reject(self, error: KaffeError) -> None:
        """Record the failure (``list.append`` is atomic, whichever thread serves)."""
        self.error = error
        self.counted.failed.append(self)


# --- hand-over --------------------------------------------------------------------------


#: One partition's ``produce_batch`` records: key, value and the waiter as ``callback``.
Group = list[dict[str, Any]]


class HotPath:
    """
    One producer's per-message path: the librdkafka handle and what a plain call needs.

    The engine creates it and owns the handle and the threads; the faces call it.

    Attributes:
        core: The producer's core (``kaffe._core.Core``).
        engine: The producer's engine (``kaffe._engine.Engine``), for what is not per
            message: waking the poller, serving reports, waiting for room.
        rk: librdkafka's producer handle.
        open: True while the producer can produce.
        topics: The core's topics by broker-side name.
        direct: True when plain calls may skip the core: no serializer and no topic
            prefix. With observers, such a call's message is built here, for them.
        plain: True when, besides, no observer watches: a plain call is then handed
            over without building a message, and so are batches of plain pairs.
        default_topic: The first configured topic, if any.
        produced: Messages handed over by threads that serve reports inline; a hint
            for the poller, so unlocked increments from several threads are fine.
        poller_busy: True while the poller serves.
        wake_pending: True from a wake-up until the poller takes it.
        users: One entry per thread inside a call on the handle; the engine releases
            the handle only once none is (``append``/``pop`` are atomic).
    """

    def __init__(self, core: Any, engine: Any, rk: Any) -> None:
        self.core = core
        self.engine = engine
        self.rk = rk
        self.open = True
        self.topics: dict[str, TopicState] = core.topics
        self.direct: bool = core.direct
        self.plain: bool = core.plain
        topics: tuple[str, ...] = core.config.topics
        self.default_topic: str | None = topics[0] if topics else None
        self.observers: Any = core.observers
        self.observing = bool(core.observers)
        self.secrets: tuple[str, ...] = tuple(core.secrets)
        self.queue_full_timeout: float = core.config.queue_full_timeout
        self.produced = 0
        self.poller_busy = False
        self.wake_pending = False
        self.users: collections.deque[None] = collections.deque()
        self._enter: Callable[[None], None] = self.users.append
        self._leave: Callable[[], None] = self.users.pop

    # --- plain calls ---------------------------------------------------------------------

    def _plain_call(self, args: tuple[Any, ...]) -> tuple[TopicState | None, int]:
        """
        The topic and partition of a call, when it is plain; else ``(None, -1)``.

        A call is never plain while the producer is closed, or when it has a serializer
        or a topic prefix. An observed producer's plain call is (the entry points then
        build the message its observers see).

        Only a built-in strategy places here, so nothing the caller wrote runs twice
        when the core then takes a call that is not plain.

        Raises:
            PartitionStrategyError: As the strategy raises in the core (md5 and a
                ``None`` key).
        """
        none: tuple[TopicState | None, int] = (None, -1)
        if not (self.open and self.direct):
            return none
        count = len(args)
        partition = -1
        if count == 3:
            topic = args[0]
            if type(topic) is not str:
                return none
        elif count == 2:
            if self.default_topic is None:
                return none
            topic = self.default_topic
        elif count == 4:
            topic = args[0]
            chosen = args[1]
            if type(topic) is not str or type(chosen) is not int:
                return none
            partition = chosen
        else:
            return none
        state = self.topics.get(topic)
        if state is None:
            return none
        placer = state.placer
        if placer.calls_user_code:
            return none
        value = args[-1]
        kind = type(value)
        if kind is bytes:
            size: int = len(value)
        elif kind is str:
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    return none  # the core names what is wrong
            size = len(value)
        elif value is None:
            size = 0
        else:
            return none
        key = args[-2]
        kind = type(key)
        key_bytes: bytes | None
        if kind is bytes:
            key_bytes = key
        elif kind is str:
            try:
                key_bytes = key.encode()
            except UnicodeEncodeError:
                return none
        elif key is None:
            key_bytes = None
        else:
            return none
        if count != 4:
            if key_bytes is not None and type(placer) is HashPlacer:
                partition = placer.key_hash(key_bytes, state.partitions_count)  # most calls
            else:
                partition = place(state, key_bytes, key, value, size)
        if not 0 <= partition < state.partitions_count:
            return none  # the core asks for fresh metadata, or refuses the partition
        return state, partition

    def future(self, args: tuple[Any, ...], future_type: Callable[[FutureWaiter], Any]) -> Any:
        """
        ``produce()`` of a plain call: place it, hand it over, return its future.

        Args:
            args: The call's positional arguments.
            future_type: Makes the future of a :class:`FutureWaiter`.

        Returns:
            The future, or ``None`` when the call is not plain (nothing was done).

        Raises:
            KaffeError: As :meth:`send` raises for a message it could not hand over.
        """
        started = time.perf_counter() if self.observing else 0.0  # kaffe._core.now
        state, partition = self._plain_call(args)
        if state is None:
            return None
        key = args[-2]
        value = args[-1]
        topic = state.name
        waiter = FutureWaiter(self.core, topic, partition)
        self._hand_over(topic, partition, key, value, waiter, THREAD_SERVES, started)
        return future_type(waiter)

    def sync_waiter(self, args: tuple[Any, ...], serving: bool) -> SyncWaiter | None:
        """
        ``produce_sync()`` of a plain call: place it and hand it over with a waiter.

        Args:
            args: The call's positional arguments.
            serving: True when the caller serves delivery reports itself.

        Returns:
            The waiter, or ``None`` when the call is not plain (nothing was done).

        Raises:
            KaffeError: As :meth:`send` raises for a message it could not hand over.
        """
        started = time.perf_counter() if self.observing else 0.0  # kaffe._core.now
        state, partition = self._plain_call(args)
        if state is None:
            return None
        key = args[-2]
        value = args[-1]
        topic = state.name
        waiter = SyncWaiter(self.core, topic, partition)
        who = CALLER_SERVES if serving else THREAD_SERVES
        self._hand_over(topic, partition, key, value, waiter, who, started)
        return waiter

    def loop_waiter(self, args: tuple[Any, ...], hand_off: LoopHandOff) -> LoopWaiter | None:
        """
        The asyncio face's call, when plain: place it and hand it over with a waiter.

        Returns:
            The waiter (its ``future`` is the call's), or ``None`` when the call is
            not plain (nothing was done). When librdkafka's queue is full, the
            waiter's ``queued`` holds the message, not yet handed over.

        Raises:
            KaffeError: librdkafka refused the message.
        """
        started = time.perf_counter() if self.observing else 0.0  # kaffe._core.now
        state, partition = self._plain_call(args)
        if state is None:
            return None
        key = args[-2]
        value = args[-1]
        topic = state.name
        # asyncio.Future(loop=...) is what loop.create_future() returns, without its call.
        future: asyncio.Future[Delivery] = asyncio.Future(loop=hand_off.loop)
        waiter = LoopWaiter(self.core, topic, partition, future, hand_off)
        # When the queue is full, the face offers the message again, without blocking the loop.
        waiter.queued = self._hand_over(
            topic, partition, key, value, waiter, POLLER_SERVES, started
        )
        return waiter

    def _hand_over(
        self,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        waiter: Waiter,
        who: int,
        started: float,
    ) -> OutgoingMessage | None:
        """
        Hand a plain call's message over with its waiter, as ``who`` serves its report.

        An unobserved message goes straight to ``produce()``; an observed one, or one the
        queue refused, is built and goes through :meth:`send`, which tells the observers
        and waits for room (up to ``queue_full_timeout``, except on the event loop).

        Returns:
            The message when the event loop's queue was full (nothing was handed over;
            the face offers it again), else ``None``.

        Raises:
            KaffeError: As :meth:`send` raises for a message it could not hand over.
        """
        observing = self.observing
        if not observing and self._offer(topic, partition, key, value, waiter, who) is None:
            return None
        if observing:
            message = _observed_message(topic, partition, key, value)
        else:
            message = OutgoingMessage(topic, partition, key, value, None, None)
        on_loop = who == POLLER_SERVES
        wait = None if on_loop else self.queue_full_timeout
        if self.send((message,), (waiter,), wait, started, serving=who == CALLER_SERVES):
            return None
        return message

    def batch(
        self, topic: str, items: Sequence[Any], batch: Batch, wait: float, serving: bool
    ) -> bool:
        """
        ``produce_batch_sync`` of plain ``(key, value)`` pairs, when every one is plain.

        Every pair is placed first; only then is anything sent, one ``produce_batch``
        call per partition.

        Args:
            topic: The topic's broker-side name.
            items: The caller's messages.
            batch: Collects the outcomes; one slot per item.
            wait: Seconds a message may wait for room in a full queue.
            serving: True when the caller serves delivery reports itself.

        Returns:
            False when some item is not plain (nothing was sent; the core takes the batch).
        """
        state = self.topics.get(topic)
        if not (self.open and self.plain) or state is None:
            return False
        placer = state.placer
        if not isinstance(placer, HashPlacer):
            return False  # placing has memory (a cursor): the core places those, once
        count = state.partitions_count
        key_hash = placer.key_hash
        groups: dict[int, Group] = {}
        core = self.core
        for index, item in enumerate(items):
            if type(item) is not tuple or len(item) != 2:
                return False
            key, value = item
            kind = type(key)
            if kind is bytes:
                partition: int = key_hash(key, count)
            elif kind is str and key.isascii():
                partition = key_hash(key.encode(), count)
            else:
                return False
            kind = type(value)
            if not (kind is bytes or value is None or (kind is str and value.isascii())):
                return False
            slot = BatchSlot(core, topic, partition, batch, index)
            group = groups.get(partition)
            if group is None:
                group = groups[partition] = []
            group.append({"key": key, "value": value, "callback": slot})
        who = CALLER_SERVES if serving else THREAD_SERVES
        self._send_groups({(topic, part): group for part, group in groups.items()}, wait, who)
        return True

    def count_lines(
        self,
        topic: str,
        lines: list[bytes],
        separator: bytes | None,
        partition: int,
        counted: Counted,
        wait: float,
    ) -> list[int] | None:
        """
        Hand over one message per line, counted (see :class:`Counted`), when the producer is plain.

        A line is ``VALUE``, or ``KEY`` + ``separator`` + ``VALUE`` split at the first
        separator; empty lines are skipped. Each line is placed (by the topic's
        strategy, unless ``partition`` names one) and handed over in turn, with a
        :class:`CountedSlot` tagged with the line's index in ``lines``. A full queue
        is waited out for up to ``wait`` seconds; a message that stays stuck there
        fails as :class:`~kaffe.QueueFullError`, and so do the rest at once.

        Lines go to ``produce()`` one by one rather than through ``produce_batch``:
        building a ``produce_batch`` record per line, which confluent-kafka then reads
        back key by key, cost more than the call per line.

        Args:
            topic: The topic's broker-side name.
            lines: The lines, without their line ends.
            separator: What ends the key, or ``None`` when lines have no key.
            partition: The partition of every line, or -1 for the strategy's.
            counted: Counts the messages and collects the failures.
            wait: Seconds a message may wait for room in a full queue.

        Returns:
            The indexes of the lines without the separator (not sent), or ``None`` when
            nothing was done: the producer is not plain, the partition is out of range,
            or keyless lines would need md5 (the core then builds the messages, and
            says what is wrong).
        """
        state = self.topics.get(topic)
        if not (self.open and self.plain) or state is None:
            return None
        placer = state.placer
        count = state.partitions_count
        if placer.calls_user_code or partition >= count:
            return None
        key_hash: Callable[[bytes, int], int] | None = None
        if isinstance(placer, HashPlacer):
            if separator is None and partition < 0 and placer.strategy == "md5":
                return None
            key_hash = placer.key_hash
        core = self.core
        skip = 0 if separator is None else len(separator)
        sent = [0] * count
        unsplit: list[int] = []
        payload = 0
        stuck = False
        index = -1
        for line in lines:
            index += 1
            if not line:
                continue
            key: bytes | None = None
            value = line
            if separator is not None:
                head, found, value = line.partition(separator)
                if not found:
                    unsplit.append(index)
                    continue
                key = head
            if partition >= 0:
                part = partition
            elif key is not None and key_hash is not None:
                part = key_hash(key, count)
            else:
                part = place(state, key, key, value, len(value))
            size = len(line) - skip
            payload += size
            sent[part] += 1
            slot = CountedSlot(core, topic, part, counted, index, size)
            if stuck:
                slot(_queue_full(topic, part, self.queue_full_timeout), None)
                continue
            refusal = self._offer(topic, part, key, value, slot, CALLER_SERVES)
            if refusal is not None:
                stuck = self._offer_again(refusal, topic, part, key, value, slot, wait)
        for part, messages in enumerate(sent):
            if messages:
                counted.add(part, messages, 0)
        counted.payload_bytes += payload
        return unsplit

    def _offer_again(
        self,
        refusal: Exception,
        topic: str,
        partition: int,
        key: bytes | None,
        value: bytes,
        waiter: Waiter,
        wait: float,
    ) -> bool:
        """
        Offer a refused message again while the queue is full, for up to ``wait`` seconds.

        A refusal for any other reason fails the message through its waiter at once.

        Returns:
            True when the message stayed stuck in a full queue (it failed as
            :class:`~kaffe.QueueFullError`).
        """
        deadline = time.monotonic() + wait
        while isinstance(refusal, BufferError):
            if not self.engine.wait_for_room_until(deadline):
                waiter(_queue_full(topic, partition, self.queue_full_timeout), None)
                return True
            again = self._offer(topic, partition, key, value, waiter, CALLER_SERVES)
            if again is None:
                return False
            refusal = again
        message = OutgoingMessage(topic, partition, key, value, None, None)
        waiter(self._failure(refusal, message), None)
        return False

    def _failure(self, refusal: Exception, message: OutgoingMessage) -> KaffeError:
        """What ``produce()`` refusing ``message`` for a reason other than a full queue means."""
        if isinstance(refusal, KafkaException):
            return translate_kafka_error(
                refusal.args[0],
                topic=message.topic,
                partition=message.partition,
                secrets=self.secrets,
            )
        if isinstance(refusal, RuntimeError):  # the handle was released
            return ProducerClosedError("the producer is closed; create a new one", reason="closed")
        return _refused(message, refusal)

    def count_messages(
        self,
        messages: Sequence[OutgoingMessage],
        tags: Sequence[int],
        counted: Counted,
        wait: float,
        started: float = 0.0,
    ) -> None:
        """
        Hand over messages built by the core, counted (see :class:`Counted`).

        Args:
            messages: The messages.
            tags: The caller's number for each message, kept by its :class:`CountedSlot`.
            counted: Counts the messages and collects the failures.
            wait: Seconds a message may wait for room in a full queue.
            started: When the call began (for the observers).
        """
        core = self.core
        slots: list[Waiter] = []
        for message, tag in zip(messages, tags, strict=True):
            size = _payload_size(message.key) + _payload_size(message.value)
            partition = message.partition
            slots.append(CountedSlot(core, message.topic, partition, counted, tag, size))
            counted.add(partition, 1, size)
        if slots:
            self.send(messages, slots, wait, started, serving=True)

    # --- the hand-over -------------------------------------------------------------------

    def _offer(
        self,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        waiter: Waiter,
        serving: int,
        headers: list[tuple[str, Any]] | None = None,
        timestamp: int | None = None,
    ) -> Exception | None:
        """
        Offer one message to librdkafka's ``produce()``: the only code that calls it.

        Args:
            topic: The topic.
            partition: The partition.
            key: The key as sent.
            value: The value as sent.
            waiter: The message's delivery callback.
            serving: Who serves its delivery report: :data:`THREAD_SERVES`,
                :data:`CALLER_SERVES` or :data:`POLLER_SERVES`.
            headers: The headers, if any.
            timestamp: The timestamp, if any.

        Returns:
            ``None`` when librdkafka took the message, else what ``produce()`` raised:
            ``BufferError`` (the queue is full), ``KafkaException``,
            ``RuntimeError`` (the handle was released), or a refusal of the message's
            content (``TypeError``, ``ValueError``, ``OverflowError``,
            ``UnicodeEncodeError``).
        """
        self._enter(None)
        try:
            if headers is None and timestamp is None:
                self.rk.produce(topic, value, key, partition, waiter)
            else:
                self.rk.produce(topic, value, key, partition, waiter, None, timestamp or 0, headers)
        except _NOT_TAKEN as refusal:
            return refusal
        finally:
            self._leave()
        # _handed_over(1, serving), written out: this runs once per message.
        if serving != POLLER_SERVES:
            produced = self.produced + 1
            self.produced = produced
            if not produced & _SERVE_MASK:
                self.engine.serve_inline()
        if serving != CALLER_SERVES and not (self.poller_busy or self.wake_pending):
            self.engine.wake_poller()  # someone must serve the reports still to come
        return None

    def _handed_over(self, count: int, serving: int) -> None:
        """
        Count messages handed over; serve ready reports now and then; wake the poller.

        ``produced`` counts only what threads that serve inline handed over: the poller
        leaves the serving to them while it grows fast.
        """
        if serving != POLLER_SERVES:
            produced = self.produced
            self.produced = produced + count
            if (produced ^ (produced + count)) & ~_SERVE_MASK:
                self.engine.serve_inline()
        if serving != CALLER_SERVES and not (self.poller_busy or self.wake_pending):
            self.engine.wake_poller()  # someone must serve the reports still to come

    def send(
        self,
        messages: Sequence[OutgoingMessage],
        waiters: Sequence[Waiter],
        wait: float | None,
        started: float = 0.0,
        *,
        serving: bool = False,
    ) -> int:
        """
        Hand messages to librdkafka, each with its waiter as the delivery callback.

        This is the only function that calls librdkafka's ``produce`` and
        ``produce_batch``. Observers hear of each message here, once, just before it
        is handed over.

        A batch of messages without headers or timestamps goes through
        ``produce_batch``, one call per partition and chunk; anything else goes
        message by message. A full queue is waited out for up to ``wait``
        seconds per message, serving delivery reports meanwhile. A message that
        cannot be handed over is refused through its waiter; the others go on.
        Nothing is handed over twice, and the order per partition is kept.

        Args:
            messages: The messages, built by the core.
            waiters: One waiter per message.
            wait: Seconds a message may wait for room in a full queue. ``None``
                (a single message only) returns at once instead: the asyncio face
                waits without blocking and calls again.
            started: When the produce call began (for the observers).
            serving: True when the caller serves delivery reports itself right after
                (a synchronous caller leads the serving): the poller is then left asleep,
                sparing a thread hand-off. With ``wait`` ``None`` (the event loop), the
                poller serves alone.

        Returns:
            How many messages were handed over or refused: 0 only when ``wait`` is
            ``None`` and the queue is full.

        Raises:
            KaffeError: A single message could not be handed over (it was also
                refused through its waiter).
        """
        who = POLLER_SERVES if wait is None else CALLER_SERVES if serving else THREAD_SERVES
        self._enter(None)
        try:
            if not self.open:
                self.engine.check_open()
            observers = self.observers
            observing = self.observing
            if len(messages) > 1 and wait is not None:
                if observing:  # first, so a header an observer adds is seen in time
                    for message, waiter in zip(messages, waiters, strict=True):
                        if waiter.observed is None:
                            announce(observers, message, waiter, started)
                groups = _partition_groups(messages, waiters)
                if groups is not None:
                    self._send_groups(groups, wait, who)
                    return len(messages)
            stuck = False  # once a message stayed stuck in a full queue, refuse the rest
            for message, waiter in zip(messages, waiters, strict=True):
                if observing and waiter.observed is None:
                    announce(observers, message, waiter, started)
                topic, partition, key, value, headers, timestamp = message
                deadline = 0.0
                error: KaffeError | None = None
                while not stuck:
                    refusal = self._offer(
                        topic, partition, key, value, waiter, who, headers, timestamp
                    )
                    if refusal is None:
                        break
                    if not isinstance(refusal, BufferError):
                        error = self._failure(refusal, message)
                        break
                    if wait is None:
                        self.engine.wake_poller()  # reports free room
                        return 0
                    if not deadline:
                        deadline = time.monotonic() + wait
                    stuck = not self.engine.wait_for_room_until(deadline)
                if stuck:
                    error = _queue_full(topic, partition, self.queue_full_timeout)
                if error is not None:
                    waiter(error, None)
                    if len(messages) == 1:
                        raise error
            return len(messages)
        finally:
            self._leave()

    def _send_groups(self, groups: dict[tuple[str, int], Group], wait: float, serving: int) -> None:
        """``produce_batch`` each partition's records, in order, waiting out a full queue."""
        produce_batch = self.rk.produce_batch
        for (topic, partition), records in groups.items():
            start = 0
            deadline = 0.0
            while start < len(records):
                chunk = records[start : start + BATCH_CHUNK]
                try:
                    taken: int = produce_batch(topic, chunk, partition=partition)
                    full_from = (
                        len(chunk)
                        if taken == len(chunk)
                        else self._refusals(topic, partition, chunk)
                    )
                except BufferError:  # current versions mark the records instead
                    taken = full_from = 0
                except KafkaException as failure:
                    error = translate_kafka_error(
                        failure.args[0], topic=topic, partition=partition, secrets=self.secrets
                    )
                    for record in chunk:
                        record["callback"](error, None)
                    taken = 0
                    full_from = len(chunk)
                if taken:
                    self._handed_over(taken, serving)
                start += full_from
                if full_from == len(chunk):
                    deadline = 0.0
                    continue
                # The tail from the first full-queue refusal on is offered again.
                for record in chunk[full_from:]:
                    record.pop("_error", None)
                if not deadline:
                    deadline = time.monotonic() + wait
                if not self.engine.wait_for_room_until(deadline):
                    error = _queue_full(topic, partition, self.queue_full_timeout)
                    for record in records[start:]:
                        record["callback"](error, None)
                    break

    def _refusals(self, topic: str, partition: int, chunk: list[dict[str, Any]]) -> int:
        """
        Fail the records of a ``produce_batch`` call refused for their own sake.

        Returns:
            The index in ``chunk`` of the first record refused for a full queue (from
            there on, librdkafka refused every record), or ``len(chunk)``.
        """
        for index, record in enumerate(chunk):
            refusal: KafkaError | None = record.get("_error")
            if refusal is None:
                continue
            if is_queue_full(refusal):
                return index
            record["callback"](
                translate_kafka_error(
                    refusal, topic=topic, partition=partition, secrets=self.secrets
                ),
                None,
            )
        return len(chunk)


def _partition_groups(
    messages: Sequence[OutgoingMessage], waiters: Sequence[Waiter]
) -> dict[tuple[str, int], Group] | None:
    """
    The messages as ``produce_batch`` records, grouped by topic and partition in input order.

    ``None`` when some message has headers (an empty list is none) or a timestamp,
    which ``produce_batch`` cannot carry: the batch then goes message by message.
    """
    groups: dict[tuple[str, int], Group] = {}
    for message, waiter in zip(messages, waiters, strict=True):
        if message.headers or message.timestamp is not None:
            return None
        place_key = (message.topic, message.partition)
        group = groups.get(place_key)
        if group is None:
            group = groups[place_key] = []
        group.append({"key": message.key, "value": message.value, "callback": waiter})
    return groups


def _queue_full(topic: str, partition: int, waited: float) -> QueueFullError:
    return QueueFullError(
        f"librdkafka's queue stayed full for {waited:g}s while producing to {topic!r}; "
        "the cluster is not keeping up",
        topic=topic,
        partition=partition,
        reason="queue full",
        retriable=True,
    )


def _refused(message: OutgoingMessage, failure: Exception) -> MessageTypeError:
    """Name what librdkafka refused in a message the core let through."""
    topic, partition, key, value, headers, _timestamp = message
    if isinstance(failure, UnicodeEncodeError):
        named: list[tuple[str, Any]] = [("key", key), ("value", value)]
        named += [(f"header {name!r} value", data) for name, data in headers or ()]
        for what, text in named:
            if type(text) is str:
                try:
                    text.encode()
                except UnicodeEncodeError as error:
                    return MessageTypeError(
                        f"{what} is not valid UTF-8 text ({error.reason} at position "
                        f"{error.start}); send bytes, or text without lone surrogates",
                        topic=topic,
                        partition=partition,
                    )
    return MessageTypeError(
        f"librdkafka refused the message: {failure}", topic=topic, partition=partition
    )


def _payload_size(data: str | bytes | None) -> int:
    """The bytes a key or value takes when sent (``str`` is sent as UTF-8)."""
    if data is None:
        return 0
    if type(data) is str and not data.isascii():
        return len(data.encode())
    return len(data)
