"""
Produce throughput, latency and memory: kaffe side by side with what its users would use instead.

One run measures every scenario against one broker from ``scripts/kafka`` (started
if none runs; a running one is reused) and one fresh topic of 8 partitions, with
keyed messages of 100-byte values, ``acks=all`` and idempotence on every side. It
prints each scenario's median and every round, then one line per target with its
ratio and PASS or MISS, then ratios for information, and writes everything as JSON
to ``bench/results/``.

Every kaffe path runs in three builds, side by side in the same comparison: kaffe
compiled (its per-message path, ``kaffe._hot``, compiled by mypyc), kaffe's
pure-Python mode (the same source, interpreted: ``KAFFE_PURE_PYTHON=1``) and kaffe
0.2.0, the release before the compiled path. Their rows end in ``.compiled``,
``.pure`` and ``.0.2.0``; the key without the build (``asyncio.10.kaffe``) names all
three.

Scenario groups (``--only`` takes a group, a comparison such as ``asyncio.10``, a
kaffe path such as ``pipelined.kaffe-batches``, or a row such as
``single.kaffe.pure``; ``--list`` prints them all; ``--kaffe`` keeps some builds only):

pipelined   every outcome checked: raw confluent-kafka ``produce()`` with a delivery
            callback then ``flush()``; the minimal pure-Python equivalent of kaffe's
            futures (below); kaffe ``produce()`` futures, all kept and checked; raw
            ``produce_batch`` (a callback per message, for reference); kaffe
            ``produce_batch_sync`` in chunks of 10,000; aiokafka ``send()``;
            kafka-python ``send()``; Kafka's Java ``ProducerPerformance``.
single      one thread, one message at a time, with p50/p99 latency: raw
            ``produce()+flush()``; kaffe ``produce_sync``; aiokafka ``send_and_wait``
            (one task); kafka-python ``send().get()``.
asyncio     each task awaiting its own acknowledgement, at 1, 10, 100 and 1,000
            tasks: kaffe ``AsyncProducer.produce_sync`` vs aiokafka
            ``send_and_wait``.
threads     threads sharing one producer: kaffe ``produce_sync`` vs kafka-python
            ``send().get()`` at 8 and 64 threads (one thread is the single group).
cli         ``kaffe produce`` vs ``kcat -P``, each given the same 300,000-line
            ``KEY<TAB>VALUE`` file (100 bytes a line) into a fresh topic: wall
            time, msg/s and peak RSS of the process. Skipped when kcat is missing.
memory      RSS growth of a fresh process over 1,000,000 messages on each kaffe
            path: futures (a window of 10,000 kept and checked), batches, asyncio
            (1,000 tasks) and ``produce_sync`` (64 threads, so it ends in about a
            minute); compiled and pure Python, the two that ship (a 0.2.0 probe runs
            when named, e.g. ``memory.sync.0.2.0``). Runs once, after the rounds.
observers   only with ``--observers``: issues 11 and 17, the observers' overhead. kaffe
            compiled (in this process) with the OpenTelemetry observer (SDK tracer
            provider with a batch span processor and an exporter that drops the
            spans, SDK meter provider with an in-memory reader) and the Prometheus
            observer (a fresh registry), against the same path without observers:
            futures, batches, ``produce_sync`` (one thread) and
            ``AsyncProducer.produce_sync`` (100 tasks). The futures path also runs with
            the OpenTelemetry observer alone, every span recorded and with a
            ``ParentBased(TraceIdRatioBased(0.01))`` sampler, beside raw
            ``produce()`` with a delivery callback through the official
            instrumentation (``opentelemetry-instrumentation-confluent-kafka``'s
            ``instrument_producer``) on the same span pipeline. Skipped with a note
            while ``kaffe.otel`` or ``kaffe.prometheus`` is missing.

How each side is set up, as its users would for the same guarantees:

- raw confluent-kafka: ``enable.idempotence=true`` and ``acks=all``, librdkafka's
  other defaults (``linger.ms`` 5); keys placed by librdkafka's default partitioner.
- the minimal pure-Python equivalent of kaffe's futures, hand-written on raw
  confluent-kafka with the same settings, so every reader sees where pure Python
  stops: each key placed in Python like kaffe's strategy (``confluent_kafka.consistent``,
  kaffe's ``crc32``), one ``__slots__`` object per message as its delivery callback,
  which reads the offset and timestamp and builds a ``kaffe.Delivery``; ``poll(0)``
  every 1,000 messages as raw does; every outcome checked after ``flush()``.
- kaffe: its defaults (``acks=all``, idempotence, ``linger_ms`` 5) with the ``crc32``
  strategy, which places each key where librdkafka's default partitioner (and so
  raw confluent-kafka and kcat) puts it; ``kaffe produce`` gets ``--strategy crc32``.
  Since kaffe picks its build once, at import, each kaffe side runs in a fresh child
  process: this script again, with a hidden ``--child ROW`` on the same broker,
  topic and counts, which checks which kaffe it imported, measures the side exactly
  as this process would (warm-up included) and hands back its sample as JSON. The
  compiled child runs the installed kaffe without ``KAFFE_PURE_PYTHON``; the pure one
  with ``KAFFE_PURE_PYTHON=1``; the 0.2.0 one with ``PYTHONPATH`` on the ``src/`` of
  commit 7a91582, exported once a run with ``git archive`` (it must import kaffe from
  there and find no ``kaffe._hot``). ``kaffe produce`` runs from the child, so it
  imports the same kaffe. The header names what each build imported.
  ``--in-process`` runs the compiled build in this process instead, for a profiler.
- aiokafka: ``acks="all"``, ``enable_idempotence=True``, its defaults otherwise
  (``linger_ms`` 0, ``max_batch_size`` 16 KiB, murmur2 for keys).
- kafka-python 3.x (its producer is idempotent): ``acks="all"``,
  ``enable_idempotence=True`` (already its default; set so a conflicting setting
  raises), its defaults otherwise (``linger_ms`` 0, ``batch_size`` 16 KiB, murmur2).
- Java ``ProducerPerformance``: ``acks=all``, ``enable.idempotence=true``, its
  defaults otherwise (``linger.ms`` 5 since Kafka 4.0). The tool sends no keys, so its
  records take the sticky partitioner, and it gets 1,000,000 records (after the same
  warm-up) so its JIT compiler settles; its steady-state line is used.
- kcat: ``-X enable.idempotence=true -X acks=all -K <TAB> -l FILE``; it runs on the
  system's librdkafka, whose version the header prints.

Method: every side is warmed up the same way before timing: its producer is created,
the topic's metadata loaded, and 2,000 messages sent through its pipelined call and
all acknowledged (in the child process, for kaffe's builds; process start-up is not
timed). Timing starts after that and ends when every outcome is checked. Each
comparison (the sides of one scenario, or of one concurrency level) runs its sides
in a rotated order every round, so no side always goes first: the sides rotate by
one place a round, and the three builds of one kaffe path, which run one after
another, rotate among themselves too. The table shows the median of the rounds and
each round; ratios divide medians from the same run.

Targets (issue 15's, all from one run): ``produce()`` futures / raw ``produce()`` +
callback >= 0.6; ``produce_batch_sync`` / raw ``produce()`` + callback >= 1.0;
``produce_sync``, 1 thread / raw ``produce()+flush()`` >= 1.0;
``AsyncProducer.produce_sync`` / aiokafka ``send_and_wait`` >= 1.5 at 10, 100 and 1,000
tasks and >= 1.2 at 1 task; ``kaffe produce`` / ``kcat -P`` >= 0.5 (kcat's wall time
over kaffe's); pure-Python mode / kaffe 0.2.0 >= 1.0 on every kaffe path; RSS growth
<= 50 MB per 1,000,000 messages on every memory path, compiled and pure. Kaffe's
targets are of the compiled build. Printed for information: the minimal equivalent /
raw, futures compiled and pure / the minimal equivalent, and compiled / pure on every
path. With ``--observers``, issue 11's: observers on / off >= 0.5 on each path; and
issue 17's: futures with the OpenTelemetry observer / raw ``produce()`` with the official
instrumentation >= 1.0, and futures with the observer sampling 1% of traces / futures
without observers >= 0.6.

Message counts (full run): 300,000 per pipelined Python side (100,000 for
kafka-python, which runs at a tenth of the others' rate), 1,000,000 for Java,
3,000 single messages, 3,000 / 10,000 / 30,000 / 60,000 messages at 1 / 10 / 100 /
1,000 tasks, 8,000 / 16,000 messages at 8 / 64 threads, a 300,000-line file for the
command lines, and 1,000,000 per memory probe. Three rounds of that (46 sides a
round) took 14 minutes on a 2-core machine that also ran the broker and other work
(load average 8 to 18): under 3 minutes a round, 5 minutes for the eight memory
probes. ``--quick`` (two rounds of small counts) takes about 3 minutes.

Run:
    .venv/bin/python bench/produce.py                      # full run
    .venv/bin/python bench/produce.py --quick              # smoke run
    .venv/bin/python bench/produce.py --only asyncio.10,pipelined --rounds 5
    .venv/bin/python bench/produce.py --only pipelined.kaffe-futures --kaffe compiled,pure
    .venv/bin/python bench/produce.py --observers          # add the observers' overhead
    py-spy record -o profile.svg -- .venv/bin/python bench/produce.py \\
        --only threads.8 --kaffe compiled --in-process

The peers come with the bench extra: ``pip install -e '.[bench]'``; a peer that is
not installed (or kcat, or java) is skipped with a note, and so are the 0.2.0 rows
outside a git checkout that holds commit 7a91582. The benchmark starts (or reuses)
its own broker in ``.kafka-bench/`` on port 29392 with the JVM's full JIT, apart from
the tests' broker; KAFFE_KAFKA_DIR and KAFFE_KAFKA_PORT move it, and ``--bootstrap``
uses any running cluster instead. Stop it with
``KAFFE_KAFKA_DIR=.kafka-bench scripts/kafka down`` (and the same KAFFE_KAFKA_PORT).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import gc
import importlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

import kaffe

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka"
RESULTS = REPO / "bench" / "results"

PARTITIONS = 8
#: Every message's value: 100 bytes.
VALUE = bytes(range(100))
#: Keys cycle through 1,024 distinct ones, so every partition gets messages.
KEYS = [b"key-%04d" % index for index in range(1024)]
#: The kaffe strategy that places keys where librdkafka's default partitioner does.
STRATEGY = "crc32"
#: Messages per ``produce_batch_sync`` (and raw ``produce_batch``) call.
BATCH_CHUNK = 10_000
#: Messages every side sends, all acknowledged, before its timing starts.
WARMUP = 2_000
TASK_LEVELS = (1, 10, 100, 1_000)
#: Threads sharing one producer (one thread is the single group).
THREAD_LEVELS = (8, 64)
#: Tasks of the asyncio path in the memory and observers groups.
MEMORY_TASKS = 1_000
MEMORY_THREADS = 64
OBSERVER_TASKS = 100
#: Futures the memory probe keeps in flight before checking the oldest.
FUTURE_WINDOW = 10_000
RSS_LIMIT_MB = 50.0
#: Seconds any single wait for outcomes may take before the side counts as failed.
WAIT_LIMIT = 120.0
#: Seconds a child process measuring one side may take in all.
CHILD_LIMIT = 900.0

#: The kaffe builds every kaffe path runs in, side by side: the per-message path compiled
#: by mypyc, its pure-Python source (``KAFFE_PURE_PYTHON=1``), and the 0.2.0 release.
BUILDS = ("compiled", "pure", "0.2.0")
BUILD_LABELS = {"compiled": "compiled", "pure": "pure Python", "0.2.0": "kaffe 0.2.0"}
#: The variable that makes kaffe import its per-message path's pure-Python source.
PURE_VARIABLE = "KAFFE_PURE_PYTHON"
#: The builds the memory probes run in unless one is named in full (``memory.sync.0.2.0``):
#: the two that ship, which the RSS target is for. 0.2.0's probes would add minutes.
MEMORY_BUILDS = ("compiled", "pure")
#: The commit of kaffe 0.2.0, the last release before the compiled path: its ``src/``,
#: exported from git, is what the 0.2.0 rows import.
RELEASE_COMMIT = "7a91582"


@dataclass(frozen=True)
class Sizes:
    """Message counts of one run."""

    pipelined: int
    #: kafka-python's pipelined count: it runs at a tenth of the others' rate.
    pipelined_slow: int
    java: int
    single: int
    tasks: dict[int, int]
    threads: dict[int, int]
    cli_lines: int
    memory: int


FULL = Sizes(
    pipelined=300_000,
    pipelined_slow=100_000,
    java=1_000_000,
    single=3_000,
    tasks={1: 3_000, 10: 10_000, 100: 30_000, 1_000: 60_000},
    threads={8: 8_000, 64: 16_000},
    cli_lines=300_000,
    memory=1_000_000,
)
QUICK = Sizes(
    pipelined=30_000,
    pipelined_slow=10_000,
    java=100_000,
    single=300,
    tasks={1: 300, 10: 1_000, 100: 3_000, 1_000: 5_000},
    threads={8: 800, 64: 1_280},
    cli_lines=30_000,
    memory=20_000,
)


# --- what a side measures -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """One timed run of one side."""

    rate: float
    #: Seconds each awaited message took, for sides that wait per message.
    latencies: Sequence[float] = ()
    #: Wall time and peak RSS of a command-line process.
    seconds: float | None = None
    peak_rss_mb: float | None = None


class Skip(Exception):
    """A side cannot run here (a peer or tool is missing); the reason is printed."""


@dataclass
class Bench:
    """What every side needs: the broker, the topic, the counts."""

    bootstrap: str
    topic: str
    sizes: Sizes

    @contextlib.contextmanager
    def kaffe_options(self, *, observers: str = "") -> Iterator[dict[str, Any]]:
        """
        kaffe's options; with ``observers``, a fresh set of them, shut down afterwards.

        ``observers`` names a set of :data:`OBSERVER_SETS`; ``""`` is none.
        """
        options: dict[str, Any] = {
            "endpoints": self.bootstrap,
            "topics": [self.topic],
            "partition_strategy": STRATEGY,
        }
        if not observers:
            yield options
            return
        options["observers"], shutdown = make_observers(observers)
        try:
            yield options
        finally:
            shutdown()


def pairs(count: int) -> list[tuple[bytes, bytes]]:
    return [(KEYS[index & 1023], VALUE) for index in range(count)]


def percentiles_ms(latencies: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(latencies)
    return (
        ordered[len(ordered) // 2] * 1000,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    )


def require(module: str, extra: str = "bench") -> Any:
    """Import a peer, or skip the side when it is not installed."""
    if importlib.util.find_spec(module) is None:
        raise Skip(f"{module} is not installed (pip install -e '.[{extra}]')")
    return importlib.import_module(module)


def check(failed: int, count: int, side: str) -> None:
    if failed:
        raise RuntimeError(f"{side}: {failed:,} of {count:,} messages failed")


# --- raw confluent-kafka --------------------------------------------------------------------


def raw_config(bootstrap: str) -> dict[str, Any]:
    """What a confluent-kafka user sets for acks=all and idempotence; defaults otherwise."""
    return {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"}


class RawOutcomes:
    """A delivery callback that counts outcomes."""

    def __init__(self) -> None:
        self.delivered = 0
        self.failed = 0

    def __call__(self, error: KafkaError | None, message: Any) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1


def raw_producer(bench: Bench) -> confluent_kafka.Producer:
    """A raw producer with the topic's metadata loaded and the warm-up acknowledged."""
    producer = confluent_kafka.Producer(raw_config(bench.bootstrap))
    producer.list_topics(bench.topic, timeout=30)
    outcomes = RawOutcomes()
    raw_produce_all(producer, bench.topic, pairs(WARMUP), outcomes)
    if producer.flush(WAIT_LIMIT) or outcomes.delivered != WARMUP:
        raise RuntimeError(f"raw warm-up: {outcomes.delivered} of {WARMUP} delivered")
    return producer


