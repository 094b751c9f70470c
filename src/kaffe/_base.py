"""
The core both producer faces share.

Config, topic analysis, strategy resolution, partition choice, message building,
and the librdkafka engine with its poller live here.

``Producer`` and ``AsyncProducer`` only add the way a caller waits.
"""

from __future__ import annotations

import collections
import contextlib
import enum
import itertools
import logging
import os
import random
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from . import partitioners
from ._config import ProducerConfig, validate_topic_name
from ._errors import (
    AuthenticationError,
    BrokerUnavailableError,
    ConfigError,
    InvalidPartitionError,
    KaffeError,
    MessageTypeError,
    PartitionStrategyError,
    ProducerClosedError,
    ProducerForkedError,
    QueueFullError,
    UndeliveredMessagesError,
    UnknownTopicError,
    redact,
    translate_kafka_error,
)
from ._security import TokenRefresher
from ._serialization import build_encoder
from ._types import Delivery, Headers, Message, PartitionStrategyFunction

__all__ = ["BaseProducer", "Engine", "TopicState"]

logger = logging.getLogger("kaffe")

#: Seconds a synchronous wait may run past ``delivery_timeout``: librdkafka checks
#: message timeouts about once a second, so its report can arrive slightly late.
DELIVERY_GRACE = 2.0
_POLL_SLICE = 0.1
_UNKNOWN_TOPIC_CODES = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
#: Metadata errors of a topic that is still being created or is electing leaders.
_SETTLING_CODES = (
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._UNKNOWN_TOPIC,
)
#: Seconds ``close()`` serves the failure reports of purged messages, at most.
_PURGE_WAIT = 5.0
#: Seconds a synchronous caller serves per turn while it leads: short, so a leader whose
#: own report has come in returns soon after it.
_LEAD_SLICE = 0.001
#: ``produce()`` and the asyncio face serve ready delivery reports on the producing
#: thread once per this many messages (a power of two). Running the callbacks there,
#: instead of on the poller, spares a GIL hand-off per report while a thread is busy.
INLINE_SERVE_EVERY = 256
#: Seconds a producing thread waits for the poll lock when it is due to serve: the
#: poller then finishes its turn without fighting for the GIL, and hands over.
_INLINE_WAIT = 0.001
#: Seconds the poller stays out of the way while producing threads serve inline.
_STEP_ASIDE = 0.002
#: Seconds between looks for a refused TLS handshake or SASL login while waiting for
#: metadata: librdkafka retries a refused login forever, so waiting longer cannot help.
_REFUSAL_CHECK_INTERVAL = 0.5
_NO_KEY_STRATEGIES = ("murmur2", "crc32", "fnv1a")
_C_HASHES: Final[dict[str, Callable[[bytes, int], int]]] = {
    "murmur2": confluent_kafka.murmur2,
    "crc32": confluent_kafka.consistent,
    "fnv1a": confluent_kafka.fnv1a,
}
#: Key and value types librdkafka takes as they are.
_PLAIN = frozenset((bytes, str))


class State(enum.Enum):
    """Lifecycle of a producer."""

    UNOPENED = "unopened"
    OPEN = "open"
    CLOSED = "closed"
    FORKED = "forked"


class TopicState:
    """
    What kaffe knows about one topic, and the strategy's per-topic memory.

    Attributes:
        name: The topic's broker-side name.
        partitions_count: How many partitions it has.
        available: Partitions that have a leader right now.
        current_partition: The partition the strategy chose last, ``None`` at first.
    """

    __slots__ = (
        "available",
        "current_partition",
        "name",
        "partitions_count",
        "round_robin",
        "sticky",
    )

    def __init__(self, name: str, partitions_count: int, available: tuple[int, ...]) -> None:
        self.name = name
        self.partitions_count = partitions_count
        self.available = available or tuple(range(partitions_count))
        self.current_partition: int | None = None
        self.round_robin = itertools.count()
        self.sticky = partitioners.StickyRandom()

    def __repr__(self) -> str:
        return f"TopicState({self.name!r}, partitions_count={self.partitions_count})"


class _LibrdkafkaLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Forwards librdkafka's log lines to the ``kaffe`` logger with secrets masked."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__(logging.getLogger("kaffe.librdkafka"), {})
        self._secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.logger.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        self.logger.log(level, "%s", redact(text, self._secrets), **kwargs)


_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


#: librdkafka handles inherited through fork(). Their threads stayed in the parent, so
#: destroying one in the child would wait for threads that do not exist: keep them alive.
_inherited_handles: list[object] = []


