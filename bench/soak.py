"""
Soak test: many messages through repeated broker kills, then count what the log holds.

Not part of CI. It starts (or reuses) the 3-broker cluster with
``scripts/kafka up --brokers 3``, creates a topic with replication factor 3 and
``min.insync.replicas=2``, and produces ``--messages`` messages from threads calling
``produce_sync`` and from pipelines of ``produce`` futures, while a chaos thread
SIGKILLs one node after another and restarts it (and, with ``--outage-every N``, kills
all three nodes every Nth step, for longer than the delivery timeout). Then it reads
the topic back and prints:

    acknowledged  calls that returned a Delivery (or futures that resolved to one)
    lost          acknowledged, but not in the log
    duplicated    extra copies of any message in the log
    raised        calls that raised (their messages may or may not be in the log)
    misplaced     acknowledged at a (partition, offset) that holds another message
    out of order  a source's messages to a partition stored out of send order

Run:
    export KAFFE_KAFKA_DIR=$PWD/.kafka-cluster KAFFE_KAFKA_PORT=29192
    .venv/bin/python bench/soak.py --messages 1000000
    .venv/bin/python bench/soak.py --messages 1000000 --outage-every 4 --delivery-timeout 10

The exit code is 1 when anything was lost, duplicated, misplaced or reordered.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import struct
import subprocess
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

import kaffe

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka"
NODES = (1, 2, 3)
#: Seconds past ``--delivery-timeout`` that a pipeline waits for one future before it
#: counts the message as never resolved. librdkafka checks message timeouts about once
#: a second, so an outcome may arrive a little after the timeout; the margin is wide
#: so that only a real hang is reported.
OUTCOME_GRACE = 32.0

PENDING, ACKED, RAISED, NO_OUTCOME = 0, 1, 2, 3
ID = struct.Struct(">Q")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="messages in all")
    parser.add_argument("--sync-threads", type=int, default=8, help="produce_sync threads")
    parser.add_argument("--pipelines", type=int, default=2, help="produce() pipelines")
    parser.add_argument("--in-flight", type=int, default=500, help="futures per pipeline")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--value-size", type=int, default=100, help="bytes per value")
    parser.add_argument("--delivery-timeout", type=float, default=30.0)
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills")
    parser.add_argument("--down-for", type=float, default=5.0, help="seconds a node stays down")
    parser.add_argument(
        "--outage-every",
        type=int,
        default=0,
        help="make every Nth chaos step a whole-cluster outage (default 0: never)",
    )
    parser.add_argument(
        "--outage-for",
        type=float,
        default=None,
        help="seconds a whole-cluster outage lasts (default: delivery timeout + 5)",
    )
    parser.add_argument(
        "--kafka-dir",
        default=os.environ.get("KAFFE_KAFKA_DIR") or str(REPO / ".kafka-cluster"),
        help="state folder of the cluster (default $KAFFE_KAFKA_DIR or <repo>/.kafka-cluster)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("KAFFE_KAFKA_PORT") or 29192),
        help="base port of the cluster (default $KAFFE_KAFKA_PORT or 29192)",
    )
    args = parser.parse_args(argv)
    if args.value_size < ID.size:
        parser.error(f"--value-size must be at least {ID.size}")
    if args.sync_threads + args.pipelines < 1:
        parser.error("need at least one --sync-threads or --pipelines")
    return args


# --- the cluster ------------------------------------------------------------------------------


@dataclass
class Harness:
    """``scripts/kafka`` for one state folder and port."""

    kafka_dir: str
    port: int
    log: Callable[[str], None]

    def run(self, *args: str, timeout: float = 300) -> str:
        env = dict(os.environ, KAFFE_KAFKA_DIR=self.kafka_dir, KAFFE_KAFKA_PORT=str(self.port))
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"scripts/kafka {' '.join(args)} failed:\n{result.stderr}")
        return result.stdout

    def up(self) -> str:
        return self.run("up", "--brokers", "3").strip().splitlines()[-1]


def wait_for_full_isr(admin: AdminClient, topic: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(topic, timeout=5).topics.get(topic)
        except KafkaException:
            metadata = None
        partitions = [] if metadata is None or metadata.error else metadata.partitions.values()
        if partitions and all(p.leader >= 0 and set(p.isrs) == set(p.replicas) for p in partitions):
            return True
        time.sleep(0.5)
    return False


@dataclass
class Chaos:
    """Kills one node after another and restarts it, until stopped."""

    harness: Harness
    admin: AdminClient
    topic: str
    every: float
    down_for: float
    outage_every: int = 0
    outage_for: float = 0.0
    kills: int = 0
    outages: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for step, node in enumerate(itertools.cycle(NODES), start=1):
            if self._stop.wait(self.every):
                return
            if self.outage_every and step % self.outage_every == 0:
                self._outage()
                continue
            try:
                self.harness.run("kill", str(node))
                self.kills += 1
                self.harness.log(f"killed node {node} (kill #{self.kills})")
                self._stop.wait(self.down_for)  # restart even when stopping
                self.harness.run("start", str(node))
                self.harness.log(f"restarted node {node}")
                if not wait_for_full_isr(self.admin, self.topic, 120):
                    self.failures.append(f"no full ISR 120 s after restarting node {node}")
            except (RuntimeError, subprocess.SubprocessError) as error:
                self.failures.append(str(error))
                self.harness.log(f"chaos step failed: {error}")

    def _outage(self) -> None:
        try:
            for node in NODES:
                self.harness.run("kill", str(node))
            self.outages += 1
            self.harness.log(f"killed every node (outage #{self.outages})")
            self._stop.wait(self.outage_for)
            self.harness.up()
            self.harness.log("cluster back")
            if not wait_for_full_isr(self.admin, self.topic, 120):
                self.failures.append("no full ISR 120 s after an outage")
        except (RuntimeError, subprocess.SubprocessError) as error:
            self.failures.append(str(error))
            self.harness.log(f"outage step failed: {error}")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=600)


# --- producing --------------------------------------------------------------------------------


@dataclass
class Ledger:
    """What happened to each message id."""

    size: int
    status: bytearray = field(init=False)
    source: array[int] = field(init=False)
    partition: array[int] = field(init=False)
    offset: array[int] = field(init=False)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.status = bytearray(self.size)
        self.source = array("H", bytes(2 * self.size))
        self.partition = array("h", bytes(2 * self.size))
        self.offset = array("q", bytes(8 * self.size))

    def sent(self, message_id: int, source: int, partition: int) -> None:
        self.source[message_id] = source
        self.partition[message_id] = partition

    def acked(self, message_id: int, delivery: kaffe.Delivery) -> None:
        self.status[message_id] = ACKED
        self.offset[message_id] = delivery.offset

    def raised(self, message_id: int, error: BaseException, status: int = RAISED) -> None:
        self.status[message_id] = status
        reason = getattr(error, "reason", None)
        with self.lock:
            self.errors[f"{type(error).__name__}({reason!r})"] += 1


@dataclass
class Load:
    """Sources of messages: produce_sync threads and produce() pipelines."""

    producer: kaffe.Producer
    topic: str
    ledger: Ledger
    partitions: int
    value_size: int
    in_flight: int
    wait_limit: float
    ids: itertools.count[int] = field(default_factory=itertools.count)

    def next_id(self) -> int | None:
        message_id = next(self.ids)  # atomic under the GIL
        return message_id if message_id < self.ledger.size else None

    def value(self, message_id: int) -> bytes:
        return ID.pack(message_id) + b"." * (self.value_size - ID.size)

    def sync_thread(self, source: int) -> None:
        seq = 0
        while (message_id := self.next_id()) is not None:
            partition = (source + seq) % self.partitions
            seq += 1
            self.ledger.sent(message_id, source, partition)
            try:
                delivery = self.producer.produce_sync(
                    self.topic, partition, None, self.value(message_id)
                )
            except Exception as error:
                self.ledger.raised(message_id, error)
            else:
                self.ledger.acked(message_id, delivery)

    def pipeline(self, source: int) -> None:
        pending: collections.deque[tuple[int, Future[kaffe.Delivery]]] = collections.deque()
        seq = 0

        def settle() -> None:
            message_id, future = pending.popleft()
            try:
                delivery = future.result(timeout=self.wait_limit)
            except FutureTimeout as error:
                self.ledger.raised(message_id, error, NO_OUTCOME)
            except Exception as error:
                self.ledger.raised(message_id, error)
            else:
                self.ledger.acked(message_id, delivery)

        while (message_id := self.next_id()) is not None:
            partition = (source + seq) % self.partitions
            seq += 1
            self.ledger.sent(message_id, source, partition)
            try:
                future = self.producer.produce(self.topic, partition, None, self.value(message_id))
            except Exception as error:
                self.ledger.raised(message_id, error)
                continue
            pending.append((message_id, future))
            if len(pending) >= self.in_flight:
                settle()
        while pending:
            settle()


# --- checking ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    raised: int = 0
    raised_in_log: int = 0
    no_outcome: int = 0
    misplaced: int = 0
    out_of_order: int = 0
    unexpected: int = 0

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.misplaced
            or self.out_of_order
            or self.unexpected
            or self.no_outcome
        )


def read_back(bootstrap: str, topic: str, ledger: Ledger, timeout: float = 600) -> Verdict:
    """Read the whole topic once and compare it with the ledger."""
    copies = bytearray(ledger.size)
    verdict = Verdict()
    last_seq: dict[tuple[int, int], int] = {}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"kaffe-soak-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 50 * 1024 * 1024,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=30).topics[topic]
        ends = {}
        for partition in metadata.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            ends[partition] = high
        wanted = {p for p, end in ends.items() if end > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        deadline = time.monotonic() + timeout
        while wanted:
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not read partitions {sorted(wanted)} in {timeout:g}s")
            for message in consumer.consume(num_messages=10_000, timeout=1.0):
                if message.error() is not None:
                    raise KafkaException(message.error())
                partition, offset, value = message.partition(), message.offset(), message.value()
                assert partition is not None
                assert offset is not None
                if offset + 1 >= ends[partition]:
                    wanted.discard(partition)
                if value is None or len(value) < ID.size:
                    verdict.unexpected += 1
                    continue
                (message_id,) = ID.unpack_from(value)
                if message_id >= ledger.size:
                    verdict.unexpected += 1
                    continue
                if copies[message_id] < 255:
                    copies[message_id] += 1
                if copies[message_id] > 1:
                    verdict.duplicated += 1
                status = ledger.status[message_id]
                if status == ACKED and (
                    ledger.partition[message_id] != partition or ledger.offset[message_id] != offset
                ):
                    verdict.misplaced += 1
                slot = (ledger.source[message_id], partition)
                if slot in last_seq and message_id <= last_seq[slot]:
                    verdict.out_of_order += 1
                last_seq[slot] = message_id
    finally:
        consumer.close()
    for message_id in range(ledger.size):
        status = ledger.status[message_id]
        if status == ACKED:
            verdict.acknowledged += 1
            if copies[message_id] == 0:
                verdict.lost += 1
        elif status in (RAISED, NO_OUTCOME):
            verdict.raised += 1
            verdict.no_outcome += status == NO_OUTCOME
            verdict.raised_in_log += copies[message_id] > 0
    return verdict


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()

    def log(text: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {text}", flush=True)

    harness = Harness(args.kafka_dir, args.port, log)
    log(f"starting or reusing the 3-broker cluster in {args.kafka_dir} (port {args.port})")
    bootstrap = harness.up()
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    topic = f"soak-{uuid.uuid4().hex[:10]}"
    admin.create_topics(
        [NewTopic(topic, args.partitions, 3, config={"min.insync.replicas": "2"})],
        operation_timeout=30,
    )[topic].result(timeout=60)
    if not wait_for_full_isr(admin, topic, 60):
        raise SystemExit(f"topic {topic} never got full in-sync replicas")
    log(f"topic {topic}: {args.partitions} partitions, replication 3, min.insync.replicas 2")

    ledger = Ledger(args.messages)
    outage_for = args.delivery_timeout + 5 if args.outage_for is None else args.outage_for
    chaos = Chaos(
        harness, admin, topic, args.kill_every, args.down_for, args.outage_every, outage_for
    )
    producer = kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        delivery_timeout=args.delivery_timeout,
        linger_ms=5,
    )
    load = Load(
        producer,
        topic,
        ledger,
        args.partitions,
        args.value_size,
        args.in_flight,
        wait_limit=args.delivery_timeout + OUTCOME_GRACE,
    )
    workers = [
        threading.Thread(target=load.sync_thread, args=(n,), name=f"sync-{n}")
        for n in range(args.sync_threads)
    ] + [
        threading.Thread(target=load.pipeline, args=(args.sync_threads + n,), name=f"pipe-{n}")
        for n in range(args.pipelines)
    ]
    produce_started = time.monotonic()
    for worker in workers:
        worker.start()
    chaos.start()
    while any(worker.is_alive() for worker in workers):
        for worker in workers:
            worker.join(timeout=10 / len(workers))
        done = args.messages - ledger.status.count(PENDING)
        acked = ledger.status.count(ACKED)
        rate = done / max(time.monotonic() - produce_started, 1e-9)
        log(
            f"{done:,}/{args.messages:,} settled, {acked:,} acknowledged, "
            f"{done - acked:,} raised, {rate:,.0f} msg/s, {chaos.kills} kills, "
            f"{chaos.outages} outages"
        )
    produce_seconds = time.monotonic() - produce_started
    chaos.stop()
    log("production finished; making sure every node runs")
    harness.up()
    try:
        producer.close(timeout=60)
    except kaffe.UndeliveredMessagesError as error:
        log(f"close(): {error}")

    log("reading the topic back")
    verdict = read_back(bootstrap, topic, ledger)
    print()
    print(
        f"soak: {args.messages:,} messages, {args.sync_threads} produce_sync threads + "
        f"{args.pipelines} produce() pipelines, {args.partitions} partitions, "
        f"{chaos.kills} broker kills and {chaos.outages} whole-cluster outages "
        f"in {produce_seconds:.0f}s of producing "
        f"({args.messages / produce_seconds:,.0f} msg/s)"
    )
    rows = [
        ("acknowledged", verdict.acknowledged),
        ("lost", verdict.lost),
        ("duplicated", verdict.duplicated),
        ("raised", verdict.raised),
        ("  of which in the log anyway", verdict.raised_in_log),
        ("  of which never resolved", verdict.no_outcome),
        ("misplaced", verdict.misplaced),
        ("out of order", verdict.out_of_order),
        ("unexpected records", verdict.unexpected),
    ]
    for name, count in rows:
        print(f"  {name:<30}{count:>12,}")
    sync_ids = [i for i in range(ledger.size) if ledger.source[i] < args.sync_threads]
    sync_acked = sum(1 for i in sync_ids if ledger.status[i] == ACKED)
    print(
        f"  (produce_sync calls: {len(sync_ids):,}, {sync_acked:,} returned, "
        f"{len(sync_ids) - sync_acked:,} raised)"
    )
    if ledger.errors:
        print("  errors raised:")
        for name, count in ledger.errors.most_common():
            print(f"    {name:<48}{count:>10,}")
    for failure in chaos.failures:
        print(f"  chaos problem: {failure}")
    return 0 if verdict.clean else 1


if __name__ == "__main__":
    sys.exit(main())
