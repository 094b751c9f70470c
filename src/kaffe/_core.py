"""
The message core: a call becomes one placed message, and an outcome settles its waiter.

Nothing here does I/O. Both producer faces and the recording test doubles share
it, so validation, encoding and placement are the same everywhere:

* :meth:`Core.message` turns a ``produce_sync(...)``-style call into one
  :class:`~kaffe.OutgoingMessage`; :meth:`Core.batch` does the same for a batch.
  When placing needs metadata kaffe does not have yet (a topic not analysed, or a
  partition beyond the known count), it raises :class:`MissingMetadata`, and the
  face fetches the metadata its own way (a thread blocks, the event loop awaits)
  and asks again.
* Plain calls (a known topic, ``bytes``/``str`` key and value, no headers or
  timestamp, a built-in strategy, no serializer or prefix) skip this module:
  :class:`kaffe._hot.HotPath` places and hands them over itself, building the
  message only for observers. The core says whether they may (:attr:`Core.direct`,
  and :attr:`Core.plain` when no observer watches).

The per-message functions themselves (placement, the hand-over, the one outcome
function :meth:`Waiter.__call__ <kaffe._hot.Waiter>`) live in :mod:`kaffe._hot`,
which is compiled when kaffe is built.
"""

from __future__ import annotations

import enum
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka import KafkaError

from . import partitioners
from ._config import ProducerConfig, validate_topic_name
from ._errors import (
    BatchProduceError,
    ConfigError,
    DeliveryTimeoutError,
    InvalidPartitionError,
    KaffeError,
    MessageTypeError,
    means_metadata_changed,
    means_purged,
    translate_kafka_error,
)
from ._hot import Batch, TopicState, place
from ._serialization import build_encoder
from ._types import Delivery, Headers, Message, OutgoingMessage

if TYPE_CHECKING:
    from ._observers import Observer
    from ._statistics import Statistics

__all__ = [
    "Core",
    "MissingMetadata",
    "Observers",
    "ProducerBase",
    "State",
    "batch_result",
    "now",
]

logger = logging.getLogger("kaffe")

#: The clock of observers' ``seconds``.
now = time.perf_counter


class State(enum.Enum):
    """Lifecycle of a producer's engine."""

    OPEN = "open"
    CLOSED = "closed"
    FORKED = "forked"


class MissingMetadata(Exception):
    """
    Placing a message needs metadata the core does not have; the face fetches it and retries.

    Attributes:
        topic: The topic to analyse (or re-read).
        partition: The explicit or chosen partition that was beyond the known count, if any.
    """

    def __init__(self, topic: str, partition: int | None = None) -> None:
        super().__init__(topic, partition)
        self.topic = topic
        self.partition = partition


class Observers:
    """
    The producer's observers, called so that one raising never breaks a produce.

    An observer that raises is logged once per observer and kind of call, then
    ignored for that call.
    """

    __slots__ = ("_config", "_logged", "observers")

    def __init__(self, observers: Sequence[Observer], config: ProducerConfig) -> None:
        self.observers = tuple(observers)
        self._config = config
        self._logged: set[tuple[int, str]] = set()

    def __bool__(self) -> bool:
        return bool(self.observers)

    def _failed(self, observer: Observer, kind: str, error: Exception) -> None:
        mark = (id(observer), kind)
        if mark not in self._logged:
            self._logged.add(mark)
            logger.error(
                "observer %r raised in %s (logged once; the message is unaffected): %s: %s",
                observer,
                kind,
                type(error).__name__,
                error,
                exc_info=error,
            )

    def send(self, message: OutgoingMessage) -> tuple[Any, ...]:
        """
        Tell every observer a message is being handed over.

        Returns:
            Each observer's context for the message, in order.
        """
        contexts: list[Any] = []
        for observer in self.observers:
            try:
                contexts.append(observer.on_send(message, self._config))
            except Exception as error:
                self._failed(observer, "on_send", error)
                contexts.append(None)
        return tuple(contexts)

    def outcome(
        self,
        contexts: tuple[Any, ...],
        message: OutgoingMessage,
        outcome: Delivery | KaffeError,
        started: float,
    ) -> None:
        """Tell every observer the outcome of a message."""
        seconds = now() - started
        for observer, context in zip(self.observers, contexts, strict=True):
            try:
                observer.on_outcome(context, message, outcome, seconds)
            except Exception as error:
                self._failed(observer, "on_outcome", error)

    def statistics(self, statistics: Statistics) -> None:
        """Hand a statistics snapshot to every observer."""
        for observer in self.observers:
            try:
                observer.on_statistics(statistics)
            except Exception as error:
                self._failed(observer, "on_statistics", error)


