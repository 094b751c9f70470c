"""kaffe.prometheus: driven through the observer calls, scraped over real HTTP."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

import kaffe
from kaffe import prometheus
from kaffe._config import ProducerConfig
from kaffe._statistics import Statistics
from kaffe._types import OutgoingMessage

DATA = Path(__file__).resolve().parent / "data" / "statistics"
CONFIG = ProducerConfig(endpoints="127.0.0.1:9092")


class Endpoint:
    """A registry served by ``prometheus_client.start_http_server`` on an ephemeral port."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.server, self.thread = prometheus_client.start_http_server(
            0, addr="127.0.0.1", registry=self.registry
        )
        self.url = f"http://127.0.0.1:{self.server.server_port}/metrics"

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of the kaffe_* families, by name and sorted labels."""
        with urllib.request.urlopen(self.url, timeout=10) as response:
            assert response.status == 200
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            if family.name.startswith("kaffe_")
            for sample in family.samples
            if not sample.name.endswith("_created")
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()
    yield served
    served.close()


def make_message(
    key: bytes | str | None = "user-42",
    value: bytes | str | None = b"hello",
    *,
    topic: str = "orders",
    partition: int = 0,
) -> OutgoingMessage:
    return OutgoingMessage(topic, partition, key, value, [], None)


def send(
    observer: prometheus.Prometheus, message: OutgoingMessage, outcome: Any, seconds: float = 0.002
) -> None:
    context = observer.on_send(message, CONFIG)
    observer.on_outcome(context, message, outcome, seconds)


def delivered(topic: str = "orders", offset: int = 0) -> kaffe.Delivery:
    return kaffe.Delivery(topic, 0, offset)


def messages(scrape: dict[Any, float], topic: str, result: str) -> float:
    return scrape.get(
        ("kaffe_produced_messages_total", (("result", result), ("topic", topic))), 0.0
    )


def test_messages_are_counted_by_topic_and_result(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    for offset in range(3):
        send(observer, make_message(), delivered(offset=offset))
    send(observer, make_message(), kaffe.MessageTooLargeError("too large", topic="orders"))
    send(observer, make_message(topic="audit"), delivered("audit"))
    scrape = endpoint.scrape()
    assert messages(scrape, "orders", "acknowledged") == 3
    assert messages(scrape, "orders", "failed") == 1
    assert messages(scrape, "audit", "acknowledged") == 1
    assert messages(scrape, "audit", "failed") == 0


def test_bytes_count_keys_and_values_of_acknowledged_messages_only(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    send(observer, make_message("user-42", b"hello"), delivered())  # 7 + 5
    send(observer, make_message("café", "thé"), delivered())  # 5 + 4, as UTF-8
    send(observer, make_message(None, None), delivered())  # a tombstone without key: 0
    send(observer, make_message("lost", b"x" * 100), kaffe.DeliveryTimeoutError("timed out"))
    scrape = endpoint.scrape()
    assert scrape[("kaffe_produced_bytes_total", (("topic", "orders"),))] == 21


def test_duration_histogram_observes_every_outcome_by_topic(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    send(observer, make_message(), delivered(), seconds=0.0015)
    send(observer, make_message(), kaffe.DeliveryTimeoutError("timed out"), seconds=30.5)
    scrape = endpoint.scrape()
    topic = (("topic", "orders"),)
    assert scrape[("kaffe_produce_duration_seconds_count", topic)] == 2
    assert scrape[("kaffe_produce_duration_seconds_sum", topic)] == pytest.approx(30.5015)
    assert scrape[("kaffe_produce_duration_seconds_bucket", (("le", "0.0025"), *topic))] == 1
    assert scrape[("kaffe_produce_duration_seconds_bucket", (("le", "30.0"), *topic))] == 1
    assert scrape[("kaffe_produce_duration_seconds_bucket", (("le", "60.0"), *topic))] == 2


def test_labels_carry_no_key_and_no_partition(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    for partition in range(4):
        send(observer, make_message(f"key-{partition}", partition=partition), delivered())
    label_names = {name for _, labels in endpoint.scrape() for name, _ in labels}
    assert label_names == {"topic", "result", "le"}


def test_statistics_metrics_are_absent_until_a_snapshot_arrives(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    send(observer, make_message(), delivered())
    names = {name for name, _ in endpoint.scrape()}
    assert not names & {"kaffe_queue_messages", "kaffe_queue_bytes", "kaffe_broker_rtt_seconds"}


def test_statistics_give_the_queue_and_the_round_trip_per_broker(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    statistics = Statistics.from_json((DATA / "queued.json").read_text())
    observer.on_statistics(statistics)
    scrape = endpoint.scrape()
    assert scrape[("kaffe_queue_messages", ())] == statistics.queue_messages
    assert scrape[("kaffe_queue_bytes", ())] == statistics.queue_bytes
    (broker,) = statistics.brokers
    assert broker.name == "127.0.0.1:30892/1"
    rtt = {
        dict(labels)["quantile"]: value
        for (name, labels), value in scrape.items()
        if name == "kaffe_broker_rtt_seconds" and dict(labels)["broker"] == broker.name
    }
    assert rtt == {"0.5": broker.rtt_p50, "0.99": broker.rtt_p99}


def test_a_snapshot_without_brokers_still_gives_the_queue(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    observer.on_statistics(Statistics.from_json((DATA / "down.json").read_text()))
    scrape = endpoint.scrape()
    assert scrape[("kaffe_queue_messages", ())] == 10
    assert not any(name == "kaffe_broker_rtt_seconds" for name, _ in scrape)


def test_observers_on_one_registry_share_its_metrics(endpoint: Endpoint) -> None:
    first = prometheus.Prometheus(endpoint.registry)
    second = prometheus.Prometheus(endpoint.registry)
    send(first, make_message(), delivered())
    send(second, make_message(), delivered())
    queued = Statistics.from_json((DATA / "queued.json").read_text())
    other = dict(Statistics.from_json((DATA / "down.json").read_text()).raw)
    other["name"] = "kaffe#producer-99"  # another producer's librdkafka handle
    first.on_statistics(queued)
    second.on_statistics(Statistics(other))
    scrape = endpoint.scrape()
    assert messages(scrape, "orders", "acknowledged") == 2
    assert scrape[("kaffe_queue_messages", ())] == queued.queue_messages + other["msg_cnt"]


def test_two_observers_on_the_default_registry_are_no_error() -> None:
    first = prometheus.Prometheus()
    second = prometheus.Prometheus()
    assert first.registry is second.registry is prometheus_client.REGISTRY
    topic = "default-registry-orders"
    before = prometheus_client.REGISTRY.get_sample_value(
        "kaffe_produced_messages_total", {"topic": topic, "result": "acknowledged"}
    )
    send(first, make_message(topic=topic), delivered(topic))
    send(second, make_message(topic=topic), delivered(topic))
    after = prometheus_client.REGISTRY.get_sample_value(
        "kaffe_produced_messages_total", {"topic": topic, "result": "acknowledged"}
    )
    assert (before or 0) + 2 == after


def test_a_registry_holding_other_metrics_of_the_same_name_is_refused() -> None:
    registry = CollectorRegistry()
    Counter("kaffe_produce_duration_seconds", "someone else's", registry=registry)
    with pytest.raises(kaffe.ConfigError, match="already has metrics named like kaffe's"):
        prometheus.Prometheus(registry)
    # Nothing was left half-registered: only the foreign counter is there.
    names = {family.name for family in registry.collect()}
    assert names == {"kaffe_produce_duration_seconds"}


def test_odd_messages_and_outcomes_never_raise(endpoint: Endpoint) -> None:
    observer = prometheus.Prometheus(endpoint.registry)
    send(observer, make_message(None, b"v"), delivered())
    send(observer, make_message(b"\xff\xfe", b"v"), delivered())  # key not UTF-8
    send(observer, make_message(b"k", None), delivered())
    send(observer, make_message(), kaffe.KaffeError("no topic or partition"))
    send(observer, make_message(), "not an error at all")
    observer.on_outcome(None, make_message(), delivered(), 0.0)
    scrape = endpoint.scrape()
    assert messages(scrape, "orders", "acknowledged") == 4
    assert messages(scrape, "orders", "failed") == 2
    assert scrape[("kaffe_produced_bytes_total", (("topic", "orders"),))] == 1 + 3 + 1 + 12


def test_observer_satisfies_the_protocol(endpoint: Endpoint) -> None:
    assert isinstance(prometheus.Prometheus(endpoint.registry), kaffe._observers.Observer)


def test_metric_names_are_listed() -> None:
    assert prometheus.METRIC_NAMES == (
        "kaffe_produced_messages",
        "kaffe_produced_bytes",
        "kaffe_produce_duration_seconds",
        "kaffe_queue_messages",
        "kaffe_queue_bytes",
        "kaffe_broker_rtt_seconds",
    )
