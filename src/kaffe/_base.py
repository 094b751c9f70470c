"""
The core both producer faces share.

Config, topic analysis, strategy resolution, partition choice, message building,
and the librdkafka engine with its poller live here.

``Producer`` and ``AsyncProducer`` only add the way a caller waits.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import itertools
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from . import partitioners
from ._config import ProducerConfig, validate_topic_name
from ._errors import (
    BrokerUnavailableError,
    ConfigError,
    InvalidPartitionError,
    KaffeError,
    MessageTypeError,
    PartitionStrategyError,
    ProducerClosedError,
    ProducerForkedError,
    QueueFullError,
    SerializationError,
    UnknownTopicError,
    redact,
    translate_kafka_error,
)
from ._types import Delivery, Headers, Message, PartitionStrategyFunction

__all__ = ["BaseProducer", "Engine", "TopicState"]

logger = logging.getLogger("kaffe")

#: Seconds a synchronous wait may run past ``delivery_timeout``: librdkafka checks
#: message timeouts about once a second, so its report can arrive slightly late.
DELIVERY_GRACE = 2.0
_POLL_SLICE = 0.1
_NO_KEY_STRATEGIES = ("murmur2", "crc32", "fnv1a")
_C_HASHES: Final[dict[str, Callable[[bytes, int], int]]] = {
    "murmur2": confluent_kafka.murmur2,
    "crc32": confluent_kafka.consistent,
    "fnv1a": confluent_kafka.fnv1a,
}


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


def _after_fork_in_child() -> None:
    for engine in list(_live_engines):
        engine.forked = True


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
        properties = config.librdkafka_properties()
        properties["error_cb"] = self._on_error
        properties["logger"] = _LibrdkafkaLog(self.secrets)
        try:
            self.rk = confluent_kafka.Producer(properties)
        except KafkaException as error:
            raise _config_error(error.args[0], self.secrets) from None
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"client_config: {redact(str(error), self.secrets)}", reason="invalid option"
            ) from None
        self.poll_lock = threading.Lock()
        self.async_done: list[tuple[Any, Any, bool]] = []
        self.async_loop: Any = None
        self._wake = threading.Event()
        self._poller_busy = False
        self._stopping = False
        self._poller = threading.Thread(target=self._run_poller, name="kaffe-poller", daemon=True)
        self._poller.start()
        _live_engines.add(self)

    # --- serving events -----------------------------------------------------------

    def _on_error(self, error: KafkaError) -> None:
        self.last_error = error
        if error.code() == KafkaError._ALL_BROKERS_DOWN or error.fatal():
            logger.warning("kafka: %s", redact(error.str(), self.secrets))
        else:
            logger.debug("kafka: %s", redact(error.str(), self.secrets))

    def poll(self, timeout: float) -> None:
        """Serve librdkafka events for up to ``timeout`` seconds; call with ``poll_lock`` held."""
        self.rk.poll(timeout)
        if self.async_done:
            self._dispatch_async()

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
        if not self._poller_busy:
            self._wake.set()

    def _run_poller(self) -> None:
        rk = self.rk
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            self._poller_busy = True
            while True:
                while len(rk) > 0 and not self._stopping:
                    if self.poll_lock.acquire(timeout=_POLL_SLICE):
                        try:
                            self.poll(_POLL_SLICE)
                        finally:
                            self.poll_lock.release()
                self._poller_busy = False
                # A message produced while we were busy skipped wake(); look once more.
                if len(rk) == 0 or self._stopping:
                    break
                self._poller_busy = True

    def serve_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """
        Serve events as the polling leader until ``done()`` or the deadline.

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
                self.poll(min(remaining, _POLL_SLICE))
        finally:
            self.poll_lock.release()
        if len(self.rk) > 0:
            self.wake_poller()
        return True

    def flush(self, timeout: float) -> int:
        """Deliver everything outstanding; return how many messages are left."""
        deadline = time.monotonic() + timeout
        with self.poll_lock:
            while len(self.rk) > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.rk.flush(min(remaining, _POLL_SLICE))
                if self.async_done:
                    self._dispatch_async()
            return len(self.rk)

    def purge_and_stop(self) -> None:
        """Drop what is left (its waiters get errors) and stop the poller."""
        with contextlib.suppress(KafkaException):  # purge fails only on bad arguments
            self.rk.purge()
        with self.poll_lock:
            self.rk.poll(0)
            if self.async_done:
                self._dispatch_async()
        self.stop_poller()

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
                metadata = self.rk.list_topics(topic, timeout=max(remaining, 0.001))
            except KafkaException as error:
                raise self._unreachable(error.args[0], topic) from None
            found = metadata.topics.get(topic)
            topic_error: KafkaError | None = None if found is None else found.error
            if found is not None and topic_error is None and found.partitions:
                available = tuple(
                    sorted(pid for pid, info in found.partitions.items() if info.leader >= 0)
                )
                return TopicState(topic, len(found.partitions), available)
            if topic_error is not None and topic_error.code() in (
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_TOPIC,
            ):
                raise UnknownTopicError(
                    f"topic {topic!r} does not exist (kaffe does not create topics unless "
                    "allow_topic_auto_creation=True)",
                    topic=topic,
                    reason="unknown topic",
                    code=topic_error.name(),
                )
            if topic_error is not None and topic_error.code() != KafkaError.LEADER_NOT_AVAILABLE:
                raise translate_kafka_error(topic_error, topic=topic, secrets=self.secrets)
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(
                    f"topic {topic!r} has no partition leaders yet after {timeout:g}s",
                    topic=topic,
                    reason="leader not available",
                    retriable=True,
                )
            time.sleep(0.1)

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


