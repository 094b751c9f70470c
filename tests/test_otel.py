"""kaffe.otel: spans, propagation and metrics, driven through the observer calls."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

import kaffe
from kaffe import otel
from kaffe._config import ProducerConfig
from kaffe._statistics import Statistics
from kaffe._types import OutgoingMessage

DATA = Path(__file__).resolve().parent / "data" / "statistics"
TOPIC = "orders"


class Telemetry:
    """An SDK tracer and meter provider recording in memory, and an observer on them."""

    def __init__(self, *, propagate: bool = True, sampler: Any = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider(sampler=sampler)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.observer = otel.OpenTelemetry(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            propagate=propagate,
        )

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

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

    def send(
        self, message: OutgoingMessage, outcome: Any, seconds: float = 0.002, *, config: Any = None
    ) -> Any:
        context = self.observer.on_send(message, config or CONFIG)
        self.observer.on_outcome(context, message, outcome, seconds)
        return context


CONFIG = ProducerConfig(endpoints="broker-1.example:9093,broker-2.example:9093", client_id="shop")


def make_message(
    key: bytes | str | None = "user-42",
    value: bytes | str | None = b"hello",
    *,
    topic: str = TOPIC,
    partition: int = 3,
    headers: list[tuple[str, bytes | str | None]] | None = None,
) -> OutgoingMessage:
    return OutgoingMessage(topic, partition, key, value, [] if headers is None else headers, None)


def delivered(offset: int = 17, partition: int = 3) -> kaffe.Delivery:
    return kaffe.Delivery(TOPIC, partition, offset, 1_700_000_000_000)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorder = Telemetry()
    yield recorder
    recorder.tracer_provider.shutdown()
    recorder.meter_provider.shutdown()


# --- spans -----------------------------------------------------------------------------


def test_each_message_gets_one_producer_span_named_send_topic(telemetry: Telemetry) -> None:
    telemetry.send(make_message(), delivered())
    telemetry.send(make_message(), delivered(18))
    spans = telemetry.spans()
    assert [(span.name, span.kind) for span in spans] == [
        ("send orders", SpanKind.PRODUCER),
        ("send orders", SpanKind.PRODUCER),
    ]


def test_span_attributes_follow_the_kafka_conventions(telemetry: Telemetry) -> None:
    telemetry.send(make_message("user-42", b"hello"), delivered(offset=17))
    (span,) = telemetry.spans()
    assert dict(span.attributes or {}) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "orders",
        "messaging.destination.partition.id": "3",
        "messaging.client.id": "shop",
        "server.address": "broker-1.example",
        "server.port": 9093,
        "messaging.kafka.message.key": "user-42",
        "messaging.message.body.size": 5,
        "messaging.kafka.offset": 17,
    }
    assert span.status.status_code is StatusCode.UNSET


def test_offset_is_set_only_once_the_broker_acknowledged(telemetry: Telemetry) -> None:
    context = telemetry.observer.on_send(make_message(), CONFIG)
    span = context[0]
    assert "messaging.kafka.offset" not in (span.attributes or {})
    telemetry.observer.on_outcome(context, make_message(), delivered(offset=99), 0.01)
    assert telemetry.spans()[0].attributes["messaging.kafka.offset"] == 99  # type: ignore[index]


def test_span_runs_from_send_to_outcome(telemetry: Telemetry) -> None:
    context = telemetry.observer.on_send(make_message(), CONFIG)
    assert telemetry.spans() == []
    telemetry.observer.on_outcome(context, make_message(), delivered(), 0.01)
    (span,) = telemetry.spans()
    assert span.start_time is not None
    assert span.end_time is not None
    assert span.end_time >= span.start_time


def test_text_body_size_counts_utf8_bytes(telemetry: Telemetry) -> None:
    telemetry.send(make_message(value="café"), delivered())
    assert telemetry.spans()[0].attributes["messaging.message.body.size"] == 5  # type: ignore[index]


def test_tombstone_is_marked_and_has_no_body(telemetry: Telemetry) -> None:
    telemetry.send(make_message(value=None), delivered())
    attributes = telemetry.spans()[0].attributes or {}
    assert attributes["messaging.kafka.message.tombstone"] is True
    assert attributes["messaging.message.body.size"] == 0


def test_a_value_is_not_marked_as_tombstone(telemetry: Telemetry) -> None:
    telemetry.send(make_message(value=b""), delivered())
    assert "messaging.kafka.message.tombstone" not in (telemetry.spans()[0].attributes or {})


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("user-42", "user-42"),
        (b"user-42", "user-42"),
        ("café", "café"),
        ("café".encode(), "café"),
        (None, None),
        (b"\xff\xfe\x00", None),  # not UTF-8
        (b"\x00\x01\x02", None),  # UTF-8, but not text
        (b"", ""),
    ],
)
def test_key_attribute_is_set_only_for_text_keys(
    telemetry: Telemetry, key: bytes | str | None, shown: str | None
) -> None:
    telemetry.send(make_message(key=key), delivered())
    assert (telemetry.spans()[0].attributes or {}).get("messaging.kafka.message.key") == shown


def test_span_parent_is_the_callers_current_span(telemetry: Telemetry) -> None:
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("handle request") as parent:
        telemetry.send(make_message(), delivered())
    child, parent_span = telemetry.spans()
    assert parent_span.name == "handle request"
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id
    assert child.context is not None
    assert child.context.trace_id == parent.get_span_context().trace_id


def test_without_a_current_span_the_span_is_a_root(telemetry: Telemetry) -> None:
    telemetry.send(make_message(), delivered())
    assert telemetry.spans()[0].parent is None


def test_outcome_on_another_thread_ends_the_span_started_on_the_callers(
    telemetry: Telemetry,
) -> None:
    import threading

    context = telemetry.observer.on_send(make_message(), CONFIG)
    worker = threading.Thread(
        target=telemetry.observer.on_outcome, args=(context, make_message(), delivered(), 0.01)
    )
    worker.start()
    worker.join()
    assert len(telemetry.spans()) == 1


def test_failure_sets_error_status_error_type_and_records_the_exception(
    telemetry: Telemetry,
) -> None:
    error = kaffe.MessageTooLargeError(
        "message too large for partition 3 of 'orders'",
        topic=TOPIC,
        partition=3,
        reason="message too large",
        code="MSG_SIZE_TOO_LARGE",
    )
    telemetry.send(make_message(), error)
    (span,) = telemetry.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "message too large for partition 3 of 'orders'"
    attributes = span.attributes or {}
    assert attributes["error.type"] == "kaffe.MessageTooLargeError"
    assert "messaging.kafka.offset" not in attributes
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "kaffe.MessageTooLargeError"
    assert "message too large" in str((event.attributes or {})["exception.message"])


def test_failure_without_topic_or_partition_does_not_raise(telemetry: Telemetry) -> None:
    telemetry.send(make_message(), kaffe.KaffeError("broker went away"))
    assert telemetry.spans()[0].attributes["error.type"] == "kaffe.KaffeError"  # type: ignore[index]


def test_outcome_that_is_no_exception_counts_as_other_error(telemetry: Telemetry) -> None:
    telemetry.send(make_message(), "something odd")
    (span,) = telemetry.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "_OTHER"


def test_outcome_without_a_context_is_still_counted(telemetry: Telemetry) -> None:
    telemetry.observer.on_outcome(None, make_message(), delivered(), 0.01)
    telemetry.observer.on_outcome(object(), make_message(), kaffe.KaffeError("x"), 0.01)
    assert telemetry.spans() == []
    assert sum(point.value for point in telemetry.points("messaging.client.sent.messages")) == 2


def test_config_without_endpoints_or_client_id_gives_no_server_attributes(
    telemetry: Telemetry,
) -> None:
    telemetry.send(make_message(), delivered(), config=object())
    attributes = telemetry.spans()[0].attributes or {}
    assert "server.address" not in attributes
    assert "messaging.client.id" not in attributes


def test_one_observer_serves_producers_of_different_configs(telemetry: Telemetry) -> None:
    other = ProducerConfig(endpoints="[::1]:19092", client_id="billing")
    telemetry.send(make_message(), delivered())
    telemetry.send(make_message(), delivered(), config=other)
    first, second = (span.attributes or {} for span in telemetry.spans())
    assert (first["messaging.client.id"], first["server.address"], first["server.port"]) == (
        "shop",
        "broker-1.example",
        9093,
    )
    assert (second["messaging.client.id"], second["server.address"], second["server.port"]) == (
        "billing",
        "::1",
        19092,
    )


# --- propagation -----------------------------------------------------------------------


def _traceparent(span: ReadableSpan) -> str:
    assert span.context is not None
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def test_traceparent_of_the_message_span_is_appended_to_the_headers(
    telemetry: Telemetry,
) -> None:
    message = make_message()
    telemetry.send(message, delivered())
    (span,) = telemetry.spans()
    assert message.headers == [("traceparent", _traceparent(span))]


def test_tracestate_of_the_parent_travels_with_the_traceparent(telemetry: Telemetry) -> None:
    remote = TraceContextTextMapPropagator().extract(
        {
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": "vendor=opaque",
        }
    )
    token = otel_context.attach(remote)
    try:
        message = make_message()
        telemetry.send(message, delivered())
    finally:
        otel_context.detach(token)
    (span,) = telemetry.spans()
    assert message.headers == [
        ("traceparent", _traceparent(span)),
        ("tracestate", "vendor=opaque"),
    ]
    assert _traceparent(span).startswith("00-0af7651916cd43dd8448eb211c80319c-")


def test_existing_headers_are_kept_in_order(telemetry: Telemetry) -> None:
    message = make_message(headers=[("source", b"import"), ("empty", None)])
    telemetry.send(message, delivered())
    assert message.headers is not None
    assert message.headers[:2] == [("source", b"import"), ("empty", None)]
    assert [name for name, _ in message.headers] == ["source", "empty", "traceparent"]


def test_a_traceparent_header_the_caller_set_wins(telemetry: Telemetry) -> None:
    mine = "00-11111111111111111111111111111111-2222222222222222-01"
    remote = TraceContextTextMapPropagator().extract(
        {
            "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "tracestate": "vendor=opaque",
        }
    )
    token = otel_context.attach(remote)
    try:
        message = make_message(headers=[("traceparent", mine)])
        telemetry.send(message, delivered())
    finally:
        otel_context.detach(token)
    # The caller's traceparent stays alone: a tracestate belongs to its traceparent.
    assert message.headers == [("traceparent", mine)]


def test_propagate_false_leaves_the_headers_alone() -> None:
    recorder = Telemetry(propagate=False)
    message = make_message()
    recorder.send(message, delivered())
    assert message.headers == []
    assert len(recorder.spans()) == 1


def test_headers_none_are_left_alone(telemetry: Telemetry) -> None:
    message = OutgoingMessage(TOPIC, 0, None, b"v", None, None)
    telemetry.send(message, delivered())
    assert message.headers is None
    assert len(telemetry.spans()) == 1


# --- metrics ---------------------------------------------------------------------------


def test_sent_messages_counts_every_outcome_with_error_type_on_failures(
    telemetry: Telemetry,
) -> None:
    for offset in range(3):
        telemetry.send(make_message(), delivered(offset))
    telemetry.send(make_message(), kaffe.DeliveryTimeoutError("timed out", topic=TOPIC))
    telemetry.send(make_message(partition=5), delivered(partition=5))
    points = telemetry.points("messaging.client.sent.messages")
    counts = {
        (
            dict(point.attributes or {})["messaging.destination.partition.id"],
            dict(point.attributes or {}).get("error.type"),
        ): point.value
        for point in points
        if isinstance(point, NumberDataPoint)
    }
    assert counts == {("3", None): 3, ("3", "kaffe.DeliveryTimeoutError"): 1, ("5", None): 1}
    (failed,) = [point for point in points if "error.type" in point.attributes]
    assert dict(failed.attributes) == {
        "messaging.system": "kafka",
        "messaging.operation.name": "send",
        "messaging.operation.type": "send",
        "messaging.destination.name": "orders",
        "messaging.destination.partition.id": "3",
        "server.address": "broker-1.example",
        "server.port": 9093,
        "error.type": "kaffe.DeliveryTimeoutError",
    }


def test_operation_duration_records_the_seconds_given_with_conventional_buckets(
    telemetry: Telemetry,
) -> None:
    telemetry.send(make_message(), delivered(), seconds=0.003)
    telemetry.send(make_message(), delivered(), seconds=0.2)
    (point,) = telemetry.points("messaging.client.operation.duration")
    assert isinstance(point, HistogramDataPoint)
    assert point.count == 2
    assert point.sum == pytest.approx(0.203)
    assert tuple(point.explicit_bounds) == otel.DURATION_BUCKETS


def _statistics(name: str) -> Statistics:
    return Statistics.from_json((DATA / f"{name}.json").read_text())


def test_statistics_gauges_are_absent_until_a_snapshot_arrives(telemetry: Telemetry) -> None:
    assert telemetry.points("kaffe.producer.queue.messages") == []
    assert telemetry.points("kaffe.producer.broker.rtt") == []


def test_statistics_gauges_show_the_queue_and_round_trips(telemetry: Telemetry) -> None:
    statistics = _statistics("queued")
    telemetry.observer.on_statistics(statistics)
    (messages,) = telemetry.points("kaffe.producer.queue.messages")
    (size,) = telemetry.points("kaffe.producer.queue.size")
    assert (messages.value, size.value) == (statistics.queue_messages, statistics.queue_bytes)
    (broker,) = statistics.brokers
    host, port = broker.address.rsplit(":", 1)
    rtt = {
        point.attributes["kaffe.rtt.quantile"]: point
        for point in telemetry.points("kaffe.producer.broker.rtt")
    }
    assert rtt["0.5"].value == broker.rtt_p50
    assert rtt["0.99"].value == broker.rtt_p99
    assert dict(rtt["0.5"].attributes) == {
        "messaging.system": "kafka",
        "kaffe.broker.id": broker.node_id,
        "server.address": host,
        "server.port": int(port),
        "kaffe.rtt.quantile": "0.5",
    }


def test_observers_of_one_meter_provider_share_the_statistics(telemetry: Telemetry) -> None:
    second = otel.OpenTelemetry(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    second.on_statistics(_statistics("queued"))
    (messages,) = telemetry.points("kaffe.producer.queue.messages")
    assert messages.value == _statistics("queued").queue_messages


def test_observers_of_one_meter_provider_add_up_their_sent_messages(
    telemetry: Telemetry,
) -> None:
    second = otel.OpenTelemetry(
        tracer_provider=telemetry.tracer_provider, meter_provider=telemetry.meter_provider
    )
    telemetry.send(make_message(), delivered())
    message = make_message()
    second.on_outcome(second.on_send(message, CONFIG), message, delivered(18), 0.001)
    (sent,) = telemetry.points("messaging.client.sent.messages")
    assert sent.value == 2


# --- sampling ----------------------------------------------------------------------------


def _no_message_attributes(*_args: Any) -> Any:
    raise AssertionError("attributes were built for a span nobody records")


@pytest.mark.parametrize(
    "sampler",
    [ALWAYS_OFF, ParentBased(TraceIdRatioBased(0.0))],
    ids=["always-off", "parent-based-ratio-0"],
)
def test_an_unsampled_message_builds_no_attributes_and_is_still_counted(
    sampler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    telemetry = Telemetry(sampler=sampler)
    monkeypatch.setattr(otel, "_message_attributes", _no_message_attributes)
    try:
        telemetry.send(make_message(), delivered())
        telemetry.send(make_message(), kaffe.DeliveryTimeoutError("timed out", topic=TOPIC))
        assert telemetry.spans() == []
        counts = sorted(
            (dict(point.attributes).get("error.type", ""), point.value)
            for point in telemetry.points("messaging.client.sent.messages")
        )
        assert counts == [("", 1), ("kaffe.DeliveryTimeoutError", 1)]
        (duration,) = [
            point
            for point in telemetry.points("messaging.client.operation.duration")
            if "error.type" not in point.attributes
        ]
        assert duration.count == 1
    finally:
        telemetry.tracer_provider.shutdown()
        telemetry.meter_provider.shutdown()


def test_an_unsampled_message_still_carries_its_trace_context() -> None:
    telemetry = Telemetry(sampler=ALWAYS_OFF)
    try:
        message = make_message()
        telemetry.send(message, delivered())
        (name, value) = message.headers[-1]  # type: ignore[index]
        assert name == "traceparent"
        flags = int(str(value).rsplit("-", 1)[1], 16)
        assert flags & 1 == 0  # not sampled, so downstream does not sample either
    finally:
        telemetry.tracer_provider.shutdown()
        telemetry.meter_provider.shutdown()


def test_a_sampled_message_under_a_ratio_sampler_gets_every_attribute() -> None:
    telemetry = Telemetry(sampler=ParentBased(TraceIdRatioBased(1.0)))
    try:
        telemetry.send(make_message("user-42", b"hello"), delivered(offset=17))
        (span,) = telemetry.spans()
        attributes = dict(span.attributes or {})
        assert attributes["messaging.kafka.message.key"] == "user-42"
        assert attributes["messaging.message.body.size"] == 5
        assert attributes["messaging.kafka.offset"] == 17
    finally:
        telemetry.tracer_provider.shutdown()
        telemetry.meter_provider.shutdown()


def test_global_providers_are_used_when_none_are_given(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        import kaffe
        from kaffe._config import ProducerConfig
        from kaffe._types import OutgoingMessage
        from kaffe.otel import OpenTelemetry

        observer = OpenTelemetry()  # before the SDK is set up, as at import time
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

        message = OutgoingMessage("orders", 0, "k", b"v", [], None)
        context = observer.on_send(message, ProducerConfig(endpoints="h:1"))
        observer.on_outcome(context, message, kaffe.Delivery("orders", 0, 5), 0.01)
        names = [
            metric.name
            for resource in reader.get_metrics_data().resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        ]
        print([span.name for span in exporter.get_finished_spans()], sorted(names))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == (
        "['send orders'] ['messaging.client.operation.duration', 'messaging.client.sent.messages']"
    )


def test_without_an_sdk_the_observer_records_nothing_and_never_raises() -> None:
    observer = otel.OpenTelemetry(
        tracer_provider=trace.NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
    )
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = otel_context.attach(TraceContextTextMapPropagator().extract({"traceparent": parent}))
    try:
        message = make_message()
        context = observer.on_send(message, CONFIG)
    finally:
        otel_context.detach(token)
    observer.on_outcome(context, message, delivered(), 0.01)
    observer.on_outcome(context, message, kaffe.KaffeError("failed"), 0.01)
    # Recent APIs pass the caller's context on even without an SDK; older ones add nothing.
    assert message.headers in ([], [("traceparent", parent)])


def test_observer_satisfies_the_protocol() -> None:
    assert isinstance(otel.OpenTelemetry(), kaffe._observers.Observer)


def test_module_names_the_conventions_version_it_follows() -> None:
    assert otel.__all__
    assert otel.SEMCONV_VERSION == "1.44.0"
    assert otel.SCHEMA_URL == "https://opentelemetry.io/schemas/1.44.0"