class Core:
    """
    Everything a producer does between a call and librdkafka, without I/O.

    Args:
        config: The validated configuration.
    """

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self.topics: dict[str, TopicState] = {}
        self.strategy = partitioners.strategy(config.partition_strategy)
        self.secrets = config.secrets
        self.observers = Observers(getattr(config, "observers", ()), config)
        self._prefix = config.topic_prefix
        self._encode_key = build_encoder(config.key_serializer, "key", config.topic_prefix)
        self._encode_value = build_encoder(config.value_serializer, "value", config.topic_prefix)
        self._key_serializes = self._encode_key.serializes
        self._value_serializes = self._encode_value.serializes
        #: Whether every message needs a header list: observers and confluent-kafka
        #: serializers may add headers to it.
        self._header_list = bool(self.observers) or (
            self._encode_key.needs_headers or self._encode_value.needs_headers
        )
        #: Whether plain calls may skip the core (see :class:`kaffe._hot.HotPath`): no
        #: serializer and no topic prefix. With observers, the path builds the message
        #: their hooks see itself.
        self.direct = not (self._prefix or self._key_serializes or self._value_serializes)
        #: Whether, besides, no observer watches: plain calls and batches of plain pairs
        #: are then handed over without building a message at all.
        self.plain = self.direct and not self.observers
        #: Called when a delivery report says a partition is unknown: metadata changed.
        self.on_unknown_partition: Callable[[], None] = _nothing
        #: What purges messages now: closing, aborting a transaction, the broker
        #: fencing the producer, or giving up waiting (see ``translate_kafka_error``).
        self.purged_by: Literal["close", "abort", "fenced", "timeout"] = "close"
        #: Messages purged so far: their reports said they were dropped undelivered.
        #: Counting them tells how many a purge dropped; librdkafka's queue length
        #: counts its unserved events (logs, errors, statistics) as well.
        self.purged = 0

    # --- topics ----------------------------------------------------------------------

    def topic_name(self, topic: object) -> str:
        """
        The broker-side name of a topic as a caller named it (``topic_prefix`` prepended).

        Raises:
            MessageTypeError: ``topic`` is not a str.
            InvalidTopicError: The name can never be a topic.
        """
        prefix = self._prefix
        if type(topic) is str:
            full = prefix + topic if prefix else topic
            if full in self.topics:
                return full
        return prefix + validate_topic_name(topic)

    def default_topic(self) -> str:
        """
        The first configured topic: where ``produce_sync(key, value)`` sends.

        Raises:
            ConfigError: No topics are configured.
        """
        if not self.config.topics:
            raise ConfigError(
                "produce_sync(key, value) sends to the first configured topic, but no "
                "topics are configured; pass topics=[...] or name the topic"
            )
        return self.config.topics[0]

    def learn(self, topic: str, partitions_count: int, available: Sequence[int]) -> TopicState:
        """
        Record a topic's metadata, keeping the strategy's memory of a topic already known.

        Returns:
            The topic's state.
        """
        state = self.topics.get(topic)
        if state is None:
            state = TopicState(topic, partitions_count, available, self.strategy.placer(topic))
            self.topics[topic] = state
            return state
        if state.partitions_count != partitions_count:
            logger.info(
                "topic %r now has %d partitions (was %d); strategy placement of keys shifts",
                topic,
                partitions_count,
                state.partitions_count,
            )
        state.available = tuple(available) or tuple(range(partitions_count))
        state.partitions_count = partitions_count
        return state

    # --- calls -----------------------------------------------------------------------

    def parse(self, args: tuple[Any, ...]) -> tuple[str, int | None, Any, Any]:
        """
        Split a call's positional arguments into ``(topic, partition, key, value)``.

        The forms are Kaffe's: ``(key, value)``, ``(topic, key, value)`` and
        ``(topic, partition, key, value)``.
        """
        count = len(args)
        if count == 3:
            return self.topic_name(args[0]), None, args[1], args[2]
        if count == 2:
            return self.default_topic(), None, args[0], args[1]
        if count == 4:
            partition = args[1]
            if partition is not None and type(partition) is not int:
                raise MessageTypeError(
                    f"partition must be int, not {type(partition).__name__}",
                    topic=args[0] if isinstance(args[0], str) else None,
                )
            return self.topic_name(args[0]), partition, args[2], args[3]
        raise TypeError(
            f"expected (key, value), (topic, key, value) or (topic, partition, key, value); "
            f"got {count} positional argument(s)"
        )

    def message(
        self,
        args: tuple[Any, ...],
        headers: Headers | None = None,
        timestamp: int | None = None,
        *,
        refreshed: bool = False,
    ) -> OutgoingMessage:
        """
        The message of one ``produce_sync``/``produce`` call: validated, encoded, placed.

        Args:
            args: The call's positional arguments (see :meth:`parse`).
            headers: The call's headers.
            timestamp: The call's timestamp.
            refreshed: True when the face has just re-read the topic's metadata; a
                partition still out of range is then an error rather than a reason
                to read it again.

        Raises:
            MissingMetadata: The topic is not analysed yet, or the partition is beyond
                the known count and ``refreshed`` is False.
            KaffeError: Bad input, typed as in the exception tree.
        """
        topic, partition, key, value = self.parse(args)
        return self.build(topic, partition, key, value, headers, timestamp, refreshed=refreshed)

    def build(
        self,
        topic: str,
        partition: int | None,
        key: Any,
        value: Any,
        headers: Headers | None,
        timestamp: int | None,
        *,
        refreshed: bool = False,
    ) -> OutgoingMessage:
        """
        One message, validated, encoded and placed (see :meth:`message`).

        ``topic`` is the broker-side name.
        """
        state = self.topics.get(topic)
        if state is None:
            raise MissingMetadata(topic)
        header_list = _check_headers(headers, topic) if headers else None
        if header_list is None and self._header_list:
            header_list = []
        kind = type(key)
        if (kind is bytes or kind is str or key is None) and not self._key_serializes:
            key_out = key
        else:
            key_out = self._encode_key(key, topic, header_list)
        kind = type(value)
        if (kind is bytes or kind is str or value is None) and not self._value_serializes:
            value_out = value
        else:
            value_out = self._encode_value(value, topic, header_list)
        if header_list is not None and not header_list and not self.observers:
            header_list = None  # a serializer's empty list: no headers to send
        count = state.partitions_count
        if partition is None:
            key_bytes = _utf8(key_out, "key", topic) if type(key_out) is str else key_out
            partition = self._place(state, key_bytes, key, value, value_out)
        elif type(key_out) is str and not key_out.isascii():
            _utf8(key_out, "key", topic)
        if not 0 <= partition < count:
            if not refreshed:
                raise MissingMetadata(topic, partition)
            raise InvalidPartitionError(
                f"partition {partition} is out of range for topic {topic!r}, which has "
                f"{count} partitions (0..{count - 1})",
                topic=topic,
                partition=partition,
                partitions_count=count,
            )
        if timestamp is not None and (type(timestamp) is not int or not 0 <= timestamp < 2**63):
            raise MessageTypeError(
                "timestamp must be an int of milliseconds since the epoch "
                f"(0 to 2**63-1), not {timestamp!r}",
                topic=topic,
                partition=partition,
            )
        if type(value_out) is str and not value_out.isascii():
            _utf8(value_out, "value", topic)
        return OutgoingMessage(topic, partition, key_out, value_out, header_list, timestamp)

    def batch(
        self,
        topic: str,
        messages: Iterable[Message | tuple[Any, Any]],
        *,
        refreshed: bool = False,
    ) -> list[OutgoingMessage]:
        """
        Every message of a batch to ``topic``, checked and built before any is sent.

        Args:
            topic: The broker-side topic name.
            messages: ``(key, value)`` pairs or :class:`~kaffe.Message` objects.
            refreshed: See :meth:`message`.

        Raises:
            MissingMetadata: See :meth:`message`.
            KaffeError: A message is bad; its index is in the error message.
        """
        state = self.topics.get(topic)
        if state is None:
            raise MissingMetadata(topic)
        built: list[OutgoingMessage] = []
        append = built.append
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
            if partition is not None and type(partition) is not int:
                raise MessageTypeError(
                    f"batch message {index}: partition must be int, not {type(partition).__name__}",
                    topic=topic,
                )
            try:
                message = self.build(
                    topic, partition, key, value, headers, timestamp, refreshed=refreshed
                )
            except KaffeError as error:
                error.message = f"batch message {index}: {error.message}"
                error.args = (error.message,)
                raise
            append(message)
        return built

    def _place(
        self, state: TopicState, key_bytes: Any, key: Any, value: Any, value_out: Any
    ) -> int:
        return place(state, key_bytes, key, value, 0 if value_out is None else len(value_out))

    # --- outcomes --------------------------------------------------------------------

    def failed(self, error: KafkaError, message: Any) -> KaffeError:
        """Translate the error of a failed delivery report."""
        topic, partition = message.topic(), message.partition()
        if means_metadata_changed(error):
            self.on_unknown_partition()
        elif means_purged(error):
            self.purged += 1
        return translate_kafka_error(
            error,
            topic=topic,
            partition=partition if partition >= 0 else None,
            secrets=self.secrets,
            purged_by=self.purged_by,
        )


