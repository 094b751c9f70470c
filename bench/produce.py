"""
Produce throughput and latency: kaffe against raw confluent-kafka and the Java producer.

One run uses one broker from ``scripts/kafka`` (started if none runs; a running one
is reused, whatever its listeners) and one fresh topic of 8 partitions, and sends
keyed messages with 100-byte values. Every scenario runs ``--rounds`` times (at
least 2), kaffe and raw taking turns, and the table shows the median of each with
the ratios the issue sets as targets. Ratios compare figures from the same run.

Scenarios:

1. raw confluent-kafka ``produce()`` with a delivery callback per message, then
   ``flush()`` (the baseline); also without callbacks ("bare").
2. kaffe ``produce()``: a future per message, all checked at the end.
3. kaffe ``produce_batch_sync`` in chunks of 10,000.
4. one thread: raw ``produce()+flush()`` per message vs kaffe ``produce_sync``,
   with p50 and p99 latency.
5. kaffe ``produce_sync`` from 64 threads.
6. kaffe ``AsyncProducer.produce_sync`` from 1,000 tasks; confluent-kafka's own
   ``confluent_kafka.aio.AIOProducer`` runs the same load for comparison.
7. The Java producer on the same broker: ``ProducerPerformance`` from ``kafka-tools``,
   100-byte records, ``acks=all``, its other settings at their defaults.
8. RSS of a fresh process before and after 1,000,000 messages through ``produce()``.

Raw confluent-kafka gets exactly the librdkafka settings kaffe uses by default
(``acks=all``, idempotence, ``linger.ms``), and kaffe uses the ``crc32`` strategy,
which places keys where librdkafka's default partitioner does.

Run: .venv/bin/python bench/produce.py [--quick] [--rounds 3] [--json PATH]
     [--bootstrap HOST:PORT]

Honours KAFFE_KAFKA_DIR and KAFFE_KAFKA_PORT like ``scripts/kafka``. Writes JSON to
bench/results/produce-<date>.json unless ``--json`` names another file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import gc
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

import kaffe

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka"
RESULTS = REPO / "bench" / "results"
PARTITIONS = 8
VALUE = bytes(range(100))
KEYS = [b"key-%d" % index for index in range(1024)]
#: The kaffe strategy that places keyed messages where raw librdkafka's default does.
STRATEGY = "crc32"
BATCH_CHUNK = 10_000
THREADS = 64
TASKS = 1_000
RSS_MESSAGES = 1_000_000


@dataclass(frozen=True)
class Sizes:
    """Message counts per scenario run."""

    throughput: int
    single: int
    per_thread: int
    per_task: int
    java: int
    rss: int


FULL = Sizes(
    throughput=300_000, single=2_000, per_thread=250, per_task=40, java=1_000_000, rss=RSS_MESSAGES
)
QUICK = Sizes(throughput=20_000, single=200, per_thread=10, per_task=3, java=50_000, rss=100_000)


@dataclass
class Scenario:
    """One row of the table: what ran and what each round measured."""

    key: str
    label: str
    rates: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else float("nan")


# --- broker and topic -----------------------------------------------------------------------


def script(*args: str, timeout: float = 600) -> str:
    """Run ``scripts/kafka`` and return its stdout."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"scripts/kafka {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def ensure_broker() -> str:
    """Reuse the running broker, or start one; return its PLAINTEXT address."""
    status = subprocess.run(
        [sys.executable, str(SCRIPT), "status"], capture_output=True, text=True, timeout=60
    )
    if status.returncode != 0:
        script("up")
    return script("bootstrap", "--listener", "plaintext").strip().splitlines()[-1]


def create_topic(bootstrap: str) -> str:
    """Create a fresh 8-partition topic and wait until every partition has a leader."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    name = f"bench-produce-{uuid.uuid4().hex[:10]}"
    admin.create_topics([NewTopic(name, PARTITIONS, 1)])[name].result(timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        metadata = admin.list_topics(name, timeout=10).topics.get(name)
        if (
            metadata is not None
            and metadata.error is None
            and len(metadata.partitions) == PARTITIONS
            and all(info.leader >= 0 for info in metadata.partitions.values())
        ):
            return name
        time.sleep(0.1)
    raise SystemExit(f"topic {name} never got partition leaders")


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic])[topic].result(timeout=60)


# --- the two clients ------------------------------------------------------------------------


def kaffe_options(bootstrap: str, topic: str) -> dict[str, Any]:
    return {"endpoints": bootstrap, "topics": [topic], "partition_strategy": STRATEGY}


def raw_config(bootstrap: str, topic: str) -> dict[str, Any]:
    """Exactly the librdkafka settings kaffe uses by default."""
    return kaffe.ProducerConfig(**kaffe_options(bootstrap, topic)).librdkafka_properties()


def raw_producer(bootstrap: str, topic: str) -> confluent_kafka.Producer:
    producer = confluent_kafka.Producer(raw_config(bootstrap, topic))
    producer.list_topics(topic, timeout=30)
    producer.produce(topic, VALUE, KEYS[0])  # warm up the connection
    producer.flush(30)
    return producer


def kaffe_producer(bootstrap: str, topic: str) -> kaffe.Producer:
    producer = kaffe.Producer(**kaffe_options(bootstrap, topic))
    producer.produce_sync(topic, KEYS[0], VALUE)  # warm up the connection
    return producer


def messages(count: int) -> list[tuple[bytes, bytes]]:
    return [(KEYS[index & 1023], VALUE) for index in range(count)]


# --- scenarios ------------------------------------------------------------------------------


def raw_throughput(bootstrap: str, topic: str, count: int, *, callbacks: bool) -> float:
    """Scenario 1: raw produce() (with or without a callback per message), then flush()."""
    producer = raw_producer(bootstrap, topic)
    data = messages(count)
    failed = 0

    def on_delivery(error: Any, message: Any) -> None:
        nonlocal failed
        if error is not None:
            failed += 1

    produce, poll = producer.produce, producer.poll
    gc.collect()
    start = time.perf_counter()
    for index, (key, value) in enumerate(data):
        while True:
            try:
                if callbacks:
                    produce(topic, value, key, on_delivery=on_delivery)
                else:
                    produce(topic, value, key)
                break
            except BufferError:
                poll(0.1)
        if not index % 1000:
            poll(0)
    left = producer.flush(60)
    elapsed = time.perf_counter() - start
    assert left == 0, left
    assert failed == 0, failed
    return count / elapsed


def kaffe_futures(bootstrap: str, topic: str, count: int) -> float:
    """Scenario 2: kaffe produce(), a future per message, each checked after flush()."""
    data = messages(count)
    with kaffe_producer(bootstrap, topic) as producer:
        produce = producer.produce
        gc.collect()
        start = time.perf_counter()
        futures = [produce(topic, key, value) for key, value in data]
        producer.flush(60)
        failed = sum(future.exception(0) is not None for future in futures)
        elapsed = time.perf_counter() - start
    assert failed == 0, failed
    return count / elapsed


def kaffe_batches(bootstrap: str, topic: str, count: int) -> float:
    """Scenario 3: kaffe produce_batch_sync in chunks of 10,000."""
    data = messages(count)
    chunks = [data[start : start + BATCH_CHUNK] for start in range(0, count, BATCH_CHUNK)]
    with kaffe_producer(bootstrap, topic) as producer:
        gc.collect()
        start = time.perf_counter()
        for chunk in chunks:
            producer.produce_batch_sync(topic, chunk)
        elapsed = time.perf_counter() - start
    return count / elapsed


def percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def raw_sync(bootstrap: str, topic: str, count: int) -> tuple[float, float, float]:
    """Scenario 4, raw: produce() then flush() for every message, one thread."""
    producer = raw_producer(bootstrap, topic)
    latencies = []
    clock = time.perf_counter
    start = clock()
    for index in range(count):
        began = clock()
        producer.produce(topic, VALUE, KEYS[index & 1023])
        producer.flush(30)
        latencies.append(clock() - began)
    elapsed = clock() - start
    return (count / elapsed, *percentiles(latencies))


def kaffe_sync(bootstrap: str, topic: str, count: int) -> tuple[float, float, float]:
    """Scenario 4, kaffe: produce_sync for every message, one thread."""
    latencies = []
    clock = time.perf_counter
    with kaffe_producer(bootstrap, topic) as producer:
        start = clock()
        for index in range(count):
            began = clock()
            producer.produce_sync(topic, KEYS[index & 1023], VALUE)
            latencies.append(clock() - began)
        elapsed = clock() - start
    return (count / elapsed, *percentiles(latencies))


def kaffe_threads(bootstrap: str, topic: str, per_thread: int) -> float:
    """Scenario 5: kaffe produce_sync from 64 threads."""
    with kaffe_producer(bootstrap, topic) as producer:
        barrier = threading.Barrier(THREADS + 1)
        errors: list[BaseException] = []

        def work(offset: int) -> None:
            barrier.wait()
            try:
                for index in range(per_thread):
                    producer.produce_sync(topic, KEYS[(offset + index) & 1023], VALUE)
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        barrier.wait()
        start = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    assert not errors, errors[:3]
    return THREADS * per_thread / elapsed


def kaffe_tasks(bootstrap: str, topic: str, per_task: int) -> float:
    """Scenario 6: kaffe AsyncProducer.produce_sync from 1,000 tasks."""

    async def run() -> float:
        async with kaffe.AsyncProducer(**kaffe_options(bootstrap, topic)) as producer:
            await producer.produce_sync(topic, KEYS[0], VALUE)

            async def work(offset: int) -> None:
                for index in range(per_task):
                    await producer.produce_sync(topic, KEYS[(offset + index) & 1023], VALUE)

            start = time.perf_counter()
            await asyncio.gather(*(work(n) for n in range(TASKS)))
            return TASKS * per_task / (time.perf_counter() - start)

    return asyncio.run(run())


def aio_tasks(bootstrap: str, topic: str, per_task: int) -> float:
    """Scenario 6 with confluent_kafka.aio.AIOProducer (it has no header support)."""
    from confluent_kafka.aio import AIOProducer

    async def run() -> float:
        producer = AIOProducer(raw_config(bootstrap, topic))
        try:
            await (await producer.produce(topic, value=VALUE, key=KEYS[0]))

            async def work(offset: int) -> None:
                for index in range(per_task):
                    delivered = await producer.produce(
                        topic, value=VALUE, key=KEYS[(offset + index) & 1023]
                    )
                    await delivered

            start = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(work(n) for n in range(TASKS))), 300)
            return TASKS * per_task / (time.perf_counter() - start)
        finally:
            await producer.close()

    return asyncio.run(run())


def lone_async_latency(bootstrap: str, topic: str, count: int) -> dict[str, float]:
    """p50 of one awaited message at a time: kaffe AsyncProducer vs AIOProducer."""
    from confluent_kafka.aio import AIOProducer

    async def run() -> dict[str, float]:
        clock = time.perf_counter
        result = {}
        async with kaffe.AsyncProducer(**kaffe_options(bootstrap, topic)) as producer:
            await producer.produce_sync(topic, KEYS[0], VALUE)
            latencies = []
            for index in range(count):
                began = clock()
                await producer.produce_sync(topic, KEYS[index & 1023], VALUE)
                latencies.append(clock() - began)
            result["kaffe_p50_ms"] = percentiles(latencies)[0]
        aio = AIOProducer(raw_config(bootstrap, topic))
        try:
            await (await aio.produce(topic, value=VALUE, key=KEYS[0]))
            latencies = []
            for index in range(min(count, 5)):  # each waits for its buffer timeout
                began = clock()
                await (await aio.produce(topic, value=VALUE, key=KEYS[index & 1023]))
                latencies.append(clock() - began)
            result["aio_p50_ms"] = percentiles(latencies)[0]
        finally:
            await aio.close()
        return result

    return asyncio.run(run())


JAVA_RATE = re.compile(r"(\d+) records sent, ([\d.]+) records/sec")


def java_producer(bootstrap: str, topic: str, count: int) -> float:
    """Scenario 7: Kafka's ProducerPerformance, 100-byte records, acks=all."""
    classpath = script("classpath").strip().splitlines()[-1]
    result = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            classpath,
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(count),
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = JAVA_RATE.findall(result.stdout)
    if result.returncode != 0 or not found:
        raise RuntimeError(f"ProducerPerformance failed:\n{result.stdout}\n{result.stderr}")
    return float(found[-1][1])


def rss_probe(bootstrap: str, topic: str, count: int) -> dict[str, float]:
    """Scenario 8, run in a fresh process: RSS before and after ``count`` produce() calls."""
    import psutil

    process = psutil.Process()
    with kaffe_producer(bootstrap, topic) as producer:
        gc.collect()
        before = process.memory_info().rss
        produce = producer.produce
        start = time.perf_counter()
        for index in range(count):
            produce(topic, KEYS[index & 1023], VALUE)
        producer.flush(120)
        elapsed = time.perf_counter() - start
        gc.collect()
        after = process.memory_info().rss
    return {
        "rss_before_mb": before / 2**20,
        "rss_after_mb": after / 2**20,
        "rss_growth_mb": (after - before) / 2**20,
        "rate": count / elapsed,
    }


def rss_scenario(bootstrap: str, topic: str, count: int) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--rss-probe", str(count), "--bootstrap", bootstrap, topic],
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# --- the run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A ratio the issue asks for: ``numerator / denominator >= minimum``."""

    label: str
    numerator: str
    denominator: str
    minimum: float


TARGETS = (
    Target("2. kaffe produce() futures / 1. raw", "s2", "s1", 0.5),
    Target("3. kaffe batches / 1. raw", "s3", "s1", 0.7),
    Target("4. kaffe produce_sync / raw produce()+flush()", "s4_kaffe", "s4_raw", 0.9),
    Target("5. kaffe 64 threads / 1. raw", "s5", "s1", 0.25),
    Target("6. kaffe 1,000 tasks / 1. raw", "s6", "s1", 0.25),
    Target("3. kaffe batches / 7. Java producer", "s3", "s7", 0.5),
)


def run(bootstrap: str, sizes: Sizes, rounds: int, say: Callable[[str], None]) -> dict[str, Any]:
    topic = create_topic(bootstrap)
    rows = {
        "s1": Scenario("s1", "1. raw produce() + callback, flush()"),
        "s1_bare": Scenario("s1_bare", "1. raw produce(), no callback (bare)"),
        "s2": Scenario("s2", "2. kaffe produce() futures"),
        "s3": Scenario("s3", f"3. kaffe produce_batch_sync, chunks of {BATCH_CHUNK:,}"),
        "s4_raw": Scenario("s4_raw", "4. raw produce()+flush() per message"),
        "s4_kaffe": Scenario("s4_kaffe", "4. kaffe produce_sync, 1 thread"),
        "s5": Scenario("s5", f"5. kaffe produce_sync, {THREADS} threads"),
        "s6": Scenario("s6", f"6. kaffe AsyncProducer.produce_sync, {TASKS:,} tasks"),
        "s6_aio": Scenario("s6_aio", f"6. confluent AIOProducer, {TASKS:,} tasks"),
        "s7": Scenario("s7", "7. Java ProducerPerformance, acks=all"),
    }
    n = sizes.throughput
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("s1", lambda: raw_throughput(bootstrap, topic, n, callbacks=True)),
        ("s2", lambda: kaffe_futures(bootstrap, topic, n)),
        ("s1_bare", lambda: raw_throughput(bootstrap, topic, n, callbacks=False)),
        ("s3", lambda: kaffe_batches(bootstrap, topic, n)),
        ("s4_raw", lambda: raw_sync(bootstrap, topic, sizes.single)),
        ("s4_kaffe", lambda: kaffe_sync(bootstrap, topic, sizes.single)),
        ("s5", lambda: kaffe_threads(bootstrap, topic, sizes.per_thread)),
        ("s6", lambda: kaffe_tasks(bootstrap, topic, sizes.per_task)),
        ("s6_aio", lambda: aio_tasks(bootstrap, topic, sizes.per_task)),
        ("s7", lambda: java_producer(bootstrap, topic, sizes.java)),
    ]
    for round_number in range(rounds):
        # Alternate who goes first, so neither side always runs on a warmer broker.
        ordered = steps if round_number % 2 == 0 else _swap_pairs(steps)
        for key, step in ordered:
            try:
                outcome = step()
            except Exception as error:  # a failing scenario is reported, not fatal
                rows[key].note = f"failed: {type(error).__name__}: {error}"[:200]
                say(f"round {round_number + 1}: {key} failed: {error}")
                continue
            if isinstance(outcome, tuple):
                rate, p50, p99 = outcome
                rows[key].p50_ms.append(p50)
                rows[key].p99_ms.append(p99)
            else:
                rate = outcome
            rows[key].rates.append(rate)
            say(f"round {round_number + 1}: {rows[key].label}: {rate:,.0f} msg/s")
    say("memory: RSS before and after produce() in a fresh process")
    memory = rss_scenario(bootstrap, topic, sizes.rss)
    say("asyncio: latency of one awaited message at a time")
    lone = lone_async_latency(bootstrap, topic, 20)
    delete_topic(bootstrap, topic)
    ratios = []
    for target in TARGETS:
        value = rows[target.numerator].rate / rows[target.denominator].rate
        ratios.append(
            {
                "target": target.label,
                "ratio": value,
                "minimum": target.minimum,
                "met": value >= target.minimum,
            }
        )
    ratios.append(
        {
            "target": "8. RSS growth after produce() (MB)",
            "ratio": memory["rss_growth_mb"],
            "minimum": 50.0,
            "met": memory["rss_growth_mb"] <= 50.0,
        }
    )
    return {
        "scenarios": {
            key: {
                "label": row.label,
                "rates": row.rates,
                "median": row.rate,
                "p50_ms": row.p50_ms,
                "p99_ms": row.p99_ms,
                "note": row.note,
            }
            for key, row in rows.items()
        },
        "memory": memory,
        "lone_async_latency": lone,
        "targets": ratios,
    }


