"""
Observers, OpenTelemetry, Prometheus and librdkafka statistics against the real broker.

Every produce path is driven through the public API (``observers=``,
``statistics_interval=``, ``on_statistics=``, ``producer.statistics()``) on both faces:
``produce_sync``, ``produce()`` futures and ``produce_batch_sync`` (per message), on
``kaffe.Producer`` and ``kaffe.AsyncProducer``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import prometheus_client
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client.parser import text_string_to_metric_families

import kaffe
from kaffe import Observer
from kaffe.otel import OpenTelemetry
from kaffe.prometheus import Prometheus
from tests.conftest import Record

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(180),
]

#: Over the topic limit set by the ``small_topic`` fixture, well under the client's.
TOO_LARGE = b"x" * 5_000
TOPIC_LIMIT = "2000"

PATHS = (
    "produce_sync",
    "produce",
    "produce_batch_sync",
    "async produce_sync",
    "async produce",
    "async produce_batch_sync",
)

Outcome = kaffe.Delivery | kaffe.KaffeError


# --- driving every path ------------------------------------------------------------------


def _keys(count: int) -> list[str]:
    return [f"key-{index}" for index in range(count)]


def _unbatch(error: kaffe.BatchProduceError) -> list[Outcome]:
    outcomes: list[Outcome] = []
    for delivery, failure in zip(error.deliveries, error.errors, strict=True):
        outcomes.append(delivery if delivery is not None else failure)  # type: ignore[arg-type]
    return outcomes


def send_sync(
    producer: kaffe.Producer, path: str, topic: str, values: list[bytes]
) -> list[Outcome]:
    """Send ``values`` with keys ``key-N`` through one path; one outcome per message."""
    keys = _keys(len(values))
    outcomes: list[Outcome] = []
    if path == "produce_sync":
        for key, value in zip(keys, values, strict=True):
            try:
                outcomes.append(producer.produce_sync(topic, key, value))
            except kaffe.KaffeError as error:
                outcomes.append(error)
    elif path == "produce":
        futures = [
            producer.produce(topic, key, value) for key, value in zip(keys, values, strict=True)
        ]
        for future in futures:
            failure = future.exception(timeout=60)
            if failure is None:
                outcomes.append(future.result())
            else:
                assert isinstance(failure, kaffe.KaffeError)
                outcomes.append(failure)
    elif path == "produce_batch_sync":
        try:
            outcomes.extend(
                producer.produce_batch_sync(topic, list(zip(keys, values, strict=True)))
            )
        except kaffe.BatchProduceError as error:
            outcomes.extend(_unbatch(error))
    else:
        raise AssertionError(path)
    return outcomes


async def send_async(
    producer: kaffe.AsyncProducer, path: str, topic: str, values: list[bytes]
) -> list[Outcome]:
    """The asyncio face of :func:`send_sync`."""
    keys = _keys(len(values))
    outcomes: list[Outcome] = []
    if path == "async produce_sync":
        for key, value in zip(keys, values, strict=True):
            try:
                outcomes.append(await producer.produce_sync(topic, key, value))
            except kaffe.KaffeError as error:
                outcomes.append(error)
    elif path == "async produce":
        futures = [
            await producer.produce(topic, key, value)
            for key, value in zip(keys, values, strict=True)
        ]
        for future in futures:
            try:
                outcomes.append(await future)
            except kaffe.KaffeError as error:
                outcomes.append(error)
    elif path == "async produce_batch_sync":
        try:
            outcomes.extend(
                await producer.produce_batch_sync(topic, list(zip(keys, values, strict=True)))
            )
        except kaffe.BatchProduceError as error:
            outcomes.extend(_unbatch(error))
    else:
        raise AssertionError(path)
    return outcomes


def run_path(
    path: str, bootstrap: str, topic: str, values: list[bytes], **options: Any
) -> list[Outcome]:
    """Open a producer of the path's face with ``options``, send, close, return the outcomes."""
    if path.startswith("async "):

        async def main() -> list[Outcome]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[topic], **options
            ) as producer:
                return await send_async(producer, path, topic, values)

        return asyncio.run(main())
    with kaffe.Producer(endpoints=bootstrap, topics=[topic], **options) as producer:
        return send_sync(producer, path, topic, values)


