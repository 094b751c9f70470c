"""
OpenTelemetry traces and metrics for kaffe producers.

Needs the ``otel`` extra (``pip install 'kaffe[otel]'``), which brings
``opentelemetry-api`` only. Without an SDK configured, spans and metrics cost little
and go nowhere; install ``opentelemetry-sdk`` and set up providers to record them.

Example::

    import kaffe
    from kaffe.otel import OpenTelemetry

    producer = kaffe.Producer(
        endpoints="127.0.0.1:9092",
        topics=["events"],
        observers=[OpenTelemetry()],   # the global tracer and meter providers
        statistics_interval=5.0,       # for the queue and round-trip gauges
    )

Spans, attributes and the two ``messaging.client.*`` metrics follow the OpenTelemetry
semantic conventions for messaging and Kafka, version :data:`SEMCONV_VERSION`.

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

try:
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.metrics import CallbackOptions, Observation
    from opentelemetry.propagators.textmap import Setter
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("kaffe.otel needs OpenTelemetry's API: pip install 'kaffe[otel]'") from error

from ._observers import Observer
from ._statistics import LatestStatistics, Statistics
from ._types import Delivery

if TYPE_CHECKING:
    from ._config import ProducerConfig
    from ._errors import KaffeError
    from ._types import OutgoingMessage

__all__ = [
    "DURATION_BUCKETS",
    "SCHEMA_URL",
    "SEMCONV_VERSION",
    "OpenTelemetry",
]

#: The OpenTelemetry semantic conventions version the spans and metrics follow.
SEMCONV_VERSION: Final = "1.44.0"
#: Its schema URL, set on the tracer and the meter.
SCHEMA_URL: Final = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
#: ``messaging.client.operation.duration`` bucket boundaries in seconds, as the
#: conventions advise.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip

_SCOPE = "kaffe"

# Attribute names of the conventions (registry: messaging, server, error).
_SYSTEM = "messaging.system"
_OPERATION_NAME = "messaging.operation.name"
_OPERATION_TYPE = "messaging.operation.type"
_DESTINATION = "messaging.destination.name"
_PARTITION = "messaging.destination.partition.id"
_CLIENT_ID = "messaging.client.id"
_KEY = "messaging.kafka.message.key"
_OFFSET = "messaging.kafka.offset"
_TOMBSTONE = "messaging.kafka.message.tombstone"
_BODY_SIZE = "messaging.message.body.size"
_SERVER_ADDRESS = "server.address"
_SERVER_PORT = "server.port"
_ERROR_TYPE = "error.type"
#: kaffe's own attributes on the statistics gauges.
_BROKER_ID = "kaffe.broker.id"
_QUANTILE = "kaffe.rtt.quantile"
#: The conventions' fallback ``error.type`` when an outcome is no exception at all.
_OTHER_ERROR = "_OTHER"

#: W3C names: a ``tracestate`` belongs to the ``traceparent`` it came with.
_TRACEPARENT = "traceparent"
_TRACESTATE = "tracestate"

#: Destinations cached per observer before the cache starts over (bounds memory
#: when producers come and go).
_MAX_DESTINATIONS = 10_000


#: Attribute values, as the OpenTelemetry API takes them.
_Attributes = Mapping[str, "str | int | bool"]


class _Tally:
    """One attribute set's ``messaging.client.sent.messages``: kaffe's own count."""

    __slots__ = ("attributes", "count")

    def __init__(self, attributes: _Attributes) -> None:
        self.attributes = attributes
        self.count = 0


class _SentMessages:
    """
    ``messaging.client.sent.messages`` of every observer on one meter provider.

    kaffe counts each outcome itself, an increment under a lock, and the SDK reads the
    counts at each collection through an asynchronous (observable) counter: the same
    monotonic cumulative sum a synchronous counter makes, without a measurement through
    the SDK per message (which validates and hashes its attributes every time).
    """

    def __init__(self) -> None:
        #: Held for every increment, and while the counts are read.
        self.lock = threading.Lock()
        self._tallies: dict[frozenset[tuple[str, str | int | bool]], _Tally] = {}

    def tally(self, attributes: _Attributes) -> _Tally:
        """The tally of an attribute set, made on first use."""
        key = frozenset(attributes.items())
        with self.lock:
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally(attributes)
        return tally

    def observations(self) -> list[Observation]:
        """Every attribute set's count, for a collection."""
        with self.lock:
            counts = [(tally.count, tally.attributes) for tally in self._tallies.values()]
        return [Observation(count, attributes) for count, attributes in counts if count]


