"""
The producer's promise on a 3-broker cluster while brokers fail.

A ``produce_sync`` that returned means the message is in the log exactly once, at
the offset it reported; a call that raised says why; nothing hangs. Every test
here kills, stops or restarts nodes of the cluster ``scripts/kafka up --brokers 3``
runs, then reads the topic back and counts acknowledged, lost, duplicated and
raised messages.

Topics use replication factor 3 and ``min.insync.replicas=2``, so one node down
costs nothing but a leader election.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field

import pytest

import kaffe
from kaffe._engine import DELIVERY_GRACE
from tests.conftest import Record
from tests.integration.conftest import NODES, ReplicatedCluster, cpu_waits, schedstat

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.timeout(300)]

#: delivery_timeout while one node is down: room for an election, no raise expected.
FAILOVER_DELIVERY_TIMEOUT = 20.0
#: delivery_timeout when the whole cluster is down: every waiting call must raise.
OUTAGE_DELIVERY_TIMEOUT = 10.0
#: librdkafka looks for timed-out messages about once a second.
TIMEOUT_SCAN = 1.0
THREADS = 8
PARTITIONS = 6
#: Seconds any wait for progress may take before the test fails.
PROGRESS_WAIT = 90.0


# --- recording what every call did --------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One produce call: what was sent, when, and how it ended."""

    value: bytes
    thread: int
    seq: int
    partition: int
    started: float
    finished: float
    delivery: kaffe.Delivery | None = None
    error: BaseException | None = None


@dataclass(frozen=True)
class Counts:
    """The tally of a run, checked against the log."""

    acknowledged: int
    lost: int
    duplicated: int
    raised: int
    raised_in_log: int
    misplaced: int

    def __str__(self) -> str:
        return (
            f"acknowledged={self.acknowledged} lost={self.lost} duplicated={self.duplicated} "
            f"raised={self.raised} (of which in the log: {self.raised_in_log}) "
            f"misplaced={self.misplaced}"
        )


def tally(outcomes: Iterable[Outcome], records: list[Record]) -> Counts:
    """
    Count what the log says about each call.

    ``lost``: acknowledged but not in the log; ``duplicated``: any value stored more
    than once; ``misplaced``: acknowledged at a (partition, offset) that holds another
    value; ``raised_in_log``: the call raised but the message was stored anyway
    (possible when the cluster went down after storing it, before answering).
    """
    stored = collections.Counter(record.value for record in records)
    at = {(record.partition, record.offset): record.value for record in records}
    acknowledged = lost = raised = raised_in_log = misplaced = 0
    for outcome in outcomes:
        if outcome.delivery is not None:
            acknowledged += 1
            if stored[outcome.value] == 0:
                lost += 1
            where = (outcome.delivery.partition, outcome.delivery.offset)
            if at.get(where) != outcome.value:
                misplaced += 1
        else:
            raised += 1
            raised_in_log += stored[outcome.value] > 0
    duplicated = sum(count - 1 for count in stored.values() if count > 1)
    return Counts(acknowledged, lost, duplicated, raised, raised_in_log, misplaced)


def order_violations(outcomes: Iterable[Outcome], records: list[Record]) -> list[str]:
    """
    Find acknowledged messages stored out of order within their partition.

    Two rules: one thread's messages to a partition appear in the order it sent them;
    and a message acknowledged before another was even sent has the lower offset.
    """
    by_value = {o.value: o for o in outcomes}
    problems: list[str] = []
    last_seq: dict[tuple[int, int], int] = {}
    for record in records:
        outcome = by_value.get(record.value or b"")
        if outcome is None:
            problems.append(f"unexpected value {record.value!r} at p{record.partition}")
            continue
        slot = (outcome.thread, record.partition)
        if slot in last_seq and outcome.seq <= last_seq[slot]:
            problems.append(
                f"thread {outcome.thread} seq {outcome.seq} stored after seq {last_seq[slot]} "
                f"in partition {record.partition}"
            )
        last_seq[slot] = outcome.seq
    acked: dict[int, list[Outcome]] = collections.defaultdict(list)
    for outcome in outcomes:
        if outcome.delivery is not None:
            acked[outcome.partition].append(outcome)
    for partition, calls in acked.items():
        by_finish = sorted(calls, key=lambda o: o.finished)
        finishes = [o.finished for o in by_finish]
        highest_so_far: list[int] = []
        for o in by_finish:
            assert o.delivery is not None
            previous = highest_so_far[-1] if highest_so_far else -1
            highest_so_far.append(max(previous, o.delivery.offset))
        for o in calls:
            assert o.delivery is not None
            before = bisect.bisect_left(finishes, o.started)
            if before and highest_so_far[before - 1] >= o.delivery.offset:
                problems.append(
                    f"partition {partition}: {o.value!r} (offset {o.delivery.offset}) was sent "
                    f"after offset {highest_so_far[before - 1]} was acknowledged"
                )
    return problems


