"""
The engine's logic that needs no broker: handing batches over, the one send, closing.

A recording stand-in replaces librdkafka's handle where a test needs to control
what librdkafka takes; everything that talks to Kafka is tested in
``tests/integration``.
"""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

import kaffe
from kaffe._core import Batch, Core
from kaffe._engine import Engine

SRC = Path(__file__).resolve().parent.parent / "src" / "kaffe"
STATISTICS = Path(__file__).resolve().parent / "data" / "statistics"


class _FakeHandle:
    """Takes at most ``room`` messages until ``poll``/``flush`` frees room; records them."""

    def __init__(self, room: int, frees: bool = True, too_large: bytes | None = None) -> None:
        self.room = room
        self.capacity = room
        self.frees = frees
        self.too_large = too_large
        self.taken: list[tuple[int, bytes]] = []
        self.calls = 0

    def produce_batch(self, topic: str, records: list[dict[str, Any]], partition: int) -> int:
        self.calls += 1
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
            self.taken.append((partition, record["value"]))
        return taken

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


class _RecordingBatch(Batch):
    __slots__ = ()

    def complete(self) -> None:
        return None


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


def _batch(engine: Engine, values: list[bytes]) -> tuple[_RecordingBatch, list[Any]]:
    messages = engine.core.batch("events", [(b"k", value) for value in values])
    batch = _RecordingBatch(len(messages))
    return batch, [messages, batch.slots(engine.core)]


def test_a_batch_larger_than_the_queue_is_offered_again_in_order(engine: Engine) -> None:
    fake = _FakeHandle(room=7)
    engine.rk = fake
    values = [b"v%d" % index for index in range(50)]
    batch, (messages, slots) = _batch(engine, values)

    assert engine.send(messages, slots, 1.0) == 50

    by_partition: dict[int, list[bytes]] = {}
    for partition, value in fake.taken:
        by_partition.setdefault(partition, []).append(value)
    assert sorted(value for _, value in fake.taken) == sorted(values)  # each exactly once
    for partition, taken in by_partition.items():
        expected = [m.value for m in messages if m.partition == partition]
        assert taken == expected
    assert fake.calls > 4
    assert batch.errors == [None] * 50


def test_a_batch_stuck_in_a_full_queue_fails_its_tail_as_queue_full(engine: Engine) -> None:
    fake = _FakeHandle(room=3, frees=False)
    engine.rk = fake
    engine.core.topics["events"].partitions_count = 1  # one partition: one ordered tail
    batch, (messages, slots) = _batch(engine, [b"v%d" % index for index in range(10)])

    engine.send(messages, slots, 0.05)

    assert [value for _, value in fake.taken] == [b"v0", b"v1", b"v2"]
    assert batch.errors[:3] == [None] * 3
    assert all(isinstance(error, kaffe.QueueFullError) for error in batch.errors[3:])
    assert all(error is not None and error.retriable for error in batch.errors[3:])


def test_a_message_refused_for_its_own_sake_fails_alone(engine: Engine) -> None:
    fake = _FakeHandle(room=100, too_large=b"huge")
    engine.rk = fake
    batch, (messages, slots) = _batch(engine, [b"a", b"huge", b"b"])

    engine.send(messages, slots, 1.0)

    assert sorted(value for _, value in fake.taken) == [b"a", b"b"]
    assert isinstance(batch.errors[1], kaffe.MessageTooLargeError)
    assert batch.errors[0] is None
    assert batch.errors[2] is None


def test_close_releases_librdkafkas_handle_and_refuses_later_use() -> None:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    engine = Engine(Core(config))
    before = threading.active_count()

    assert engine.close(0.1) == 0

    assert threading.active_count() < before  # the poller is gone
    with pytest.raises(kaffe.ProducerClosedError):
        engine.check_open()
    with pytest.raises(kaffe.ProducerClosedError):
        engine.rk.produce("events", b"v")
    assert engine.close(0.1) == 0  # again: nothing to do


def _produce_calls(path: Path) -> list[str]:
    """Names of the functions in ``path`` that call ``<something>.produce``/``produce_batch``."""
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("produce", "produce_batch")
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "rk"
            ):
                found.append(function.name)
    return found


def test_only_the_engines_send_path_calls_librdkafkas_produce_family() -> None:
    callers = {f"{path.name}:{name}" for path in SRC.rglob("*.py") for name in _produce_calls(path)}
    assert callers == {"_engine.py:send"}


def test_every_statistics_snapshot_served_in_one_poll_reaches_on_statistics() -> None:
    # One poll can serve several snapshots (the poller fell an interval behind); each
    # covers its own interval's round trips, so none may be dropped for a later one.
    received: list[kaffe.Statistics] = []
    arrived = threading.Condition()

    def record(statistics: kaffe.Statistics) -> None:
        with arrived:
            received.append(statistics)
            arrived.notify_all()

    config = kaffe.ProducerConfig(
        endpoints="127.0.0.1:9",
        topics=["events"],
        statistics_interval=60.0,
        on_statistics=record,
    )
    engine = Engine(Core(config))
    texts = [(STATISTICS / f"{name}.json").read_text() for name in ("queued", "delivered")]
    try:
        for text in texts:  # as librdkafka's stats_cb is called twice by one poll
            engine._on_statistics_json(text)
        with arrived:
            assert arrived.wait_for(lambda: len(received) == 2, timeout=30)
    finally:
        engine.close(0)
    assert [snapshot.clock for snapshot in received] == [
        kaffe.Statistics.from_json(text).clock for text in texts
    ]
    assert engine.statistics is received[-1]
