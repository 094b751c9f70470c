"""
Observability demo: a producer traced with OpenTelemetry and measured with Prometheus.

It sets up the OpenTelemetry SDK with console exporters (each span prints as JSON
when it ends), serves Prometheus metrics over HTTP on a free port, produces a few
messages inside a parent span (synchronously, as futures and as a batch), waits for
a librdkafka statistics snapshot, and prints a scrape of the metrics endpoint.

Needs the extras and the SDK (``pip install 'kaffe[otel,prometheus]' opentelemetry-sdk``)
and a broker (``scripts/kafka up``)::

    python examples/observability.py --bootstrap 127.0.0.1:29092
"""

from __future__ import annotations

import argparse
import logging
import time
import urllib.request

import prometheus_client
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import kaffe
from kaffe.otel import OpenTelemetry
from kaffe.prometheus import Prometheus


def ensure_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create the demo topic unless it exists (kaffe itself never creates topics unasked)."""
    # librdkafka's log lines go to Python logging, as kaffe's do, not straight to stderr.
    admin = AdminClient(
        {"bootstrap.servers": bootstrap}, logger=logging.getLogger("kaffe.librdkafka")
    )
    if name in admin.list_topics(timeout=10).topics:
        return
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def main() -> None:
    """Produce a few observed messages, then print the Prometheus scrape."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:29092")
    parser.add_argument("--topic", default="kaffe-observability-demo")
    args = parser.parse_args()
    ensure_topic(args.bootstrap, args.topic, 4)

    # OpenTelemetry: the SDK with console exporters, as the global providers.
    resource = Resource.create({"service.name": "observability-demo"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    meter_provider = MeterProvider(
        resource=resource,
        metric_readers=[
            PeriodicExportingMetricReader(ConsoleMetricExporter(), export_interval_millis=60_000)
        ],
    )

    # Prometheus: prometheus_client's default registry, served on a free port.
    server, thread = prometheus_client.start_http_server(0, addr="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    tracer = trace.get_tracer("observability-demo")
    with kaffe.Producer(
        endpoints=args.bootstrap,
        topics=[args.topic],
        observers=[OpenTelemetry(meter_provider=meter_provider), Prometheus()],
        statistics_interval=1.0,
    ) as producer:
        with tracer.start_as_current_span("handle signup"):
            producer.produce_sync("user-42", "signed up")
            futures = [producer.produce(f"user-{n}", "clicked") for n in range(3)]
            for future in futures:
                future.result(timeout=30)
            producer.produce_batch_sync(args.topic, [("user-7", "paid"), ("user-8", "paid")])
        # The queue and round-trip metrics appear with the first statistics snapshot.
        deadline = time.monotonic() + 10
        while producer.statistics() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        statistics = producer.statistics()
        if statistics is not None:
            for broker in statistics.brokers:
                print(f"broker {broker.name}: {broker.state}, rtt p99 {broker.rtt_p99}")

        with urllib.request.urlopen(url, timeout=10) as response:
            scrape = response.read().decode()
    print("\n".join(line for line in scrape.splitlines() if line.startswith("kaffe_")))

    meter_provider.shutdown()  # prints the OpenTelemetry metrics once
    tracer_provider.shutdown()
    server.shutdown()
    thread.join(timeout=10)


if __name__ == "__main__":
    main()
