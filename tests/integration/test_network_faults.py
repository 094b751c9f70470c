"""
The producer's promise under network faults, on a 3-node cluster behind Toxiproxy.

Each test puts one fault on the leader of a partition while both faces produce at
once: on ``kaffe.Producer``, 8 threads calling ``produce_sync`` and one thread
pipelining ``produce()``; on ``kaffe.AsyncProducer`` (an event loop in a process of its
own, as an asyncio service runs), 100 tasks awaiting ``produce_sync``, one task
pipelining ``produce()`` and a heartbeat that measures how late the loop runs. The faults come from
``scripts/kafka pause``/``resume`` and ``fault``/``heal``; the cluster's own traffic
(replication, the controller quorum) goes past the proxies, so the cluster stays
healthy while its clients suffer.

Then the topic is read back with a consumer (past the proxies) and checked:

- nothing acknowledged is lost, and nothing at all is stored twice;
- acknowledged messages keep their order per partition;
- every call returns, or raises a ``kaffe.KaffeError``, within ``delivery_timeout`` + 5 s;
- a message that raised but is in the log anyway raised an error that says it may be;
- the asyncio heartbeat is never more than 50 ms late, not counting the time the
  asyncio process's threads waited for a CPU (a busy machine, not a blocked loop; see
  ``AsyncioFace._heartbeat``);
- after the fault ends, throughput is back to 80 % of its level before within 15 s
  (that level: the median of its one-second rates over 4 s, from a second after every
  sender's first acknowledgement until the fault).

Topics have replication factor 3 and ``min.insync.replicas=2``; ``delivery_timeout``
is 30 s. Each test prints its row of the results table in ``docs/reliability.md``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import multiprocessing
import statistics
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest

import kaffe
from tests.conftest import Record
from tests.integration.conftest import ProxiedCluster, cpu_waits, schedstat

pytestmark = [
    pytest.mark.integration,
    pytest.mark.faults,
    pytest.mark.timeout(420),
]

DELIVERY_TIMEOUT = 30.0
#: Every call returns or raises within this many seconds.
CALL_LIMIT = DELIVERY_TIMEOUT + 5.0
PARTITIONS = 6
SYNC_THREADS = 8
ASYNC_TASKS = 100
#: Messages a pipeline keeps in flight.
PIPELINE_WINDOW = 32
#: Bytes of each value, so that a thin link is felt.
VALUE_SIZE = 100
#: The heartbeat wakes this often, and may be this late at most.
HEARTBEAT_INTERVAL = 0.01
HEARTBEAT_LIMIT = 0.05
#: Throughput must be back to this share of its level before the fault ...
RECOVERY_SHARE = 0.8
#: ... within this many seconds after the fault ends ...
RECOVERY_LIMIT = 15.0
#: ... measured over windows this long. The level before is the median of such windows,
#: a quarter of one apart, over a longer span that starts a little after every sender's
#: first acknowledgement. The load ramps up, or bursts, in its first seconds (the first
#: half second once ran at 9 % of the steady rate, and another start at 125 %), and
#: single seconds run at 60 % to 135 % of the steady rate: an average over a span that
#: starts at once moves with both.
RATE_WINDOW = 1.0
BASELINE_SETTLE = 1.0
BASELINE_WINDOW = 4.0
#: Seconds any wait for progress may take before the test fails.
PROGRESS_WAIT = 120.0


# --- what every call did ----------------------------------------------------------------


@dataclass
class Outcome:
    """One message: who sent it, when, and how its call ended."""

    stream: str
    seq: int
    value: bytes
    started: float
    finished: float = 0.0
    delivery: kaffe.Delivery | None = None
    error: BaseException | None = None

    @property
    def seconds(self) -> float:
        """How long the call (or the future) took to settle."""
        return self.finished - self.started


class Stream:
    """One sender's outcomes, in sending order, and its acknowledgement count."""

    def __init__(self, name: str, shared: Any = None) -> None:
        self.name = name
        self.outcomes: list[Outcome] = []
        self.acknowledged = 0
        self._seq = 0
        # A pipeline's outcomes settle on whichever thread serves its delivery reports.
        self._lock = threading.Lock()
        #: A counter shared with another process (``multiprocessing.Value``), if any.
        self._shared = shared

    def next(self) -> tuple[Outcome, str]:
        """A new outcome for the next message, and the message's key."""
        seq = self._seq
        self._seq += 1
        value = f"{self.name}:{seq}:".encode().ljust(VALUE_SIZE, b".")
        outcome = Outcome(self.name, seq, value, time.monotonic())
        self.outcomes.append(outcome)
        return outcome, f"{self.name}-{seq}"

    def settle(
        self, outcome: Outcome, delivery: kaffe.Delivery | None, error: BaseException | None
    ) -> None:
        """Record how the message's call ended."""
        outcome.finished = time.monotonic()
        outcome.delivery = delivery
        outcome.error = error
        if delivery is not None:
            with self._lock:
                self.acknowledged += 1
                if self._shared is not None:
                    self._shared.value += 1


