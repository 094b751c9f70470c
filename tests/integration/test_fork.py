"""
Producers made before ``fork()``, used in the child: on both faces, with messages in flight.

A plain producer re-opens in the child on first use (its own librdkafka handle from
the same configuration), and the parent's messages in flight at the fork stay the
parent's: the child never settles them, and they reach the log once, from the parent.
A transactional producer refuses in the child. The tests fork with ``tests.forking``
and with ``multiprocessing``'s fork start method; gunicorn's pre-fork workers are in
``test_web_apps``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

import kaffe
from tests.conftest import Record, read_topic
from tests.forking import FORK_WARNING, in_child

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings(FORK_WARNING)]

READ_BACK = Callable[[str], list[Record]]
T = TypeVar("T")
#: Messages the parent has in flight at the fork. While another thread holds the engine's
#: poll lock, no delivery report is served, so they stay in flight until it lets go.
IN_FLIGHT = 200

CHILD_OPERATIONS: dict[str, Callable[[kaffe.Producer, str], object]] = {
    "produce_sync": lambda p, t: p.produce_sync(t, "child", "first"),
    "produce": lambda p, t: p.produce(t, "child", "first").result(timeout=30),
    "produce_batch_sync": lambda p, t: p.produce_batch_sync(t, [("child", "first")]),
    "flush": lambda p, t: p.flush(5),
    "partitions_count": lambda p, t: p.partitions_count(t),
    "refresh_metadata": lambda p, t: p.refresh_metadata(),
}


def _values(records: list[Record]) -> Counter[bytes]:
    return Counter(record.value or b"" for record in records)


def _in_new_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on a new thread and return its result: a child's own event loop runs there."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(work())
        except BaseException as error:
            outcome.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


@contextmanager
def _held_by_another_thread(lock: threading.Lock) -> Iterator[None]:
    """Hold ``lock`` on another thread for the block: no delivery report is served meanwhile."""
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


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.005)


# --- the threaded face ---------------------------------------------------------------------


@pytest.mark.parametrize("operation", sorted(CHILD_OPERATIONS))
def test_a_producer_made_before_fork_works_in_the_child(
    bootstrap: str, topic: str, read_back: READ_BACK, operation: str
) -> None:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        producer.produce_sync(topic, "parent", "before")

        def child() -> tuple[int, kaffe.Delivery, bool]:
            CHILD_OPERATIONS[operation](producer, topic)
            delivery = producer.produce_sync(topic, "child", "second")
            producer.close()
            return os.getpid(), delivery, producer.closed

        pid, delivery, closed = in_child(child)
        assert pid != os.getpid()
        assert isinstance(delivery, kaffe.Delivery)
        assert closed
        # The parent's producer is unaffected.
        assert not producer.closed
        producer.produce_sync(topic, "parent", "after")
    values = _values(read_back(topic))
    expected = Counter([b"before", b"second", b"after"])
    if operation in ("produce_sync", "produce", "produce_batch_sync"):
        expected[b"first"] += 1
    assert values == expected


def test_many_threads_of_the_child_share_one_reopened_producer(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        producer.produce_sync(topic, "parent", "before")

        def child() -> int:
            start = threading.Barrier(16)
            deliveries: list[kaffe.Delivery] = []

            def send(index: int) -> None:
                start.wait()
                deliveries.append(producer.produce_sync(topic, f"t{index}", f"thread-{index}"))

            threads = [threading.Thread(target=send, args=(n,)) for n in range(16)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            producer.close()
            return len(deliveries)

        assert in_child(child) == 16
    values = _values(read_back(topic))
    assert values == Counter([b"before", *(f"thread-{n}".encode() for n in range(16))])


def test_messages_in_flight_at_fork_stay_the_parents_and_reach_the_log_once(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic])
    engine = producer._engine
    waiting: list[kaffe.Delivery] = []
    # While another thread holds the poll lock, nobody serves a delivery report: every
    # message below stays in flight, and the lock is held at the fork.
    with _held_by_another_thread(engine.poll_lock):
        futures = [producer.produce(topic, f"k{n}", f"parent-{n}") for n in range(IN_FLIGHT)]
        waiter = threading.Thread(
            target=lambda: waiting.append(producer.produce_sync(topic, "s", "parent-sync"))
        )
        waiter.start()
        # librdkafka's length also counts unserved events (a log line, an error), so it
        # may exceed the messages: at least all of them, and the caller waiting.
        _wait_for(
            lambda: len(engine.sync_waiters) == 1 and len(engine.rk) >= IN_FLIGHT + 1,
            "produce_sync handed its message over",
        )
        assert not any(future.done() for future in futures)

        def child() -> tuple[int, int, int, kaffe.Delivery, kaffe.Delivery]:
            pending_at_fork = sum(not future.done() for future in futures)
            own = producer.produce_sync(topic, "c", "child-sync")
            future = producer.produce(topic, "c", "child-future")
            left = producer.flush(30)
            own_future = future.result(timeout=30)
            pending_after = sum(not future.done() for future in futures)
            producer.close()
            return pending_at_fork, pending_after, left, own, own_future

        outcome = in_child(child)
    waiter.join()
    assert producer.flush(30) == 0
    deliveries = [future.result(timeout=30) for future in futures]
    producer.close()

    pending_at_fork, pending_after, left, own, own_future = outcome
    assert (pending_at_fork, pending_after, left) == (IN_FLIGHT, IN_FLIGHT, 0)
    assert isinstance(own, kaffe.Delivery)
    assert isinstance(own_future, kaffe.Delivery)
    records = read_back(topic)
    stored = {(record.partition, record.offset): record.value for record in records}
    for index, delivery in enumerate(deliveries):
        assert stored[delivery.partition, delivery.offset] == f"parent-{index}".encode()
    assert stored[waiting[0].partition, waiting[0].offset] == b"parent-sync"
    assert _values(records) == Counter(
        [
            *(f"parent-{n}".encode() for n in range(IN_FLIGHT)),
            *(b"parent-sync", b"child-sync", b"child-future"),
        ]
    )


def test_closing_the_inherited_copy_in_the_child_leaves_the_parents_producer_working(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        producer.produce_sync(topic, 0, None, b"parent")

        def child() -> tuple[str, kaffe.Delivery]:
            producer.close()  # the inherited copy: nothing to deliver, nothing to release
            assert producer.closed
            refused = "nothing"
            try:
                producer.produce_sync(topic, 1, None, b"never")
            except kaffe.ProducerClosedError as error:
                refused = type(error).__name__
            with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as own:
                return refused, own.produce_sync(topic, 1, None, b"child")

        refused, delivery = in_child(child)
        assert refused == "ProducerClosedError"
        assert isinstance(delivery, kaffe.Delivery)
        assert producer.produce_sync(topic, 0, None, b"parent-again").offset == 1
    assert _values(read_back(topic)) == Counter([b"parent", b"child", b"parent-again"])


#: The producer the pool workers inherit (module-level, as users write it).
_SHARED: kaffe.Producer | None = None


def _produce_in_pool_worker(index: int) -> tuple[int, int, int, str]:
    assert _SHARED is not None
    value = f"worker-{index}"
    delivery = _SHARED.produce_sync(str(index), value)
    return os.getpid(), delivery.partition, delivery.offset, value


def test_multiprocessing_fork_workers_use_a_producer_made_in_the_parent(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    global _SHARED
    _SHARED = kaffe.Producer(endpoints=bootstrap, topics=[topic])
    try:
        _SHARED.produce_sync("parent", "before")
        pool = multiprocessing.get_context("fork").Pool(3)
        try:
            results = pool.map(_produce_in_pool_worker, range(60), chunksize=1)
        finally:
            pool.close()
            pool.join()
        _SHARED.produce_sync("parent", "after")
    finally:
        _SHARED.close()
        _SHARED = None
    assert os.getpid() not in {pid for pid, _, _, _ in results}
    records = read_back(topic)
    stored = {(record.partition, record.offset): record.value for record in records}
    for _pid, partition, offset, value in results:
        assert stored[partition, offset] == value.encode()
    assert _values(records) == Counter(
        [b"before", b"after", *(f"worker-{n}".encode() for n in range(60))]
    )


# --- the asyncio face ----------------------------------------------------------------------


def test_an_async_producer_in_a_child_binds_to_the_childs_loop_and_leaves_the_parents_messages(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    async def child(
        producer: kaffe.AsyncProducer, futures: list[asyncio.Future[kaffe.Delivery]]
    ) -> tuple[int, int, kaffe.Delivery, kaffe.Delivery, list[kaffe.Delivery]]:
        pending_at_fork = sum(not future.done() for future in futures)
        own = await producer.produce_sync("c", "child-sync")
        own_future = await (await producer.produce("c", "child-future"))
        batch = await producer.produce_batch_sync(topic, [("c", "child-batch")])
        pending_after = sum(not future.done() for future in futures)
        await producer.aclose()
        return pending_at_fork, pending_after, own, own_future, batch

    async def parent() -> tuple[
        tuple[int, int, kaffe.Delivery, kaffe.Delivery, list[kaffe.Delivery]], list[kaffe.Delivery]
    ]:
        async with kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic]) as producer:
            assert producer._engine is not None
            with _held_by_another_thread(producer._engine.poll_lock):
                futures = [await producer.produce(f"k{n}", f"parent-{n}") for n in range(IN_FLIGHT)]
                assert not any(future.done() for future in futures)
                outcome = in_child(
                    lambda: _in_new_thread(lambda: asyncio.run(child(producer, futures)))
                )
            await producer.flush()
            deliveries = await asyncio.gather(*futures)
        return outcome, deliveries

    outcome, deliveries = asyncio.run(parent())
    pending_at_fork, pending_after, own, own_future, batch = outcome
    assert (pending_at_fork, pending_after) == (IN_FLIGHT, IN_FLIGHT)
    assert isinstance(own, kaffe.Delivery)
    assert isinstance(own_future, kaffe.Delivery)
    assert len(batch) == 1
    records = read_back(topic)
    stored = {(record.partition, record.offset): record.value for record in records}
    for index, delivery in enumerate(deliveries):
        assert stored[delivery.partition, delivery.offset] == f"parent-{index}".encode()
    assert _values(records) == Counter(
        [
            *(f"parent-{n}".encode() for n in range(IN_FLIGHT)),
            *(b"child-sync", b"child-future", b"child-batch"),
        ]
    )


# --- transactional producers ---------------------------------------------------------------


def _committed(bootstrap: str, topic: str) -> list[bytes | None]:
    read_committed: dict[str, Any] = {"isolation.level": "read_committed"}
    records = read_topic(bootstrap, topic, **read_committed)
    return [record.value for record in records]


def _check_refusal(error: object) -> None:
    assert isinstance(error, kaffe.ProducerForkedError), error
    assert error.reason == "forked"
    assert "post_fork" in str(error)


def test_a_transactional_producer_refuses_in_the_child_and_names_the_fix(
    bootstrap: str, topic: str
) -> None:
    transactional_id = f"kaffe-test-{uuid.uuid4().hex}"
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], transactional_id=transactional_id
    ) as producer:
        with producer.transaction():
            producer.produce_sync(topic, 0, None, b"before")

        def child() -> tuple[list[kaffe.KaffeError], bool]:
            refusals: list[kaffe.KaffeError] = []
            for call in (
                lambda: producer.produce_sync(topic, 0, None, b"never"),
                lambda: producer.transaction().__enter__(),
                lambda: producer.flush(1),
            ):
                try:
                    call()
                except kaffe.KaffeError as error:
                    refusals.append(error)
            return refusals, producer.closed

        refusals, closed = in_child(child)
        assert len(refusals) == 3
        for error in refusals:
            _check_refusal(error)
        assert closed
        with producer.transaction():  # the parent's producer is not fenced
            producer.produce_sync(topic, 0, None, b"after")
    assert _committed(bootstrap, topic) == [b"before", b"after"]


def test_a_transactional_async_producer_refuses_in_the_child_and_names_the_fix(
    bootstrap: str, topic: str
) -> None:
    transactional_id = f"kaffe-test-{uuid.uuid4().hex}"

    async def child(producer: kaffe.AsyncProducer) -> list[kaffe.KaffeError]:
        refusals: list[kaffe.KaffeError] = []
        for call in (
            lambda: producer.produce_sync(topic, 0, None, b"never"),
            lambda: producer.transaction().__aenter__(),
            lambda: producer.flush(1),
        ):
            try:
                await call()
            except kaffe.KaffeError as error:
                refusals.append(error)
        return refusals

    async def parent() -> list[kaffe.KaffeError]:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap, topics=[topic], transactional_id=transactional_id
        ) as producer:
            async with producer.transaction():
                await producer.produce_sync(topic, 0, None, b"before")
            refusals = in_child(lambda: _in_new_thread(lambda: asyncio.run(child(producer))))
            async with producer.transaction():
                await producer.produce_sync(topic, 0, None, b"after")
        return refusals

    refusals = asyncio.run(parent())
    assert len(refusals) == 3
    for error in refusals:
        _check_refusal(error)
    assert _committed(bootstrap, topic) == [b"before", b"after"]