def raw_produce_all(
    producer: confluent_kafka.Producer,
    topic: str,
    data: Iterable[tuple[bytes, bytes]],
    on_delivery: RawOutcomes,
) -> None:
    produce, poll = producer.produce, producer.poll
    for index, (key, value) in enumerate(data):
        while True:
            try:
                produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                poll(0.1)
        if not index % 1000:
            poll(0)


def raw_callback(bench: Bench) -> Sample:
    """Raw ``produce()`` with a delivery callback per message, then ``flush()``."""
    count = bench.sizes.pipelined
    producer = raw_producer(bench)
    data = pairs(count)
    outcomes = RawOutcomes()
    gc.collect()
    start = time.perf_counter()
    raw_produce_all(producer, bench.topic, data, outcomes)
    left = producer.flush(WAIT_LIMIT)
    elapsed = time.perf_counter() - start
    check(left + count - outcomes.delivered, count, "raw produce()")
    return Sample(count / elapsed)


def raw_batch(bench: Bench) -> Sample:
    """
    Raw ``produce_batch`` in chunks of 10,000 message dicts, a callback per message.

    ``produce_batch`` returns how many it queued and marks each message it did not
    queue with ``_error``; messages refused for a full queue are sent again after a
    poll, any other refusal counts as failed.
    """
    count = bench.sizes.pipelined
    producer = raw_producer(bench)
    data = [{"key": key, "value": value} for key, value in pairs(count)]
    chunks: list[list[dict[str, Any]]] = [
        data[start : start + BATCH_CHUNK] for start in range(0, count, BATCH_CHUNK)
    ]
    outcomes = RawOutcomes()
    refused = 0
    produce_batch, poll, topic = producer.produce_batch, producer.poll, bench.topic
    gc.collect()
    start = time.perf_counter()
    for chunk in chunks:
        pending = chunk
        while pending:
            queued = produce_batch(topic, pending, on_delivery=outcomes)
            if queued == len(pending):
                break
            retry = []
            for message in pending:
                error = message.pop("_error", None)
                if error is None:
                    continue
                if error.code() == KafkaError._QUEUE_FULL:
                    retry.append(message)
                else:
                    refused += 1
            pending = retry
            poll(0.1)
        poll(0)
    left = producer.flush(WAIT_LIMIT)
    elapsed = time.perf_counter() - start
    check(left + refused + outcomes.failed, count, "raw produce_batch")
    return Sample(count / elapsed)


def raw_sync(bench: Bench) -> Sample:
    """Raw ``produce()`` then ``flush()`` for every message, one thread."""
    count = bench.sizes.single
    producer = raw_producer(bench)
    outcomes = RawOutcomes()
    latencies = []
    produce, flush, topic = producer.produce, producer.flush, bench.topic
    clock = time.perf_counter
    gc.collect()
    start = clock()
    for index in range(count):
        began = clock()
        produce(topic, VALUE, KEYS[index & 1023], on_delivery=outcomes)
        flush(WAIT_LIMIT)
        latencies.append(clock() - began)
    elapsed = clock() - start
    check(count - outcomes.delivered, count, "raw produce()+flush()")
    return Sample(count / elapsed, latencies)


# --- the minimal pure-Python equivalent of kaffe's futures ----------------------------------


class MinimalOutcome:
    """
    The minimal equivalent's object per message: it is the delivery callback, and the result.

    It knows the topic and partition from the send, so it reads only what is new in
    the report (the offset and timestamp) and builds a :class:`kaffe.Delivery`; a
    failed message keeps its error.
    """

    __slots__ = ("delivery", "error", "partition", "topic")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.delivery: kaffe.Delivery | None = None
        self.error: KafkaError | None = None

    def __call__(self, error: KafkaError | None, report: Any) -> None:
        if error is None:
            kind, stamp = report.timestamp()
            self.delivery = kaffe.Delivery(
                self.topic, self.partition, report.offset(), stamp if kind else None
            )
        else:
            self.error = error


def minimal_send_all(
    producer: confluent_kafka.Producer,
    topic: str,
    partitions_count: int,
    data: Iterable[tuple[bytes, bytes]],
) -> list[MinimalOutcome]:
    """Place, send and keep an outcome object per message, as kaffe's ``produce()`` does."""
    produce, poll, place = producer.produce, producer.poll, confluent_kafka.consistent
    outcomes: list[MinimalOutcome] = []
    keep = outcomes.append
    for index, (key, value) in enumerate(data):
        partition = place(key, partitions_count)
        outcome = MinimalOutcome(topic, partition)
        keep(outcome)
        while True:
            try:
                produce(topic, value, key, partition, on_delivery=outcome)
                break
            except BufferError:
                poll(0.1)
        if not index % 1000:
            poll(0)
    return outcomes


def undelivered(outcomes: Iterable[MinimalOutcome]) -> int:
    """Every outcome checked: how many messages have no delivery."""
    return sum(outcome.delivery is None or outcome.error is not None for outcome in outcomes)