# --- the load: both faces at once ---------------------------------------------------------


@dataclass(frozen=True)
class Beat:
    """One heartbeat of the asyncio face."""

    #: When it was due (``time.monotonic()``).
    due: float
    #: Seconds it ran late.
    late: float
    #: Seconds of that the machine accounts for: threads waiting for a CPU.
    starved: float
    #: Seconds the loop's own thread ran on a CPU meanwhile.
    loop_cpu: float

    @property
    def net(self) -> float:
        """Seconds late, not counting the waits for a CPU."""
        return max(self.late - self.starved, 0.0)


class ThreadedFace:
    """``kaffe.Producer``: 8 threads calling ``produce_sync``, one pipelining ``produce()``."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = kaffe.Producer(
            endpoints=bootstrap, topics=[topic], delivery_timeout=DELIVERY_TIMEOUT
        )
        self.streams = [Stream(f"sync-{number}") for number in range(SYNC_THREADS)]
        self.streams.append(Stream("pipeline"))
        self.failures: list[BaseException] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the senders."""
        for stream in self.streams[:-1]:
            self._spawn(stream.name, self._sender, stream)
        self._spawn("pipeline", self._pipeline, self.streams[-1])

    def _spawn(self, name: str, target: Callable[[Stream], None], stream: Stream) -> None:
        def run() -> None:
            try:
                target(stream)
            except BaseException as error:  # reported by stop()
                self.failures.append(error)

        thread = threading.Thread(target=run, name=f"load-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _sender(self, stream: Stream) -> None:
        while not self._stop.is_set():
            outcome, key = stream.next()
            try:
                delivery = self.producer.produce_sync(self.topic, key, outcome.value)
            except BaseException as error:
                stream.settle(outcome, None, error)
            else:
                stream.settle(outcome, delivery, None)

    def _pipeline(self, stream: Stream) -> None:
        in_flight: collections.deque[Future[kaffe.Delivery]] = collections.deque()

        def settle_when_done(outcome: Outcome) -> Callable[[Future[kaffe.Delivery]], None]:
            def done(future: Future[kaffe.Delivery]) -> None:
                error = future.exception()
                stream.settle(outcome, None if error else future.result(), error)

            return done

        while not self._stop.is_set():
            outcome, key = stream.next()
            try:
                future = self.producer.produce(self.topic, key, outcome.value)
            except BaseException as error:
                stream.settle(outcome, None, error)
                continue
            future.add_done_callback(settle_when_done(outcome))
            in_flight.append(future)
            while len(in_flight) >= PIPELINE_WINDOW:
                in_flight.popleft().exception(timeout=CALL_LIMIT + 10)
        for waiting in in_flight:
            waiting.exception(timeout=CALL_LIMIT + 10)

    def stop(self) -> None:
        """Stop the senders, wait for every call in flight, close the producer."""
        self._stop.set()
        limit = CALL_LIMIT + 30
        for thread in self._threads:
            thread.join(timeout=limit)
        hung = [thread.name for thread in self._threads if thread.is_alive()]
        try:
            self.producer.close(timeout=10)
        finally:
            assert not hung, f"senders still running {limit:g}s after stop: {hung}"
        assert not self.failures, f"a sender failed: {self.failures!r}"


class AsyncioFace:
    """
    ``kaffe.AsyncProducer``: 100 tasks awaiting ``produce_sync``, one pipelining
    ``produce()``, and a heartbeat.

    It runs in a process of its own (:func:`run_asyncio_face`), as an asyncio service
    would: in the test's process, the threaded face's threads would hold the loop up
    by taking turns at the GIL, whatever the asyncio face did.
    """

    def __init__(self, bootstrap: str, topic: str, stop: Any, acknowledged: Any, all_in: Any):
        self.bootstrap = bootstrap
        self.topic = topic
        self.streams = [Stream(f"async-{number}", acknowledged) for number in range(ASYNC_TASKS)]
        self.streams.append(Stream("async-pipeline", acknowledged))
        self.beats: list[Beat] = []
        self._stop = stop
        self._all_in = all_in

    def run(self) -> None:
        """Produce until told to stop."""
        asyncio.run(self._main())

    async def _main(self) -> None:
        async with kaffe.AsyncProducer(
            endpoints=self.bootstrap, topics=[self.topic], delivery_timeout=DELIVERY_TIMEOUT
        ) as producer:
            heartbeat = asyncio.create_task(self._heartbeat())
            tasks = [asyncio.create_task(self._sender(producer, s)) for s in self.streams[:-1]]
            tasks.append(asyncio.create_task(self._pipeline(producer, self.streams[-1])))
            await asyncio.gather(*tasks)
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _sender(self, producer: kaffe.AsyncProducer, stream: Stream) -> None:
        while not self._stop.is_set():
            outcome, key = stream.next()
            try:
                delivery = await producer.produce_sync(self.topic, key, outcome.value)
            except Exception as error:
                stream.settle(outcome, None, error)
            else:
                stream.settle(outcome, delivery, None)

    async def _pipeline(self, producer: kaffe.AsyncProducer, stream: Stream) -> None:
        in_flight: collections.deque[asyncio.Future[kaffe.Delivery]] = collections.deque()

        def settle_when_done(outcome: Outcome) -> Callable[[asyncio.Future[kaffe.Delivery]], None]:
            def done(future: asyncio.Future[kaffe.Delivery]) -> None:
                error = future.exception()
                stream.settle(outcome, None if error else future.result(), error)

            return done

        while not self._stop.is_set():
            outcome, key = stream.next()
            try:
                future = await producer.produce(self.topic, key, outcome.value)
            except Exception as error:
                stream.settle(outcome, None, error)
                continue
            future.add_done_callback(settle_when_done(outcome))
            in_flight.append(future)
            while len(in_flight) >= PIPELINE_WINDOW:
                await asyncio.wait([in_flight.popleft()])
        if in_flight:
            await asyncio.wait(in_flight)

    async def _heartbeat(self) -> None:
        """
        Wake every HEARTBEAT_INTERVAL and note how late each wake-up came.

        On a busy machine a wake-up is late because a thread waited for a CPU: the
        loop's own thread, a thread holding the GIL the loop needs next (any Python
        thread; several may hold it in turn), or one holding a lock inside librdkafka.
        That is the machine's doing, not the loop's, so each beat also records how much
        of its lateness such waits account for: the waits of every Python thread of
        this process, and the longest of any other thread's. What is left is code
        running on the loop, or the loop waiting for something that was running.
        """
        loop = asyncio.get_running_loop()
        me = threading.get_native_id()
        stats = schedstat()
        while True:
            before = loop.time()
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            late = loop.time() - before - HEARTBEAT_INTERVAL
            previous, stats = stats, schedstat()
            starved = cpu_waits(previous, stats)
            loop_cpu = stats.get(me, (0.0, 0.0))[0] - previous.get(me, (0.0, 0.0))[0]
            self.beats.append(Beat(before + HEARTBEAT_INTERVAL, late, starved, loop_cpu))
            if not self._all_in.is_set() and all(s.acknowledged for s in self.streams):
                self._all_in.set()


def run_asyncio_face(
    bootstrap: str, topic: str, stop: Any, acknowledged: Any, all_in: Any, results: Any
) -> None:
    """
    The asyncio face's process: produce until ``stop``, then send back what happened.

    Args:
        bootstrap: Where to connect.
        topic: Where to produce.
        stop: An event that ends the run.
        acknowledged: A shared counter of acknowledged messages.
        all_in: An event set once every sender has had a message acknowledged.
        results: A connection that receives ``(outcomes, beats, failure)``.
    """
    face = AsyncioFace(bootstrap, topic, stop, acknowledged, all_in)
    failure = None
    try:
        face.run()
    except BaseException:
        failure = traceback.format_exc()
    outcomes = [outcome for stream in face.streams for outcome in stream.outcomes]
    results.send((outcomes, face.beats, failure))


class Load:
    """Both faces producing to one topic until stopped, and a throughput sampler."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        context = multiprocessing.get_context("spawn")  # fork() and threads do not mix
        self.threaded = ThreadedFace(bootstrap, topic)
        self._async_stop = context.Event()
        self._async_acknowledged = context.Value("q", 0, lock=False)
        self._async_all_in = context.Event()
        self._results, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=run_asyncio_face,
            args=(
                bootstrap,
                topic,
                self._async_stop,
                self._async_acknowledged,
                self._async_all_in,
                sending,
            ),
            name="asyncio-face",
            daemon=True,
        )
        #: The asyncio face's outcomes and beats, once it stopped.
        self.async_outcomes: list[Outcome] = []
        self.beats: list[Beat] = []
        self._stop = threading.Event()
        self._samples: list[tuple[float, int]] = []
        self._sampler = threading.Thread(target=self._sample, name="load-sampler", daemon=True)

    def start(self) -> None:
        """Start both faces and the sampler."""
        self._process.start()
        self.threaded.start()
        self._sampler.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._samples.append((time.monotonic(), self.acknowledged()))
            time.sleep(0.05)

    # --- measuring --------------------------------------------------------------------

    def acknowledged(self) -> int:
        """Messages acknowledged so far, over every sender of both faces."""
        threaded = sum(stream.acknowledged for stream in self.threaded.streams)
        return threaded + int(self._async_acknowledged.value)

    def rate(self, start: float, end: float) -> float:
        """Acknowledgements a second between two moments (sampled every 50 ms)."""
        samples = list(self._samples)
        before = [count for moment, count in samples if moment <= start]
        after = [count for moment, count in samples if moment <= end]
        if not before or not after:
            return 0.0
        return (after[-1] - before[-1]) / (end - start)

    def wait_for(self, what: str, condition: Callable[[], bool]) -> None:
        """Wait until ``condition()`` holds, or fail after PROGRESS_WAIT."""
        deadline = time.monotonic() + PROGRESS_WAIT
        while not condition():
            assert not self.threaded.failures, f"a sender failed: {self.threaded.failures!r}"
            assert self._process.is_alive(), "the asyncio face's process ended"
            assert time.monotonic() < deadline, f"no {what} within {PROGRESS_WAIT:g}s"
            time.sleep(0.05)

    def every_sender_acknowledged(self) -> bool:
        """Whether each sender of both faces has had a message acknowledged."""
        return self._async_all_in.is_set() and all(
            stream.acknowledged for stream in self.threaded.streams
        )

    def stop(self) -> None:
        """Stop both faces, wait for every call in flight, and collect the outcomes."""
        self._async_stop.set()
        try:
            self.threaded.stop()
        finally:
            self._stop.set()
            limit = CALL_LIMIT + 60
            deadline = time.monotonic() + limit
            while not self._results.poll(0.5):
                assert self._process.is_alive(), "the asyncio face's process ended without results"
                assert time.monotonic() < deadline, (
                    f"no results from the asyncio face in {limit:g}s"
                )
            self.async_outcomes, self.beats, failure = self._results.recv()
            self._process.join(timeout=30)
            self._results.close()
        assert failure is None, f"the asyncio face failed:\n{failure}"

    def outcomes(self) -> list[Outcome]:
        """Every message sent, over every sender of both faces."""
        threaded = [o for stream in self.threaded.streams for o in stream.outcomes]
        return threaded + self.async_outcomes


# --- checking against the log ---------------------------------------------------------------


@dataclass
class Result:
    """One fault's row of the results table."""

    fault: str
    acknowledged: int = 0
    lost: int = 0
    duplicated: int = 0
    raised: int = 0
    raised_in_log: int = 0
    longest_call: float = 0.0
    recovery: float = 0.0
    heartbeat_late: float = 0.0
    #: How many calls raised each error type.
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    problems: list[str] = field(default_factory=list)

    def row(self) -> str:
        """The row as docs/reliability.md shows it."""
        raised = f"{self.raised:,}"
        if self.raised_in_log:
            raised += f" ({self.raised_in_log:,} stored anyway)"
        return (
            f"| {self.fault} | {self.acknowledged:,} | {self.lost} | {self.duplicated} | "
            f"{raised} | {self.longest_call:.1f} s | {self.recovery:.1f} s |"
        )


def says_it_may_be_stored(error: BaseException) -> bool:
    """Whether an error tells its caller the message may be in the log all the same."""
    text = str(error)
    return "may have stored it" in text or "may still have stored it" in text


def check(result: Result, outcomes: list[Outcome], records: list[Record]) -> None:
    """Count the outcomes against the log and note every broken promise."""
    stored = collections.Counter(record.value for record in records)
    at = {(record.partition, record.offset): record.value for record in records}
    sent = {outcome.value for outcome in outcomes}
    problems = result.problems
    for record in records:
        if record.value not in sent:
            problems.append(f"unexpected value {record.value!r} in the log")
    result.duplicated = sum(count - 1 for count in stored.values() if count > 1)
    for outcome in outcomes:
        result.longest_call = max(result.longest_call, outcome.seconds)
        if outcome.seconds > CALL_LIMIT:
            problems.append(f"{outcome.stream}:{outcome.seq} took {outcome.seconds:.1f}s")
        if outcome.delivery is not None:
            result.acknowledged += 1
            if stored[outcome.value] == 0:
                result.lost += 1
            where = (outcome.delivery.partition, outcome.delivery.offset)
            if at.get(where) != outcome.value:
                problems.append(f"{outcome.stream}:{outcome.seq} not at its offset {where}")
        elif outcome.error is not None:
            result.raised += 1
            result.errors[type(outcome.error).__name__] += 1
            if not isinstance(outcome.error, kaffe.KaffeError):
                problems.append(f"{outcome.stream}:{outcome.seq} raised {outcome.error!r}")
            if stored[outcome.value]:
                result.raised_in_log += 1
                if not says_it_may_be_stored(outcome.error):
                    problems.append(
                        f"{outcome.stream}:{outcome.seq} is stored, but its error does not "
                        f"say it may be: {outcome.error!r}"
                    )
        else:
            problems.append(f"{outcome.stream}:{outcome.seq} never settled")
    problems.extend(order_violations(outcomes))


def order_violations(outcomes: list[Outcome]) -> list[str]:
    """
    Find acknowledged messages out of order within their partition.

    Two rules: one sender's acknowledged messages to a partition have offsets in the
    order it sent them; and a message acknowledged before another was even sent has
    the lower offset.
    """
    problems: list[str] = []
    acknowledged = [outcome for outcome in outcomes if outcome.delivery is not None]
    last: dict[tuple[str, int], tuple[int, int]] = {}
    for outcome in sorted(acknowledged, key=lambda o: (o.stream, o.seq)):
        assert outcome.delivery is not None
        slot = (outcome.stream, outcome.delivery.partition)
        if slot in last and outcome.delivery.offset <= last[slot][1]:
            problems.append(
                f"{outcome.stream}:{outcome.seq} at offset {outcome.delivery.offset} of "
                f"partition {slot[1]}, after its seq {last[slot][0]} at {last[slot][1]}"
            )
        last[slot] = (outcome.seq, outcome.delivery.offset)
    by_partition: dict[int, list[Outcome]] = collections.defaultdict(list)
    for outcome in acknowledged:
        assert outcome.delivery is not None
        by_partition[outcome.delivery.partition].append(outcome)
    for partition, settled in by_partition.items():
        settled.sort(key=lambda o: o.finished)
        highest = -1
        highest_by_start = sorted(settled, key=lambda o: o.started)
        index = 0
        for outcome in highest_by_start:
            while index < len(settled) and settled[index].finished < outcome.started:
                delivery = settled[index].delivery
                assert delivery is not None
                highest = max(highest, delivery.offset)
                index += 1
            assert outcome.delivery is not None
            if outcome.delivery.offset <= highest:
                problems.append(
                    f"partition {partition}: {outcome.stream}:{outcome.seq} (offset "
                    f"{outcome.delivery.offset}) was sent after offset {highest} was acknowledged"
                )
    return problems


# --- the faults -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """A fault on one node, held for a while, then ended."""

    name: str
    #: The test id.
    id: str
    hold: float
    begin: Callable[[ProxiedCluster, int], None]
    end: Callable[[ProxiedCluster, int], None]
    #: The longest call must take at least this long: the fault did bite.
    felt: float


def _pause(cluster: ProxiedCluster, node: int) -> None:
    cluster.pause(node)


def _resume(cluster: ProxiedCluster, node: int) -> None:
    cluster.resume(node)


def _heal(cluster: ProxiedCluster, node: int) -> None:
    cluster.heal(node)


def _network(*fault: str) -> Callable[[ProxiedCluster, int], None]:
    def begin(cluster: ProxiedCluster, node: int) -> None:
        cluster.fault(node, *fault)

    return begin


FAULTS = [
    Fault("pause 20 s", "pause", 20.0, _pause, _resume, felt=10.0),
    Fault("latency 200 ms for 15 s", "latency", 15.0, _network("latency", "200"), _heal, felt=0.4),
    Fault("black hole 10 s", "blackhole-10s", 10.0, _network("blackhole"), _heal, felt=5.0),
    # Longer than delivery_timeout: messages for the leader's partitions time out.
    Fault(
        "black hole 45 s",
        "blackhole-45s",
        45.0,
        _network("blackhole"),
        _heal,
        felt=DELIVERY_TIMEOUT,
    ),
    Fault("reset for 10 s", "reset", 10.0, _network("reset"), _heal, felt=5.0),
    # How much a thin link holds calls up depends on the load's volume: nothing to require.
    Fault(
        "bandwidth 50 KB/s for 15 s",
        "bandwidth",
        15.0,
        _network("bandwidth", "50"),
        _heal,
        felt=0.0,
    ),
]

RESULTS: list[Result] = []


@pytest.fixture(scope="module", autouse=True)
def _print_table() -> Iterator[None]:
    """After the module, print the whole results table (seen with ``pytest -s``)."""
    yield
    if RESULTS:
        print("\n| fault | acknowledged | lost | duplicated | raised | longest call | recovery |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for result in RESULTS:
            print(result.row())


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.id for fault in FAULTS])
def test_a_fault_on_a_partition_leader_loses_nothing_and_every_call_ends_in_time(
    healthy_proxied_cluster: ProxiedCluster, fault: Fault, capsys: pytest.CaptureFixture[str]
) -> None:
    cluster = healthy_proxied_cluster
    topic = cluster.create_topic(PARTITIONS)
    node = cluster.leaders(topic)[0]
    result = Result(fault.name)
    load = Load(cluster.bootstrap, topic)
    try:
        load.start()
        load.wait_for("acknowledgement from every sender", load.every_sender_acknowledged)
        measured = time.monotonic() + BASELINE_SETTLE
        time.sleep(BASELINE_SETTLE + BASELINE_WINDOW)
        baseline = median_rate(load, measured, measured + BASELINE_WINDOW)
        began = time.monotonic()
        fault.begin(cluster, node)
        try:
            time.sleep(fault.hold)
        finally:
            fault.end(cluster, node)
        ended = time.monotonic()
        result.recovery = wait_for_recovery(load, baseline, ended)
    finally:
        load.stop()
    records = cluster.read(topic)
    check(result, load.outcomes(), records)
    worst_beats = sorted(load.beats, key=lambda beat: beat.net, reverse=True)[:5]
    result.heartbeat_late = worst_beats[0].net if worst_beats else 0.0
    raw_late = max((beat.late for beat in load.beats), default=0.0)
    RESULTS.append(result)
    with capsys.disabled():
        print(
            f"\n[{fault.name} on node {node}] {result.row()} baseline {baseline:,.0f}/s, "
            f"heartbeat at most {result.heartbeat_late * 1000:.0f} ms late "
            f"({raw_late * 1000:.0f} ms with the waits for a CPU), "
            f"raised {dict(result.errors)}"
        )

    assert result.problems == []
    assert result.lost == 0
    assert result.duplicated == 0
    assert result.longest_call >= fault.felt, "the fault did not hold any call up"
    assert result.heartbeat_late <= HEARTBEAT_LIMIT, [
        f"{beat.net * 1000:.0f} ms late ({beat.late * 1000:.0f} ms, {beat.starved * 1000:.0f} ms "
        f"waiting for a CPU, loop on a CPU {beat.loop_cpu * 1000:.0f} ms) "
        f"{beat.due - began:+.1f} s from the fault's start"
        for beat in worst_beats
    ]
    assert result.recovery + RATE_WINDOW <= RECOVERY_LIMIT, (
        f"throughput a second at a time, as a share of the {baseline:,.0f}/s before the fault: "
        f"before {shares(load, baseline, measured, measured + BASELINE_WINDOW)}, "
        f"after {shares(load, baseline, ended, ended + RECOVERY_LIMIT)}"
    )