def to_delivery(message: Any) -> Delivery:
    """Build a :class:`Delivery` from a librdkafka message."""
    kind, stamp = message.timestamp()
    return Delivery(message.topic(), message.partition(), message.offset(), stamp if kind else None)


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
        self._key_serializer = config.key_serializer
        self._value_serializer = config.value_serializer
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
                engine.rk.list_topics(timeout=self.config.start_timeout)
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
        prefix = self.config.topic_prefix
        if type(topic) is str and (prefix + topic) in self._topics:
            return prefix + topic
        return prefix + validate_topic_name(topic)

    def _encode(
        self, data: Any, serializer: Callable[[Any], Any] | None, what: str, topic: str
    ) -> Any:
        if serializer is not None and data is not None:
            try:
                data = serializer(data)
            except Exception as error:
                raise SerializationError(
                    f"{what}_serializer raised {type(error).__name__}: {error}",
                    topic=topic,
                    reason="serializer failed",
                ) from error
            if type(data) is bytes or type(data) is str:
                return data
            raise MessageTypeError(
                f"{what}_serializer must return bytes or str, not {type(data).__name__}",
                topic=topic,
            )
        kind = type(data)
        if kind is bytes or kind is str or data is None:
            return data
        if kind is bytearray or kind is memoryview:
            return bytes(data)
        raise MessageTypeError(
            f"{what} must be bytes, str or None, not {kind.__name__}; configure a "
            f"{what}_serializer to send other types",
            topic=topic,
        )

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
        """Re-read the partition count of every known topic now."""
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
        """Return ``(partition, key, value, headers)`` ready for librdkafka."""
        state = self._topics.get(topic) or self._topic_state(topic)
        key_out = self._encode(key, self._key_serializer, "key", topic)
        value_out = self._encode(value, self._value_serializer, "value", topic)
        count = state.partitions_count
        if partition is None:
            key_bytes = key_out.encode() if type(key_out) is str else key_out
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
        return partition, key_out, value_out, _check_headers(headers, topic) if headers else None

    def _prepare_batch(
        self, topic: str, messages: Iterable[Message | tuple[Any, Any]]
    ) -> list[tuple[int, Any, Any, Any, int | None]]:
        """Check and build every message of a batch before any is sent."""
        prepared = []
        for index, item in enumerate(messages):
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
            prepared.append((*built, timestamp))
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
                engine.wake_poller()
                if deadline is None:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise QueueFullError(
                        f"librdkafka's queue stayed full for {self.config.queue_full_timeout:g}s "
                        f"while producing to {topic!r}; the cluster is not keeping up",
                        topic=topic,
                        partition=partition,
                        reason="queue full",
                        retriable=True,
                    ) from None
                time.sleep(min(remaining, 0.005))
            except KafkaException as error:
                raise translate_kafka_error(
                    error.args[0], topic=topic, partition=partition, secrets=engine.secrets
                ) from None
            except TypeError as error:
                raise MessageTypeError(str(error), topic=topic, partition=partition) from None

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
        producer.refresh_metadata()
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
        checked.append((name, value))
    return checked


# --- strategies: (state, key_bytes, key, value, encoded_value, partitions_count) -> int


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
    return sum(hashlib.md5(key).digest()) % count


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