def minimal_futures(bench: Bench) -> Sample:
    """
    The minimal pure-Python equivalent of kaffe's ``produce()`` futures, on raw confluent-kafka.

    Per message: placement by ``confluent_kafka.consistent`` (kaffe's ``crc32``, the
    bench's strategy), one ``__slots__`` object as the delivery callback, and a
    :class:`kaffe.Delivery` built in it; every outcome checked after ``flush()``. Warmed
    up through the same loop.
    """
    count = bench.sizes.pipelined
    producer = confluent_kafka.Producer(raw_config(bench.bootstrap))
    metadata = producer.list_topics(bench.topic, timeout=30).topics[bench.topic]
    partitions_count = len(metadata.partitions)
    warm = minimal_send_all(producer, bench.topic, partitions_count, pairs(WARMUP))
    if producer.flush(WAIT_LIMIT) or undelivered(warm):
        raise RuntimeError(f"minimal warm-up: {undelivered(warm)} of {WARMUP} undelivered")
    del warm
    data = pairs(count)
    gc.collect()
    start = time.perf_counter()
    outcomes = minimal_send_all(producer, bench.topic, partitions_count, data)
    producer.flush(WAIT_LIMIT)
    failed = undelivered(outcomes)  # counts what flush() left undelivered, too
    elapsed = time.perf_counter() - start
    check(failed, count, "minimal equivalent")
    return Sample(count / elapsed)


# --- kaffe, threaded face -------------------------------------------------------------------


@contextlib.contextmanager
def kaffe_producer(bench: Bench, *, observers: str = "") -> Iterator[kaffe.Producer]:
    """A kaffe producer (it loads the topic's metadata) with the warm-up acknowledged."""
    with (
        bench.kaffe_options(observers=observers) as options,
        kaffe.Producer(**options) as producer,
    ):
        futures = [producer.produce(bench.topic, key, value) for key, value in pairs(WARMUP)]
        producer.flush(WAIT_LIMIT)
        for future in futures:
            future.result(WAIT_LIMIT)
        yield producer


def kaffe_futures(bench: Bench, *, observers: str = "") -> Sample:
    """kaffe ``produce()``: a future per message, all kept, each checked after ``flush()``."""
    count = bench.sizes.pipelined
    data = pairs(count)
    with kaffe_producer(bench, observers=observers) as producer:
        produce, topic = producer.produce, bench.topic
        gc.collect()
        start = time.perf_counter()
        futures = [produce(topic, key, value) for key, value in data]
        producer.flush(WAIT_LIMIT)
        failed = sum(future.exception(WAIT_LIMIT) is not None for future in futures)
        elapsed = time.perf_counter() - start
    check(failed, count, "kaffe produce()")
    return Sample(count / elapsed)


def kaffe_batches(bench: Bench, *, observers: str = "") -> Sample:
    """kaffe ``produce_batch_sync`` in chunks of 10,000; it raises unless all are delivered."""
    count = bench.sizes.pipelined
    data = pairs(count)
    chunks = [data[start : start + BATCH_CHUNK] for start in range(0, count, BATCH_CHUNK)]
    delivered = 0
    with kaffe_producer(bench, observers=observers) as producer:
        gc.collect()
        start = time.perf_counter()
        for chunk in chunks:
            delivered += len(producer.produce_batch_sync(bench.topic, chunk))
        elapsed = time.perf_counter() - start
    check(count - delivered, count, "kaffe produce_batch_sync")
    return Sample(count / elapsed)


def threaded(
    count: int, threads: int, call: Callable[[bytes], object]
) -> tuple[float, list[float]]:
    """Run ``call(key)`` ``count`` times from ``threads`` threads; return seconds and latencies."""
    per_thread = [count // threads + (n < count % threads) for n in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    latencies: list[list[float]] = [[] for _ in range(threads)]
    clock = time.perf_counter

    def work(number: int) -> None:
        mine = latencies[number]
        barrier.wait()
        try:
            for index in range(per_thread[number]):
                began = clock()
                call(KEYS[(number * 131 + index) & 1023])
                mine.append(clock() - began)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(threads)]
    for worker in workers:
        worker.start()
    gc.collect()
    barrier.wait()
    start = clock()
    for worker in workers:
        worker.join()
    elapsed = clock() - start
    if errors:
        raise RuntimeError(f"{len(errors)} thread(s) failed, first: {errors[0]!r}")
    return elapsed, [latency for mine in latencies for latency in mine]


def kaffe_sync(bench: Bench, threads: int, count: int, *, observers: str = "") -> Sample:
    """kaffe ``produce_sync`` from ``threads`` threads sharing one producer."""
    with kaffe_producer(bench, observers=observers) as producer:
        produce_sync, topic = producer.produce_sync, bench.topic
        elapsed, latencies = threaded(count, threads, lambda key: produce_sync(topic, key, VALUE))
    return Sample(count / elapsed, latencies)


# --- kaffe, asyncio face --------------------------------------------------------------------


async def tasks_awaiting(
    tasks: int, count: int, call: Callable[[bytes], Any]
) -> tuple[float, list[float]]:
    """Run ``await call(key)`` ``count`` times from ``tasks`` tasks; return seconds, latencies."""
    per_task = [count // tasks + (n < count % tasks) for n in range(tasks)]
    latencies: list[float] = []
    record = latencies.append
    clock = time.perf_counter

    async def work(number: int) -> None:
        for index in range(per_task[number]):
            began = clock()
            await call(KEYS[(number * 131 + index) & 1023])
            record(clock() - began)

    gc.collect()
    start = clock()
    await asyncio.wait_for(asyncio.gather(*(work(n) for n in range(tasks))), WAIT_LIMIT * 3)
    return clock() - start, latencies


def kaffe_async(bench: Bench, tasks: int, count: int, *, observers: str = "") -> Sample:
    """kaffe ``AsyncProducer.produce_sync`` from ``tasks`` tasks, each awaiting its own."""

    async def run() -> Sample:
        with bench.kaffe_options(observers=observers) as options:
            producer = kaffe.AsyncProducer(**options)
            await producer.start()
            try:
                produce_sync, topic = producer.produce_sync, bench.topic
                await asyncio.gather(*(produce_sync(topic, k, v) for k, v in pairs(WARMUP)))
                elapsed, latencies = await tasks_awaiting(
                    tasks, count, lambda key: produce_sync(topic, key, VALUE)
                )
            finally:
                await producer.aclose()
        return Sample(count / elapsed, latencies)

    return asyncio.run(run())


# --- aiokafka -------------------------------------------------------------------------------


def aiokafka_producer(bench: Bench) -> Any:
    """An unstarted aiokafka producer configured for acks=all with idempotence."""
    aiokafka = require("aiokafka")
    return aiokafka.AIOKafkaProducer(
        bootstrap_servers=bench.bootstrap, acks="all", enable_idempotence=True
    )


async def aiokafka_started(bench: Bench) -> Any:
    producer = aiokafka_producer(bench)
    await producer.start()
    try:
        await producer.partitions_for(bench.topic)
        send_and_wait, topic = producer.send_and_wait, bench.topic
        await asyncio.gather(
            *(send_and_wait(topic, value, key=key) for key, value in pairs(WARMUP))
        )
    except BaseException:
        await producer.stop()
        raise
    return producer


def aiokafka_send(bench: Bench) -> Sample:
    """aiokafka ``send()`` for every message, then every future awaited and checked."""
    count = bench.sizes.pipelined
    data = pairs(count)

    async def run() -> Sample:
        producer = await aiokafka_started(bench)
        try:
            send, topic = producer.send, bench.topic
            gc.collect()
            start = time.perf_counter()
            futures = [await send(topic, value, key=key) for key, value in data]
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            elapsed = time.perf_counter() - start
        finally:
            await producer.stop()
        check(sum(isinstance(o, BaseException) for o in outcomes), count, "aiokafka send()")
        return Sample(count / elapsed)

    return asyncio.run(run())


def aiokafka_tasks(bench: Bench, tasks: int, count: int) -> Sample:
    """aiokafka ``send_and_wait`` from ``tasks`` tasks, each awaiting its own."""

    async def run() -> Sample:
        producer = await aiokafka_started(bench)
        try:
            send_and_wait, topic = producer.send_and_wait, bench.topic
            elapsed, latencies = await tasks_awaiting(
                tasks, count, lambda key: send_and_wait(topic, VALUE, key=key)
            )
        finally:
            await producer.stop()
        return Sample(count / elapsed, latencies)

    return asyncio.run(run())


# --- kafka-python ---------------------------------------------------------------------------


def kafka_python_producer(bench: Bench) -> Any:
    """A kafka-python producer for acks=all with idempotence, warmed up."""
    kafka = require("kafka")
    producer = kafka.KafkaProducer(
        bootstrap_servers=bench.bootstrap, acks="all", enable_idempotence=True
    )
    try:
        producer.partitions_for(bench.topic)
        futures = [producer.send(bench.topic, value, key=key) for key, value in pairs(WARMUP)]
        producer.flush(WAIT_LIMIT)
        check(sum(not future.succeeded() for future in futures), WARMUP, "kafka-python warm-up")
    except BaseException:
        producer.close()
        raise
    return producer


def kafka_python_send(bench: Bench) -> Sample:
    """kafka-python ``send()`` for every message, ``flush()``, then every future checked."""
    count = bench.sizes.pipelined_slow
    data = pairs(count)
    producer = kafka_python_producer(bench)
    try:
        send, topic = producer.send, bench.topic
        gc.collect()
        start = time.perf_counter()
        futures = [send(topic, value, key=key) for key, value in data]
        producer.flush(WAIT_LIMIT)
        failed = sum(not future.succeeded() for future in futures)
        elapsed = time.perf_counter() - start
    finally:
        producer.close()
    check(failed, count, "kafka-python send()")
    return Sample(count / elapsed)


def kafka_python_get(bench: Bench, threads: int, count: int) -> Sample:
    """kafka-python ``send().get()`` from ``threads`` threads sharing one producer."""
    producer = kafka_python_producer(bench)
    try:
        send, topic = producer.send, bench.topic
        elapsed, latencies = threaded(
            count, threads, lambda key: send(topic, VALUE, key=key).get(WAIT_LIMIT)
        )
    finally:
        producer.close()
    return Sample(count / elapsed, latencies)


# --- Java -----------------------------------------------------------------------------------


JAVA_RATE = re.compile(r"(\d+) (steady state )?records sent, ([\d.]+) records/sec")


def java_producer(bench: Bench) -> Sample:
    """Kafka's ``ProducerPerformance``: 100-byte records, acks=all, idempotence."""
    if shutil.which("java") is None:
        raise Skip("java is not installed")
    count = bench.sizes.java
    result = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            kafka_classpath(),
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            bench.topic,
            "--num-records",
            str(count + WARMUP),
            "--warmup-records",
            str(WARMUP),
            "--record-size",
            str(len(VALUE)),
            "--throughput",
            "-1",
            "--command-property",
            f"bootstrap.servers={bench.bootstrap}",
            "acks=all",
            "enable.idempotence=true",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    found = {bool(steady): float(rate) for _, steady, rate in JAVA_RATE.findall(result.stdout)}
    if result.returncode != 0 or not found:
        raise RuntimeError(f"ProducerPerformance failed:\n{result.stdout}\n{result.stderr}")
    return Sample(found.get(True, found.get(False, 0.0)))


# --- command lines --------------------------------------------------------------------------


def cli_file(lines: int) -> Path:
    """A ``KEY<TAB>VALUE`` file, 100 bytes a line, made once per line count."""
    path = Path(tempfile.gettempdir()) / f"kaffe-bench-{lines}-lines.tsv"
    if not path.exists():
        letters = b"abcdefghijklmnopqrstuvwxyz0123456789"
        generator = random.Random(lines)
        body = bytearray()
        for index in range(lines):
            value = bytes(generator.choices(letters, k=90))
            body += KEYS[index & 1023] + b"\t" + value + b"\n"
        partial = path.with_suffix(".part")
        partial.write_bytes(bytes(body))
        partial.replace(path)
    return path


def run_tool(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """
    Run a command; return its wall seconds, peak RSS in MB and output, or raise.

    The peak is the process's own high-water mark (``VmHWM``), read every 10 ms by a
    watcher thread while it runs. The kernel's ``ru_maxrss`` would not do: a child spawned from this
    process starts with this process's high-water mark.
    """
    peak_kb = 0
    exited = threading.Event()

    def watch(pid: int) -> None:
        nonlocal peak_kb
        status = Path(f"/proc/{pid}/status")
        while not exited.wait(0.01):
            with contextlib.suppress(OSError, ValueError, IndexError):
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak_kb = max(peak_kb, int(line.split()[1]))
                        break

    with tempfile.TemporaryFile() as output:
        start = time.perf_counter()
        process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env)
        watcher = threading.Thread(target=watch, args=(process.pid,), daemon=True)
        watcher.start()
        process.wait()
        elapsed = time.perf_counter() - start
        exited.set()
        watcher.join()
        output.seek(0)
        text = output.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited with {process.returncode}:\n{text[-2000:]}")
    return elapsed, peak_kb / 1024, text


def topic_size(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4().hex}"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)[1]
            for partition in range(PARTITIONS)
        )
    finally:
        consumer.close()


