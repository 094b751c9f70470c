"""
Prometheus metrics for kaffe producers.

Needs the ``prometheus`` extra (``pip install 'kaffe[prometheus]'``), which brings
``prometheus_client``.

Example::

    import kaffe
    import prometheus_client
    from kaffe.prometheus import Prometheus

    prometheus_client.start_http_server(9464)
    producer = kaffe.Producer(
        endpoints="127.0.0.1:9092",
        topics=["events"],
        observers=[Prometheus()],      # prometheus_client's default registry
        statistics_interval=5.0,       # for kaffe_queue_* and kaffe_broker_rtt_seconds
    )

.. versionadded:: 0.2.0
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Final

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
    from prometheus_client.core import GaugeMetricFamily, Metric
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "kaffe.prometheus needs prometheus_client: pip install 'kaffe[prometheus]'"
    ) from error

from ._errors import ConfigError
from ._observers import Observer
from ._statistics import LatestStatistics, Statistics
from ._types import Delivery

if TYPE_CHECKING:
    from ._config import ProducerConfig
    from ._errors import KaffeError
    from ._types import OutgoingMessage

__all__ = ["DURATION_BUCKETS", "METRIC_NAMES", "Prometheus"]

#: ``kaffe_produce_duration_seconds`` bucket bounds in seconds: a local acknowledgement
#: takes about a millisecond, a failure up to ``delivery_timeout`` (30 s by default).
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, float("inf"),
)  # fmt: skip

#: Every metric family an observer adds to its registry.
METRIC_NAMES: Final = (
    "kaffe_produced_messages",
    "kaffe_produced_bytes",
    "kaffe_produce_duration_seconds",
    "kaffe_queue_messages",
    "kaffe_queue_bytes",
    "kaffe_broker_rtt_seconds",
)

_ACKNOWLEDGED = "acknowledged"
_FAILED = "failed"
#: The quantiles of ``kaffe_broker_rtt_seconds``, as librdkafka measures them.
_QUANTILES = ("0.5", "0.99")


class _StatisticsCollector:
    """The gauges derived from librdkafka statistics; absent until a snapshot arrives."""

    def __init__(self, board: LatestStatistics) -> None:
        self._board = board

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterator[Metric]:
        queue = self._board.queue()
        if queue is None:
            return
        messages, size, round_trips = self._families()
        messages.add_metric([], queue[0])
        size.add_metric([], queue[1])
        for name, trip in sorted(self._board.round_trips().items()):
            round_trips.add_metric([name, _QUANTILES[0]], trip.p50)
            round_trips.add_metric([name, _QUANTILES[1]], trip.p99)
        yield messages
        yield size
        if round_trips.samples:
            yield round_trips

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "kaffe_queue_messages",
                "Messages in the producers' local queues, not yet acknowledged "
                "(librdkafka statistics: msg_cnt).",
            ),
            GaugeMetricFamily(
                "kaffe_queue_bytes",
                "Bytes of the messages in the producers' local queues "
                "(librdkafka statistics: msg_size).",
            ),
            GaugeMetricFamily(
                "kaffe_broker_rtt_seconds",
                "Round-trip time to each broker over librdkafka's last statistics interval.",
                labels=["broker", "quantile"],
            ),
        )


class _Topic:
    """One topic's metric children, so an outcome costs no label lookups."""

    __slots__ = ("acknowledged", "duration", "failed", "produced_bytes")

    def __init__(self, metrics: _Metrics, topic: str) -> None:
        self.acknowledged = metrics.messages.labels(topic, _ACKNOWLEDGED)
        self.failed = metrics.messages.labels(topic, _FAILED)
        self.produced_bytes = metrics.produced_bytes.labels(topic)
        self.duration = metrics.duration.labels(topic)


