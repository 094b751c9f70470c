"""
The per-message path: placement, the hand-over, outcomes and futures, in both modes.

These tests run against whichever mode this process imported (compiled, or pure
Python with ``KAFFE_PURE_PYTHON=1``); ``scripts/test`` runs the unit suite in both.
A recording stand-in replaces librdkafka's handle where a test needs to control
what librdkafka takes; everything that talks to Kafka is tested in
``tests/integration``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException

import kaffe
from kaffe import _hot, partitioners
from kaffe._core import Core, Observers, batch_result
from kaffe._engine import Engine
from kaffe._hot import (
    Batch,
    Counted,
    CountedSlot,
    FutureWaiter,
    HotPath,
    LoopHandOff,
    LoopWaiter,
    SyncWaiter,
    ThreadBatch,
    announce,
)

VECTORS_FILE = Path(__file__).resolve().parent / "data" / "partition-vectors.json"


def _message(partition: int) -> kaffe.OutgoingMessage:
    return kaffe.OutgoingMessage("events", partition, b"k", b"v", None, None)


def _core(**options: Any) -> Core:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events", "audit"], **options)
    core = Core(config)
    core.learn("events", 8, range(8))
    return core


class _Report:
    """Stands in for librdkafka's delivery report."""

    def __init__(self, topic: str, partition: int, offset: int, stamp: int | None = None) -> None:
        self._values = (topic, partition, offset, stamp)

    def topic(self) -> str:
        return self._values[0]

    def partition(self) -> int:
        return self._values[1]

    def offset(self) -> int:
        return self._values[2]

    def timestamp(self) -> tuple[int, int | None]:
        stamp = self._values[3]
        return (0, None) if stamp is None else (1, stamp)


class _FakeHandle:
    """
    Stands in for librdkafka's handle: takes at most ``room`` messages until a poll frees room.

    It records what it took and delivers reports on :meth:`deliver`.
    """

    def __init__(self, room: int = 1_000_000, frees: bool = True, too_large: bytes | None = None):
        self.room = room
        self.capacity = room
        self.frees = frees
        self.too_large = too_large
        self.taken: list[tuple[str, int, Any, Any]] = []
        self.callbacks: list[Any] = []
        self.batch_calls = 0

    def produce(
        self, topic: str, value: Any, key: Any, partition: int, callback: Any, *rest: Any
    ) -> None:
        if self.room == 0:
            raise BufferError("queue full")
        if value == self.too_large:
            raise KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
        self.room -= 1
        self.taken.append((topic, partition, key, value))
        self.callbacks.append(callback)

    def produce_batch(self, topic: str, records: list[dict[str, Any]], partition: int) -> int:
        self.batch_calls += 1
        taken = 0
        full = False
        for record in records:
            if full or self.room == 0:
                full = True
                record["_error"] = KafkaError(KafkaError._QUEUE_FULL)
                continue
            if record["value"] == self.too_large:
                record["_error"] = KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)
                continue
            self.room -= 1
            taken += 1
            self.taken.append((topic, partition, record["key"], record["value"]))
            self.callbacks.append(record["callback"])
        return taken

    def deliver(self) -> None:
        """Acknowledge everything taken so far, offsets counting per partition."""
        offsets: dict[tuple[str, int], int] = {}
        for (topic, partition, _key, _value), callback in zip(
            self.taken, self.callbacks, strict=True
        ):
            offset = offsets[topic, partition] = offsets.get((topic, partition), -1) + 1
            callback(None, _Report(topic, partition, offset))
        self.callbacks = [None] * len(self.taken)

    def _free(self) -> None:
        if self.frees:
            self.room = self.capacity

    def poll(self, timeout: float) -> int:
        self._free()
        return 0

    def flush(self, timeout: float) -> int:
        self._free()
        return 0

    def __len__(self) -> int:
        return 0


@pytest.fixture
def engine() -> Iterator[Engine]:
    config = kaffe.ProducerConfig(
        endpoints="127.0.0.1:9", topics=["events"], partition_strategy="round_robin"
    )
    core = Core(config)
    core.learn("events", 4, range(4))
    engine = Engine(core)
    real = engine.rk
    yield engine
    engine.rk = real
    engine.close(0)


# --- the mode ---------------------------------------------------------------------------


def test_the_mode_says_which_path_runs() -> None:
    file = str(_hot.__file__)
    assert kaffe.__compiled__ is (not file.endswith(".py"))
    if os.environ.get("KAFFE_PURE_PYTHON") == "1":
        assert not kaffe.__compiled__