def command_line(
    bench: Bench, argv: Callable[[str, Path], list[str]], env: dict[str, str]
) -> Sample:
    """Warm up, then time one tool over the whole file into a fresh topic; count what arrived."""
    lines = bench.sizes.cli_lines
    path, warmup = cli_file(lines), cli_file(WARMUP)
    topic = create_topic(bench.bootstrap, "bench-cli")
    try:
        run_tool(argv(topic, warmup), env)
        seconds, peak_rss_mb, _ = run_tool(argv(topic, path), env)
        arrived = topic_size(bench.bootstrap, topic)
    finally:
        delete_topic(bench.bootstrap, topic)
    if arrived != lines + WARMUP:
        raise RuntimeError(f"{arrived:,} messages in the topic, expected {lines + WARMUP:,}")
    return Sample(lines / seconds, seconds=seconds, peak_rss_mb=peak_rss_mb)


def kaffe_cli(bench: Bench) -> Sample:
    """``kaffe produce TOPIC --key-separator <TAB> --strategy crc32 --file FILE``."""
    executable = Path(sys.executable).with_name("kaffe")
    if not executable.exists():
        found = shutil.which("kaffe")
        if found is None:
            raise Skip("the kaffe command is not installed (pip install -e '.[cli]')")
        executable = Path(found)
    env = dict(os.environ, KAFFE_REQUIRED_ACKS="all", KAFFE_IDEMPOTENCE="true")
    return command_line(
        bench,
        lambda topic, path: [
            str(executable),
            "produce",
            topic,
            "--endpoints",
            bench.bootstrap,
            "--key-separator",
            "\t",
            "--strategy",
            STRATEGY,
            "--file",
            str(path),
            "--no-progress",
        ],
        env,
    )


#: The least a Python program on confluent-kafka does per line: read the file, split each
#: line at the tab, one ``produce()`` with no callback, librdkafka's own crc32 placement
#: (``consistent``), and ``poll`` when the queue is full.
RAW_PYTHON_CLI = """
import sys
from confluent_kafka import Producer
bootstrap, topic, path = sys.argv[1:4]
producer = Producer({"bootstrap.servers": bootstrap, "acks": "all",
                     "enable.idempotence": True, "partitioner": "consistent"})
producer.list_topics(topic, timeout=30)
produce = producer.produce
with open(path, "rb") as lines:
    for line in lines.read().split(b"\\n"):
        if not line:
            continue
        key, _, value = line.partition(b"\\t")
        while True:
            try:
                produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.01)
if producer.flush(60):
    sys.exit("messages left unsent")
"""


def raw_python_cli(bench: Bench) -> Sample:
    """The floor of any Python command on confluent-kafka: :data:`RAW_PYTHON_CLI`."""
    return command_line(
        bench,
        lambda topic, path: [
            sys.executable,
            "-c",
            RAW_PYTHON_CLI,
            bench.bootstrap,
            topic,
            str(path),
        ],
        dict(os.environ),
    )


def kcat_cli(bench: Bench) -> Sample:
    """``kcat -P -K <TAB> -l FILE -X enable.idempotence=true -X acks=all``."""
    executable = shutil.which("kcat")
    if executable is None:
        raise Skip("kcat is not installed (Debian: apt-get install kcat); pairing skipped")
    return command_line(
        bench,
        lambda topic, path: [
            executable,
            "-P",
            "-b",
            bench.bootstrap,
            "-t",
            topic,
            "-K",
            "\t",
            "-l",
            str(path),
            "-X",
            "enable.idempotence=true",
            "-X",
            "acks=all",
        ],
        dict(os.environ),
    )


# --- observers (issues 11 and 17) -----------------------------------------------------------


OBSERVER_MODULES = (
    "kaffe.otel",
    "kaffe.prometheus",
    "opentelemetry.sdk.trace",
    "prometheus_client",
)
#: The observer sets of the observers group: issue 11's pair (OpenTelemetry, every span
#: recorded, and Prometheus), and issue 17's OpenTelemetry alone, every span recorded or
#: one trace in a hundred (``ParentBased(TraceIdRatioBased(0.01))``).
OBSERVER_SETS = {
    "on": "OpenTelemetry + Prometheus",
    "otel": "OpenTelemetry",
    "otel-sampled": "OpenTelemetry, 1% of traces sampled",
}
#: The fraction of traces the sampled set records.
SAMPLED_RATIO = 0.01


def observers_missing() -> str | None:
    """Why the observers group cannot run here, or ``None`` when it can."""
    for module in OBSERVER_MODULES:
        try:
            if importlib.util.find_spec(module) is None:
                return f"{module} is not importable"
        except (ModuleNotFoundError, ValueError):
            return f"{module} is not importable"
    return None


def span_pipeline(sampled: bool = False) -> Any:
    """
    A fresh SDK tracer provider whose batch span processor hands every span to an exporter
    that drops it; with ``sampled``, one trace in a hundred is recorded.

    Every side of the observers group gets this same pipeline: the comparison is of what
    each client does per message, not of exporting.
    """
    sdk_trace = importlib.import_module("opentelemetry.sdk.trace")
    trace_export = importlib.import_module("opentelemetry.sdk.trace.export")
    sampling = importlib.import_module("opentelemetry.sdk.trace.sampling")
    success = trace_export.SpanExportResult.SUCCESS
    null_exporter = type(
        "NullSpanExporter",
        (trace_export.SpanExporter,),
        {"export": lambda self, spans: success, "shutdown": lambda self: None},
    )
    options = {"sampler": sampling.ParentBased(sampling.TraceIdRatioBased(SAMPLED_RATIO))}
    tracer_provider = sdk_trace.TracerProvider(**(options if sampled else {}))
    tracer_provider.add_span_processor(trace_export.BatchSpanProcessor(null_exporter()))
    return tracer_provider


def make_observers(kind: str) -> tuple[list[Any], Callable[[], None]]:
    """
    The observers of one set of :data:`OBSERVER_SETS`, with fresh providers (and registry)
    exporting nowhere, and their shutdown.
    """
    otel = importlib.import_module("kaffe.otel")
    sdk_metrics = importlib.import_module("opentelemetry.sdk.metrics")
    metrics_export = importlib.import_module("opentelemetry.sdk.metrics.export")
    tracer_provider = span_pipeline(sampled=kind == "otel-sampled")
    meter_provider = sdk_metrics.MeterProvider(
        metric_readers=[metrics_export.InMemoryMetricReader()]
    )
    observers: list[Any] = [
        otel.OpenTelemetry(
            tracer_provider=tracer_provider, meter_provider=meter_provider, propagate=True
        )
    ]
    if kind == "on":
        prometheus = importlib.import_module("kaffe.prometheus")
        prometheus_client = importlib.import_module("prometheus_client")
        observers.append(prometheus.Prometheus(registry=prometheus_client.CollectorRegistry()))

    def shutdown() -> None:
        tracer_provider.shutdown()
        meter_provider.shutdown()

    return observers, shutdown