class _Metrics:
    """The metrics of one registry, shared by every observer on it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.messages = Counter(
            "kaffe_produced_messages",
            "Messages with an outcome, by topic and result (acknowledged or failed).",
            ["topic", "result"],
            registry=None,
        )
        self.produced_bytes = Counter(
            "kaffe_produced_bytes",
            "Bytes of keys and values of acknowledged messages, as sent, by topic.",
            ["topic"],
            registry=None,
        )
        self.duration = Histogram(
            "kaffe_produce_duration_seconds",
            "Seconds from the produce call to the outcome (acknowledged or failed), by topic.",
            ["topic"],
            registry=None,
            buckets=DURATION_BUCKETS,
        )
        self.board = LatestStatistics()
        self.topics: dict[str, _Topic] = {}
        self._lock = threading.Lock()
        collectors: list[Any] = [
            self.messages,
            self.produced_bytes,
            self.duration,
            _StatisticsCollector(self.board),
        ]
        registered: list[Any] = []
        try:
            for collector in collectors:
                registry.register(collector)
                registered.append(collector)
        except ValueError as error:
            for collector in registered:
                registry.unregister(collector)
            raise ConfigError(
                f"prometheus: the registry already has metrics named like kaffe's ({error}); "
                "they were registered by something other than kaffe.prometheus.Prometheus",
                reason="duplicate metrics",
            ) from error

    def topic(self, topic: str) -> _Topic:
        with self._lock:
            children = self.topics.get(topic)
            if children is None:
                children = self.topics[topic] = _Topic(self, topic)
            return children


_REGISTRIES: weakref.WeakKeyDictionary[CollectorRegistry, _Metrics] = weakref.WeakKeyDictionary()
_REGISTRIES_LOCK = threading.Lock()


def _metrics_for(registry: CollectorRegistry) -> _Metrics:
    with _REGISTRIES_LOCK:
        metrics = _REGISTRIES.get(registry)
        if metrics is None:
            metrics = _REGISTRIES[registry] = _Metrics(registry)
        return metrics


def _key_size(key: bytes | str | None) -> int:
    if key is None:
        return 0
    if type(key) is str:
        return len(key.encode(errors="surrogatepass"))
    try:
        return len(key)
    except TypeError:
        return 0


class Prometheus(Observer):
    """
    An observer that exports producer metrics through ``prometheus_client``.

    Metrics (label values stay bounded: no keys, no partitions):

    - ``kaffe_produced_messages_total{topic, result}``: messages with an outcome,
      ``result`` being ``acknowledged`` or ``failed``. Acknowledged plus failed is
      every message handed to librdkafka.
    - ``kaffe_produced_bytes_total{topic}``: bytes of acknowledged messages, counted on
      acknowledgement: key plus value as sent (UTF-8 for text), before compression,
      without headers or Kafka's framing.
    - ``kaffe_produce_duration_seconds{topic}``: histogram of seconds from the produce
      call to the outcome, acknowledged or failed.
    - With ``statistics_interval`` set, from librdkafka's latest statistics:
      ``kaffe_queue_messages`` and ``kaffe_queue_bytes``, what waits in the local
      queues (summed over the producers of the registry), and
      ``kaffe_broker_rtt_seconds{broker, quantile}``, the median (``0.5``) and 99th
      percentile (``0.99``) round trip per broker (librdkafka's broker name,
      ``host:port/id``). They appear with the first snapshot.

    Every ``Prometheus`` on one registry shares that registry's metrics, so one per
    producer, or one shared by all, count into the same series; creating a second one
    on the default registry is not an error. A registry that already holds metrics
    with these names from elsewhere is refused with :class:`kaffe.ConfigError`.

    Args:
        registry: Where the metrics are registered; ``prometheus_client``'s default
            ``REGISTRY`` when ``None``.

    Raises:
        ConfigError: The registry already has metrics with these names that kaffe
            did not register.

    .. versionadded:: 0.2.0
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = REGISTRY if registry is None else registry
        self._metrics = metrics = _metrics_for(self.registry)
        self._topics = metrics.topics

    def on_send(self, message: OutgoingMessage, config: ProducerConfig) -> Any:
        """Nothing to do before the outcome."""
        return None

    def on_outcome(
        self,
        context: Any,
        message: OutgoingMessage,
        outcome: Delivery | KaffeError,
        seconds: float,
    ) -> None:
        """Count the outcome and observe its duration."""
        topic = message.topic
        children = self._topics.get(topic)
        if children is None:
            children = self._metrics.topic(topic)
        children.duration.observe(seconds)
        if isinstance(outcome, Delivery):
            children.acknowledged.inc()
            children.produced_bytes.inc(message.value_size + _key_size(message.key))
        else:
            children.failed.inc()

    def on_statistics(self, statistics: Statistics) -> None:
        """Keep the snapshot for the queue and round-trip gauges."""
        self._metrics.board.update(statistics)
