"""
``kaffe.AsyncProducer`` end to end against a real broker.

Besides delivery, these tests watch the event loop itself. The loop runs in debug
mode, where asyncio refuses loop calls from other threads, so a future resolved
from the poller thread fails the test. And a heartbeat task measures how long the
loop thread stops running without spending CPU: time a librdkafka call waiting on
the loop thread would take. Busy time (debug mode makes 1,000 tasks slow to
start) is not blocking and is not counted.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import kaffe
from tests.conftest import Record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: Larger than librdkafka's default ``message.max.bytes`` (1,000,000).
OVERSIZED = b"x" * 1_100_000
#: Seconds the heartbeat sleeps between beats.
BEAT = 0.01
#: Off-CPU stalls of the loop thread longer than this count as blocking. On a busy
#: 2-core machine, waiting to be scheduled or for the GIL can take seconds; the
#: lingering these tests configure would block the loop for far longer. This is a
#: backstop: ``WatchedHandle`` is the exact check.
BLOCKED = 5.0
#: librdkafka calls that never wait, so they may run on the loop thread.
NON_WAITING = frozenset({"produce", "__len__"})


class WatchedHandle:
    """Stands in for the librdkafka handle and records waiting calls made on one thread."""

    def __init__(self, handle: Any, thread: int) -> None:
        self._handle = handle
        self._thread = thread
        self.violations: list[str] = []

    def __len__(self) -> int:
        return len(self._handle)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._handle, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            waits = name not in NON_WAITING and not (name == "poll" and args == (0,))
            if waits and threading.get_ident() == self._thread:
                self.violations.append(f"{name}{args}")
            return method(*args, **kwargs)

        return call


def watch(producer: kaffe.AsyncProducer) -> WatchedHandle:
    """Record every librdkafka call that can wait and runs on the calling (loop) thread."""
    engine = producer._engine
    assert engine is not None
    watched = WatchedHandle(engine.rk, threading.get_ident())
    engine.rk = watched
    return watched


def run_watched(main: Callable[[], Coroutine[Any, Any, list[WatchedHandle]]]) -> None:
    """Run ``main`` on a debug-mode loop; fail if anything blocked the loop thread."""
    stalls: list[float] = []

    async def heartbeat() -> None:
        while True:
            wall, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(BEAT)
            late = time.perf_counter() - wall - BEAT
            stalls.append(late - (time.thread_time() - cpu))

    async def watched() -> list[WatchedHandle]:
        beating = asyncio.create_task(heartbeat())
        await asyncio.sleep(0)
        try:
            return await main()
        finally:
            beating.cancel()

    handles = asyncio.run(watched(), debug=True)
    assert [violation for handle in handles for violation in handle.violations] == []
    assert stalls, "the heartbeat never ran"
    assert max(stalls) < BLOCKED, sorted(stalls)[-5:]


def _assert_each_key_in_sequence(records: list[Record]) -> None:
    seen: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda record: (record.partition, record.offset)):
        assert record.value is not None
        key, number = record.value.rsplit(b":", 1)
        assert key == record.key
        seen[key].append(int(number))
    for key, numbers in seen.items():
        assert numbers == list(range(len(numbers))), key


def test_produce_sync_from_1000_tasks_loses_and_duplicates_nothing(
    bootstrap: str,
    topic: str,
    read_back: Callable[[str], list[Record]],
) -> None:
    per_task = 5
    deliveries: list[kaffe.Delivery] = []

    async def main() -> list[WatchedHandle]:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap, topics=[topic], partition_strategy="murmur2"
        ) as producer:
            handle = watch(producer)

            async def work(task: int) -> None:
                key = b"task-%d" % task
                for number in range(per_task):
                    deliveries.append(await producer.produce_sync(key, key + b":%d" % number))

            await asyncio.gather(*(work(task) for task in range(1000)))
        return [handle]

    run_watched(main)

    records = read_back(topic)
    assert len(records) == 1000 * per_task
    assert len({record.value for record in records}) == 1000 * per_task
    assert len({(d.partition, d.offset) for d in deliveries}) == 1000 * per_task
    _assert_each_key_in_sequence(records)


def test_produce_futures_and_batches_never_block_the_loop(
    bootstrap: str,
    topic: str,
    read_back: Callable[[str], list[Record]],
) -> None:
    async def main() -> list[WatchedHandle]:
        # A long linger: any librdkafka call that waits for it on the loop would show.
        async with kaffe.AsyncProducer(
            endpoints=bootstrap, topics=[topic], linger_ms=20_000
        ) as producer:
            handle = watch(producer)
            futures = [await producer.produce(b"k", b"k:%d" % number) for number in range(300)]
            assert await producer.flush() == 0
            assert all(future.done() for future in futures)
            batch = await producer.produce_batch_sync(
                topic, [(b"b", b"b:%d" % number) for number in range(300)]
            )
            assert len(batch) == 300
            lone = await producer.produce_sync(topic, b"c", b"c:0")
            assert lone.topic == topic
        return [handle]

    run_watched(main)

    records = read_back(topic)
    assert len(records) == 601
    _assert_each_key_in_sequence(records)


def test_cancelling_an_awaiting_task_neither_loses_nor_repeats_its_message(
    bootstrap: str,
    topic: str,
    read_back: Callable[[str], list[Record]],
) -> None:
    async def main() -> list[WatchedHandle]:
        async with kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic]) as producer:
            handle = watch(producer)
            tasks = [
                asyncio.create_task(producer.produce_sync(b"k", b"cancelled-%d" % number))
                for number in range(20)
            ]
            await asyncio.sleep(0)  # every task hands its message over, then awaits
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
            assert await producer.flush() == 0
            # The producer stays usable and its later messages are unaffected.
            await producer.produce_sync(b"k", b"after")
        return [handle]

    run_watched(main)

    values = [record.value or b"" for record in read_back(topic)]
    assert sorted(values) == sorted([b"cancelled-%d" % number for number in range(20)] + [b"after"])


def test_batch_with_one_oversized_message_reports_exactly_that_one(
    bootstrap: str,
    topic: str,
    read_back: Callable[[str], list[Record]],
) -> None:
    caught: list[kaffe.BatchProduceError] = []

    async def main() -> list[WatchedHandle]:
        async with kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic]) as producer:
            handle = watch(producer)
            messages = [(b"k%d" % index, b"value-%d" % index) for index in range(20)]
            messages[7] = (b"k7", OVERSIZED)
            with pytest.raises(kaffe.BatchProduceError) as error:
                await producer.produce_batch_sync(topic, messages)
            caught.append(error.value)
            assert len(await producer.produce_batch_sync(topic, [(b"a", b"b")])) == 1
        return [handle]

    run_watched(main)

    error = caught[0]
    assert error.failed == [7]
    assert error.delivered == [index for index in range(20) if index != 7]
    assert isinstance(error.errors[7], kaffe.MessageTooLargeError)
    assert error.deliveries[7] is None
    stored = {(record.partition, record.offset): record.value for record in read_back(topic)}
    assert len(stored) == 20
    for index in error.delivered:
        delivery = error.deliveries[index]
        assert delivery is not None
        assert stored[(delivery.partition, delivery.offset)] == b"value-%d" % index


def test_awaited_sends_do_not_wait_for_linger(bootstrap: str, topic: str) -> None:
    # With a 60 s linger, only serving through flush() delivers within the 15 s allowed.
    async def main() -> list[WatchedHandle]:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap, topics=[topic], linger_ms=60_000, delivery_timeout=120
        ) as producer:
            handle = watch(producer)
            delivery = await asyncio.wait_for(producer.produce_sync(b"k", b"v"), 15)
            assert delivery.topic == topic
            batch = await asyncio.wait_for(
                producer.produce_batch_sync(topic, [(b"b", b"1"), (b"b", b"2")]), 15
            )
            assert batch[1].offset == batch[0].offset + 1
        return [handle]

    run_watched(main)


def test_a_lone_task_awaiting_one_message_at_a_time_always_gets_its_report(
    bootstrap: str, topic: str
) -> None:
    # Every 256th message the producing thread serves reports inline; the reports still
    # to come must be served all the same.
    async def main() -> list[kaffe.Delivery]:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap, topics=[topic], delivery_timeout=5
        ) as producer:
            return [await producer.produce_sync(b"key-%d" % i, b"v") for i in range(600)]

    assert len(asyncio.run(main())) == 600