def official_produce_all(
    produce: Callable[..., None],
    poll: Callable[[float], int],
    topic: str,
    data: Iterable[tuple[bytes, bytes]],
    on_delivery: RawOutcomes,
) -> None:
    """:func:`raw_produce_all` through the instrumented producer: the key by keyword."""
    for index, (key, value) in enumerate(data):
        while True:
            try:
                produce(topic, value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                poll(0.1)
        if not index % 1000:
            poll(0)


def official_instrumentation(bench: Bench) -> Sample:
    """
    Raw ``produce()`` with a delivery callback, then ``flush()``, through the official
    OpenTelemetry instrumentation (``opentelemetry-instrumentation-confluent-kafka``).

    Its documented manual form: ``ConfluentKafkaInstrumentor.instrument_producer`` wraps a
    raw producer, on the same span pipeline as kaffe's observer (:func:`span_pipeline`).
    The instrumented ``produce()`` takes the key by keyword only: it passes the arguments
    after the topic and value on after its own keyword ones. Its span ends when
    ``produce()`` returns (the message is queued), and it records no metrics.
    """
    instrumentation = require("opentelemetry.instrumentation.confluent_kafka")
    count = bench.sizes.pipelined
    tracer_provider = span_pipeline()
    try:
        raw = confluent_kafka.Producer(raw_config(bench.bootstrap))
        raw.list_topics(bench.topic, timeout=30)
        producer = instrumentation.ConfluentKafkaInstrumentor.instrument_producer(
            raw, tracer_provider=tracer_provider
        )
        produce, poll, topic = producer.produce, producer.poll, bench.topic
        outcomes = RawOutcomes()
        official_produce_all(produce, poll, topic, pairs(WARMUP), outcomes)
        if producer.flush(WAIT_LIMIT) or outcomes.delivered != WARMUP:
            raise RuntimeError(f"official warm-up: {outcomes.delivered} of {WARMUP} delivered")
        data = pairs(count)
        outcomes = RawOutcomes()
        gc.collect()
        start = time.perf_counter()
        official_produce_all(produce, poll, topic, data, outcomes)
        left = producer.flush(WAIT_LIMIT)
        elapsed = time.perf_counter() - start
    finally:
        tracer_provider.shutdown()
    check(left + count - outcomes.delivered, count, "official instrumentation")
    return Sample(count / elapsed)


# --- memory ---------------------------------------------------------------------------------


MEMORY_PATHS = {
    "futures": f"produce() futures, {FUTURE_WINDOW:,} in flight, each checked",
    "batches": f"produce_batch_sync, chunks of {BATCH_CHUNK:,}",
    "asyncio": f"AsyncProducer.produce_sync, {MEMORY_TASKS:,} tasks",
    "sync": f"produce_sync, {MEMORY_THREADS} threads",
}


def memory_probe(bootstrap: str, topic: str, path: str, count: int) -> dict[str, float]:
    """Run in a fresh process: RSS before and after ``count`` messages on one path."""
    import psutil

    bench = Bench(bootstrap, topic, QUICK)
    process = psutil.Process()
    clock = time.perf_counter

    def rss_mb() -> float:
        gc.collect()
        return float(process.memory_info().rss) / 2**20

    if path == "asyncio":

        async def run() -> tuple[float, float, float]:
            with bench.kaffe_options() as options:
                producer = kaffe.AsyncProducer(**options)
            async with producer:
                produce_sync = producer.produce_sync
                await asyncio.gather(*(produce_sync(topic, k, v) for k, v in pairs(WARMUP)))
                before = rss_mb()
                start = clock()
                await tasks_awaiting(
                    MEMORY_TASKS, count, lambda key: produce_sync(topic, key, VALUE)
                )
                elapsed = clock() - start
            return before, elapsed, rss_mb()

        before, elapsed, after = asyncio.run(run())
    else:
        with kaffe_producer(bench) as producer:
            before = rss_mb()
            start = clock()
            if path == "futures":
                window: collections.deque[Any] = collections.deque()
                produce = producer.produce
                for index in range(count):
                    window.append(produce(topic, KEYS[index & 1023], VALUE))
                    if len(window) > FUTURE_WINDOW:
                        window.popleft().result(WAIT_LIMIT)
                while window:
                    window.popleft().result(WAIT_LIMIT)
            elif path == "batches":
                for first in range(0, count, BATCH_CHUNK):
                    producer.produce_batch_sync(topic, pairs(min(BATCH_CHUNK, count - first)))
            elif path == "sync":
                produce_sync = producer.produce_sync
                threaded(count, MEMORY_THREADS, lambda key: produce_sync(topic, key, VALUE))
            else:
                raise SystemExit(f"unknown memory path {path!r}")
            elapsed = clock() - start
            after = rss_mb()
    return {
        "rss_before_mb": before,
        "rss_after_mb": after,
        "rss_growth_mb": after - before,
        "peak_rss_mb": own_peak_rss_mb(),
        "rate": count / elapsed,
    }


def own_peak_rss_mb() -> float:
    """
    This process's high-water RSS since it started its program (``VmHWM``).

    Not ``ru_maxrss``: a process spawned from a larger one starts with that one's mark.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- kaffe's builds, each in a child process ------------------------------------------------


def kaffe_identity(build: str) -> dict[str, Any]:
    """
    Which kaffe this process imported, checked against the build it should run.

    Args:
        build: ``compiled``, ``pure`` or ``0.2.0``.

    Returns:
        The build, the package's folder, ``kaffe.__compiled__`` (``None`` when the
        release has no such name) and the file of ``kaffe._hot`` (``None`` when absent).

    Raises:
        RuntimeError: This process imported another kaffe: a stale compiled module that
            left the source running, say, or the installed kaffe in place of 0.2.0.
    """
    package = Path(str(kaffe.__file__)).resolve().parent
    hot = sys.modules.get("kaffe._hot")
    found: dict[str, Any] = {
        "package": str(package),
        "compiled": getattr(kaffe, "__compiled__", None),
        "hot": None if hot is None else getattr(hot, "__file__", None),
    }
    if build == "0.2.0":
        release = os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]
        right = (
            bool(release)
            and package.is_relative_to(Path(release).resolve())
            and found["compiled"] is None
            and importlib.util.find_spec("kaffe._hot") is None
        )
    else:
        right = found["compiled"] is (build == "compiled")
    if not right:
        raise RuntimeError(f"expected kaffe {build}, but this process imported {found}")
    return {"build": build, **found}


def export_release(into: Path) -> Path:
    """
    Export kaffe 0.2.0's ``src/`` (commit ``RELEASE_COMMIT``) from git; return what to import.

    Raises:
        Skip: No git checkout holding that commit, or no ``tar``.
    """
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", RELEASE_COMMIT, "src"],
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            raise Skip(
                f"kaffe 0.2.0 (commit {RELEASE_COMMIT}) is not in this checkout: "
                f"{archive.stderr.decode(errors='replace').strip()[:200]}"
            )
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise Skip(f"cannot export kaffe 0.2.0's source: {error}") from None
    return into / "src"


class Launcher:
    """
    Runs each side: peers in this process, kaffe's builds each in a fresh child process.

    A child is this script again (``--child KEY --build BUILD``) on the same broker,
    topic and counts. It checks which kaffe it imported (:func:`kaffe_identity`), runs
    the side exactly as this process would (warm-up included), and prints its
    :class:`Sample` as JSON. The environment picks the build, since kaffe reads it once
    at import: ``KAFFE_PURE_PYTHON=1`` for ``pure``; for ``0.2.0``, ``PYTHONPATH`` put
    ahead of the installed kaffe onto the release's ``src/``, exported from git once a
    run. The memory probes run the same way (``--memory-probe``).
    """

    def __init__(self, bench: Bench, *, quick: bool, in_process: bool) -> None:
        self.bench = bench
        self.quick = quick
        #: Run the compiled build in this process rather than a child (for a profiler).
        self.in_process = in_process
        #: What each build's children imported, as they reported it.
        self.identities: dict[str, dict[str, Any]] = {}
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._release: Path | Skip | None = None

    def close(self) -> None:
        """Remove the exported release."""
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def release(self) -> Path:
        """Where kaffe 0.2.0's source is, exported on first use."""
        if self._release is None:
            self._folder = tempfile.TemporaryDirectory(prefix="kaffe-bench-0.2.0-")
            try:
                self._release = export_release(Path(self._folder.name))
            except Skip as reason:
                self._release = reason
        if isinstance(self._release, Skip):
            raise self._release
        return self._release

    def environment(self, build: str) -> dict[str, str]:
        """The environment of a child that runs ``build``."""
        env = {name: value for name, value in os.environ.items() if name != PURE_VARIABLE}
        if build == "pure":
            env[PURE_VARIABLE] = "1"
        elif build == "0.2.0":
            env["PYTHONPATH"] = os.pathsep.join(
                [str(self.release()), *filter(None, [os.environ.get("PYTHONPATH")])]
            )
        return env

    def measure(self, side: Side) -> Sample:
        """One timed run of ``side``."""
        if side.build is None:
            return side.run(self.bench)
        if side.build == "compiled" and self.in_process:
            self.identities.setdefault("compiled", kaffe_identity("compiled"))
            return side.run(self.bench)
        answer = self.child(["--child", side.key, *(["--quick"] if self.quick else [])], side.build)
        if "skip" in answer:
            raise Skip(answer["skip"])
        return Sample(**answer["sample"])

    def memory(self, path: str, build: str) -> dict[str, float]:
        """RSS growth of a fresh process of ``build`` over the run's memory count on ``path``."""
        count = str(self.bench.sizes.memory)
        answer = self.child(["--memory-probe", path, "--count", count], build)
        return answer["memory"]  # type: ignore[no-any-return]

    def child(self, argv: Sequence[str], build: str) -> dict[str, Any]:
        """Run this script as a child of ``build``; return its JSON answer."""
        result = subprocess.run(
            [
                sys.executable,
                __file__,
                *argv,
                "--build",
                build,
                "--bootstrap",
                self.bench.bootstrap,
                "--topic",
                self.bench.topic,
            ],
            capture_output=True,
            text=True,
            timeout=CHILD_LIMIT,
            check=False,
            env=self.environment(build),
        )
        if result.returncode != 0:
            last = [line for line in result.stderr.splitlines() if line.strip()][-3:]
            raise RuntimeError(
                f"the {build} child ({' '.join(argv)}) exited with {result.returncode}: "
                + " / ".join(last)
            )
        answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
        self.identities.setdefault(build, answer["identity"])
        return answer


def child_main(args: argparse.Namespace) -> int:
    """``--child`` and ``--memory-probe``: measure one side of one build; print JSON."""
    identity = kaffe_identity(args.build)
    if args.memory_probe is not None:
        memory = memory_probe(args.bootstrap, args.topic, args.memory_probe, args.count)
        print(json.dumps({"identity": identity, "memory": memory}))
        return 0
    sizes = QUICK if args.quick else FULL
    sides = {side.key: side for c in comparisons(sizes) for side in c.sides}
    side = sides.get(args.child)
    if side is None or side.build != args.build:
        raise SystemExit(f"--child: no side {args.child!r} of build {args.build!r}")
    answer: dict[str, Any] = {"identity": identity}
    try:
        answer["sample"] = asdict(side.run(Bench(args.bootstrap, args.topic, sizes)))
    except Skip as reason:
        answer["skip"] = str(reason)
    print(json.dumps(answer))
    return 0


# --- the scenarios --------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """One row of the table: a client doing one scenario."""

    key: str
    label: str
    run: Callable[[Bench], Sample]
    #: Which kaffe build runs it (in a child process); ``None`` for every other side.
    build: str | None = None
    #: The kaffe path its builds share (the key without the build), ``""`` otherwise.
    path: str = ""

    @property
    def family(self) -> str:
        """Sides of one family take turns among themselves too."""
        return self.path or self.key


@dataclass(frozen=True)
class Comparison:
    """Sides measured against each other: they take turns going first, round after round."""

    key: str
    group: str
    sides: tuple[Side, ...]


def kaffe_sides(path: str, label: str, run: Callable[[Bench], Sample]) -> tuple[Side, ...]:
    """One kaffe path in every build: rows ``PATH.compiled``, ``PATH.pure`` and ``PATH.0.2.0``."""
    return tuple(
        Side(f"{path}.{build}", f"{label} [{BUILD_LABELS[build]}]", run, build, path)
        for build in BUILDS
    )


