"""
The engine's logic that needs no broker: closing, who calls librdkafka's produce family,
fork, statistics, and failure reports only.

Handing messages over (the per-message path) is tested in ``tests/test_hot.py``;
everything that talks to Kafka is tested in ``tests/integration``.
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
from kaffe._core import Core, State
from kaffe._engine import Engine
from kaffe._hot import Counted, CountedSlot
from tests.forking import FORK_WARNING, in_child

SRC = Path(__file__).resolve().parent.parent / "src" / "kaffe"
STATISTICS = Path(__file__).resolve().parent / "data" / "statistics"


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


class _EventAtTheDeadline:
    """
    librdkafka's handle, with an event (a log line, an error) queued just as each
    ``flush`` returns: its queue length counts the event until ``poll`` serves it.
    """

    def __init__(self, rk: Any) -> None:
        self.rk = rk
        self.events = 0

    def flush(self, timeout: float) -> int:
        left: int = self.rk.flush(timeout)
        self.events = 1
        return left + 1

    def poll(self, timeout: float) -> int:
        self.events = 0
        served: int = self.rk.poll(timeout)
        return served + 1

    def __len__(self) -> int:
        return len(self.rk) + self.events

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rk, name)


def test_close_counts_dropped_messages_not_librdkafkas_unserved_events() -> None:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    engine = Engine(Core(config))
    engine.rk = _EventAtTheDeadline(engine.rk)

    assert engine.close(0.1) == 0


def test_flush_counts_outstanding_messages_not_librdkafkas_unserved_events() -> None:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    engine = Engine(Core(config))
    engine.rk = _EventAtTheDeadline(engine.rk)
    try:
        assert engine.flush(0.1) == 0
    finally:
        engine.close(0.1)


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


def test_only_the_hot_paths_hand_over_calls_librdkafkas_produce_family() -> None:
    callers = {f"{path.name}:{name}" for path in SRC.rglob("*.py") for name in _produce_calls(path)}
    assert callers == {"_hot.py:_offer", "_hot.py:_send_groups"}


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


# --- failure reports only -------------------------------------------------------------------


def test_failure_reports_only_asks_librdkafka_for_failures_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[dict[str, Any]] = []
    real = engine_module._Handle

    def recording(properties: dict[str, Any], on_fatal: Any) -> Any:
        given.append(dict(properties))
        return real(properties, on_fatal)

    monkeypatch.setattr(engine_module, "_Handle", recording)
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    for failures_only in (True, False):
        Engine(Core(config), failure_reports_only=failures_only).close(0)

    assert given[0]["delivery.report.only.error"] is True
    assert "delivery.report.only.error" not in given[1]


class _StuckHandle:
    """Stands in for librdkafka's handle with messages no outcome came for; purge fails them."""

    def __init__(self, callbacks: list[Any], codes: list[int]) -> None:
        self.waiting = list(zip(callbacks, codes, strict=True))
        self.purged = False

    def purge(self) -> None:
        self.purged = True

    def poll(self, timeout: float) -> int:
        if not self.purged:
            return 0
        served, self.waiting = self.waiting, []
        for callback, code in served:
            callback(KafkaError(code), _Report())
        return len(served)

    flush = poll

    def __len__(self) -> int:
        return len(self.waiting)

    def close(self) -> None:
        pass


class _Report:
    def topic(self) -> str:
        return "events"

    def partition(self) -> int:
        return 1


def test_giving_up_fails_each_outstanding_message_as_timed_out_and_stays_open() -> None:
    engine = _unreachable_engine()
    real = engine.rk
    counted = Counted()
    slots = [CountedSlot(engine.core, "events", 1, counted, tag, 3) for tag in (4, 5)]
    engine.rk = _StuckHandle(slots, [KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT])
    try:
        assert engine.give_up_outstanding() == 0

        queued, in_flight = (error for _, error in counted.failures())
        assert isinstance(queued, kaffe.DeliveryTimeoutError)
        assert "it was still queued" in queued.message
        assert isinstance(in_flight, kaffe.DeliveryTimeoutError)
        assert "the broker may still have stored it" in in_flight.message
        assert engine.core.purged_by == "close"
        engine.check_open()
    finally:
        engine.rk = real
        engine.close(0)