def _nothing() -> None:
    return None


def _utf8(text: str, what: str, topic: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError as error:
        raise MessageTypeError(
            f"{what} is not valid UTF-8 text ({error.reason} at position {error.start}); "
            "send bytes, or text without lone surrogates",
            topic=topic,
        ) from None


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
            try:
                name.encode()
            except UnicodeEncodeError as error:
                raise MessageTypeError(
                    f"header name {name!r} is not valid UTF-8 text ({error.reason} at position "
                    f"{error.start}); use a name that is text without lone surrogates",
                    topic=topic,
                ) from None
        if type(value) is str and not value.isascii():
            _utf8(value, f"header {name!r} value", topic)
        checked.append((name, value))
    return checked


def batch_result(batch: Batch, topic: str) -> list[Delivery]:
    """
    A batch's deliveries in input order, once the wait for it is over.

    Messages without an outcome by then failed with a
    :class:`~kaffe.DeliveryTimeoutError`.

    Raises:
        BatchProduceError: Some messages were not delivered.
    """
    deliveries, errors = batch.deliveries, batch.errors
    failed = 0
    for index, delivery in enumerate(deliveries):
        if delivery is None:
            failed += 1
            if errors[index] is None:
                errors[index] = DeliveryTimeoutError(
                    "no delivery report in time",
                    topic=topic,
                    reason="timed out",
                    retriable=True,
                )
    if failed:
        first = next(error for error in errors if error is not None)
        raise BatchProduceError(
            f"{failed} of {len(errors)} messages to {topic!r} were not delivered "
            f"(first: {first.message})",
            topic=topic,
            deliveries=deliveries,
            errors=errors,
        )
    return deliveries  # type: ignore[return-value]


class ProducerBase:
    """
    What both producer faces share that is not waiting: config, core, and lifecycle.

    Args:
        config: A prepared :class:`~kaffe.ProducerConfig`; keyword options override it.
        **options: The options of :class:`~kaffe.ProducerConfig`.
    """

    #: How to close this face, for the ``ResourceWarning`` of an unclosed producer.
    _UNCLOSED_HINT = "close it"
    _engine: Any

    def __init__(self, config: ProducerConfig | None = None, **options: Any) -> None:
        if config is None:
            config = ProducerConfig(**options)
        elif not isinstance(config, ProducerConfig):
            raise ConfigError(f"config: expected ProducerConfig, got {type(config).__name__}")
        elif options:
            config = config.replace(**options)
        self.config = config
        self._core = Core(config)
        self._observing = bool(self._core.observers)
        self._queue_full_timeout = config.queue_full_timeout

    @property
    def closed(self) -> bool:
        """True once the producer is closed."""
        engine = getattr(self, "_engine", None)
        return engine is not None and bool(engine.is_closed())

    @property
    def topics(self) -> tuple[str, ...]:
        """The configured topics, broker-side names."""
        return self.config.topics

    def statistics(self) -> Statistics | None:
        """
        The latest librdkafka statistics snapshot, or ``None``.

        Snapshots arrive every ``statistics_interval`` seconds (off by default); each
        is parsed once, on the engine's thread, never on the caller's.

        Returns:
            The snapshot, or ``None`` before the first one (or with statistics off).

        .. versionadded:: 0.2.0
        """
        engine = getattr(self, "_engine", None)
        return None if engine is None else engine.statistics

    def _state_name(self) -> str:
        engine = getattr(self, "_engine", None)
        return "unopened" if engine is None else str(engine.state.value)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} {self._state_name()} endpoints="
            f"{self.config.bootstrap_servers!r} topics={list(self.config.topics)!r} "
            f"strategy={self._core.strategy.name!r}>"
        )

    def __del__(self) -> None:
        engine = getattr(self, "_engine", None)
        if engine is None or engine.state is not State.OPEN:
            return
        try:
            warnings.warn(
                f"unclosed {self!r}; {self._UNCLOSED_HINT}",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )
        finally:  # also when warnings are errors (-W error)
            engine.close_unclosed()