def turn_order(sides: Sequence[Side], round_number: int) -> list[Side]:
    """
    The order of a comparison's sides in one round.

    The families (a peer, or one kaffe path in its three builds) rotate by one place
    per round, and so do the builds within a family: no side always goes first, and
    no build always runs before another.
    """
    families: dict[str, list[Side]] = {}
    for side in sides:
        families.setdefault(side.family, []).append(side)
    groups = list(families.values())
    turn = round_number % len(groups)
    ordered = []
    for group in groups[turn:] + groups[:turn]:
        inner = round_number % len(group)
        ordered += group[inner:] + group[:inner]
    return ordered


def comparisons(sizes: Sizes) -> list[Comparison]:
    """Every comparison of a run, in the order they run within a round."""
    tasks, threads = sizes.tasks, sizes.threads
    found = [
        Comparison(
            "pipelined",
            "pipelined",
            (
                Side("pipelined.raw-callback", "raw produce() + callback, flush()", raw_callback),
                Side(
                    "pipelined.minimal",
                    "minimal pure-Python equivalent of futures (crc32, __slots__ callback, "
                    "Delivery built)",
                    minimal_futures,
                ),
                *kaffe_sides(
                    "pipelined.kaffe-futures",
                    "kaffe produce() futures, all kept and checked",
                    kaffe_futures,
                ),
                Side(
                    "pipelined.raw-batch",
                    f"raw produce_batch, callback per message, chunks of {BATCH_CHUNK:,}",
                    raw_batch,
                ),
                *kaffe_sides(
                    "pipelined.kaffe-batches",
                    f"kaffe produce_batch_sync, chunks of {BATCH_CHUNK:,}",
                    kaffe_batches,
                ),
                Side("pipelined.aiokafka", "aiokafka send(), futures awaited", aiokafka_send),
                Side(
                    "pipelined.kafka-python",
                    f"kafka-python send(), futures checked ({sizes.pipelined_slow:,} messages)",
                    kafka_python_send,
                ),
                Side(
                    "pipelined.java",
                    f"Java ProducerPerformance, keyless ({sizes.java:,} records)",
                    java_producer,
                ),
            ),
        ),
        Comparison(
            "single",
            "single",
            (
                Side("single.raw", "raw produce()+flush() per message", raw_sync),
                *kaffe_sides(
                    "single.kaffe",
                    "kaffe produce_sync, 1 thread",
                    partial(kaffe_sync, threads=1, count=sizes.single),
                ),
                Side(
                    "single.aiokafka",
                    "aiokafka send_and_wait, 1 task",
                    lambda bench: aiokafka_tasks(bench, 1, sizes.single),
                ),
                Side(
                    "single.kafka-python",
                    "kafka-python send().get()",
                    lambda bench: kafka_python_get(bench, 1, sizes.single),
                ),
            ),
        ),
    ]
    for level in TASK_LEVELS:
        found.append(
            Comparison(
                f"asyncio.{level}",
                "asyncio",
                (
                    *kaffe_sides(
                        f"asyncio.{level}.kaffe",
                        f"kaffe AsyncProducer.produce_sync, {level:,} task(s)",
                        partial(kaffe_async, tasks=level, count=tasks[level]),
                    ),
                    Side(
                        f"asyncio.{level}.aiokafka",
                        f"aiokafka send_and_wait, {level:,} task(s)",
                        partial(aiokafka_tasks, tasks=level, count=tasks[level]),
                    ),
                ),
            )
        )
    for level in THREAD_LEVELS:
        found.append(
            Comparison(
                f"threads.{level}",
                "threads",
                (
                    *kaffe_sides(
                        f"threads.{level}.kaffe",
                        f"kaffe produce_sync, {level} threads",
                        partial(kaffe_sync, threads=level, count=threads[level]),
                    ),
                    Side(
                        f"threads.{level}.kafka-python",
                        f"kafka-python send().get(), {level} threads",
                        partial(kafka_python_get, threads=level, count=threads[level]),
                    ),
                ),
            )
        )
    found.append(
        Comparison(
            "cli",
            "cli",
            (
                *kaffe_sides("cli.kaffe", f"kaffe produce, {sizes.cli_lines:,} lines", kaffe_cli),
                Side(
                    "cli.raw-python",
                    f"minimal Python loop on raw confluent-kafka, {sizes.cli_lines:,} lines",
                    raw_python_cli,
                ),
                Side("cli.kcat", f"kcat -P, {sizes.cli_lines:,} lines", kcat_cli),
            ),
        )
    )
    observed: list[tuple[str, str, Callable[..., Sample]]] = [
        ("futures", "kaffe produce() futures", kaffe_futures),
        ("batches", "kaffe produce_batch_sync", kaffe_batches),
        (
            "sync",
            "kaffe produce_sync, 1 thread",
            partial(kaffe_sync, threads=1, count=sizes.single),
        ),
        (
            "async",
            f"kaffe AsyncProducer.produce_sync, {OBSERVER_TASKS} tasks",
            partial(kaffe_async, tasks=OBSERVER_TASKS, count=tasks[OBSERVER_TASKS]),
        ),
    ]
    for name, label, run in observed:
        # Issue 17's sides, on the futures path: OpenTelemetry alone, every span recorded
        # and 1% sampled, and the official instrumentation on raw confluent-kafka.
        kinds = ("on", "otel", "otel-sampled") if name == "futures" else ("on",)
        sides = [Side(f"observers.{name}.off", f"{label}, observers off", run)]
        sides += [
            Side(
                f"observers.{name}.{kind}",
                f"{label}, {OBSERVER_SETS[kind]}",
                partial(run, observers=kind),
            )
            for kind in kinds
        ]
        if name == "futures":
            sides.append(
                Side(
                    "observers.futures.official",
                    "raw produce() + callback, flush(), official OpenTelemetry instrumentation",
                    official_instrumentation,
                )
            )
        found.append(Comparison(f"observers.{name}", "observers", tuple(sides)))
    return found


GROUPS = ("pipelined", "single", "asyncio", "threads", "cli", "memory", "observers")


def memory_keys() -> dict[str, list[tuple[str, str]]]:
    """
    Every name ``--only`` takes for the memory probes, and the (path, build) pairs it means.

    ``memory`` and ``memory.PATH`` mean the builds of ``MEMORY_BUILDS``; a probe of
    another build runs when named in full (``memory.sync.0.2.0``).
    """
    keys: dict[str, list[tuple[str, str]]] = {
        "memory": [(path, build) for path in MEMORY_PATHS for build in MEMORY_BUILDS]
    }
    for path in MEMORY_PATHS:
        keys[f"memory.{path}"] = [(path, build) for build in MEMORY_BUILDS]
        for build in BUILDS:
            keys[f"memory.{path}.{build}"] = [(path, build)]
    return keys


def select(
    every: Sequence[Comparison],
    only: Sequence[str] | None,
    observers: bool,
    builds: Sequence[str] = BUILDS,
) -> tuple[list[Comparison], list[tuple[str, str]]]:
    """
    The comparisons (with only the chosen sides) and the memory probes (path, build) to run.

    ``only`` names groups, comparisons, kaffe paths (all their builds), rows and memory
    probes; ``builds`` keeps kaffe's rows and probes of those builds only.
    """
    names = set(only or ())
    memory = memory_keys()
    if names:
        known = (
            {*GROUPS, *memory}
            | {c.key for c in every}
            | {s.key for c in every for s in c.sides}
            | {s.path for c in every for s in c.sides if s.path}
        )
        unknown = sorted(names - known)
        if unknown:
            raise SystemExit(f"--only: unknown scenario(s) {', '.join(unknown)}; see --list")
    chosen = []
    for comparison in every:
        if not names:
            whole = comparison.group != "observers" or observers
        else:
            whole = comparison.group in names or comparison.key in names
        sides = tuple(
            side
            for side in comparison.sides
            if (whole or side.key in names or side.path in names)
            and (side.build is None or side.build in builds)
        )
        if sides:
            chosen.append(Comparison(comparison.key, comparison.group, sides))
    wanted = names & set(memory) if names else {"memory"}
    asked = {probe for name in wanted for probe in memory[name]}
    probes = [
        (path, build)
        for path in MEMORY_PATHS
        for build in BUILDS
        if build in builds and (path, build) in asked
    ]
    return chosen, probes