# --- OpenTelemetry in memory ---------------------------------------------------------------


class Telemetry:
    """The OpenTelemetry SDK recording spans and metrics in memory, and an observer on it."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.observer = OpenTelemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )
        self.tracer = self.tracer_provider.get_tracer("tests")

    def sends(self) -> list[ReadableSpan]:
        return [
            span for span in self.exporter.get_finished_spans() if span.name.startswith("send ")
        ]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        if data is None:
            return []
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def sent_messages(self) -> tuple[int, int]:
        """``messaging.client.sent.messages``: (without error.type, with error.type)."""
        ok = failed = 0
        for point in self.points("messaging.client.sent.messages"):
            if "error.type" in (point.attributes or {}):
                failed += point.value
            else:
                ok += point.value
        return ok, failed


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorder = Telemetry()
    yield recorder
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()


@pytest.fixture
def small_topic(topic_factory: Callable[..., str]) -> str:
    """A topic of 4 partitions whose broker refuses values over 2,000 bytes."""
    return topic_factory(4, config={"max.message.bytes": TOPIC_LIMIT})


def _attributes(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def _traceparent(span: ReadableSpan) -> str:
    context = span.context
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


# --- traces --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_one_span_per_message_whose_partition_and_offset_are_the_deliverys(
    path: str, bootstrap: str, topic: str, telemetry: Telemetry
) -> None:
    outcomes = run_path(
        path, bootstrap, topic, [b"value-%d" % i for i in range(5)], observers=[telemetry.observer]
    )
    deliveries = [outcome for outcome in outcomes if isinstance(outcome, kaffe.Delivery)]
    assert len(deliveries) == 5
    spans = telemetry.sends()
    assert len(spans) == 5
    by_key = {_attributes(span)["messaging.kafka.message.key"]: span for span in spans}
    endpoint = bootstrap.split(",")[0]
    for key, delivery in zip(_keys(5), deliveries, strict=True):
        span = by_key[key]
        attributes = _attributes(span)
        assert span.name == f"send {topic}"
        assert span.kind is SpanKind.PRODUCER
        assert span.status.status_code is StatusCode.UNSET
        assert attributes["messaging.system"] == "kafka"
        assert attributes["messaging.operation.name"] == "send"
        assert attributes["messaging.operation.type"] == "send"
        assert attributes["messaging.destination.name"] == topic
        assert attributes["messaging.destination.partition.id"] == str(delivery.partition)
        assert attributes["messaging.kafka.offset"] == delivery.offset
        assert attributes["messaging.message.body.size"] == len(b"value-0")
        assert (
            attributes["messaging.client.id"] == kaffe.ProducerConfig(endpoints=endpoint).client_id
        )
        assert f"{attributes['server.address']}:{attributes['server.port']}" == endpoint


@pytest.mark.parametrize("path", ["produce_sync", "produce", "produce_batch_sync"])
def test_span_parent_is_the_callers_current_span_on_each_thread(
    path: str, bootstrap: str, topic: str, telemetry: Telemetry
) -> None:
    parents: dict[int, int] = {}  # span id of each thread's current span -> its trace id

    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], observers=[telemetry.observer]
    ) as producer:

        def work(number: int) -> None:
            with telemetry.tracer.start_as_current_span(f"request-{number}") as parent:
                send_sync(producer, path, topic, [b"from-%d" % number])
                context = parent.get_span_context()
                parents[context.span_id] = context.trace_id

        threads = [threading.Thread(target=work, args=(number,)) for number in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    sends = telemetry.sends()
    assert len(sends) == 4
    for span in sends:
        assert span.parent is not None
        assert span.context is not None
        assert parents[span.parent.span_id] == span.context.trace_id
    assert {span.parent.span_id for span in sends if span.parent} == set(parents)


@pytest.mark.parametrize(
    "path", ["async produce_sync", "async produce", "async produce_batch_sync"]
)
def test_span_parent_is_the_awaiting_tasks_current_span(
    path: str, bootstrap: str, topic: str, telemetry: Telemetry
) -> None:
    parents: dict[int, int] = {}

    async def main() -> None:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap, topics=[topic], observers=[telemetry.observer]
        ) as producer:

            async def task(number: int) -> None:
                with telemetry.tracer.start_as_current_span(f"task-{number}") as parent:
                    await asyncio.sleep(0)
                    await send_async(producer, path, topic, [b"task-%d" % number])
                    parents[parent.get_span_context().span_id] = number

            await asyncio.gather(*(task(number) for number in range(8)))

    asyncio.run(main())
    sends = telemetry.sends()
    assert len(sends) == 8
    seen = set()
    for span in sends:
        assert span.parent is not None
        number = parents[span.parent.span_id]
        assert _attributes(span)["messaging.kafka.message.key"] == "key-0"
        seen.add(number)
    assert seen == set(range(8))


def test_span_ends_at_the_acknowledgement_not_at_queueing(
    bootstrap: str, topic: str, telemetry: Telemetry
) -> None:
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], observers=[telemetry.observer], linger_ms=300
    ) as producer:
        future = producer.produce(topic, "late", "value")
        assert telemetry.sends() == []  # queued, waiting for linger: not over yet
        future.result(timeout=30)
    (span,) = telemetry.sends()
    assert span.end_time is not None
    assert span.start_time is not None
    assert span.end_time - span.start_time >= 250_000_000


@pytest.mark.parametrize("path", PATHS)
def test_a_value_over_the_topics_limit_gives_an_error_span(
    path: str, bootstrap: str, small_topic: str, telemetry: Telemetry
) -> None:
    outcomes = run_path(
        path,
        bootstrap,
        small_topic,
        [b"fine", TOO_LARGE, b"fine too"],
        observers=[telemetry.observer],
    )
    assert isinstance(outcomes[1], kaffe.MessageTooLargeError)
    spans = {_attributes(span)["messaging.kafka.message.key"]: span for span in telemetry.sends()}
    assert len(spans) == 3
    failed = spans["key-1"]
    assert failed.status.status_code is StatusCode.ERROR
    assert _attributes(failed)["error.type"] == "kaffe.MessageTooLargeError"
    assert "messaging.kafka.offset" not in _attributes(failed)
    (event,) = failed.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "kaffe.MessageTooLargeError"
    # Its neighbours succeed, unless the broker refused them in the same record batch.
    for key, outcome in (("key-0", outcomes[0]), ("key-2", outcomes[2])):
        expected = StatusCode.UNSET if isinstance(outcome, kaffe.Delivery) else StatusCode.ERROR
        assert spans[key].status.status_code is expected


# --- propagation ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["produce_sync", "async produce", "produce_batch_sync"])
def test_traceparent_read_back_by_a_consumer_is_the_message_spans(
    path: str,
    bootstrap: str,
    topic: str,
    telemetry: Telemetry,
    read_back: Callable[[str], list[Record]],
) -> None:
    outcomes = run_path(path, bootstrap, topic, [b"a", b"b", b"c"], observers=[telemetry.observer])
    assert all(isinstance(outcome, kaffe.Delivery) for outcome in outcomes)
    spans = {
        (
            _attributes(span)["messaging.destination.partition.id"],
            _attributes(span)["messaging.kafka.offset"],
        ): span
        for span in telemetry.sends()
    }
    records = read_back(topic)
    assert len(records) == 3
    for record in records:
        headers = dict(record.headers)
        span = spans[(str(record.partition), record.offset)]
        assert headers["traceparent"] == _traceparent(span).encode()


def test_a_traceparent_the_caller_set_reaches_the_consumer_unchanged(
    bootstrap: str, topic: str, telemetry: Telemetry, read_back: Callable[[str], list[Record]]
) -> None:
    mine = "00-11111111111111111111111111111111-2222222222222222-01"
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], observers=[telemetry.observer]
    ) as producer:
        producer.produce_sync(topic, "k", "v", headers={"traceparent": mine, "source": "import"})
    (record,) = read_back(topic)
    assert record.headers == [("traceparent", mine.encode()), ("source", b"import")]


def test_propagate_false_sends_no_trace_headers(
    bootstrap: str, topic: str, telemetry: Telemetry, read_back: Callable[[str], list[Record]]
) -> None:
    observer = OpenTelemetry(tracer_provider=telemetry.tracer_provider, propagate=False)
    with kaffe.Producer(endpoints=bootstrap, topics=[topic], observers=[observer]) as producer:
        producer.produce_sync(topic, "k", "v")
    (record,) = read_back(topic)
    assert record.headers == []
    assert len(telemetry.sends()) == 1


# --- metrics: acknowledged + failed == attempted ------------------------------------------


class Scraper:
    """Prometheus metrics of one registry, served by start_http_server on an ephemeral port."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.server, self.thread = prometheus_client.start_http_server(
            0, addr="127.0.0.1", registry=self.registry
        )

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        url = f"http://127.0.0.1:{self.server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            text = response.read().decode()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            if family.name.startswith("kaffe_")
            for sample in family.samples
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def scraper() -> Iterator[Scraper]:
    served = Scraper()
    yield served
    served.close()