class _Destination:
    """Everything one (producer configuration, topic, partition) needs, computed once."""

    __slots__ = (
        "config",
        "failed_tallies",
        "metric_attributes",
        "sent",
        "sent_messages",
        "span_attributes",
        "span_name",
    )

    def __init__(
        self, config: ProducerConfig | None, topic: str, partition: int, sent: _SentMessages
    ) -> None:
        self.config = config  # pinned, so the id() in the cache key cannot be reused
        self.span_name = f"send {topic}"
        metric_attributes: dict[str, str | int | bool] = {
            _SYSTEM: "kafka",
            _OPERATION_NAME: "send",
            _OPERATION_TYPE: "send",
            _DESTINATION: topic,
            _PARTITION: str(partition),
        }
        endpoints = getattr(config, "endpoints", ())
        if endpoints:
            metric_attributes[_SERVER_ADDRESS] = endpoints[0].host
            metric_attributes[_SERVER_PORT] = endpoints[0].port
        #: Read-only views: the SDK copies what it keeps, and nothing it calls may change them.
        self.metric_attributes: _Attributes = MappingProxyType(metric_attributes)
        client_id = getattr(config, "client_id", None)
        #: The span's attributes known before the message: every message's span starts
        #: with them (they are also the ones the conventions ask samplers to be given).
        self.span_attributes: _Attributes = (
            MappingProxyType({**metric_attributes, _CLIENT_ID: client_id})
            if isinstance(client_id, str)
            else self.metric_attributes
        )
        self.sent = sent
        self.sent_messages = sent.tally(self.metric_attributes)
        self.failed_tallies: dict[str, _Tally] = {}

    def failed(self, error_type: str) -> _Tally:
        """The tally (and the metric attributes) of a failure of this kind."""
        tally = self.failed_tallies.get(error_type)
        if tally is None:
            attributes = MappingProxyType({**self.metric_attributes, _ERROR_TYPE: error_type})
            tally = self.failed_tallies[error_type] = self.sent.tally(attributes)
        return tally


def _message_attributes(message: OutgoingMessage) -> dict[str, str | int | bool]:
    """A recording span's attributes of the message itself: its value's size and its key."""
    attributes: dict[str, str | int | bool]
    if message.value is None:
        attributes = {_TOMBSTONE: True, _BODY_SIZE: 0}
    else:
        attributes = {_BODY_SIZE: message.value_size}
    key = message.key
    if key is not None:
        text = key if type(key) is str else _key_text(key)
        if text is not None:
            attributes[_KEY] = text
    return attributes


def _key_text(key: bytes | str | None) -> str | None:
    """The key as the span shows it: text keys only, as the conventions ask."""
    if key is None:
        return None
    if isinstance(key, str):
        return key
    try:
        text = bytes(key).decode()
    except (UnicodeDecodeError, TypeError, ValueError):
        return None
    return text if text.isprintable() else None


def _error_type(outcome: object) -> str:
    """
    ``error.type``: the error's qualified class name, such as ``kaffe.MessageTooLargeError``.

    The same name the recorded exception event carries as ``exception.type``; kaffe's
    errors form a short, fixed set.
    """
    if not isinstance(outcome, BaseException):
        return _OTHER_ERROR
    cls = type(outcome)
    module = cls.__module__
    return f"{module}.{cls.__qualname__}" if module and module != "builtins" else cls.__qualname__


class _AppendHeader(Setter[list[tuple[str, bytes | str | None]]]):
    """Appends each propagated field as a message header."""

    def set(self, carrier: list[tuple[str, bytes | str | None]], key: str, value: str) -> None:
        carrier.append((key, value))


class _KeepUserHeaders(Setter[list[tuple[str, bytes | str | None]]]):
    """Appends propagated fields, except those the caller set headers for."""

    __slots__ = ("taken",)

    def __init__(self, taken: set[str]) -> None:
        self.taken = taken

    def set(self, carrier: list[tuple[str, bytes | str | None]], key: str, value: str) -> None:
        if key not in self.taken:
            carrier.append((key, value))


_APPEND_HEADER = _AppendHeader()
_PRODUCER = SpanKind.PRODUCER