def _after_fork_in_child() -> None:
    for engine in list(_live_engines):
        engine.forked = True
        _inherited_handles.append(engine.rk)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Engine:
    """
    One librdkafka producer handle and the thread that serves its events.

    Delivery reports are served by whoever holds the poll lock: a synchronous caller
    waiting for its own message (so a lone caller never pays for a thread hand-off),
    or, when nobody does, the background poller.
    """

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self.secrets = config.secrets
        self.forked = False
        self.last_error: KafkaError | None = None
        #: The last error that means a broker refused the TLS handshake or SASL login.
        self.last_refusal: KafkaError | None = None
        properties = config.librdkafka_properties()
        properties["error_cb"] = self._on_error
        properties["logger"] = _LibrdkafkaLog(self.secrets)
        try:
            self.rk = confluent_kafka.Producer(properties)
        except KafkaException as error:
            refresher = properties.get("oauth_cb")
            if (
                isinstance(refresher, TokenRefresher)
                and error.args[0].code() == KafkaError.SASL_AUTHENTICATION_FAILED
            ):
                failure = refresher.startup_error(self.secrets)
                raise failure from failure.__cause__
            raise _config_error(error.args[0], self.secrets) from None
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"client_config: {redact(str(error), self.secrets)}", reason="invalid option"
            ) from None
        self.poll_lock = threading.Lock()
        #: Messages handed over by the faces that serve reports inline. Only a hint for
        #: the poller, so unlocked increments from several threads are fine.
        self.produced = 0
        #: One entry per caller waiting synchronously for its reports. While any waits,
        #: events are served through ``flush``, so librdkafka sends what is queued at
        #: once instead of waiting for ``linger.ms`` (``append``/``pop`` are atomic).
        self.sync_waiters: collections.deque[None] = collections.deque()
        self.async_done: list[tuple[Any, Any, bool]] = []
        self.async_loop: Any = None
        self._wake = threading.Event()
        self.poller_busy = False
        self._stopping = False
        self._poller = threading.Thread(target=self._run_poller, name="kaffe-poller", daemon=True)
        self._poller.start()
        _live_engines.add(self)

    # --- serving events -----------------------------------------------------------

    def _on_error(self, error: KafkaError) -> None:
        self.last_error = error
        if isinstance(translate_kafka_error(error), AuthenticationError):
            self.last_refusal = error
        if error.code() == KafkaError._ALL_BROKERS_DOWN or error.fatal():
            logger.warning("kafka: %s", redact(error.str(), self.secrets))
        else:
            logger.debug("kafka: %s", redact(error.str(), self.secrets))

    def poll(self, timeout: float) -> None:
        """
        Serve librdkafka events for up to ``timeout`` seconds; call with ``poll_lock`` held.

        While a synchronous caller waits, this serves through ``flush``: librdkafka
        ignores ``linger.ms`` while flushing, so a waiting caller never pays for it.
        """
        if self.sync_waiters:
            self.rk.flush(timeout)
        else:
            self.rk.poll(timeout)
        if self.async_done:
            self._dispatch_async()

    def serve_inline(self) -> None:
        """
        Serve the delivery reports that are ready, from a thread that is producing.

        ``produce()`` calls this every :data:`INLINE_SERVE_EVERY` messages. If the
        poller is serving, this waits briefly (without the GIL) so the poller finishes
        its turn, then serves; it never waits for new reports.
        """
        if self.poll_lock.acquire(timeout=_INLINE_WAIT):
            try:
                self.rk.poll(0)
                if self.async_done:
                    self._dispatch_async()
            finally:
                self.poll_lock.release()

    def wait_for_room(self, timeout: float) -> None:
        """
        Serve delivery reports for up to ``timeout`` seconds while librdkafka's queue is full.

        Reports free room in the queue. This blocks without holding the GIL: in the
        lock wait or inside librdkafka, never in a busy loop.
        """
        if self.poll_lock.acquire(timeout=timeout):
            try:
                self.poll(timeout)
            finally:
                self.poll_lock.release()
        else:
            self.wake_poller()

    def serve_ready_on_loop(self) -> None:
        """
        Serve ready delivery reports on the event loop thread, resolving futures directly.

        Never waits: if another thread is serving, it leaves the work to it.
        """
        if not self.poll_lock.acquire(blocking=False):
            return
        try:
            self.rk.poll(0)
            if self.async_done:
                done, self.async_done = self.async_done, []
                _resolve_async(done)
        finally:
            self.poll_lock.release()

    def _dispatch_async(self) -> None:
        done, self.async_done = self.async_done, []
        loop = self.async_loop
        if loop is None or loop.is_closed():
            return
        # RuntimeError: the loop closed meanwhile, so nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve_async, done)

    def wake_poller(self) -> None:
        """Make sure the background poller serves what is outstanding."""
        if not self.poller_busy:
            self._wake.set()

    def _run_poller(self) -> None:
        rk = self.rk
        seen = self.produced
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self.poller_busy = True
            while True:
                while len(rk) > 0 and not self._stopping:
                    produced = self.produced
                    if produced - seen >= INLINE_SERVE_EVERY:
                        # Producing threads are busy and serve reports themselves;
                        # serving here too would fight them for the GIL per report.
                        seen = produced
                        time.sleep(_STEP_ASIDE)
                        continue
                    seen = produced
                    if self.poll_lock.acquire(timeout=_POLL_SLICE):
                        try:
                            self.poll(_POLL_SLICE)
                        finally:
                            self.poll_lock.release()
                self.poller_busy = False
                # A message produced while we were busy skipped wake(); look once more.
                if len(rk) == 0 or self._stopping:
                    break
                self.poller_busy = True

    def serve_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """
        Serve events as the polling leader until ``done()`` or the deadline.

        The caller must be counted in :attr:`sync_waiters`, so serving flushes.

        Returns:
            False when another thread is already serving (the caller must wait
            on its own signal instead), True when this thread served.
        """
        if not self.poll_lock.acquire(blocking=False):
            return False
        try:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.poll(min(remaining, _LEAD_SLICE))
        finally:
            self.poll_lock.release()
        if len(self.rk) > 0:
            self.wake_poller()
        return True

    def flush(self, timeout: float) -> int:
        """
        Deliver everything outstanding; return how many messages are left.

        A synchronous caller may hold ``poll_lock`` for its whole wait (up to
        ``delivery_timeout``), so this takes the lock only a slice at a time and
        never waits for it past ``timeout``; meanwhile that caller serves the events.
        """
        deadline = time.monotonic() + timeout
        self._serve_while(lambda: len(self.rk) > 0, deadline, self.rk.flush)
        return len(self.rk)

    def purge_and_stop(self) -> None:
        """
        Drop what is left, fail its waiters, and stop the poller.

        librdkafka fails purged in-flight messages from its broker threads a little
        after ``purge()`` returns, so reports are served until none is outstanding
        (for at most :data:`_PURGE_WAIT`); otherwise their futures would never resolve.
        """
        with contextlib.suppress(KafkaException):  # purge fails only on bad arguments
            self.rk.purge()
        # len() counts queued reports too, so nothing is left to serve once it is 0.
        self._serve_while(lambda: len(self.rk) > 0, time.monotonic() + _PURGE_WAIT, self.rk.poll)
        self.stop_poller()

    def _serve_while(
        self, busy: Callable[[], bool], deadline: float, serve: Callable[[float], object]
    ) -> None:
        """Serve events with ``serve`` while ``busy()``, a slice at a time, until the deadline."""
        while busy():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self.poll_lock.acquire(timeout=min(remaining, _POLL_SLICE)):
                try:
                    serve(max(min(deadline - time.monotonic(), _POLL_SLICE), 0))
                    if self.async_done:
                        self._dispatch_async()
                finally:
                    self.poll_lock.release()

    def discard(self) -> None:
        """
        Stop serving and release librdkafka's handle at once; for a start-up that failed.

        Without this, a handle refused by the brokers would keep reconnecting (and
        failing) until the garbage collector found it.
        """
        self.purge_and_stop()
        self.rk.close()

    def stop_poller(self) -> None:
        """Stop the background poller thread."""
        self._stopping = True
        self._wake.set()
        if self._poller is not threading.current_thread():
            self._poller.join(timeout=5)

    # --- metadata --------------------------------------------------------------------

    def topic_metadata(self, topic: str, timeout: float) -> TopicState:
        """
        Ask the cluster about one topic, retrying while it is still being set up.

        Raises:
            BrokerUnavailableError: No broker answered within ``timeout``.
            AuthenticationError: The TLS handshake or SASL login failed.
            UnknownTopicError: The topic does not exist.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                metadata = self.list_topics(topic, max(remaining, 0.001))
            except KafkaException as error:
                raise self._unreachable(error.args[0], topic) from None
            found = metadata.topics.get(topic)
            topic_error: KafkaError | None = None if found is None else found.error
            if found is not None and topic_error is None and found.partitions:
                available = tuple(
                    sorted(pid for pid, info in found.partitions.items() if info.leader >= 0)
                )
                return TopicState(topic, len(found.partitions), available)
            creating = self.config.allow_topic_auto_creation and time.monotonic() < deadline
            if (
                topic_error is not None
                and topic_error.code()
                in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
                and not creating  # an auto-created topic is unknown until the broker made it
            ):
                raise UnknownTopicError(
                    f"topic {topic!r} does not exist (kaffe does not create topics unless "
                    "allow_topic_auto_creation=True)",
                    topic=topic,
                    reason="unknown topic",
                    code=topic_error.name(),
                )
            if topic_error is not None and topic_error.code() not in _SETTLING_CODES:
                raise translate_kafka_error(topic_error, topic=topic, secrets=self.secrets)
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(
                    f"topic {topic!r} has no partition leaders yet after {timeout:g}s",
                    topic=topic,
                    reason="leader not available",
                    retriable=True,
                )
            time.sleep(0.1)

    def list_topics(self, topic: str | None, timeout: float) -> Any:
        """
        Read cluster metadata like ``rk.list_topics``, but stop early once a broker refused us.

        A refused TLS handshake or SASL login is reported through ``error_cb`` while
        ``list_topics`` keeps waiting; checking between short waits turns a wrong
        password or an untrusted certificate into an error within about a second
        instead of after the whole ``timeout``.

        Raises:
            AuthenticationError: A broker refused the TLS handshake or SASL login meanwhile.
            KafkaException: Metadata did not arrive (``_unreachable`` explains why).
        """
        deadline = time.monotonic() + timeout
        seen = self.last_refusal
        while True:
            remaining = deadline - time.monotonic()
            wait = max(min(remaining, _REFUSAL_CHECK_INTERVAL), 0.001)
            try:
                return self.rk.list_topics(topic, timeout=wait)
            except KafkaException as error:
                self.drain_errors()
                refusal = self.last_refusal
                if refusal is not None and refusal is not seen:
                    raise translate_kafka_error(
                        refusal, topic=topic or None, secrets=self.secrets
                    ) from None
                if wait >= remaining or error.args[0].code() != KafkaError._TIMED_OUT:
                    raise

    def _unreachable(self, error: KafkaError, topic: str) -> KaffeError:
        self.drain_errors()
        last = self.last_error
        if last is not None and error.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT):
            translated = translate_kafka_error(last, topic=topic, secrets=self.secrets)
            if isinstance(translated, BrokerUnavailableError):
                return translated
        endpoints = self.config.bootstrap_servers
        return BrokerUnavailableError(
            f"no broker of {endpoints} answered within the start timeout "
            f"({redact((last or error).str(), self.secrets)})",
            topic=topic,
            reason="broker unavailable",
            retriable=True,
            code=error.name(),
        )

    def drain_errors(self) -> None:
        """Serve queued error events so ``last_error`` is current."""
        if self.poll_lock.acquire(timeout=_POLL_SLICE):
            try:
                self.poll(0)
            finally:
                self.poll_lock.release()


def _config_error(error: KafkaError, secrets: tuple[str, ...]) -> ConfigError:
    return ConfigError(
        f"librdkafka rejected the configuration: {redact(error.str(), secrets)}",
        reason="invalid option",
    )


def _resolve_async(done: list[tuple[Any, Any, bool]]) -> None:
    for future, outcome, failed in done:
        if future.done():  # cancelled by its waiter; the message was still sent
            continue
        if failed:
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


_new_tuple = tuple.__new__


def to_delivery(message: Any) -> Delivery:
    """Build a :class:`Delivery` from a librdkafka message."""
    kind, stamp = message.timestamp()
    # tuple.__new__ skips the NamedTuple's Python-level __new__: this runs once per message.
    return _new_tuple(
        Delivery, (message.topic(), message.partition(), message.offset(), stamp if kind else None)
    )


#: What ``rk.produce`` raises for a message it did not take; ``_send`` translates each.
NOT_TAKEN = (BufferError, KafkaException, TypeError, OverflowError, UnicodeEncodeError)


class BaseProducer:
    """
    Everything a producer does that is not waiting: config, strategy, messages.

    Subclasses add the I/O face.
    """

    def __init__(self, config: ProducerConfig | None = None, **options: Any) -> None:
        if config is None:
            config = ProducerConfig(**options)
        elif options:
            config = config.replace(**options)
        elif not isinstance(config, ProducerConfig):
            raise ConfigError(f"config: expected ProducerConfig, got {type(config).__name__}")
        self.config = config
        self._state = State.UNOPENED
        self._topics: dict[str, TopicState] = {}
        self._topics_lock = threading.Lock()
        self._strategy_name, self._choose = self._resolve_strategy(config.partition_strategy)
        #: The key hash of a hashing strategy, for calls that need no other work.
        self._fast_hash: Callable[[bytes, int], int] | None = (
            _FAST_HASHES.get(config.partition_strategy)
            if isinstance(config.partition_strategy, str)
            else None
        )
        self._topic_prefix = config.topic_prefix
        #: True when a (topic, key, value) call with a known topic and bytes or str key
        #: and value needs no work from kaffe: the faces then skip parsing and building.
        self._plain_calls = (
            self._fast_hash is not None
            and not self._topic_prefix
            and config.key_serializer is None
            and config.value_serializer is None
        )
        self._key_serializer = config.key_serializer
        self._value_serializer = config.value_serializer
        self._encode_key = build_encoder(config.key_serializer, "key", config.topic_prefix)
        self._encode_value = build_encoder(config.value_serializer, "value", config.topic_prefix)
        #: A serializer receives the message's header list (and may add to it).
        self._serializers_need_headers = (
            self._encode_key.needs_headers or self._encode_value.needs_headers
        )
        self._delivery_wait = config.delivery_timeout + DELIVERY_GRACE
        self._engine: Engine | None = None
        self._refresh_wake = threading.Event()

    # --- lifecycle shared by both faces ----------------------------------------------

    def _open_engine(self) -> Engine:
        engine = Engine(self.config)
        self._engine = engine
        return engine

    def _analyse_topics(self) -> None:
        engine = self._engine
        assert engine is not None
        for topic in self.config.topics:
            self._topics[topic] = engine.topic_metadata(topic, self.config.start_timeout)
        if not self.config.topics:
            try:
                engine.list_topics(None, self.config.start_timeout)
            except KafkaException as error:
                raise engine._unreachable(error.args[0], "") from None

    def _check_open(self) -> Engine:
        engine = self._engine
        if self._state is State.OPEN and engine is not None and not engine.forked:
            return engine
        if engine is not None and engine.forked:
            self._state = State.FORKED
            raise ProducerForkedError(
                "this producer was created in another process; librdkafka handles do not "
                "survive fork(), so create one producer per process (after forking)",
                reason="forked",
            )
        if self._state is State.UNOPENED:
            raise ProducerClosedError("the producer is not started yet", reason="not started")
        raise ProducerClosedError("the producer is closed; create a new one", reason="closed")

    #: How to close this face, for the ``ResourceWarning`` of an unclosed producer.
    _UNCLOSED_HINT = "close it"

    def _begin_close(self) -> Engine | None:
        """Mark the producer closed; return the engine still to drain, if any."""
        if self._state is not State.OPEN:
            return None
        engine = self._engine
        assert engine is not None
        self._state = State.CLOSED
        self._refresh_wake.set()
        if engine.forked:  # the handle belongs to the parent process: leave it alone
            self._state = State.FORKED
            return None
        return engine

    def _close_engine(self, engine: Engine, timeout: float | None, operation: str) -> None:
        """Deliver what is outstanding, drop the rest and stop; blocks."""
        left = engine.flush(self._delivery_wait if timeout is None else timeout)
        engine.purge_and_stop()
        if left:
            raise UndeliveredMessagesError(
                f"{operation}() timed out with {left} message(s) not acknowledged; "
                "they were dropped",
                undelivered=left,
            )

    def __del__(self) -> None:
        if getattr(self, "_state", None) is not State.OPEN:
            return
        engine = self._engine
        if engine is None or engine.forked:
            return
        try:
            warnings.warn(
                f"unclosed {self!r}; {self._UNCLOSED_HINT}",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
        finally:  # also when warnings are errors (-W error)
            self._state = State.CLOSED
            self._refresh_wake.set()
            engine.flush(min(self._delivery_wait, 5.0))
            engine.stop_poller()

    @property
    def closed(self) -> bool:
        """True once the producer is closed."""
        return self._state in (State.CLOSED, State.FORKED)

    @property
    def topics(self) -> tuple[str, ...]:
        """The configured topics, broker-side names."""
        return self.config.topics

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state.value} endpoints="
            f"{self.config.bootstrap_servers!r} topics={list(self.config.topics)!r} "
            f"strategy={self._strategy_name!r}>"
        )

    # --- strategy ---------------------------------------------------------------------

    def _resolve_strategy(
        self, strategy: str | PartitionStrategyFunction
    ) -> tuple[str, Callable[[TopicState, bytes | None, Any, Any, Any, int], int]]:
        if not isinstance(strategy, str):
            return getattr(strategy, "__qualname__", "function"), _FunctionStrategy(strategy)
        if strategy == "md5":
            return strategy, _choose_md5
        if strategy == "round_robin":
            return strategy, _choose_round_robin
        if strategy == "random":
            return strategy, _choose_random
        return strategy, _HashStrategy(_C_HASHES[strategy])

    # --- building a message -------------------------------------------------------------

    def _parse_call(self, args: tuple[Any, ...]) -> tuple[str, int | None, Any, Any]:
        count = len(args)
        if count == 2:
            if not self.config.topics:
                raise ConfigError(
                    "produce_sync(key, value) sends to the first configured topic, but no "
                    "topics are configured; pass topics=[...] or name the topic"
                )
            return self.config.topics[0], None, args[0], args[1]
        if count == 3:
            return self._topic_arg(args[0]), None, args[1], args[2]
        if count == 4:
            partition = args[1]
            if partition is not None and (type(partition) is not int):
                raise MessageTypeError(
                    f"partition must be int, not {type(partition).__name__}",
                    topic=args[0] if isinstance(args[0], str) else None,
                )
            return self._topic_arg(args[0]), partition, args[2], args[3]
        raise TypeError(
            f"expected (key, value), (topic, key, value) or (topic, partition, key, value); "
            f"got {count} positional argument(s)"
        )

    def _topic_arg(self, topic: Any) -> str:
        prefix = self._topic_prefix
        if type(topic) is str:
            if not prefix:
                if topic in self._topics:
                    return topic
            elif (prefix + topic) in self._topics:
                return prefix + topic
        return prefix + validate_topic_name(topic)

    def _topic_state(self, topic: str) -> TopicState:
        state = self._topics.get(topic)
        if state is None:
            state = self._analyse_topic(topic)
        return state

    def _analyse_topic(self, topic: str) -> TopicState:
        """Fetch a topic not configured at start-up, once, however many threads ask."""
        engine = self._check_open()
        with self._topics_lock:
            state = self._topics.get(topic)
            if state is None:
                state = engine.topic_metadata(topic, self.config.start_timeout)
                self._topics[topic] = state
        return state

    def _refresh_topic(self, topic: str) -> TopicState | None:
        """Re-read one topic's partition count; log a change."""
        engine = self._engine
        if engine is None:
            return None
        try:
            fresh = engine.topic_metadata(topic, self.config.start_timeout)
        except KaffeError as error:
            logger.debug("metadata refresh of %r failed: %s", topic, error)
            return None
        old = self._topics.get(topic)
        if old is not None:
            if old.partitions_count != fresh.partitions_count:
                logger.info(
                    "topic %r now has %d partitions (was %d); strategy placement of keys shifts",
                    topic,
                    fresh.partitions_count,
                    old.partitions_count,
                )
            fresh.current_partition = old.current_partition
            fresh.round_robin = old.round_robin
            fresh.sticky = old.sticky
        self._topics[topic] = fresh
        return fresh

    def refresh_metadata(self) -> None:
        """
        Re-read the partition count of every known topic now.

        Raises:
            ProducerClosedError: The producer is closed.
        """
        self._check_open()
        self._refresh_known_topics()

    def _refresh_known_topics(self) -> None:
        for topic in list(self._topics):
            self._refresh_topic(topic)

    def _build(
        self,
        topic: str,
        partition: int | None,
        key: Any,
        value: Any,
        headers: Headers | None,
    ) -> tuple[int, Any, Any, Any]:
        """
        Return ``(partition, key, value, headers)`` ready for librdkafka.

        kaffe always chooses the partition itself and hands it to librdkafka explicitly.
        """
        state = self._topics.get(topic) or self._topic_state(topic)
        headers_out = _check_headers(headers, topic) if headers else None
        if headers_out is None and self._serializers_need_headers:
            headers_out = []
        # Fast paths for the common case: bytes, str or None and no serializer.
        kind = type(key)
        if (kind is bytes or kind is str or key is None) and self._key_serializer is None:
            key_out = key
        else:
            key_out = self._encode_key(key, topic, headers_out)
        kind = type(value)
        if (kind is bytes or kind is str or value is None) and self._value_serializer is None:
            value_out = value
        else:
            value_out = self._encode_value(value, topic, headers_out)
        count = state.partitions_count
        if partition is None:
            try:
                key_bytes = key_out.encode() if type(key_out) is str else key_out
            except UnicodeEncodeError:
                raise unencodable_text(key_out, None, None, topic) from None
            try:
                partition = self._choose(state, key_bytes, key, value, value_out, count)
            except KaffeError:
                raise
            except Exception as error:
                raise PartitionStrategyError(
                    f"partition strategy {self._strategy_name!r} raised "
                    f"{type(error).__name__}: {error}",
                    topic=topic,
                    reason="strategy failed",
                ) from error
            if type(partition) is not int:
                raise PartitionStrategyError(
                    f"partition strategy {self._strategy_name!r} returned "
                    f"{type(partition).__name__} {partition!r}; it must return an int",
                    topic=topic,
                    reason="strategy returned non-int",
                )
            state.current_partition = partition
        if not 0 <= partition < count:
            state = self._refresh_topic(topic) or state
            if not 0 <= partition < state.partitions_count:
                raise InvalidPartitionError(
                    f"partition {partition} is out of range for topic {topic!r}, which has "
                    f"{state.partitions_count} partitions (0..{state.partitions_count - 1})",
                    topic=topic,
                    partition=partition,
                    partitions_count=state.partitions_count,
                )
        return partition, key_out, value_out, headers_out or None

    def _plain_partition(self, args: tuple[Any, ...], headers: Headers | None) -> int | None:
        """
        The partition of a plain ``(topic, key, value)`` call, or ``None``.

        A plain call names a known topic, has bytes or str key and value, no headers,
        and a hashing strategy without serializers: it needs nothing of
        ``_parse_call`` and ``_build`` but the partition. ``None`` means the call
        takes the full path.
        """
        if (
            self._plain_calls
            and headers is None
            and len(args) == 3
            and type(args[0]) is str
            and args[0] in self._topics
            and type(args[1]) in _PLAIN
            and type(args[2]) in _PLAIN
        ):
            return self._fast_partition(args[0], args[1])
        return None

    def _fast_partition(self, topic: str, key: bytes | str) -> int:
        """The partition of a keyed call under a hashing strategy, with nothing else to do."""
        if type(key) is str:
            try:
                key = key.encode()
            except UnicodeEncodeError:
                raise unencodable_text(key, None, None, topic) from None
        assert self._fast_hash is not None
        return self._fast_hash(key, self._topics[topic].partitions_count)  # type: ignore[arg-type]

    def _prepare_batch(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[tuple[int, Any, Any, Any, int | None]]:
        """Check and build every message of a batch before any is sent."""
        prepared: list[tuple[int, Any, Any, Any, int | None]] = []
        plain = self._plain_calls
        append = prepared.append
        for index, item in enumerate(messages):
            if plain and type(item) is tuple and len(item) == 2:
                key, value = item
                if type(key) is bytes and type(value) in _PLAIN:
                    # What _build returns for it, without calling it.
                    append((self._fast_partition(topic, key), key, value, None, None))
                    continue
            if isinstance(item, Message):
                key, value, headers, partition, timestamp = item
            elif isinstance(item, tuple) and len(item) == 2:
                key, value = item
                headers = partition = timestamp = None
            else:
                raise MessageTypeError(
                    f"batch message {index} must be a (key, value) pair or kaffe.Message, "
                    f"not {type(item).__name__}",
                    topic=topic,
                )
            try:
                built = self._build(topic, partition, key, value, headers)
            except KaffeError as error:
                error.message = f"batch message {index}: {error.message}"
                error.args = (error.message,)
                raise
            append((*built, timestamp))
        return prepared

    def _send(
        self,
        engine: Engine,
        topic: str,
        partition: int,
        key: Any,
        value: Any,
        headers: Any,
        timestamp: int | None,
        on_delivery: Callable[[Any, Any], None],
        deadline: float | None,
    ) -> bool:
        """
        Hand one message to librdkafka.

        Returns:
            True when accepted; False when the queue is full and ``deadline`` is
            ``None`` (the asyncio face waits without blocking, then calls again).
        """
        known = partition if partition >= 0 else None
        while True:
            try:
                if timestamp is None:
                    engine.rk.produce(topic, value, key, partition, on_delivery, headers=headers)
                else:
                    engine.rk.produce(
                        topic,
                        value,
                        key,
                        partition,
                        on_delivery,
                        timestamp=timestamp,
                        headers=headers,
                    )
                return True
            except BufferError:
                if deadline is None:
                    engine.wake_poller()
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueueFullError(
                        f"librdkafka's queue stayed full for {self.config.queue_full_timeout:g}s "
                        f"while producing to {topic!r}; the cluster is not keeping up",
                        topic=topic,
                        partition=known,
                        reason="queue full",
                        retriable=True,
                    ) from None
                engine.wait_for_room(min(remaining, 0.005))
            except KafkaException as error:
                raise translate_kafka_error(
                    error.args[0], topic=topic, partition=known, secrets=engine.secrets
                ) from None
            except UnicodeEncodeError:
                raise unencodable_text(key, value, headers, topic) from None
            except (TypeError, OverflowError) as error:
                # Key, value and headers are checked before; what is left is the timestamp.
                detail = str(error)
                if timestamp is not None:
                    detail = (
                        "timestamp must be an int of milliseconds since the epoch "
                        f"(0 to 2**63-1), not {timestamp!r}"
                    )
                raise MessageTypeError(detail, topic=topic, partition=known) from None

    def _failed(self, engine: Engine, error: KafkaError, message: Any) -> KaffeError:
        """Translate a failed delivery report."""
        topic, partition = message.topic(), message.partition()
        translated = translate_kafka_error(
            error,
            topic=topic,
            partition=partition if partition >= 0 else None,
            secrets=engine.secrets,
        )
        if error.code() in (KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART):
            self._request_refresh()
        return translated

    def _request_refresh(self) -> None:
        """Ask the refresher thread for an early metadata refresh."""
        self._refresh_wake.set()

    def _start_refresher(self) -> None:
        """Start the thread that re-reads partition counts every ``metadata_refresh_interval``."""
        interval = self.config.metadata_refresh_interval
        if interval is None:
            return
        threading.Thread(
            target=_refresh_loop,
            args=(self._refresh_wake, weakref.ref(self), interval),
            name="kaffe-metadata",
            daemon=True,
        ).start()


def _refresh_loop(
    wake: threading.Event, producer_ref: weakref.ref[BaseProducer], interval: float
) -> None:
    # Holds the producer only weakly, so an unclosed producer can still be collected.
    while True:
        wake.wait(interval)
        wake.clear()
        producer = producer_ref()
        if producer is None or producer.closed:
            return
        producer._refresh_known_topics()
        del producer


def _check_headers(headers: Headers, topic: str) -> list[tuple[str, Any]]:
    items: Any
    if isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, (list, tuple)):
        items = headers
    else:
        raise MessageTypeError(
            "headers must be a mapping or a list of (name, value) pairs, "
            f"not {type(headers).__name__}",
            topic=topic,
        )
    checked: list[tuple[str, Any]] = []
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise MessageTypeError(f"header {item!r} is not a (name, value) pair", topic=topic)
        name, value = item
        if type(name) is not str:
            raise MessageTypeError(
                f"header name {name!r} must be str, not {type(name).__name__}", topic=topic
            )
        if value is not None and type(value) is not bytes and type(value) is not str:
            raise MessageTypeError(
                f"header {name!r} value must be str, bytes or None, not {type(value).__name__}",
                topic=topic,
            )
        # confluent-kafka crashes the process on a header name it cannot encode.
        if not name.isascii():
            _check_utf8(name, f"header name {name!r}", topic, "use a name that is")
        if type(value) is str and not value.isascii():
            _check_utf8(value, f"header {name!r} value", topic)
        checked.append((name, value))
    return checked