class Watched:
    """A load whose outcomes a test watches: waits on them, counts them."""

    outcomes: list[Outcome]

    def wait_for(
        self, what: str, condition: Callable[[list[Outcome]], bool], timeout: float = PROGRESS_WAIT
    ) -> None:
        """Wait until ``condition(outcomes so far)`` holds."""
        deadline = time.monotonic() + timeout
        while not condition(list(self.outcomes)):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout:g}s: {self.summary()}")
            time.sleep(0.05)

    def acked_since(
        self, since: float, at_least: int, partition: int | None = None
    ) -> Callable[[list[Outcome]], bool]:
        """Condition: ``at_least`` calls started after ``since`` were acknowledged."""

        def reached(outcomes: list[Outcome]) -> bool:
            acked = sum(
                1
                for o in outcomes
                if o.delivery is not None
                and o.started > since
                and (partition is None or o.partition == partition)
            )
            return acked >= at_least

        return reached

    def summary(self) -> str:
        """Acknowledged and raised so far, with the error types seen."""
        outcomes = list(self.outcomes)
        errors = collections.Counter(type(o.error).__name__ for o in outcomes if o.error)
        acked = sum(o.delivery is not None for o in outcomes)
        return f"{acked} acknowledged, {len(outcomes) - acked} raised {dict(errors)}"


@dataclass
class SyncLoad(Watched):
    """``THREADS`` threads calling ``produce_sync`` in a loop, over every partition."""

    producer: kaffe.Producer
    topic: str
    partitions: int = PARTITIONS
    threads: int = THREADS
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        """Start the threads."""
        for number in range(self.threads):
            worker = threading.Thread(target=self._run, args=(number,), name=f"load-{number}")
            worker.start()
            self._workers.append(worker)

    def _run(self, thread: int) -> None:
        seq = 0
        while not self._stop.is_set():
            partition = (thread + seq) % self.partitions
            value = f"t{thread}-{seq}".encode()
            started = time.monotonic()
            try:
                delivery = self.producer.produce_sync(self.topic, partition, b"", value)
            except BaseException as error:
                self.outcomes.append(
                    Outcome(value, thread, seq, partition, started, time.monotonic(), error=error)
                )
                if isinstance(error, kaffe.ProducerClosedError):
                    return
            else:
                self.outcomes.append(
                    Outcome(value, thread, seq, partition, started, time.monotonic(), delivery)
                )
            seq += 1

    def stop(self) -> None:
        """Stop the threads; every call in progress is bounded by the delivery timeout."""
        self._stop.set()
        limit = self.producer.config.delivery_timeout + DELIVERY_GRACE + 10
        for worker in self._workers:
            worker.join(timeout=limit)
        hung = [worker.name for worker in self._workers if worker.is_alive()]
        assert not hung, f"produce_sync calls still running {limit:g}s after stop: {hung}"