def _produced(scrape: dict[Any, float], topic: str, result: str) -> float:
    return scrape.get(
        ("kaffe_produced_messages_total", (("result", result), ("topic", topic))), 0.0
    )


@pytest.mark.parametrize("path", PATHS)
def test_counts_equal_what_was_attempted_on_every_path(
    path: str, bootstrap: str, small_topic: str, telemetry: Telemetry, scraper: Scraper
) -> None:
    values = [b"value-%d" % i for i in range(20)]
    values[3] = values[11] = TOO_LARGE
    outcomes = run_path(
        path,
        bootstrap,
        small_topic,
        values,
        observers=[telemetry.observer, Prometheus(scraper.registry)],
    )
    # The broker refuses a whole record batch holding an oversized message, so a
    # pipelined path may see neighbours of the two fail with them.
    acknowledged = sum(isinstance(outcome, kaffe.Delivery) for outcome in outcomes)
    failed = len(outcomes) - acknowledged
    assert len(outcomes) == 20
    assert isinstance(outcomes[3], kaffe.MessageTooLargeError)
    assert isinstance(outcomes[11], kaffe.MessageTooLargeError)

    assert telemetry.sent_messages() == (acknowledged, failed)
    durations = telemetry.points("messaging.client.operation.duration")
    assert sum(point.count for point in durations) == 20
    assert (
        sum(point.count for point in durations if "error.type" in (point.attributes or {}))
        == failed
    )

    scrape = scraper.scrape()
    assert _produced(scrape, small_topic, "acknowledged") == acknowledged
    assert _produced(scrape, small_topic, "failed") == failed
    assert scrape[("kaffe_produce_duration_seconds_count", (("topic", small_topic),))] == 20
    assert scrape[("kaffe_produced_bytes_total", (("topic", small_topic),))] == sum(
        len(key) + len(value)
        for key, value, outcome in zip(_keys(20), values, outcomes, strict=True)
        if isinstance(outcome, kaffe.Delivery)
    )


