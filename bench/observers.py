"""
Cost of the observers per message: ``on_send`` plus ``on_outcome``, no broker involved.

Each case drives an observer exactly as the producer does, over messages spread on
4 topics x 8 partitions with text keys, 100-byte values and no headers of their own,
and half of them as 1,000 sends in a row then their outcomes (as a pipelined
``produce()`` does), half as send-outcome pairs (as ``produce_sync`` does).
Every case runs ``--rounds`` times, interleaved; the table shows the median CPU
microseconds per message, counted with ``time.process_time`` (all threads of the
process, so the span processor's export thread is included) to keep other processes'
load on a shared machine out of the figures.

Cases:

- ``base Observer``: ``kaffe.Observer``'s methods, which do nothing: the harness's own cost.
- ``sdk floor``: the SDK alone doing the least such an observer must (a span with 11
  attributes started and ended, a counter and a histogram with 7), to tell the
  SDK's cost from kaffe's.
- ``otel sdk``: ``OpenTelemetry`` on the OpenTelemetry SDK, a ``BatchSpanProcessor``
  with an exporter that drops every span, and a metric reader; propagation on.
- ``otel sdk, propagate=False``: the same without writing ``traceparent``.
- ``otel api only``: no SDK configured (no-op providers).
- ``prometheus``: ``Prometheus`` on its own registry.
- ``otel sdk + prometheus``: both, as the issue's overhead target measures.

Run: .venv/bin/python bench/observers.py [--messages 50000] [--rounds 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and bench/http.py would hide
# the standard library's http package (prometheus_client imports http.server).
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from typing import Any  # noqa: E402

from opentelemetry.metrics import NoOpMeterProvider  # noqa: E402
from opentelemetry.sdk.metrics import MeterProvider  # noqa: E402
from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: E402
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult  # noqa: E402
from opentelemetry.trace import NoOpTracerProvider  # noqa: E402
from prometheus_client import CollectorRegistry  # noqa: E402

import kaffe  # noqa: E402
from kaffe._config import ProducerConfig  # noqa: E402
from kaffe._observers import Observer  # noqa: E402
from kaffe._types import OutgoingMessage  # noqa: E402
from kaffe.otel import OpenTelemetry  # noqa: E402
from kaffe.prometheus import Prometheus  # noqa: E402

CONFIG = ProducerConfig(endpoints="127.0.0.1:9092", client_id="bench")
TOPICS = ("orders", "audit", "events", "payments")
PARTITIONS = 8
VALUE = b"v" * 100
PIPELINE = 1_000


class DropSpans(SpanExporter):
    """An exporter that accepts every span and keeps none."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Nothing(Observer):
    """An observer that keeps the protocol's do-nothing methods."""


class _SdkFloor(Observer):
    """
    The least any SDK-backed observer pays: a span with fixed attributes, a count, a duration.
    """

    def __init__(self, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self._tracer = tracer_provider.get_tracer("floor")
        meter = meter_provider.get_meter("floor")
        self._sent = meter.create_counter("sent")
        self._duration = meter.create_histogram("duration")
        self._span_attributes = {f"attribute.{index}": "value" for index in range(11)}
        self._metric_attributes = {f"attribute.{index}": "value" for index in range(7)}

    def on_send(self, message: OutgoingMessage, config: ProducerConfig) -> Any:
        return self._tracer.start_span("send", attributes=self._span_attributes)

    def on_outcome(self, context: Any, message: Any, outcome: Any, seconds: float) -> None:
        context.end()
        self._sent.add(1, self._metric_attributes)
        self._duration.record(seconds, self._metric_attributes)


def _messages(count: int) -> list[OutgoingMessage]:
    return [
        OutgoingMessage(
            TOPICS[index % len(TOPICS)],
            index % PARTITIONS,
            f"user-{index % 10_000}",
            VALUE,
            [],
            None,
        )
        for index in range(count)
    ]


def _otel_sdk(propagate: bool = True) -> tuple[OpenTelemetry, Callable[[], None]]:
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    observer = OpenTelemetry(tracer_provider, meter_provider, propagate=propagate)
    return observer, shutdown


def _cases() -> dict[str, Callable[[], tuple[list[Any], Callable[[], None]]]]:
    def nothing() -> tuple[list[Any], Callable[[], None]]:
        return [_Nothing()], lambda: None

    def otel_sdk() -> tuple[list[Any], Callable[[], None]]:
        observer, shutdown = _otel_sdk()
        return [observer], shutdown

    def sdk_floor() -> tuple[list[Any], Callable[[], None]]:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(BatchSpanProcessor(DropSpans()))
        meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])

        def shutdown() -> None:
            tracer_provider.shutdown()
            meter_provider.shutdown()

        return [_SdkFloor(tracer_provider, meter_provider)], shutdown

    def otel_sdk_no_propagation() -> tuple[list[Any], Callable[[], None]]:
        observer, shutdown = _otel_sdk(propagate=False)
        return [observer], shutdown

    def otel_api_only() -> tuple[list[Any], Callable[[], None]]:
        return [OpenTelemetry(NoOpTracerProvider(), NoOpMeterProvider())], lambda: None

    def prometheus() -> tuple[list[Any], Callable[[], None]]:
        return [Prometheus(CollectorRegistry())], lambda: None

    def both() -> tuple[list[Any], Callable[[], None]]:
        observer, shutdown = _otel_sdk()
        return [observer, Prometheus(CollectorRegistry())], shutdown

    return {
        "base Observer (does nothing)": nothing,
        "sdk floor (no kaffe code)": sdk_floor,
        "otel sdk": otel_sdk,
        "otel sdk, propagate=False": otel_sdk_no_propagation,
        "otel api only": otel_api_only,
        "prometheus": prometheus,
        "otel sdk + prometheus": both,
    }


def _run(observers: list[Any], messages: list[OutgoingMessage]) -> float:
    """CPU seconds of the process (all its threads) spent on the observer calls."""
    delivery = kaffe.Delivery("orders", 0, 0)
    half = len(messages) // 2
    started = time.process_time()
    # Pipelined: a window of sends, then their outcomes.
    for start in range(0, half, PIPELINE):
        window = messages[start : min(start + PIPELINE, half)]
        contexts = [
            [observer.on_send(message, CONFIG) for observer in observers] for message in window
        ]
        for message, context in zip(window, contexts, strict=True):
            for observer, each in zip(observers, context, strict=True):
                observer.on_outcome(each, message, delivery, 0.001)
    # One at a time.
    for message in messages[half:]:
        for observer in observers:
            observer.on_outcome(observer.on_send(message, CONFIG), message, delivery, 0.001)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    cases = _cases()
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(arguments.rounds):
        for name, build in cases.items():
            observers, shutdown = build()
            messages = _messages(arguments.messages)
            _run(observers, _messages(2_000))  # warm the caches
            seconds = _run(observers, messages)
            shutdown()
            results[name].append(seconds / arguments.messages * 1e6)
    width = max(len(name) for name in results)
    print(f"{'observers':<{width}}  µs/message (median of {arguments.rounds})  min    max")
    for name, figures in results.items():
        print(
            f"{name:<{width}}  {statistics.median(figures):8.2f}"
            f"{'':22}{min(figures):6.2f} {max(figures):6.2f}"
        )


if __name__ == "__main__":
    main()