class AsyncLoad(Watched):
    """
    ``THREADS`` tasks awaiting ``AsyncProducer.produce_sync`` in a loop, over every partition.

    The producer and its tasks run on an event loop of their own thread, so the test
    drives this load like a :class:`SyncLoad`. Once stopped, the same producer sends one
    more message to every partition (``after``).
    """

    def __init__(self, bootstrap: str, topic: str, delivery_timeout: float) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.delivery_timeout = delivery_timeout
        self.outcomes: list[Outcome] = []
        self.after: list[kaffe.Delivery] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="async-load")
        self._failure: BaseException | None = None

    def start(self) -> None:
        """Start the loop's thread and wait until its producer is started."""
        self._thread.start()
        assert self._ready.wait(PROGRESS_WAIT), "the asyncio load did not start"
        if self._failure is not None:
            raise self._failure

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self._failure = error
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with kaffe.AsyncProducer(
            endpoints=self.bootstrap, topics=[self.topic], delivery_timeout=self.delivery_timeout
        ) as producer:
            tasks = [asyncio.create_task(self._worker(producer, n)) for n in range(THREADS)]
            self._ready.set()
            await self._stop.wait()
            await asyncio.wait_for(
                asyncio.gather(*tasks), self.delivery_timeout + DELIVERY_GRACE + 10
            )
            for partition in range(PARTITIONS):
                self.after.append(await producer.produce_sync(self.topic, partition, b"", b"after"))

    async def _worker(self, producer: kaffe.AsyncProducer, task: int) -> None:
        assert self._stop is not None
        seq = 0
        while not self._stop.is_set():
            partition = (task + seq) % PARTITIONS
            value = f"t{task}-{seq}".encode()
            started = time.monotonic()
            try:
                delivery = await producer.produce_sync(self.topic, partition, b"", value)
            except Exception as error:
                self.outcomes.append(
                    Outcome(value, task, seq, partition, started, time.monotonic(), error=error)
                )
            else:
                self.outcomes.append(
                    Outcome(value, task, seq, partition, started, time.monotonic(), delivery)
                )
            seq += 1

    def stop(self) -> None:
        """Stop the tasks, send the ``after`` messages, and end the loop's thread."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=self.delivery_timeout + DELIVERY_GRACE + PROGRESS_WAIT)
        assert not self._thread.is_alive(), "the asyncio load did not stop"
        if self._failure is not None:
            raise self._failure


def _report(capsys: pytest.CaptureFixture[str], name: str, counts: Counts, seconds: float) -> None:
    with capsys.disabled():
        print(f"\n[{name}] {counts} in {seconds:.1f}s")


# --- the harness itself ----------------------------------------------------------------------


def test_quorum_survives_one_node_down_and_a_restarted_node_keeps_its_data(
    healthy_cluster: ReplicatedCluster,
) -> None:
    cluster = healthy_cluster
    node = 3
    # One replica only, on the node that goes down: its data must survive the kill.
    only_on_node = cluster.create_topic(replica_assignment=[[node]], min_insync_replicas=1)
    values = [f"kept-{i}".encode() for i in range(20)]
    with kaffe.Producer(endpoints=cluster.bootstrap, topics=[only_on_node]) as producer:
        before = [producer.produce_sync(only_on_node, 0, b"", value) for value in values]

    cluster.kill(node)
    assert node not in cluster.running()
    deadline = time.monotonic() + 60
    while node in cluster.admin.list_topics(timeout=10).brokers:
        assert time.monotonic() < deadline, f"node {node} still listed 60s after the kill"
        time.sleep(0.2)
    # The controller quorum (2 of 3 voters) still creates topics and elects leaders.
    fresh = cluster.create_topic(3, replication_factor=2)
    with kaffe.Producer(endpoints=cluster.bootstrap, topics=[fresh]) as producer:
        assert producer.produce_sync(fresh, 0, b"", b"while-down").offset == 0

    cluster.start(node)
    assert cluster.running() == set(NODES)
    cluster.wait_for_full_isr(only_on_node)
    records = cluster.read(only_on_node)
    assert [(r.offset, r.value) for r in records] == [
        (d.offset, v) for d, v in zip(before, values, strict=True)
    ]


# --- leader failover ---------------------------------------------------------------------------


def test_leader_failover_keeps_every_acknowledged_message_once_and_in_order(
    healthy_cluster: ReplicatedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    # The node that leads partition 0, wherever the controller placed it: the nodes are
    # alike, and one failover per run keeps CI short.
    cluster = healthy_cluster
    began = time.monotonic()
    topic = cluster.create_topic(PARTITIONS)
    victim = 0
    node = cluster.leaders(topic)[victim]

    with kaffe.Producer(
        endpoints=cluster.bootstrap, topics=[topic], delivery_timeout=FAILOVER_DELIVERY_TIMEOUT
    ) as producer:
        load = SyncLoad(producer, topic)
        load.start()
        try:
            load.wait_for("warm-up", load.acked_since(0, 200))
            cluster.kill(node)
            killed = time.monotonic()
            cluster.wait_for_new_leader(topic, victim, node)
            # Production carries on, on the very partition that lost its leader.
            load.wait_for(
                "acknowledgement on the failed-over partition",
                load.acked_since(killed, 20, partition=victim),
            )
            cluster.start(node)
            cluster.wait_for_full_isr(topic)
            restarted = time.monotonic()
            load.wait_for("progress after the restart", load.acked_since(restarted, 200))
        finally:
            load.stop()

    records = cluster.read(topic)
    counts = tally(load.outcomes, records)
    _report(capsys, f"failover of node {node}", counts, time.monotonic() - began)
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.misplaced == 0
    # One node down is routine for a replicated topic: nothing may fail.
    assert [o.error for o in load.outcomes if o.error is not None] == []
    assert counts.acknowledged == len(records)
    assert order_violations(load.outcomes, records) == []


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_pipelined_produce_keeps_partition_order_across_a_leader_change(
    healthy_cluster: ReplicatedCluster, how: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = healthy_cluster
    began = time.monotonic()
    partitions = 3
    topic = cluster.create_topic(partitions)
    victim_leader = cluster.leaders(topic)[0]
    in_flight = 64
    outcomes: list[Outcome] = []
    stop = threading.Event()

    def pipeline(producer: kaffe.Producer, partition: int) -> None:
        # Many messages in flight to one partition: the case idempotence keeps in order.
        pending: collections.deque[tuple[Outcome, Future[kaffe.Delivery]]] = collections.deque()
        seq = 0

        def settle(entry: tuple[Outcome, Future[kaffe.Delivery]]) -> None:
            sent, future = entry
            limit = FAILOVER_DELIVERY_TIMEOUT + DELIVERY_GRACE + 5
            try:
                delivery = future.result(timeout=limit)
            except BaseException as error:
                outcomes.append(
                    Outcome(
                        sent.value, partition, sent.seq, partition, sent.started, 0, None, error
                    )
                )
            else:
                finished = time.monotonic()
                outcomes.append(
                    Outcome(
                        sent.value, partition, sent.seq, partition, sent.started, finished, delivery
                    )
                )

        while not stop.is_set():
            value = f"p{partition}-{seq}".encode()
            sent = Outcome(value, partition, seq, partition, time.monotonic(), 0)
            pending.append((sent, producer.produce(topic, partition, b"", value)))
            seq += 1
            if len(pending) >= in_flight:
                settle(pending.popleft())
        while pending:
            settle(pending.popleft())

    def acked_on_victim_since(since: float) -> int:
        return sum(
            1 for o in list(outcomes) if o.partition == 0 and o.delivery and o.started > since
        )

    def wait_for(what: str, since: float, at_least: int) -> None:
        deadline = time.monotonic() + PROGRESS_WAIT
        while acked_on_victim_since(since) < at_least:
            assert time.monotonic() < deadline, f"no {what} within {PROGRESS_WAIT:g}s"
            time.sleep(0.05)

    with kaffe.Producer(
        endpoints=cluster.bootstrap,
        topics=[topic],
        delivery_timeout=FAILOVER_DELIVERY_TIMEOUT,
        linger_ms=2,
    ) as producer:
        workers = [
            threading.Thread(target=pipeline, args=(producer, partition))
            for partition in range(partitions)
        ]
        for worker in workers:
            worker.start()
        try:
            wait_for("warm-up", 0, 2000)
            getattr(cluster, how)(victim_leader)
            changed = time.monotonic()
            cluster.wait_for_new_leader(topic, 0, victim_leader)
            wait_for("acknowledgement from the new leader", changed, 2000)
            cluster.start(victim_leader)
            cluster.wait_for_full_isr(topic)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=FAILOVER_DELIVERY_TIMEOUT + 60)
        assert not any(worker.is_alive() for worker in workers)

    records = cluster.read(topic)
    counts = tally(outcomes, records)
    _report(capsys, f"pipelined produce, leader {how}", counts, time.monotonic() - began)
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.misplaced == 0
    assert [o.error for o in outcomes if o.error is not None] == []
    for partition in range(partitions):
        stored = [r.value for r in records if r.partition == partition]
        sent = [o.value for o in sorted(outcomes, key=lambda o: o.seq) if o.partition == partition]
        assert stored == sent, f"partition {partition} is not in send order"


# --- the whole cluster down ---------------------------------------------------------------


def test_whole_cluster_down_raises_delivery_timeout_then_the_same_producers_recover(
    healthy_cluster: ReplicatedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    # Both faces at once, each on a topic of its own, through one outage.
    cluster = healthy_cluster
    began = time.monotonic()
    sync_topic, async_topic = cluster.create_topic(PARTITIONS), cluster.create_topic(PARTITIONS)
    with kaffe.Producer(
        endpoints=cluster.bootstrap, topics=[sync_topic], delivery_timeout=OUTAGE_DELIVERY_TIMEOUT
    ) as producer:
        loads = (
            SyncLoad(producer, sync_topic),
            AsyncLoad(cluster.bootstrap, async_topic, OUTAGE_DELIVERY_TIMEOUT),
        )
        try:
            for load in loads:
                load.start()
            for load in loads:
                load.wait_for("warm-up", load.acked_since(0, 200))
            for node in NODES:
                cluster.kill(node)
            down = time.monotonic()

            def every_worker_raised_since_down(outcomes: list[Outcome]) -> bool:
                return len({o.thread for o in outcomes if o.error and o.started > down}) == THREADS

            for load in loads:
                load.wait_for(
                    "timeout in every worker",
                    every_worker_raised_since_down,
                    timeout=OUTAGE_DELIVERY_TIMEOUT + DELIVERY_GRACE + 10,
                )
            cluster.up()
            back = time.monotonic()

            def every_worker_acked_since_back(outcomes: list[Outcome]) -> bool:
                return (
                    len({o.thread for o in outcomes if o.delivery and o.started > back}) == THREADS
                )

            for load in loads:
                load.wait_for("recovery in every worker", every_worker_acked_since_back)
        finally:
            for load in reversed(loads):
                load.stop()
        # Without being rebuilt, both producers reach every partition again.
        for partition in range(PARTITIONS):
            assert (
                producer.produce_sync(sync_topic, partition, b"", b"after").partition == partition
            )
    assert [delivery.partition for delivery in loads[1].after] == list(range(PARTITIONS))

    _check_outage(cluster, sync_topic, loads[0].outcomes, capsys, "whole cluster down", began)
    _check_outage(
        cluster, async_topic, loads[1].outcomes, capsys, "whole cluster down, asyncio", began
    )


def test_the_event_loop_never_waits_for_metadata_while_the_cluster_is_down(
    healthy_cluster: ReplicatedCluster,
) -> None:
    cluster = healthy_cluster
    topic = cluster.create_topic(PARTITIONS)
    beat = 0.010

    async def main() -> list[float]:
        lateness: list[float] = []

        async def heartbeat() -> None:
            # Lateness net of the waits for a CPU, which are the busy machine's doing
            # (as in test_network_faults.py).
            stats = schedstat()
            while True:
                began = time.perf_counter()
                await asyncio.sleep(beat)
                late = time.perf_counter() - began - beat
                previous, stats = stats, schedstat()
                lateness.append(max(late - cpu_waits(previous, stats), 0.0))

        async with kaffe.AsyncProducer(
            endpoints=cluster.bootstrap, topics=[topic], start_timeout=3, delivery_timeout=2
        ) as producer:
            for node in NODES:
                await asyncio.to_thread(cluster.kill, node)
            beating = asyncio.create_task(heartbeat())
            await asyncio.sleep(0.1)
            try:
                # A topic not analysed yet: its metadata is fetched off the loop.
                with pytest.raises(kaffe.BrokerUnavailableError):
                    await producer.produce_sync("never-analysed", b"k", b"v")
                # A partition beyond the known count: re-read off the loop, then refused.
                with pytest.raises(kaffe.InvalidPartitionError):
                    await producer.produce_sync(topic, PARTITIONS + 5, b"k", b"v")
                await producer.refresh_metadata()
                await producer.partitions_count(topic)
            finally:
                beating.cancel()
                await asyncio.to_thread(cluster.up)
        return lateness

    lateness = asyncio.run(main())
    assert len(lateness) > 100
    assert max(lateness) <= 0.050, sorted(lateness)[-5:]


def _check_outage(
    cluster: ReplicatedCluster,
    topic: str,
    outcomes: list[Outcome],
    capsys: pytest.CaptureFixture[str],
    name: str,
    began: float,
) -> None:
    records = [r for r in cluster.read(topic) if r.value != b"after"]
    counts = tally(outcomes, records)
    _report(capsys, name, counts, time.monotonic() - began)
    assert counts.lost == 0
    assert counts.duplicated == 0
    assert counts.misplaced == 0
    assert counts.raised >= THREADS
    raised = [o for o in outcomes if o.error is not None]
    for outcome in raised:
        error = outcome.error
        assert isinstance(error, kaffe.DeliveryTimeoutError), repr(error)
        assert (error.reason, error.retriable) == ("timed out", True)
        assert error.topic == topic
        assert error.partition == outcome.partition
        # After the delivery timeout, never later (librdkafka scans for expired
        # messages about once a second; kaffe's own wait adds DELIVERY_GRACE at most).
        waited = outcome.finished - outcome.started
        assert waited >= OUTAGE_DELIVERY_TIMEOUT - TIMEOUT_SCAN, (outcome, waited)
        assert waited <= OUTAGE_DELIVERY_TIMEOUT + DELIVERY_GRACE, (outcome, waited)
    assert order_violations(outcomes, records) == []


# --- shutdown while the cluster cannot take anything ------------------------------------------


def test_close_during_an_outage_reports_and_fails_every_waiting_call_and_future(
    healthy_cluster: ReplicatedCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = healthy_cluster
    began = time.monotonic()
    topic = cluster.create_topic(PARTITIONS)
    # A delivery timeout far beyond the test: only close() can end these waits.
    producer = kaffe.Producer(endpoints=cluster.bootstrap, topics=[topic], delivery_timeout=300)
    assert producer.produce_sync(topic, 0, b"", b"before").offset == 0
    for node in NODES:
        cluster.kill(node)
    futures = [producer.produce(topic, n % PARTITIONS, b"", f"f{n}".encode()) for n in range(50)]
    load = SyncLoad(producer, topic, threads=4)
    load.start()
    # Until the four callers have handed their messages over and wait for them.
    handed_over = len(futures) + 4
    deadline = time.monotonic() + PROGRESS_WAIT
    while len(producer._engine.rk) < handed_over:
        assert time.monotonic() < deadline, f"the callers handed over {len(producer._engine.rk)}"
        time.sleep(0.05)
    with pytest.raises(kaffe.UndeliveredMessagesError) as raised:
        producer.close(timeout=1)
    load.stop()  # bounded: each waiting produce_sync must return once close() is done
    assert raised.value.undelivered >= len(futures) + 4
    # Each caller was waiting when close() ran: that call failed at once, not after the
    # 300 s delivery timeout, and the caller's next call found the producer closed.
    first_errors: dict[int, BaseException | None] = {}
    for outcome in load.outcomes:
        first_errors.setdefault(outcome.thread, outcome.error)
    assert len(first_errors) == 4
    for error in first_errors.values():
        assert type(error) is kaffe.ProduceError, repr(error)
        assert error.reason == "purged at close"
    assert all(o.delivery is None for o in load.outcomes)
    assert all(future.done() for future in futures)
    for future in futures:
        error = future.exception(timeout=0)
        assert isinstance(error, kaffe.ProduceError)
        assert error.reason == "purged at close"
    cluster.up()
    records = cluster.read(topic)
    assert [r.value for r in records] == [b"before"]
    with capsys.disabled():
        print(
            f"\n[close during an outage] undelivered={raised.value.undelivered} "
            f"futures failed={len(futures)} produce_sync raised={len(first_errors)} "
            f"in {time.monotonic() - began:.1f}s"
        )