def windows(start: float, end: float) -> list[float]:
    """The starts of the RATE_WINDOW windows within ``start``..``end``, a quarter window apart."""
    step = RATE_WINDOW / 4
    count = int((end - start - RATE_WINDOW) / step + 1e-9) + 1
    return [start + index * step for index in range(count)]


def median_rate(load: Load, start: float, end: float) -> float:
    """The median throughput of the RATE_WINDOW windows within ``start``..``end``."""
    return statistics.median(
        load.rate(moment, moment + RATE_WINDOW) for moment in windows(start, end)
    )


def shares(load: Load, baseline: float, start: float, end: float) -> str:
    """Throughput of each whole second within ``start``..``end``, as a share of ``baseline``."""
    seconds = range(int(end - start))
    return " ".join(
        f"{load.rate(start + second, start + second + 1) / baseline:.2f}" for second in seconds
    )


def wait_for_recovery(load: Load, baseline: float, ended: float) -> float:
    """
    Wait until throughput over a whole window after the fault is back to its share.

    Returns:
        Seconds from the end of the fault to the start of that window; once no
        window ending within RECOVERY_LIMIT qualifies, the start of the last one
        tried (so the test fails).
    """
    wanted = baseline * RECOVERY_SHARE
    start = ended
    while True:
        end = start + RATE_WINDOW
        while time.monotonic() < end:
            time.sleep(0.05)
        if load.rate(start, end) >= wanted or end - ended > RECOVERY_LIMIT:
            return start - ended
        start += 0.1