def test_counts_hold_when_messages_time_out_in_the_queue(
    bootstrap: str, topic: str, telemetry: Telemetry, scraper: Scraper
) -> None:
    # A 10 ms delivery timeout under a flood: some messages expire before they are sent.
    with kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        delivery_timeout=0.01,
        linger_ms=5,
        observers=[telemetry.observer, Prometheus(scraper.registry)],
    ) as producer:
        futures = [producer.produce(topic, f"key-{i}", b"v" * 1000) for i in range(20_000)]
        errors = [future.exception(timeout=60) for future in futures]
    failed = sum(error is not None for error in errors)
    assert telemetry.sent_messages() == (20_000 - failed, failed)
    scrape = scraper.scrape()
    assert _produced(scrape, topic, "acknowledged") == 20_000 - failed
    assert _produced(scrape, topic, "failed") == failed
    error_spans = [
        span for span in telemetry.sends() if span.status.status_code is StatusCode.ERROR
    ]
    assert len(error_spans) == failed
    assert {_attributes(span)["error.type"] for span in error_spans} <= {
        f"kaffe.{type(error).__name__}" for error in errors if error is not None
    }


# --- statistics ------------------------------------------------------------------------


def _assert_typed_fields_match_raw(statistics: kaffe.Statistics) -> None:
    raw = statistics.raw
    assert statistics.name == raw["name"]
    assert statistics.queue_messages == raw["msg_cnt"]
    assert statistics.queue_bytes == raw["msg_size"]
    assert statistics.sent_messages == raw["txmsgs"]
    assert statistics.received_responses == raw["rx"]
    assert [broker.name for broker in statistics.brokers] == sorted(
        (entry["name"] for entry in raw["brokers"].values() if entry["nodeid"] >= 0),
        key=lambda name: raw["brokers"][name]["nodeid"],
    )
    for broker in statistics.brokers:
        rtt = raw["brokers"][broker.name]["rtt"]
        assert broker.state == raw["brokers"][broker.name]["state"]
        assert broker.rtt_p99 == (rtt["p99"] / 1e6 if rtt["cnt"] else None)
    for partition in statistics.partitions:
        entry = raw["topics"][partition.topic]["partitions"][str(partition.partition)]
        assert partition.waiting_messages == entry["msgq_cnt"]
        assert partition.in_flight_messages == entry["msgs_inflight"]