def test_pure_python_can_be_forced_and_the_version_says_so() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "kaffe._cli", "--version"],
        env={**os.environ, "KAFFE_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().endswith("(per-message path: pure Python)")


_PLACE_EVERY_VECTOR = """
import json, sys
import kaffe
from kaffe._core import Core
from kaffe._hot import HotPath

vectors = json.load(open(sys.argv[1]))["vectors"]
placed = []
for row in vectors:
    config = kaffe.ProducerConfig(
        endpoints="127.0.0.1:9", topics=["t"], partition_strategy=row["algorithm"]
    )
    core = Core(config)
    core.learn("t", row["partitions"], range(row["partitions"]))
    key = bytes.fromhex(row["key_hex"])
    _state, fast = HotPath(core, None, None)._plain_call(("t", key, b"v"))
    full = core.message(("t", key, b"v"), headers={"h": "x"}).partition
    placed.append([fast, full])
print(json.dumps({"compiled": kaffe.__compiled__, "placed": placed}))
"""


def _placements(pure: bool) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", _PLACE_EVERY_VECTOR, str(VECTORS_FILE)],
        env={**os.environ, "KAFFE_PURE_PYTHON": "1" if pure else "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    placed: dict[str, Any] = json.loads(result.stdout)
    return placed


def test_both_modes_place_every_reference_vector_identically() -> None:
    vectors = json.loads(VECTORS_FILE.read_text())["vectors"]
    expected = [[row["partition"], row["partition"]] for row in vectors]
    pure = _placements(pure=True)
    default = _placements(pure=False)
    assert pure["compiled"] is False
    assert pure["placed"] == expected
    assert default["placed"] == expected


# --- placing plain calls ----------------------------------------------------------------


@pytest.mark.parametrize("strategy", ["md5", "murmur2", "crc32", "fnv1a"])
def test_a_plain_call_is_placed_exactly_like_the_core_places_it(strategy: str) -> None:
    core = _core(partition_strategy=strategy)
    path = HotPath(core, None, None)
    for key in (b"user-42", "café", b"", "k" * 300):
        state, partition = path._plain_call(("events", key, b"v"))
        full = core.message(("events", key, b"v"), headers={"h": "x"})
        assert state is core.topics["events"]
        assert partition == full.partition == partitioners.HASH_FUNCTIONS[strategy](key, 8)


def test_a_plain_call_takes_the_default_topic_and_an_explicit_partition() -> None:
    path = HotPath(_core(), None, None)
    assert path._plain_call((b"k", b"v"))[1] == partitioners.md5(b"k", 8)
    assert path._plain_call(("events", 5, b"k", None))[1] == 5


@pytest.mark.parametrize(
    "args",
    [
        ("audit", b"k", b"v"),  # not analysed yet: the core asks for metadata
        ("events", 8, b"k", b"v"),  # beyond the known count: the core re-reads it
        ("events", "3", b"k", b"v"),  # a partition that is not an int
        ("events", b"k", 3.5),  # a value of another type
        ("events", {"k": 1}, b"v"),  # a key of another type
        ("events", "\udc80", b"v"),  # a key that is not valid UTF-8 text
        ("events", b"k", "\udc80"),  # a value that is not valid UTF-8 text
        (b"too", b"many", b"arguments", b"here", b"!"),
        (3, b"k", b"v"),  # a topic that is not a str
    ],
)
def test_a_call_that_is_not_plain_is_left_to_the_core(args: tuple[Any, ...]) -> None:
    assert HotPath(_core(), None, None)._plain_call(args) == (None, -1)


def test_a_serializing_producer_leaves_every_call_to_the_core() -> None:
    for options in ({"value_serializer": str.encode}, {"key_serializer": str.encode}):
        path = HotPath(_core(**options, observers=[_Observer()]), None, None)
        assert not path.direct
        assert not path.plain
        assert path.future(("events", b"k", b"v"), kaffe.DeliveryFuture) is None


def test_an_observed_producers_plain_call_skips_the_core_with_the_message_its_observers_see() -> (
    None
):
    observer = _Observer()
    core = _core(observers=[observer])
    engine = Engine(core)
    real = engine.rk
    fake = _FakeHandle()
    engine.rk = fake
    try:
        path = engine.path
        assert path.direct
        assert not path.plain
        future = path.future(("events", "user-42", "café"), kaffe.DeliveryFuture)
        assert isinstance(future, kaffe.DeliveryFuture)
        expected = core.message(("events", "user-42", "café"))
        assert observer.calls == [("send", expected)]
        (sent,) = [message for kind, message in observer.calls if kind == "send"]
        assert isinstance(sent, kaffe.OutgoingMessage)
        assert sent.headers == []
        assert sent.headers is not expected.headers
        assert fake.taken == [("events", expected.partition, "user-42", "café")]
        fake.deliver()
        delivery = kaffe.Delivery("events", expected.partition, 0, None)
        assert future.result() == delivery
        assert observer.calls[1] == ("outcome", ("context", delivery))
    finally:
        engine.rk = real
        engine.close(0)


def test_round_robin_advances_once_per_plain_call() -> None:
    path = HotPath(_core(partition_strategy="round_robin"), None, None)
    assert [path._plain_call(("events", b"k", b"v"))[1] for _ in range(10)] == [
        *range(8),
        0,
        1,
    ]


def test_a_strategy_function_is_called_once_per_message_by_the_core_alone() -> None:
    calls: list[object] = []

    def choose(topic: str, current: int | None, count: int, key: Any, value: Any) -> int:
        calls.append(key)
        return 3

    core = _core(partition_strategy=choose)
    assert HotPath(core, None, None)._plain_call(("events", b"k", b"v")) == (None, -1)
    assert calls == []
    assert core.message(("events", b"k", b"v")).partition == 3
    assert calls == [b"k"]


def test_md5_refuses_a_keyless_plain_call_as_the_core_does() -> None:
    with pytest.raises(kaffe.PartitionStrategyError, match="needs a key"):
        HotPath(_core(), None, None)._plain_call(("events", None, b"v"))


# --- handing plain calls over -----------------------------------------------------------


def test_a_plain_produce_hands_over_once_and_its_future_settles_from_the_report(
    engine: Engine,
) -> None:
    fake = _FakeHandle()
    engine.rk = fake
    future = engine.path.future(("events", b"k", b"v"), kaffe.DeliveryFuture)
    assert isinstance(future, kaffe.DeliveryFuture)
    assert not future.done()
    assert fake.taken == [("events", 0, b"k", b"v")]
    fake.deliver()
    assert future.done()
    assert future.exception() is None
    assert future.result() == kaffe.Delivery("events", 0, 0, None)
    assert future.result() is future.result()  # built once


def test_a_plain_produce_waits_out_a_full_queue_and_hands_over_once(engine: Engine) -> None:
    fake = _FakeHandle(room=0)
    fake.capacity = 1
    engine.rk = fake
    waiter = engine.path.sync_waiter(("events", b"k", b"v"), True)
    assert waiter is not None
    assert fake.taken == [("events", 0, b"k", b"v")]
    fake.deliver()
    assert waiter.outcome() == kaffe.Delivery("events", 0, 0, None)


def test_a_plain_produce_stuck_in_a_full_queue_raises_queue_full(engine: Engine) -> None:
    fake = _FakeHandle(room=0, frees=False)
    engine.rk = fake
    engine.path.queue_full_timeout = 0.05
    with pytest.raises(kaffe.QueueFullError) as raised:
        engine.path.future(("events", b"k", b"v"), kaffe.DeliveryFuture)
    assert (raised.value.topic, raised.value.partition, raised.value.retriable) == (
        "events",
        0,
        True,
    )
    assert fake.taken == []


def test_the_asyncio_face_gets_a_full_queue_back_without_waiting(engine: Engine) -> None:
    fake = _FakeHandle(room=0, frees=False)
    engine.rk = fake

    async def offer() -> LoopWaiter | None:
        return engine.path.loop_waiter(
            ("events", b"k", b"v"), LoopHandOff(asyncio.get_running_loop())
        )

    waiter = asyncio.run(offer())
    assert waiter is not None
    assert waiter.queued == kaffe.OutgoingMessage("events", 0, b"k", b"v", None, None)
    assert fake.taken == []


def test_a_closed_path_takes_no_plain_call(engine: Engine) -> None:
    engine.close(0)
    assert not engine.path.open
    assert engine.path.future(("events", b"k", b"v"), kaffe.DeliveryFuture) is None
    with pytest.raises(kaffe.ProducerClosedError):
        engine.path.send((kaffe.OutgoingMessage("events", 0, b"k", b"v", None, None),), [], 1.0)


# --- batches ----------------------------------------------------------------------------


def _built(engine: Engine, values: list[bytes]) -> tuple[Batch, list[Any], list[Any]]:
    messages = engine.core.batch("events", [(b"k", value) for value in values])
    batch = Batch(len(messages))
    return batch, messages, batch.slots(engine.core, messages)


def test_a_batch_larger_than_the_queue_is_offered_again_in_order(engine: Engine) -> None:
    fake = _FakeHandle(room=7)
    engine.rk = fake
    values = [b"v%d" % index for index in range(50)]
    batch, messages, slots = _built(engine, values)

    assert engine.path.send(messages, slots, 1.0) == 50

    assert sorted(value for *_, value in fake.taken) == sorted(values)  # each exactly once
    for partition in range(4):
        taken = [value for _, part, _, value in fake.taken if part == partition]
        assert taken == [m.value for m in messages if m.partition == partition]
    assert fake.batch_calls > 4
    assert batch.errors == [None] * 50


def test_a_batch_stuck_in_a_full_queue_fails_its_tail_as_queue_full(engine: Engine) -> None:
    fake = _FakeHandle(room=3, frees=False)
    engine.rk = fake
    engine.core.topics["events"].partitions_count = 1  # one partition: one ordered tail
    batch, messages, slots = _built(engine, [b"v%d" % index for index in range(10)])

    engine.path.send(messages, slots, 0.05)

    assert [value for *_, value in fake.taken] == [b"v0", b"v1", b"v2"]
    assert batch.errors[:3] == [None] * 3
    assert all(isinstance(error, kaffe.QueueFullError) for error in batch.errors[3:])
    assert all(error is not None and error.retriable for error in batch.errors[3:])


def test_a_message_refused_for_its_own_sake_fails_alone(engine: Engine) -> None:
    fake = _FakeHandle(too_large=b"huge")
    engine.rk = fake
    batch, messages, slots = _built(engine, [b"a", b"huge", b"b"])

    engine.path.send(messages, slots, 1.0)

    assert sorted(value for *_, value in fake.taken) == [b"a", b"b"]
    assert isinstance(batch.errors[1], kaffe.MessageTooLargeError)
    assert batch.errors[0] is None
    assert batch.errors[2] is None


def test_a_plain_batch_is_placed_whole_then_sent_per_partition_in_order() -> None:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    core = Core(config)
    core.learn("events", 4, range(4))
    engine = Engine(core)
    real = engine.rk
    try:
        fake = _FakeHandle(room=5)
        engine.rk = fake
        items = [(b"key-%d" % index, b"v%d" % index) for index in range(40)]
        batch = ThreadBatch(len(items))
        assert engine.path.batch("events", items, batch, 1.0, True)
        fake.deliver()
        deliveries = batch_result(batch, "events")
        assert [d.partition for d in deliveries] == [partitioners.md5(k, 4) for k, _ in items]
        for partition in range(4):
            taken = [value for _, part, _, value in fake.taken if part == partition]
            assert taken == [value for key, value in items if partitioners.md5(key, 4) == partition]
        assert not batch.lock.locked()
    finally:
        engine.rk = real
        engine.close(0)


@pytest.mark.parametrize(
    "items",
    [
        [(b"a", b"1"), kaffe.Message(b"b", b"2")],
        [(b"a", b"1"), (None, b"2")],
        [(b"a", b"1"), (b"b", 3)],
        [(b"a", b"1"), [b"b", b"2"]],
    ],
)
def test_a_batch_with_an_item_that_is_not_plain_sends_nothing_and_goes_to_the_core(
    engine: Engine, items: list[Any]
) -> None:
    engine.core.topics["events"].placer = engine.core.strategy.placer("events")
    fake = _FakeHandle()
    engine.rk = fake
    path = HotPath(_core(), engine, fake)
    assert not path.batch("events", items, Batch(len(items)), 1.0, True)
    assert fake.taken == []


def test_a_batch_completes_exactly_once_however_many_threads_settle_it() -> None:
    core = _core()
    batch = ThreadBatch(4_000)
    slots = batch.slots(core, [_message(0)] * 4_000)
    failures: list[BaseException] = []

    def settle(part: list[Any]) -> None:
        try:
            for slot in part:
                slot(None, _Report("events", 0, slot.index))
        except BaseException as error:  # a second completion would release twice
            failures.append(error)

    threads = [threading.Thread(target=settle, args=(slots[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert batch.is_done()
    assert not batch.lock.locked()
    assert [delivery.offset for delivery in batch_result(batch, "events")] == list(range(4_000))


def test_a_batch_reports_messages_without_an_outcome_as_timed_out() -> None:
    core = _core()
    batch = Batch(2)
    batch.slots(core, [_message(0), _message(1)])[0](None, _Report("events", 0, 0))
    with pytest.raises(kaffe.BatchProduceError) as raised:
        batch_result(batch, "events")
    assert raised.value.failed == [1]
    assert isinstance(raised.value.errors[1], kaffe.DeliveryTimeoutError)


# --- outcomes ---------------------------------------------------------------------------


def test_a_delivery_report_settles_the_waiter_with_a_delivery() -> None:
    waiter = SyncWaiter(_core(), "events", 2)
    waiter(None, _Report("events", 2, 41, 1_700_000_000_000))
    assert waiter.outcome() == kaffe.Delivery("events", 2, 41, 1_700_000_000_000)
    assert not waiter.lock.locked()


def test_a_failed_report_is_translated_and_a_refusal_passes_as_it_is() -> None:
    core = _core()
    timed_out = SyncWaiter(core, "events", 2)
    timed_out(KafkaError(KafkaError._MSG_TIMED_OUT), _Report("events", 2, -1))
    refused = SyncWaiter(core, "events", 2)
    refusal = kaffe.QueueFullError("full", topic="events", reason="queue full", retriable=True)
    refused(refusal, None)
    assert isinstance(timed_out.error, kaffe.DeliveryTimeoutError)
    assert (timed_out.error.topic, timed_out.error.partition) == ("events", 2)
    assert refused.error is refusal
    with pytest.raises(kaffe.QueueFullError):
        refused.outcome()


def test_an_unknown_partition_report_asks_for_a_metadata_refresh() -> None:
    core = _core()
    asked: list[bool] = []
    core.on_unknown_partition = lambda: asked.append(True)
    SyncWaiter(core, "events", 9)(
        KafkaError(KafkaError._UNKNOWN_PARTITION), _Report("events", 9, -1)
    )
    assert asked == [True]


class _Observer(kaffe.Observer):
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def on_send(self, message: kaffe.OutgoingMessage, config: kaffe.ProducerConfig) -> object:
        self.calls.append(("send", message))
        return "context"

    def on_outcome(
        self,
        context: object,
        message: kaffe.OutgoingMessage,
        outcome: kaffe.Delivery | kaffe.KaffeError,
        seconds: float,
    ) -> None:
        assert seconds >= 0
        self.calls.append(("outcome", (context, outcome)))


def test_observers_hear_of_each_outcome_once_with_their_context() -> None:
    core = _core()
    observer = _Observer()
    observers = Observers([observer], core.config)
    message = core.message(("events", 1, b"k", b"v"))
    waiter = FutureWaiter(core, "events", 1)
    core.observers = observers
    announce(observers, message, waiter, 0.0)
    waiter(None, _Report("events", 1, 7))
    waiter(None, _Report("events", 1, 7))  # a duplicate report is never observed twice
    delivery = kaffe.Delivery("events", 1, 7, None)
    assert observer.calls == [("send", message), ("outcome", ("context", delivery))]
    assert waiter.result() == delivery


def test_a_delivery_made_on_the_path_is_a_delivery_like_any_other() -> None:
    delivery = _hot.new_delivery("events", 2, 41, None)
    assert type(delivery) is kaffe.Delivery
    assert delivery == kaffe.Delivery("events", 2, 41)
    assert (delivery.topic, delivery.partition, delivery.offset, delivery.timestamp) == (
        "events",
        2,
        41,
        None,
    )
    assert delivery._asdict()["offset"] == 41


# --- futures ----------------------------------------------------------------------------


def _pending() -> tuple[kaffe.DeliveryFuture, FutureWaiter]:
    waiter = FutureWaiter(_core(), "events", 3)
    return kaffe.DeliveryFuture(waiter), waiter


def test_a_future_starts_running_and_cannot_be_cancelled() -> None:
    future, _waiter = _pending()
    assert future.running()
    assert not future.done()
    assert not future.cancel()
    assert not future.cancelled()
    assert "pending" in repr(future)
    with pytest.raises(concurrent.futures.TimeoutError):
        future.result(timeout=0)


def test_only_the_producer_settles_a_future() -> None:
    future, _waiter = _pending()
    with pytest.raises(RuntimeError, match="settled by its producer only"):
        future.set_result(kaffe.Delivery("events", 3, 1))
    with pytest.raises(RuntimeError, match="settled by its producer only"):
        future.set_exception(ValueError())


def test_a_settled_future_answers_without_its_machinery() -> None:
    future, waiter = _pending()
    waiter(None, _Report("events", 3, 5))
    called: list[object] = []
    future.add_done_callback(called.append)
    assert called == [future]
    assert future.exception() is None
    assert future.result() == kaffe.Delivery("events", 3, 5, None)
    assert not future.delivery_waiter.has_machinery
    assert "delivered" in repr(future)


def test_concurrent_futures_wait_and_as_completed_see_pending_futures_settle() -> None:
    pairs = [_pending() for _ in range(20)]
    futures = [future for future, _ in pairs]

    def settle() -> None:
        for index, (_, waiter) in enumerate(pairs):
            waiter(None, _Report("events", 3, index))

    thread = threading.Thread(target=settle)
    thread.start()
    done, not_done = concurrent.futures.wait(futures, timeout=30)
    thread.join()
    assert len(done) == 20
    assert not not_done
    completed = list(concurrent.futures.as_completed(futures, timeout=30))
    assert sorted(f.result().offset for f in completed) == list(range(20))


def test_a_done_callback_added_while_pending_runs_once_on_the_outcome() -> None:
    future, waiter = _pending()
    called: list[object] = []
    future.add_done_callback(called.append)
    assert called == []
    waiter(kaffe.DeliveryTimeoutError("late", reason="timed out", retriable=True), None)
    assert called == [future]
    assert isinstance(future.exception(), kaffe.DeliveryTimeoutError)
    assert "failed" in repr(future)


def test_asyncio_wrap_future_resolves_with_the_delivery() -> None:
    future, waiter = _pending()

    async def wrapped() -> kaffe.Delivery:
        asyncio.get_running_loop().call_later(0, waiter, None, _Report("events", 3, 9))
        return await asyncio.wrap_future(future)

    assert asyncio.run(wrapped()) == kaffe.Delivery("events", 3, 9, None)


def test_a_waiter_and_a_settling_thread_never_miss_each_other() -> None:
    # Whichever runs first, a blocking result() must see the outcome.
    for offset in range(300):
        future, waiter = _pending()
        racer = threading.Thread(target=waiter, args=(None, _Report("events", 3, offset)))
        racer.start()
        assert future.result(timeout=30).offset == offset
        racer.join()


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    """Switch threads as often as the interpreter can, so that races show up."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


def _run_to_the_end(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.daemon = True  # a deadlocked thread must not keep the test run alive
        thread.start()
    for thread in threads:
        # Far beyond what a round needs (milliseconds): only a deadlock gets here.
        thread.join(timeout=120)
        assert not thread.is_alive(), f"{thread.name} is stuck: a deadlock"


def _settle(parity: int, pairs: list[tuple[kaffe.DeliveryFuture, FutureWaiter]]) -> None:
    for index, (_, waiter) in enumerate(pairs):
        if index % 2 != parity:
            continue
        if index % 7 == 0:
            waiter(kaffe.DeliveryTimeoutError("late", reason="t", retriable=True), None)
        else:
            waiter(None, _Report("events", 3, index))


def _wait_all(futures: list[kaffe.DeliveryFuture], _called: list[object]) -> None:
    assert not concurrent.futures.wait(futures[::-1], timeout=120).not_done


def _wait_first_exception(futures: list[kaffe.DeliveryFuture], _called: list[object]) -> None:
    when = concurrent.futures.FIRST_EXCEPTION
    concurrent.futures.wait(futures, timeout=120, return_when=when)


def _as_completed(futures: list[kaffe.DeliveryFuture], _called: list[object]) -> None:
    assert len(list(concurrent.futures.as_completed(futures[5:], timeout=120))) == 35


def _add_callbacks(futures: list[kaffe.DeliveryFuture], called: list[object]) -> None:
    def callback(done: concurrent.futures.Future[kaffe.Delivery]) -> None:
        called.append(done)
        done.exception()

    for future in futures[::2]:
        future.add_done_callback(callback)


def _exceptions(futures: list[kaffe.DeliveryFuture], _called: list[object]) -> None:
    for future in futures[1::2]:
        future.exception(timeout=120)


@pytest.mark.usefixtures("frequent_thread_switches")
def test_futures_settled_while_every_kind_of_waiter_uses_them_never_deadlock() -> None:
    # Two threads settle 40 futures (some fail) while others wait on them at once in
    # every way concurrent.futures offers: wait() in two orders and modes,
    # as_completed(), add_done_callback() and exception(). Each set-up of the machinery
    # races a settling and the other waiters' locks, round after round.
    errors: list[BaseException] = []

    def guarded(work: Any, *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                work(*args)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        return threading.Thread(target=run, name=work.__name__)

    waiting = (_wait_all, _wait_first_exception, _as_completed, _add_callbacks, _exceptions)
    for _round in range(300):
        pairs = [_pending() for _ in range(40)]
        futures = [future for future, _ in pairs]
        called: list[object] = []
        _run_to_the_end(
            [guarded(work, futures, called) for work in waiting]
            + [guarded(_settle, parity, pairs) for parity in (0, 1)]
        )
        assert not errors, errors
        assert sorted(map(id, called)) == sorted(map(id, futures[::2]))  # each exactly once
        offsets = [f.result().offset for f in futures if f.exception() is None]
        assert offsets == [index for index in range(40) if index % 7]


def test_no_attribute_is_named_after_a_private_field_of_concurrent_futures() -> None:
    private = set(vars(concurrent.futures.Future())) | {"_condition", "_waiters"}
    for cls in kaffe.DeliveryFuture.__mro__:
        if cls is not concurrent.futures.Future:
            assert not private & set(vars(cls)), cls


# --- the asyncio hand-off ---------------------------------------------------------------


def test_outcomes_from_another_thread_reach_the_loop_in_one_burst() -> None:
    async def run() -> list[object]:
        loop = asyncio.get_running_loop()
        hand_off = LoopHandOff(loop)
        core = _core()
        waiters = [LoopWaiter(core, "events", 0, loop.create_future(), hand_off) for _ in range(50)]
        scheduled: list[int] = []
        original = loop.call_soon_threadsafe

        def counting(*args: Any, **kwargs: Any) -> Any:
            scheduled.append(1)
            return original(*args, **kwargs)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign, assignment]

        def settle_all() -> None:
            for index, waiter in enumerate(waiters):
                waiter(None, _Report("events", 0, index))

        thread = threading.Thread(target=settle_all)
        thread.start()
        thread.join()
        results = await asyncio.gather(*(w.future for w in waiters))
        assert len(scheduled) == 1
        return [delivery.offset for delivery in results]

    assert asyncio.run(run()) == list(range(50))


def test_an_outcome_for_a_cancelled_asyncio_future_is_dropped() -> None:
    async def run() -> None:
        loop = asyncio.get_running_loop()
        waiter = LoopWaiter(
            _core(), "events", 0, loop.create_future(), LoopHandOff(loop, on_loop=True)
        )
        waiter.future.cancel()
        waiter(None, _Report("events", 0, 0))
        assert waiter.future.cancelled()

    asyncio.run(run())


# --- counting: failure reports only ----------------------------------------------------------


@pytest.fixture
def counting_engine() -> Iterator[Engine]:
    """An engine whose path counts into a fake handle; md5 over 4 partitions of ``events``."""
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    core = Core(config)
    core.learn("events", 4, range(4))
    engine = Engine(core, failure_reports_only=True)
    real = engine.rk
    yield engine
    engine.rk = real
    engine.close(0)


def test_counted_lines_are_split_placed_and_counted_when_handed_over(
    counting_engine: Engine,
) -> None:
    fake = _FakeHandle()
    counting_engine.rk = fake
    lines = [b"k1\tv1", b"", b"no separator", b"k2\tv\t2", b"k3\t", b"\tempty key"]
    counted = Counted()

    unsplit = counting_engine.path.count_lines("events", lines, b"\t", -1, counted, 1.0)

    assert unsplit == [2]
    pairs = [(b"k1", b"v1"), (b"k2", b"v\t2"), (b"k3", b""), (b"", b"empty key")]
    assert fake.taken == [("events", partitioners.md5(k, 4), k, v) for k, v in pairs]
    assert [slot.tag for slot in fake.callbacks] == [0, 3, 4, 5]
    assert counted.sent == 4
    assert counted.payload_bytes == sum(len(k) + len(v) for k, v in pairs)
    assert counted.acknowledged() == (
        4,
        counted.payload_bytes,
        dict(Counter(partitioners.md5(k, 4) for k, _ in pairs)),
    )


def test_counted_lines_without_a_separator_are_keyless_values(counting_engine: Engine) -> None:
    counting_engine.core.topics["events"].placer = partitioners.strategy("murmur2").placer("events")
    fake = _FakeHandle()
    counting_engine.rk = fake
    counted = Counted()

    assert (
        counting_engine.path.count_lines("events", [b"a", b"b:c", b"d"], None, -1, counted, 1.0)
        == []
    )

    assert [(key, value) for _, _, key, value in fake.taken] == [
        (None, b"a"),
        (None, b"b:c"),
        (None, b"d"),
    ]
    assert len({partition for _, partition, _, _ in fake.taken}) == 1  # sticky
    assert counted.payload_bytes == 5


def test_counted_lines_go_to_the_partition_named(counting_engine: Engine) -> None:
    fake = _FakeHandle()
    counting_engine.rk = fake
    counted = Counted()

    counting_engine.path.count_lines("events", [b"a:1", b"b:2"], b":", 3, counted, 1.0)

    assert [partition for _, partition, _, _ in fake.taken] == [3, 3]
    assert counted.acknowledged() == (2, 4, {3: 2})


@pytest.mark.parametrize(
    ("separator", "partition", "observed"),
    [
        (None, -1, False),  # keyless lines under md5: the core refuses them
        (b":", 4, False),  # beyond the topic's partitions: the core says so
        (b":", -1, True),  # observers hear of every message: the core builds them
    ],
)
def test_lines_the_path_cannot_take_as_they_are_are_left_to_the_core(
    counting_engine: Engine, separator: bytes | None, partition: int, observed: bool
) -> None:
    fake = _FakeHandle()
    counting_engine.rk = fake
    path = counting_engine.path
    if observed:
        path = HotPath(_core(observers=[_Observer()]), counting_engine, fake)
    counted = Counted()

    assert path.count_lines("events", [b"a:1"], separator, partition, counted, 1.0) is None
    assert fake.taken == []
    assert counted.sent == 0


def test_a_counted_failure_takes_its_message_back_out(counting_engine: Engine) -> None:
    fake = _FakeHandle()
    counting_engine.rk = fake
    counted = Counted()
    counting_engine.path.count_lines("events", [b"a:1", b"bb:22", b"c:3"], b":", 0, counted, 1.0)
    first, second, third = fake.callbacks

    first(None, _Report("events", 0, 0))  # an acknowledgement, should one be reported
    second(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), _Report("events", 0, -1))

    [(tag, error)] = counted.failures()
    assert tag == 1
    assert isinstance(error, kaffe.MessageTooLargeError)
    assert counted.acknowledged() == (2, 4, {0: 2})
    third(KafkaError(KafkaError._MSG_TIMED_OUT), _Report("events", 0, -1))
    assert counted.acknowledged() == (1, 2, {0: 1})


def test_a_counted_line_refused_for_its_own_sake_fails_alone(counting_engine: Engine) -> None:
    fake = _FakeHandle(too_large=b"huge")
    counting_engine.rk = fake
    counted = Counted()

    counting_engine.path.count_lines("events", [b"a:1", b"b:huge", b"c:3"], b":", 0, counted, 1.0)

    assert [value for *_, value in fake.taken] == [b"1", b"3"]
    [(tag, error)] = counted.failures()
    assert (tag, type(error)) == (1, kaffe.MessageTooLargeError)
    assert counted.acknowledged() == (2, 4, {0: 2})


def test_counted_lines_wait_out_a_full_queue_and_each_is_handed_over_once(
    counting_engine: Engine,
) -> None:
    fake = _FakeHandle(room=3)
    counting_engine.rk = fake
    counted = Counted()
    lines = [b"k%d:v%d" % (index, index) for index in range(20)]

    counting_engine.path.count_lines("events", lines, b":", 1, counted, 1.0)

    assert [value for *_, value in fake.taken] == [b"v%d" % index for index in range(20)]
    assert counted.failures() == []


def test_a_counted_line_stuck_in_a_full_queue_fails_and_so_do_the_rest_at_once(
    counting_engine: Engine,
) -> None:
    fake = _FakeHandle(room=2, frees=False)
    counting_engine.rk = fake
    counted = Counted()
    lines = [b"k%d:v%d" % (index, index) for index in range(5)]

    counting_engine.path.count_lines("events", lines, b":", 1, counted, 0.05)

    assert [value for *_, value in fake.taken] == [b"v0", b"v1"]
    failures = counted.failures()
    assert [tag for tag, _ in failures] == [2, 3, 4]
    assert all(isinstance(error, kaffe.QueueFullError) for _, error in failures)
    assert counted.acknowledged() == (2, 8, {1: 2})


def test_counted_messages_keep_their_tags_and_count_text_as_utf8(counting_engine: Engine) -> None:
    fake = _FakeHandle()
    counting_engine.rk = fake
    core = counting_engine.core
    messages = core.batch("events", [kaffe.Message("é", "ü", [("h", "v")], 2), ("k", b"vv")])
    counted = Counted()

    counting_engine.path.count_messages(messages, [7, 9], counted, 1.0)

    assert [slot.tag for slot in fake.callbacks] == [7, 9]
    assert counted.acknowledged() == (2, 4 + 3, {2: 1, partitioners.md5(b"k", 4): 1})


def test_a_counted_slot_settles_nothing_on_an_acknowledgement() -> None:
    counted = Counted()
    counted.add(0, 1, 5)
    slot = CountedSlot(_core(), "events", 0, counted, 0, 5)

    slot(None, _Report("events", 0, 12))

    assert slot.error is None
    assert counted.acknowledged() == (1, 5, {0: 1})
