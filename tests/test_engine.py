"""
The engine's logic that needs no broker: handing batches over, the one send, closing.

A recording stand-in replaces librdkafka's handle where a test needs to control
what librdkafka takes; everything that talks to Kafka is tested in
``tests/integration``.
"""

from __future__ import annotations

import ast
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

import kaffe
from kaffe import _engine as engine_module
from kaffe._core import Batch, Core, State
from kaffe._engine import Engine
from tests.forking import FORK_WARNING, in_child

SRC = Path(__file__).resolve().parent.parent / "src" / "kaffe"


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


# --- fork ---------------------------------------------------------------------------------


def _unreachable_engine(**options: Any) -> Engine:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"], **options)
    core = Core(config)
    core.learn("events", 4, range(4))
    return Engine(core)


@contextlib.contextmanager
def _held_by_another_thread(lock: threading.Lock) -> Iterator[None]:
    """Hold ``lock`` on a thread of this process for the duration of the block."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait()
    try:
        yield
    finally:
        release.set()
        holder.join()


@pytest.mark.filterwarnings(FORK_WARNING)
def test_an_inherited_engine_reopens_once_with_its_own_handle_threads_and_locks() -> None:
    engine = _unreachable_engine()
    parent_handle, parent_lock = engine.rk, engine.poll_lock

    def child() -> dict[str, object]:
        seen: dict[str, object] = {"state": engine.state.value, "closed": engine.is_closed()}
        created: list[object] = []
        new_handle = engine._new_handle

        def counted() -> object:
            created.append(new_handle())
            return created[-1]

        engine._new_handle = counted  # type: ignore[method-assign]
        start = threading.Barrier(8)
        handles: list[object] = []

        def call() -> None:
            start.wait()
            engine.check_open()
            handles.append(engine.rk)

        callers = [threading.Thread(target=call) for _ in range(8)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join()
        seen.update(
            created=len(created),
            same_handle_everywhere=all(handle is created[0] for handle in handles),
            new_handle=engine.rk is not parent_handle,
            kept_inherited=any(
                handle is parent_handle for handle in engine_module._inherited_handles
            ),
            lock_free=engine.poll_lock.acquire(blocking=False),
            poller_alive=engine._poller.is_alive(),
            open=engine.state.value,
            parents_callers_forgotten=(len(engine._users), len(engine.sync_waiters)),
        )
        engine.poll_lock.release()
        engine.close(0.1)
        seen["released"] = isinstance(engine.rk, engine_module._ReleasedHandle)
        return seen

    # A caller of the parent is inside librdkafka, and one waits, at the fork: neither
    # exists in the child, so neither may hold up its close().
    engine._users.append(None)
    engine.sync_waiters.append(None)
    with _held_by_another_thread(parent_lock):  # held at the fork: held forever in the child
        seen = in_child(child)
    engine._users.pop()
    engine.sync_waiters.pop()
    assert seen == {
        "state": "forked",
        "closed": False,
        "created": 1,
        "same_handle_everywhere": True,
        "new_handle": True,
        "kept_inherited": True,
        "lock_free": True,
        "poller_alive": True,
        "open": "open",
        "parents_callers_forgotten": (0, 0),
        "released": True,
    }
    # The parent's engine is untouched.
    assert engine.state is State.OPEN
    assert engine.rk is parent_handle
    assert engine.poll_lock is parent_lock
    engine.close(0.1)


@pytest.mark.filterwarnings(FORK_WARNING)
def test_an_inherited_transactional_engine_refuses_and_names_the_fix() -> None:
    engine = _unreachable_engine(transactional_id="orders-1")

    def child() -> object:
        assert engine.is_closed()
        try:
            engine.check_open()
        except kaffe.ProducerForkedError as error:
            return error
        return "no error"

    outcome = in_child(child)
    assert isinstance(outcome, kaffe.ProducerForkedError)
    assert isinstance(outcome, kaffe.ProducerClosedError)
    assert outcome.reason == "forked"
    message = str(outcome)
    assert "'orders-1'" in message
    assert "fence" in message
    assert "post_fork" in message
    assert "worker_process_init" in message
    assert engine.state is State.OPEN
    engine.close(0.1)


@pytest.mark.filterwarnings(FORK_WARNING)
def test_an_engine_closed_before_fork_stays_closed_in_the_child() -> None:
    engine = _unreachable_engine()
    engine.close(0.1)

    def child() -> object:
        try:
            engine.check_open()
        except kaffe.ProducerClosedError as error:
            return (type(error).__name__, engine.state.value)
        return "reopened"

    assert in_child(child) == ("ProducerClosedError", "closed")


@pytest.mark.filterwarnings(FORK_WARNING)
def test_closing_an_inherited_engine_in_the_child_closes_it_there_only() -> None:
    engine = _unreachable_engine()
    parent_handle = engine.rk

    def child() -> object:
        assert engine.close(0.1) == 0
        try:
            engine.check_open()
        except kaffe.ProducerClosedError as error:
            return (type(error).__name__, engine.is_closed(), engine.rk is parent_handle)
        return "reopened"

    assert in_child(child) == ("ProducerClosedError", True, True)
    assert engine.state is State.OPEN
    engine.close(0.1)