def _wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def test_statistics_are_off_by_default(bootstrap: str, topic: str) -> None:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        producer.produce_sync(topic, "k", "v")
        time.sleep(0.5)
        assert producer.statistics() is None


def test_statistics_snapshots_arrive_and_their_typed_fields_match_raw(
    bootstrap: str, topic: str
) -> None:
    snapshots: list[kaffe.Statistics] = []
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], statistics_interval=1.0, on_statistics=snapshots.append
    ) as producer:
        for number in range(50):
            producer.produce_sync(topic, f"key-{number}", "value")
        _wait_for(lambda: len(snapshots) >= 3 and snapshots[-1].sent_messages >= 50)
        latest = producer.statistics()
        assert isinstance(latest, kaffe.Statistics)
        assert latest.clock >= snapshots[0].clock
    assert all(isinstance(snapshot, kaffe.Statistics) for snapshot in snapshots)
    for snapshot in snapshots:
        _assert_typed_fields_match_raw(snapshot)
    last = snapshots[-1]
    assert last.client_id == kaffe.ProducerConfig(endpoints=bootstrap).client_id
    assert any(broker.up for broker in last.brokers)
    assert {partition.topic for partition in last.partitions} == {topic}


def test_async_statistics_arrive_through_on_statistics_and_statistics(
    bootstrap: str, topic: str
) -> None:
    snapshots: list[kaffe.Statistics] = []

    async def main() -> kaffe.Statistics | None:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap,
            topics=[topic],
            statistics_interval=1.0,
            on_statistics=snapshots.append,
        ) as producer:
            await producer.produce_sync(topic, "k", "v")
            deadline = time.monotonic() + 20
            while len(snapshots) < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return producer.statistics()

    latest = asyncio.run(main())
    assert len(snapshots) >= 2
    assert isinstance(latest, kaffe.Statistics)
    _assert_typed_fields_match_raw(latest)