# --- targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """
    One of issue 15's (or 11's, or 17's) targets: a ratio of two rows' medians, or a limit.

    A target with neither minimum nor maximum is a ratio printed for information.
    """

    label: str
    numerator: str
    denominator: str = ""
    minimum: float | None = None
    maximum: float | None = None
    #: "rate": msg/s (of a command line: lines over its wall time); "memory": RSS growth in MB.
    measure: str = "rate"


#: Every kaffe path measured in all builds: its row key without the build, and its name.
KAFFE_PATHS = {
    "pipelined.kaffe-futures": "produce() futures",
    "pipelined.kaffe-batches": "produce_batch_sync",
    "single.kaffe": "produce_sync, 1 thread",
    **{f"threads.{level}.kaffe": f"produce_sync, {level} threads" for level in THREAD_LEVELS},
    **{
        f"asyncio.{level}.kaffe": f"AsyncProducer.produce_sync, {level:,} task(s)"
        for level in TASK_LEVELS
    },
    "cli.kaffe": "kaffe produce",
}


def targets() -> list[Target]:
    """Issue 15's targets, then the ratios printed for information, then issues 11 and 17's."""
    found = [
        Target(
            "produce() futures / raw produce()+callback",
            "pipelined.kaffe-futures.compiled",
            "pipelined.raw-callback",
            minimum=0.6,
        ),
        Target(
            "produce_batch_sync / raw produce()+callback",
            "pipelined.kaffe-batches.compiled",
            "pipelined.raw-callback",
            minimum=1.0,
        ),
        Target(
            "produce_sync, 1 thread / raw produce()+flush()",
            "single.kaffe.compiled",
            "single.raw",
            minimum=1.0,
        ),
    ]
    found += [
        Target(
            f"AsyncProducer.produce_sync / aiokafka send_and_wait, {level:,} task(s)",
            f"asyncio.{level}.kaffe.compiled",
            f"asyncio.{level}.aiokafka",
            minimum=1.2 if level == 1 else 1.5,
        )
        for level in TASK_LEVELS
    ]
    found.append(
        Target(
            "kaffe produce / kcat -P, {cli} lines (kcat's time / kaffe's)",
            "cli.kaffe.compiled",
            "cli.kcat",
            minimum=0.5,
        )
    )
    found += [
        Target(f"pure-Python mode / kaffe 0.2.0, {name}", f"{path}.pure", f"{path}.0.2.0", 1.0)
        for path, name in KAFFE_PATHS.items()
    ]
    found += [
        Target(
            f"RSS growth after {{memory}} messages, {path}, {BUILD_LABELS[build]}",
            f"memory.{path}.{build}",
            maximum=RSS_LIMIT_MB,
            measure="memory",
        )
        for path in MEMORY_PATHS
        for build in ("compiled", "pure")
    ]
    found += [
        Target(
            "minimal pure-Python equivalent / raw produce()+callback",
            "pipelined.minimal",
            "pipelined.raw-callback",
        ),
        Target(
            "produce() futures, compiled / minimal pure-Python equivalent",
            "pipelined.kaffe-futures.compiled",
            "pipelined.minimal",
        ),
        Target(
            "produce() futures, pure Python / minimal pure-Python equivalent",
            "pipelined.kaffe-futures.pure",
            "pipelined.minimal",
        ),
    ]
    found.append(
        Target(
            "minimal Python loop on raw confluent-kafka / kcat -P (the floor in Python)",
            "cli.raw-python",
            "cli.kcat",
        )
    )
    found += [
        Target(f"compiled / pure Python, {name}", f"{path}.compiled", f"{path}.pure")
        for path, name in KAFFE_PATHS.items()
    ]
    found += [
        Target(
            f"issue 11: observers on / off, {name}",
            f"observers.{name}.on",
            f"observers.{name}.off",
            minimum=0.5,
        )
        for name in ("futures", "batches", "sync", "async")
    ]
    found += [
        Target(
            "issue 17: futures with OpenTelemetry / raw produce() with the official "
            "instrumentation",
            "observers.futures.otel",
            "observers.futures.official",
            minimum=1.0,
        ),
        Target(
            "issue 17: futures with OpenTelemetry, 1% sampled / observers off",
            "observers.futures.otel-sampled",
            "observers.futures.off",
            minimum=0.6,
        ),
        Target(
            "futures with OpenTelemetry / observers off",
            "observers.futures.otel",
            "observers.futures.off",
        ),
    ]
    return found


# --- the run --------------------------------------------------------------------------------


@dataclass
class Row:
    """What one side measured over the rounds."""

    key: str
    group: str
    label: str
    samples: list[Sample] = field(default_factory=list)
    note: str = ""

    @property
    def rate(self) -> float | None:
        return statistics.median(s.rate for s in self.samples) if self.samples else None

    def median_of(self, pick: Callable[[Sample], float | None]) -> float | None:
        values = [value for value in map(pick, self.samples) if value is not None]
        return statistics.median(values) if values else None

    @property
    def p50_ms(self) -> float | None:
        return self.median_of(lambda s: percentiles_ms(s.latencies)[0] if s.latencies else None)

    @property
    def p99_ms(self) -> float | None:
        return self.median_of(lambda s: percentiles_ms(s.latencies)[1] if s.latencies else None)

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "group": self.group,
            "median": self.rate,
            "rates": [s.rate for s in self.samples],
            "p50_ms": [percentiles_ms(s.latencies)[0] for s in self.samples if s.latencies],
            "p99_ms": [percentiles_ms(s.latencies)[1] for s in self.samples if s.latencies],
            "seconds": [s.seconds for s in self.samples if s.seconds is not None],
            "peak_rss_mb": [s.peak_rss_mb for s in self.samples if s.peak_rss_mb is not None],
            "note": self.note,
        }


#: The benchmark's own broker, apart from the tests' (unless KAFFE_KAFKA_DIR/PORT say
#: otherwise), with the JVM's full JIT and a fixed heap: the harness's default start-up
#: tuning (C1 only) would make the broker, not the clients, the bottleneck.
BENCH_BROKER_ENV = {
    "KAFFE_KAFKA_DIR": str(REPO / ".kafka-bench"),
    "KAFFE_KAFKA_PORT": "29392",
    "KAFFE_KAFKA_JVM_OPTS": "-XX:TieredStopAtLevel=4 -Xms1g -Xmx1g",
}


def script(*args: str, timeout: float = 600) -> str:
    """Run ``scripts/kafka`` (for the benchmark's broker) and return its stdout."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**BENCH_BROKER_ENV, **os.environ},
    )
    if result.returncode != 0:
        raise SystemExit(f"scripts/kafka {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


_classpath: list[str] = []


def kafka_classpath() -> str:
    if not _classpath:
        _classpath.append(script("classpath").strip().splitlines()[-1])
    return _classpath[0]


def ensure_broker() -> str:
    """Reuse the running broker, or start one; return its PLAINTEXT address."""
    status = subprocess.run(
        [sys.executable, str(SCRIPT), "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**BENCH_BROKER_ENV, **os.environ},
    )
    if status.returncode != 0:
        script("up")
    return script("bootstrap", "--listener", "plaintext").strip().splitlines()[-1]


def warm_broker(bootstrap: str, topic: str, *, quick: bool) -> None:
    """
    Run the broker's request paths hot before anything is timed, the same for every side.

    A fresh JVM interprets before it compiles: the first rounds would otherwise measure
    the broker's warm-up. This sends pipelined batches and single acknowledged messages
    with a raw producer, for a few seconds.
    """
    producer = confluent_kafka.Producer(raw_config(bootstrap))
    deadline = time.monotonic() + (3 if quick else 15)
    sent = 0
    while time.monotonic() < deadline:
        for number in range(20_000):
            while True:
                try:
                    producer.produce(topic, VALUE, KEYS[number % len(KEYS)])
                    break
                except BufferError:
                    producer.poll(0.01)
        producer.flush(60)
        for number in range(500):
            producer.produce(topic, VALUE, KEYS[number % len(KEYS)])
            producer.flush(10)
        sent += 20_500
    producer.flush(60)


def create_topic(bootstrap: str, prefix: str = "bench-produce") -> str:
    """Create a fresh 8-partition topic and wait until every partition has a leader."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
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


def run(
    launcher: Launcher,
    chosen: Sequence[Comparison],
    memory_probes: Sequence[tuple[str, str]],
    rounds: int,
    observers_note: str | None,
    say: Callable[[str], None],
) -> dict[str, Any]:
    rows = {
        side.key: Row(side.key, comparison.group, side.label)
        for comparison in chosen
        for side in comparison.sides
    }
    skipped: set[str] = set()
    for row in rows.values():
        if row.group == "observers" and observers_note:
            row.note = f"skipped: {observers_note}"
            skipped.add(row.key)
    for round_number in range(rounds):
        for comparison in chosen:
            for side in turn_order(comparison.sides, round_number):
                row = rows[side.key]
                if side.key in skipped:
                    continue
                began = time.monotonic()
                try:
                    sample = launcher.measure(side)
                except Skip as reason:
                    row.note = f"skipped: {reason}"
                    skipped.add(side.key)
                    say(f"{side.key}: skipped: {reason}")
                    continue
                except Exception as error:  # a failing side is reported, not fatal
                    row.note = f"failed: {type(error).__name__}: {error}"[:300]
                    say(f"round {round_number + 1}: {side.key} failed: {error!r}"[:600])
                    continue
                row.samples.append(sample)
                latency = ""
                if sample.latencies:
                    p50, p99 = percentiles_ms(sample.latencies)
                    latency = f" (p50 {p50:.2f} ms, p99 {p99:.2f} ms)"
                say(
                    f"round {round_number + 1}: {side.key}: {sample.rate:,.0f} msg/s{latency}"
                    f" [{time.monotonic() - began:.1f} s]"
                )
    memory: dict[str, Any] = {}
    for path, build in memory_probes:
        name = f"{path}.{build}"
        say(
            f"memory: {launcher.bench.sizes.memory:,} messages, {MEMORY_PATHS[path]}, "
            f"{BUILD_LABELS[build]}, fresh process"
        )
        began = time.monotonic()
        try:
            memory[name] = launcher.memory(path, build)
        except Skip as reason:
            memory[name] = {"note": f"skipped: {reason}"[:600]}
        except Exception as error:
            memory[name] = {"note": f"failed: {error}"[:600]}
        say(f"memory: {name}: {memory[name]} [{time.monotonic() - began:.1f} s]")
    return {"rows": rows, "memory": memory}


def evaluate(rows: dict[str, Row], memory: dict[str, Any], sizes: Sizes) -> list[dict[str, Any]]:
    """Every target with its measured value, or why it was not measured."""
    found = []
    for target in targets():
        label = target.label.replace("{memory}", f"{sizes.memory:,}")
        label = label.replace("{cli}", f"{sizes.cli_lines:,}")
        entry: dict[str, Any] = {
            "target": label,
            "minimum": target.minimum,
            "maximum": target.maximum,
            "measure": target.measure,
        }
        value: float | None = None
        if target.measure == "memory":
            path = target.numerator.split(".", 1)[1]
            if path not in memory:
                continue
            value = memory[path].get("rss_growth_mb")
            entry["detail"] = memory[path].get("note", "")
        else:
            top, bottom = rows.get(target.numerator), rows.get(target.denominator)
            if top is None or bottom is None:
                continue
            a, b = top.rate, bottom.rate
            value = a / b if a is not None and b else None
            if value is None:
                entry["detail"] = top.note or bottom.note or "not measured"
        entry["value"] = value
        if target.minimum is None and target.maximum is None:
            entry["verdict"] = "info"
        elif value is None:
            entry["verdict"] = "n/a"
        elif target.minimum is not None:
            entry["verdict"] = "PASS" if value >= target.minimum else "MISS"
        else:
            assert target.maximum is not None
            entry["verdict"] = "PASS" if value <= target.maximum else "MISS"
        found.append(entry)
    return found


# --- reporting ------------------------------------------------------------------------------


def _first(version: object) -> object:
    """confluent-kafka's ``version()`` and ``libversion()``: a string, or (string, number)."""
    return version[0] if isinstance(version, tuple) else version


def source_revision() -> str:
    """The last commit that changed kaffe's source, marked when it has local changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "log", "-1", "--format=%h", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "no git checkout"
    return f"{commit} with local changes" if changes else commit


def versions() -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "kaffe": f"{kaffe.__version__} (src/ at {source_revision()})",
        "confluent-kafka": str(_first(confluent_kafka.version())),
        "librdkafka": str(_first(confluent_kafka.libversion())),
    }
    for name in ("aiokafka", "kafka-python", "opentelemetry-sdk", "prometheus-client"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    with contextlib.suppress(SystemExit, OSError, subprocess.SubprocessError):
        jar = re.search(r"kafka-clients-([^/:]+)\.jar", kafka_classpath())
        found["kafka"] = jar.group(1) if jar else "unknown"
    if shutil.which("java"):
        java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
        found["java"] = (java.stderr.strip().splitlines() or ["unknown"])[0]
    else:
        found["java"] = "not installed"
    kcat = shutil.which("kcat")
    if kcat:
        text = subprocess.run([kcat, "-V"], capture_output=True, text=True, check=False).stdout
        match = re.search(r"Version (\S+).*?(librdkafka \S+)", text)
        found["kcat"] = f"{match.group(1)} ({match.group(2)})" if match else "unknown"
    else:
        found["kcat"] = "not installed"
    return found


def machine() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": os.getloadavg(),
    }


def table(headers: Sequence[str], body: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(row[i]) for row in [headers, *body]) for i in range(len(headers))]
    lines = []
    for number, row in enumerate([headers, *body]):
        cells = [
            cell.rjust(width) if align else cell.ljust(width)
            for cell, width, align in zip(row, widths, right, strict=True)
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if number == 0:
            lines.append(
                "|"
                + "|".join(
                    "-" * (w + 1) + ":" if align else "-" * (w + 2)
                    for w, align in zip(widths, right, strict=True)
                )
                + "|"
            )
    return "\n".join(lines)


def show(report: dict[str, Any], rows: dict[str, Row]) -> None:
    head = report["versions"]
    box = report["machine"]
    print(f"kaffe produce benchmark, {report['when']}, {report['command']}")
    print(
        f"machine: {box['cpu']}, {box['cores']} cores, {box['memory_gb']} GB, {box['system']}; "
        f"load average at start {_loads(box['load_average'])}"
    )
    print(
        f"python {head['python']}, kaffe {head['kaffe']}, confluent-kafka "
        f"{head['confluent-kafka']} (librdkafka {head['librdkafka']}), aiokafka "
        f"{head['aiokafka']}, kafka-python {head['kafka-python']}, Kafka "
        f"{head.get('kafka', 'unknown')}, Java {head['java']}, kcat {head['kcat']}"
    )
    print(
        f"broker {report['bootstrap']}, topic of {PARTITIONS} partitions, {len(VALUE)}-byte "
        f"keyed values, acks=all + idempotence everywhere, warm-up {WARMUP:,} messages, "
        f"{report['rounds']} round(s), median shown"
    )
    for build, identity in report["kaffe_builds"].items():
        print(f"kaffe build {build}: {describe_build(identity)}")
    body = []
    for row in rows.values():
        rate = row.rate
        latency = ""
        if row.p50_ms is not None:
            latency = f"{row.p50_ms:.2f} / {row.p99_ms:.2f}"
        extra = ""
        seconds = row.median_of(lambda s: s.seconds)
        if seconds is not None:
            rss = row.median_of(lambda s: s.peak_rss_mb)
            extra = f"{seconds:.2f} s, peak RSS {rss:.0f} MB"
        rounds = ", ".join(f"{s.rate:,.0f}" for s in row.samples)
        if row.note:
            rounds = f"{rounds}; {row.note}" if rounds else row.note
        body.append(
            [
                row.key,
                row.label,
                "-" if rate is None else f"{rate:,.0f}",
                rounds,
                latency,
                extra,
            ]
        )
    if body:
        print()
        print(
            table(
                ["scenario", "what", "msg/s", "each round", "p50 / p99 ms", "wall, RSS"],
                body,
                [False, False, True, True, True, True],
            )
        )
    if report["memory"]:
        print()
        memory_body = []
        for name, result in report["memory"].items():
            path, build = name.split(".", 1)
            what = f"{MEMORY_PATHS[path]} [{BUILD_LABELS[build]}]"
            if "rss_growth_mb" in result:
                memory_body.append(
                    [
                        name,
                        what,
                        f"{result['rss_before_mb']:.0f} -> {result['rss_after_mb']:.0f}",
                        f"{result['rss_growth_mb']:+.1f}",
                        f"{result['peak_rss_mb']:.0f}",
                        f"{result['rate']:,.0f}",
                    ]
                )
            else:
                memory_body.append([name, what, result.get("note", ""), "", "", ""])
        print(
            table(
                ["memory", "path", "RSS MB", "growth MB", "peak MB", "msg/s"],
                memory_body,
                [False, False, True, True, True, True],
            )
        )
    goals = [entry for entry in report["targets"] if entry["verdict"] != "info"]
    if goals:
        print()
        target_body = []
        for entry in goals:
            value = entry["value"]
            if entry["measure"] == "memory":
                shown = "-" if value is None else f"{value:+.1f} MB"
                wanted = f"<= {entry['maximum']:.0f} MB"
            else:
                shown = "-" if value is None else f"{value:.2f}x"
                wanted = (
                    f">= {entry['minimum']:.1f}x"
                    if entry["minimum"] is not None
                    else f"<= {entry['maximum']:.1f}x"
                )
            detail = entry.get("detail", "")
            target_body.append([entry["target"], shown, wanted, entry["verdict"], detail])
        print(
            table(
                ["target", "measured", "target", "verdict", "note"],
                target_body,
                [False, True, True, False, False],
            )
        )
    information = [entry for entry in report["targets"] if entry["verdict"] == "info"]
    if information:
        print()
        print(
            table(
                ["for information", "ratio", "note"],
                [
                    [
                        entry["target"],
                        "-" if entry["value"] is None else f"{entry['value']:.2f}x",
                        entry.get("detail", ""),
                    ]
                    for entry in information
                ],
                [False, True, False],
            )
        )
    for note in report["notes"]:
        print(f"note: {note}")
    print(f"load average at end {_loads(report['load_average_end'])}")


def describe_build(identity: dict[str, Any]) -> str:
    """What a build's children imported: the package, and the per-message module if any."""
    hot = identity.get("hot")
    module = "no kaffe._hot" if hot is None else f"kaffe._hot from {Path(hot).name}"
    return f"{identity['package']} ({module})"


def _loads(values: Sequence[float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


def list_scenarios(every: Sequence[Comparison]) -> None:
    print("groups: " + ", ".join(GROUPS))
    print("kaffe paths (every build): " + ", ".join(KAFFE_PATHS))
    print("builds (--kaffe): " + ", ".join(BUILDS))
    for comparison in every:
        print(f"{comparison.key}  ({comparison.group})")
        for side in comparison.sides:
            print(f"    {side.key:<36} {side.label}")
    for path, label in MEMORY_PATHS.items():
        print(f"memory.{path}  (memory)")
        for build in BUILDS:
            print(f"    {f'memory.{path}.{build}':<36} {label} [{BUILD_LABELS[build]}]")


def main(argv: Sequence[str] | None = None) -> int:
    # Run as a script, this folder leads sys.path, and bench/http.py would then stand in for
    # the standard library's http (prometheus_client imports http.server on first use).
    here = Path(__file__).resolve().parent
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    parser = argparse.ArgumentParser(
        description=__doc__.strip().split("\n\n")[0] if __doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="two rounds of small counts")
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3, quick 2)")
    parser.add_argument(
        "--only",
        default=None,
        help="comma-separated groups, comparisons, kaffe paths or rows (see --list)",
    )
    parser.add_argument(
        "--kaffe",
        default=",".join(BUILDS),
        help=f"comma-separated kaffe builds to run (default: {','.join(BUILDS)})",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run kaffe compiled in this process, not a child (e.g. under a profiler)",
    )
    parser.add_argument(
        "--observers", action="store_true", help="add the observers' overhead group"
    )
    parser.add_argument("--list", action="store_true", help="print the scenario names and exit")
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument("--bootstrap", default=None, help="use this broker, not scripts/kafka")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--build", default=None, choices=BUILDS, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--topic", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None or args.memory_probe is not None:
        if args.build is None or args.bootstrap is None or args.topic is None:
            parser.error("--child and --memory-probe need --build, --bootstrap and --topic")
        return child_main(args)
    builds = [name.strip() for name in args.kaffe.split(",") if name.strip()]
    if not builds or set(builds) - set(BUILDS):
        parser.error(f"--kaffe takes some of {', '.join(BUILDS)}, not {args.kaffe!r}")
    sizes = QUICK if args.quick else FULL
    every = comparisons(sizes)
    if args.list:
        list_scenarios(every)
        return 0
    rounds = args.rounds if args.rounds is not None else (2 if args.quick else 3)
    if rounds < 1:
        parser.error("--rounds must be at least 1")
    only = [name.strip() for name in args.only.split(",") if name.strip()] if args.only else None
    chosen, memory_probes = select(every, only, args.observers, builds)

    started = datetime.datetime.now(datetime.timezone.utc)
    clock_start = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - clock_start:6.1f}s] {text}", file=sys.stderr, flush=True)

    bootstrap = args.bootstrap or ensure_broker()
    topic = create_topic(bootstrap)
    say("warming the broker up (its JIT compiler settles before any side is timed)")
    warm_broker(bootstrap, topic, quick=args.quick)
    bench = Bench(bootstrap, topic, sizes)
    notes = []
    observers_note = None
    if any(c.group == "observers" for c in chosen):
        observers_note = observers_missing()
        if observers_note:
            notes.append(f"observers group skipped: {observers_note}")
    report: dict[str, Any] = {
        "when": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/produce.py", *(argv if argv is not None else sys.argv[1:])]),
        "bootstrap": bootstrap,
        "quick": args.quick,
        "rounds": rounds,
        "sizes": asdict(sizes),
        "settings": {
            "partitions": PARTITIONS,
            "value_bytes": len(VALUE),
            "distinct_keys": len(KEYS),
            "warmup_messages": WARMUP,
            "kaffe_strategy": STRATEGY,
            "kaffe_builds": list(builds),
            "kaffe_release_commit": RELEASE_COMMIT,
            "compiled_in_process": args.in_process,
            "raw_confluent": {
                k: v for k, v in raw_config(bootstrap).items() if "bootstrap" not in k
            },
        },
        "machine": machine(),
        "versions": versions(),
    }
    say(f"topic {topic} on {bootstrap}; {len(chosen)} comparison(s), {rounds} round(s)")
    launcher = Launcher(bench, quick=args.quick, in_process=args.in_process)
    try:
        measured = run(launcher, chosen, memory_probes, rounds, observers_note, say)
    finally:
        launcher.close()
        delete_topic(bootstrap, topic)
    report["kaffe_builds"] = {
        build: launcher.identities[build] for build in BUILDS if build in launcher.identities
    }
    rows: dict[str, Row] = measured["rows"]
    report["memory"] = measured["memory"]
    report["targets"] = evaluate(rows, measured["memory"], sizes)
    report["notes"] = notes
    report["rows"] = {key: row.as_json() for key, row in rows.items()}
    report["seconds"] = round(time.monotonic() - clock_start, 1)
    report["load_average_end"] = os.getloadavg()
    path = args.json or RESULTS / f"produce-{started.strftime('%Y%m%d-%H%M%S')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    show(report, rows)
    print(f"took {report['seconds']:.0f} s; results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