def _check_utf8(text: str, what: str, topic: str, hint: str = "send bytes, or") -> None:
    try:
        text.encode()
    except UnicodeEncodeError as error:
        raise MessageTypeError(
            f"{what} is not valid UTF-8 text ({error.reason} at position {error.start}); "
            f"{hint} text without lone surrogates",
            topic=topic,
        ) from None


def unencodable_text(key: Any, value: Any, headers: Any, topic: str) -> MessageTypeError:
    """Name the key, value or header that is a str librdkafka cannot encode as UTF-8."""
    named = [("key", key), ("value", value)]
    named += [(f"header {name!r} value", data) for name, data in headers or ()]
    for what, text in named:
        if type(text) is str:
            try:
                _check_utf8(text, what, topic)
            except MessageTypeError as error:
                return error
    return MessageTypeError("a key, value or header is not valid UTF-8 text", topic=topic)


# --- strategies: (state, key_bytes, key, value, encoded_value, partitions_count) -> int


#: Key hashes of the hashing strategies: ``(key_bytes, partitions_count) -> partition``.
_FAST_HASHES: Final[dict[str, Callable[[bytes, int], int]]] = {
    "md5": partitioners.md5_of_bytes,
    **_C_HASHES,
}


def _choose_md5(
    state: TopicState, key: bytes | None, original_key: Any, value: Any, encoded: Any, count: int
) -> int:
    if key is None:
        raise PartitionStrategyError(
            "the md5 strategy needs a key, but the key is None; give the message a key, name a "
            "partition, or choose another strategy",
            topic=state.name,
            reason="key is None",
        )
    return partitioners.md5_of_bytes(key, count)