class _Shared:
    """
    What every observer of one meter provider shares.

    The SDK hands the second observer on a provider the first one's asynchronous
    instruments, with the first one's callbacks: they must read the same counts and
    statistics snapshots.
    """

    __slots__ = ("sent", "statistics")

    def __init__(self) -> None:
        self.sent = _SentMessages()
        self.statistics = LatestStatistics()


_SHARED: weakref.WeakKeyDictionary[Any, _Shared] = weakref.WeakKeyDictionary()
_GLOBAL_SHARED = _Shared()
_SHARED_LOCK = threading.Lock()


def _shared_for(meter_provider: Any) -> _Shared:
    if meter_provider is None:
        return _GLOBAL_SHARED
    with _SHARED_LOCK:
        try:
            shared = _SHARED.get(meter_provider)
            if shared is None:
                shared = _SHARED[meter_provider] = _Shared()
        except TypeError:  # a provider that cannot be weakly referenced
            shared = _Shared()
    return shared


class OpenTelemetry(Observer):
    """
    An observer that traces every message and records OpenTelemetry metrics.

    **Spans.** One span per message, kind ``PRODUCER``, named ``send {topic}``. It
    starts when the message is handed to librdkafka, as a child of the caller's
    current span (on the asyncio face too: it starts before the ``await``), and ends
    at the broker's acknowledgement or the failure. Attributes: ``messaging.system``
    (``kafka``), ``messaging.operation.name`` and ``messaging.operation.type``
    (``send``), ``messaging.destination.name``, ``messaging.destination.partition.id``,
    ``messaging.client.id``, ``server.address`` and ``server.port`` (the first
    configured endpoint), ``messaging.kafka.message.key`` (text keys only),
    ``messaging.message.body.size`` (the value's bytes), ``messaging.kafka.message.tombstone``
    (for a ``None`` value) and, once acknowledged, ``messaging.kafka.offset``. A
    failure sets status ``ERROR``, ``error.type`` (the qualified class name of the
    :class:`kaffe.KaffeError`, such as ``kaffe.MessageTooLargeError``) and records
    the exception.

    **Propagation.** With ``propagate=True`` the span's context is written into the
    message headers through the global propagator (W3C ``traceparent`` and
    ``tracestate`` by default). A header the caller set under the same name wins;
    when the caller set ``traceparent``, no ``tracestate`` is added either.

    **Metrics.** ``messaging.client.sent.messages`` (counter) and
    ``messaging.client.operation.duration`` (histogram, seconds from the produce call
    to the outcome), each with the destination, partition and server attributes plus
    ``error.type`` on failures. With ``statistics_interval`` set, three gauges from
    the latest librdkafka statistics: ``kaffe.producer.queue.messages`` and
    ``kaffe.producer.queue.size`` (bytes) waiting in the local queues, summed over
    the producers this observer serves, and ``kaffe.producer.broker.rtt`` (seconds,
    per broker and quantile 0.5 / 0.99).

    One observer may serve several producers. It never raises on odd messages.

    Args:
        tracer_provider: Where spans go; the global tracer provider when ``None``.
        meter_provider: Where metrics go; the global meter provider when ``None``.
        propagate: Inject the span's context into the message headers.

    .. versionadded:: 0.2.0
    """

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        propagate: bool = True,
    ) -> None:
        from . import __version__

        self._tracer = trace.get_tracer(_SCOPE, __version__, tracer_provider, SCHEMA_URL)
        meter = metrics.get_meter(_SCOPE, __version__, meter_provider, SCHEMA_URL)
        self._propagate = bool(propagate)
        self._destinations: dict[tuple[int, str, int], _Destination] = {}
        self._shared = shared = _shared_for(meter_provider)
        self._sent = sent = shared.sent
        board = shared.statistics

        def sent_messages(_options: CallbackOptions) -> Iterable[Observation]:
            return sent.observations()

        meter.create_observable_counter(
            "messaging.client.sent.messages",
            callbacks=[sent_messages],
            unit="{message}",
            description="Number of messages producer attempted to send to the broker.",
        )
        self._duration = meter.create_histogram(
            "messaging.client.operation.duration",
            unit="s",
            description="Duration of messaging operation initiated by a producer or consumer "
            "client.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        system = {_SYSTEM: "kafka"}

        def queue_messages(_options: CallbackOptions) -> Iterable[Observation]:
            queue = board.queue()
            return () if queue is None else (Observation(queue[0], system),)

        def queue_bytes(_options: CallbackOptions) -> Iterable[Observation]:
            queue = board.queue()
            return () if queue is None else (Observation(queue[1], system),)

        def round_trips(_options: CallbackOptions) -> Iterable[Observation]:
            observations = []
            for trip in board.round_trips().values():
                host, _, port = trip.broker.address.rpartition(":")
                attributes: dict[str, str | int] = {
                    _SYSTEM: "kafka",
                    _BROKER_ID: trip.broker.node_id,
                    _SERVER_ADDRESS: host.strip("[]") or trip.broker.address,
                }
                if port.isdigit():
                    attributes[_SERVER_PORT] = int(port)
                observations.append(Observation(trip.p50, {**attributes, _QUANTILE: "0.5"}))
                observations.append(Observation(trip.p99, {**attributes, _QUANTILE: "0.99"}))
            return observations

        meter.create_observable_gauge(
            "kaffe.producer.queue.messages",
            callbacks=[queue_messages],
            unit="{message}",
            description="Messages in the producers' local queues, not yet acknowledged.",
        )
        meter.create_observable_gauge(
            "kaffe.producer.queue.size",
            callbacks=[queue_bytes],
            unit="By",
            description="Bytes of the messages in the producers' local queues.",
        )
        meter.create_observable_gauge(
            "kaffe.producer.broker.rtt",
            callbacks=[round_trips],
            unit="s",
            description="Round-trip time to each broker over librdkafka's last statistics "
            "interval, median and 99th percentile.",
        )

    def _destination(self, config: ProducerConfig, topic: str, partition: int) -> _Destination:
        destinations = self._destinations
        if len(destinations) >= _MAX_DESTINATIONS:
            destinations.clear()
        destination = _Destination(config, topic, partition, self._sent)
        destinations[(id(config), topic, partition)] = destination
        return destination

    def on_send(self, message: OutgoingMessage, config: ProducerConfig) -> Any:
        """
        Start the message's span and inject its context into the headers.

        The span starts with the attributes of its destination, computed once per topic
        and partition (the ones the conventions ask samplers to be given). The message's
        own (its key, its value's size) join the offset at the outcome, and only when
        the span records: a message the sampler drops builds no attributes.

        Returns:
            The span and the message's destination, for :meth:`on_outcome`.
        """
        topic = message.topic
        partition = message.partition
        destination = self._destinations.get((id(config), topic, partition))
        if destination is None or destination.config is not config:
            destination = self._destination(config, topic, partition)
        span = self._tracer.start_span(
            destination.span_name, kind=_PRODUCER, attributes=destination.span_attributes
        )
        headers = message.headers
        if self._propagate and headers is not None:
            if headers:
                taken = {name for name, _ in headers}
                if _TRACEPARENT in taken:
                    taken.add(_TRACESTATE)
                setter: Setter[list[tuple[str, bytes | str | None]]] = _KeepUserHeaders(taken)
            else:
                setter = _APPEND_HEADER
            propagate.inject(headers, trace.set_span_in_context(span), setter)
        return (span, destination)

    def on_outcome(
        self,
        context: Any,
        message: OutgoingMessage,
        outcome: Delivery | KaffeError,
        seconds: float,
    ) -> None:
        """End the message's span and count the outcome."""
        if type(context) is tuple and len(context) == 2:
            span, destination = context
        else:  # on_send did not return for this message: no span, but count it
            span = None
            destination = _Destination(None, message.topic, message.partition, self._sent)
        if isinstance(outcome, Delivery):
            tally = destination.sent_messages
            if span is not None:
                if span.is_recording():
                    attributes = _message_attributes(message)
                    attributes[_OFFSET] = outcome.offset
                    span.set_attributes(attributes)
                span.end()
        else:
            error_type = _error_type(outcome)
            tally = destination.failed(error_type)
            if span is not None:
                if span.is_recording():
                    attributes = _message_attributes(message)
                    attributes[_ERROR_TYPE] = error_type
                    span.set_attributes(attributes)
                    if isinstance(outcome, Exception):
                        span.record_exception(outcome)
                    span.set_status(Status(StatusCode.ERROR, str(outcome)))
                span.end()
        with self._sent.lock:
            tally.count += 1
        self._duration.record(seconds, tally.attributes)

    def on_statistics(self, statistics: Statistics) -> None:
        """Keep the snapshot for the queue and round-trip gauges."""
        self._shared.statistics.update(statistics)