def _swap_pairs(
    steps: Sequence[tuple[str, Callable[[], Any]]],
) -> list[tuple[str, Callable[[], Any]]]:
    swapped = list(steps)
    for index in range(0, len(swapped) - 1, 2):
        swapped[index], swapped[index + 1] = swapped[index + 1], swapped[index]
    return swapped


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.version(),
        "librdkafka": confluent_kafka.libversion()[0],
        "kaffe": kaffe.__version__,
        "system": f"{platform.system()} {platform.release()}",
    }


def show(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"kaffe produce benchmark ({report['when']})")
    table.add_column("scenario")
    table.add_column("msg/s (median)", justify="right")
    table.add_column("each round", justify="right")
    table.add_column("p50 / p99 ms", justify="right")
    for row in report["scenarios"].values():
        latency = ""
        if row["p50_ms"]:
            latency = (
                f"{statistics.median(row['p50_ms']):.2f} / {statistics.median(row['p99_ms']):.2f}"
            )
        rounds = ", ".join(f"{rate:,.0f}" for rate in row["rates"]) or row["note"]
        median = f"{row['median']:,.0f}" if row["rates"] else "-"
        table.add_row(row["label"], median, rounds, latency)
    console.print(table)
    targets = Table(title="targets (ratios from this run)")
    targets.add_column("ratio")
    targets.add_column("measured", justify="right")
    targets.add_column("target", justify="right")
    targets.add_column("met")
    for target in report["targets"]:
        is_memory = target["target"].startswith("8.")
        targets.add_row(
            target["target"],
            f"{target['ratio']:.1f}" if is_memory else f"{target['ratio']:.2f}x",
            f"<= {target['minimum']:.0f}" if is_memory else f">= {target['minimum']:.2f}x",
            "yes" if target["met"] else "NO",
        )
    console.print(targets)
    memory = report["memory"]
    lone = report["lone_async_latency"]
    console.print(
        f"memory: RSS {memory['rss_before_mb']:.0f} MB -> {memory['rss_after_mb']:.0f} MB "
        f"after {report['sizes']['rss']:,} produce() calls ({memory['rate']:,.0f} msg/s)"
    )
    console.print(
        f"one awaited message at a time, p50: kaffe AsyncProducer {lone['kaffe_p50_ms']:.2f} ms, "
        f"confluent AIOProducer {lone['aio_p50_ms']:.0f} ms"
    )
    console.print(f"machine: {report['machine']}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="runs per scenario (>= 2)")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--bootstrap", default=None, help="use this broker, not scripts/kafka")
    parser.add_argument("--rss-probe", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("topic", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rss_probe is not None:
        print(json.dumps(rss_probe(args.bootstrap, args.topic, args.rss_probe)))
        return 0
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 3)
    if rounds < 2:
        parser.error("--rounds must be at least 2")
    sizes = QUICK if args.quick else FULL

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    bootstrap = args.bootstrap or ensure_broker()
    started = datetime.datetime.now(datetime.timezone.utc)
    report: dict[str, Any] = {
        "when": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/produce.py", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "rounds": rounds,
        "sizes": sizes.__dict__,
        "settings": {
            "partitions": PARTITIONS,
            "value_bytes": len(VALUE),
            "kaffe_strategy": STRATEGY,
            "librdkafka": {
                key: value
                for key, value in raw_config(bootstrap, "t").items()
                if key not in ("bootstrap.servers", "client.id")
            },
        },
        "machine": machine(),
    }
    report.update(run(bootstrap, sizes, rounds, say))
    report["seconds"] = round(
        (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1
    )
    path = args.json or RESULTS / f"produce-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    show(report)
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