def test_statistics_reach_the_observers_and_their_gauges(
    bootstrap: str, topic: str, telemetry: Telemetry, scraper: Scraper
) -> None:
    with kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        statistics_interval=1.0,
        observers=[telemetry.observer, Prometheus(scraper.registry)],
    ) as producer:
        for number in range(20):
            producer.produce_sync(topic, f"key-{number}", "value")
        _wait_for(lambda: any(name == "kaffe_broker_rtt_seconds" for name, _ in scraper.scrape()))
        scrape = scraper.scrape()
        assert ("kaffe_queue_messages", ()) in scrape
        assert ("kaffe_queue_bytes", ()) in scrape
        brokers = {
            dict(labels)["broker"] for name, labels in scrape if name == "kaffe_broker_rtt_seconds"
        }
        latest = producer.statistics()
        assert latest is not None
        assert brokers == {broker.name for broker in latest.brokers}
        assert telemetry.points("kaffe.producer.queue.messages")
        assert telemetry.points("kaffe.producer.broker.rtt")


# --- failures of observers -------------------------------------------------------------


class Boom(Exception):
    """Raised by the failing observer; carries which call raised."""


class Raising(Observer):
    """An observer that raises from every call."""

    def on_send(self, message: Any, config: Any) -> Any:
        raise Boom("on_send")

    def on_outcome(self, context: Any, message: Any, outcome: Any, seconds: float) -> None:
        raise Boom("on_outcome")

    def on_statistics(self, statistics: Any) -> None:
        raise Boom("on_statistics")


class Counting(Observer):
    """An observer that counts what it sees."""

    def __init__(self) -> None:
        self.sent = 0
        self.outcomes: list[Any] = []
        self.statistics = 0
        self._lock = threading.Lock()

    def on_send(self, message: Any, config: Any) -> Any:
        with self._lock:
            self.sent += 1
        return message.topic

    def on_outcome(self, context: Any, message: Any, outcome: Any, seconds: float) -> None:
        assert context == message.topic
        assert seconds >= 0
        with self._lock:
            self.outcomes.append(outcome)

    def on_statistics(self, statistics: Any) -> None:
        with self._lock:
            self.statistics += 1


def _boom_kinds(records: list[logging.LogRecord]) -> list[str]:
    kinds = []
    for record in records:
        if not record.name.startswith("kaffe"):
            continue
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        for kind in ("on_send", "on_outcome", "on_statistics"):
            if "Boom" in text and kind in text:
                kinds.append(kind)
                break
    return kinds


@pytest.mark.parametrize("path", PATHS)
def test_a_raising_observer_breaks_no_produce_and_is_logged_once_per_kind(
    path: str, bootstrap: str, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    counting = Counting()
    with caplog.at_level(logging.WARNING, logger="kaffe"):
        outcomes = run_path(
            path,
            bootstrap,
            topic,
            [b"value-%d" % i for i in range(10)],
            observers=[Raising(), counting],
            statistics_interval=1.0,
        )
        time.sleep(0.3)
    assert all(isinstance(outcome, kaffe.Delivery) for outcome in outcomes)
    assert counting.sent == 10
    assert len(counting.outcomes) == 10
    kinds = _boom_kinds(caplog.records)
    assert sorted(kinds) in (
        ["on_outcome", "on_send", "on_statistics"],
        ["on_outcome", "on_send"],  # closed before the first snapshot
    )


def test_observers_see_every_message_of_every_path_once(bootstrap: str, topic: str) -> None:
    for path in PATHS:
        counting = Counting()
        outcomes = run_path(path, bootstrap, topic, [b"a", b"b", b"c"], observers=[counting])
        assert (counting.sent, len(counting.outcomes)) == (3, 3), path
        assert sorted(outcome.offset for outcome in counting.outcomes) == sorted(
            outcome.offset for outcome in outcomes if isinstance(outcome, kaffe.Delivery)
        ), path