def _choose_round_robin(
    state: TopicState, key: bytes | None, original_key: Any, value: Any, encoded: Any, count: int
) -> int:
    return next(state.round_robin) % count


def _choose_random(
    state: TopicState, key: bytes | None, original_key: Any, value: Any, encoded: Any, count: int
) -> int:
    return random.randrange(count)


class _HashStrategy:
    """A librdkafka hash for keyed messages, sticky random for keyless ones."""

    __slots__ = ("_hash",)

    def __init__(self, hash_function: Callable[[bytes, int], int]) -> None:
        self._hash = hash_function

    def __call__(
        self,
        state: TopicState,
        key: bytes | None,
        original_key: Any,
        value: Any,
        encoded: Any,
        count: int,
    ) -> int:
        if key is None:
            size = len(encoded) if encoded is not None else 0
            return state.sticky(size, state.available)
        return self._hash(key, count)


class _FunctionStrategy:
    """A user's function: ``fn(topic, current_partition, partitions_count, key, value)``."""

    __slots__ = ("_function",)

    def __init__(self, function: PartitionStrategyFunction) -> None:
        self._function = function

    def __call__(
        self,
        state: TopicState,
        key: bytes | None,
        original_key: Any,
        value: Any,
        encoded: Any,
        count: int,
    ) -> int:
        return self._function(state.name, state.current_partition, count, original_key, value)
