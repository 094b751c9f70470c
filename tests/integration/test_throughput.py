"""
The fast paths of the threaded producer, against a real broker.

``produce()`` futures, batches and many concurrent ``produce_sync`` callers share
one engine that serves delivery reports on whichever thread is best placed; these
tests check that nothing is lost, duplicated or reordered on the way, and that
errors land on the right message. Speed is measured by ``bench/produce.py``, never
here.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, as_completed, wait

import pytest

import kaffe
from kaffe import partitioners
from tests.conftest import Record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: Larger than librdkafka's default ``message.max.bytes`` (1,000,000).
OVERSIZED = b"x" * 1_100_000


@pytest.fixture
def producer(bootstrap: str, topic: str) -> Iterator[kaffe.Producer]:
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], partition_strategy="crc32"
    ) as producer:
        yield producer


def _by_partition(records: list[Record]) -> dict[int, list[Record]]:
    partitions: dict[int, list[Record]] = defaultdict(list)
    for record in records:
        partitions[record.partition].append(record)
    return partitions


def _assert_each_key_in_sequence(records: list[Record]) -> None:
    """Values are b'<key>:<n>'; per key, n must rise with the offset, without gaps."""
    seen: dict[bytes, list[int]] = defaultdict(list)
    for record in sorted(records, key=lambda record: (record.partition, record.offset)):
        assert record.key is not None
        assert record.value is not None
        key, number = record.value.rsplit(b":", 1)
        assert key == record.key
        seen[key].append(int(number))
    for key, numbers in seen.items():
        assert numbers == list(range(len(numbers))), key


def test_produce_futures_keep_order_per_partition(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    keys = [f"key-{index}".encode() for index in range(40)]
    futures = [
        producer.produce(topic, key, key + b":%d" % number) for number in range(50) for key in keys
    ]
    producer.flush(30)
    deliveries = [future.result(0) for future in futures]

    records = read_back(topic)

    assert len(records) == len(futures)
    _assert_each_key_in_sequence(records)
    stored = {(record.partition, record.offset): record.value for record in records}
    for index, delivery in enumerate(deliveries):
        assert stored[(delivery.partition, delivery.offset)] == keys[index % 40] + b":%d" % (
            index // 40
        )


@pytest.mark.parametrize("strategy", ["md5", "murmur2", "crc32", "fnv1a"])
def test_keyed_messages_land_where_the_partitioner_function_says(
    bootstrap: str, topic: str, strategy: str
) -> None:
    # Every path (futures, batches, sync) places keys with the same function.
    function = partitioners.HASH_FUNCTIONS[strategy]
    keys = [f"user-{index}" for index in range(64)] + ["", "ключ"]
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], partition_strategy=strategy
    ) as producer:
        futures = [producer.produce(topic, key, b"v") for key in keys]
        batch = producer.produce_batch_sync(topic, [(key, b"v") for key in keys])
        single = [producer.produce_sync(topic, key, b"v") for key in keys[:4]]

    expected = [function(key, 8) for key in keys]
    assert [future.result(0).partition for future in futures] == expected
    assert [delivery.partition for delivery in batch] == expected
    assert [delivery.partition for delivery in single] == expected[:4]


def test_produce_future_cannot_be_cancelled_and_still_delivers(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    future = producer.produce(topic, b"k", b"kept")

    assert future.cancel() is False
    delivery = future.result(30)

    assert future.done()
    assert not future.cancelled()
    assert future.exception(0) is None
    assert [(r.partition, r.offset, r.value) for r in read_back(topic)] == [
        (delivery.partition, delivery.offset, b"kept")
    ]


def test_produce_futures_work_with_wait_as_completed_and_callbacks(
    producer: kaffe.Producer, topic: str
) -> None:
    called: list[kaffe.Delivery] = []
    first = producer.produce(topic, b"k", b"first")
    first.add_done_callback(lambda future: called.append(future.result()))
    futures = [producer.produce(topic, b"k%d" % index, b"v") for index in range(200)]

    done, pending = wait([first, *futures], timeout=30)
    completed = list(as_completed(futures, timeout=30))

    assert not pending
    assert len(done) == 201
    assert len(completed) == 200
    assert called == [first.result()]
    assert all(isinstance(future, Future) for future in futures)


def test_failed_produce_future_carries_a_typed_error(producer: kaffe.Producer, topic: str) -> None:
    with pytest.raises(kaffe.MessageTooLargeError):
        producer.produce(topic, b"k", OVERSIZED)
    # A refused message raises at once; the producer stays usable.
    assert producer.produce(topic, b"k", b"v").result(30).topic == topic


def test_produce_sync_from_64_threads_loses_and_duplicates_nothing(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    per_thread = 40
    results: dict[int, list[kaffe.Delivery]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(64)

    def work(thread: int) -> None:
        key = b"thread-%d" % thread
        start.wait()
        try:
            results[thread] = [
                producer.produce_sync(topic, key, key + b":%d" % number)
                for number in range(per_thread)
            ]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(64)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    assert not errors
    records = read_back(topic)
    assert len(records) == 64 * per_thread
    assert len({record.value for record in records}) == 64 * per_thread
    _assert_each_key_in_sequence(records)
    deliveries = [delivery for thread in results.values() for delivery in thread]
    assert len({(d.partition, d.offset) for d in deliveries}) == 64 * per_thread


def test_produce_futures_from_many_threads_lose_nothing(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    futures: list[kaffe.DeliveryFuture] = []
    lock = threading.Lock()

    def work(thread: int) -> None:
        key = b"t%d" % thread
        mine = [producer.produce(topic, key, key + b":%d" % number) for number in range(500)]
        with lock:
            futures.extend(mine)

    threads = [threading.Thread(target=work, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    producer.flush(30)

    assert len({(d.partition, d.offset) for d in (f.result(0) for f in futures)}) == 4000
    records = read_back(topic)
    assert len(records) == 4000
    _assert_each_key_in_sequence(records)


def test_batch_deliveries_come_back_in_input_order(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    messages: list[kaffe.Message | tuple[bytes, bytes]] = [
        (b"k%d" % (index % 7), b"k%d:%d" % (index % 7, index // 7)) for index in range(700)
    ]
    messages.append(kaffe.Message(b"h", b"with-headers", headers={"trace": "abc"}, partition=3))

    deliveries = producer.produce_batch_sync(topic, messages)

    stored = {(record.partition, record.offset): record for record in read_back(topic)}
    assert len(stored) == len(messages)
    for message, delivery in zip(messages, deliveries, strict=True):
        assert stored[(delivery.partition, delivery.offset)].value == message[1]
    assert deliveries[-1].partition == 3
    assert stored[(3, deliveries[-1].offset)].headers == [("trace", b"abc")]
    _assert_each_key_in_sequence([r for r in stored.values() if r.key != b"h"])


def test_batch_with_one_oversized_message_reports_exactly_that_one(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    messages = [(b"k%d" % index, b"value-%d" % index) for index in range(20)]
    messages[7] = (b"k7", OVERSIZED)

    with pytest.raises(kaffe.BatchProduceError) as caught:
        producer.produce_batch_sync(topic, messages)

    error = caught.value
    assert error.failed == [7]
    assert error.delivered == [index for index in range(20) if index != 7]
    assert isinstance(error.errors[7], kaffe.MessageTooLargeError)
    assert error.deliveries[7] is None
    assert "1 of 20" in str(error)
    stored = {(record.partition, record.offset): record.value for record in read_back(topic)}
    assert len(stored) == 19
    for index in error.delivered:
        delivery = error.deliveries[index]
        assert delivery is not None
        assert stored[(delivery.partition, delivery.offset)] == b"value-%d" % index
    # The producer stays usable.
    assert len(producer.produce_batch_sync(topic, [(b"a", b"b")])) == 1


def test_full_queue_raises_queue_full_error_after_the_bounded_wait(
    bootstrap: str, topic: str
) -> None:
    # A long linger keeps messages queued, so a 5-message queue stays full.
    with kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        linger_ms=5_000,
        queue_full_timeout=0.3,
        client_config={"queue.buffering.max.messages": 5},
    ) as producer:
        futures = [producer.produce(topic, b"k", b"v%d" % index) for index in range(5)]
        with pytest.raises(kaffe.QueueFullError) as caught:
            producer.produce(topic, b"k", b"one too many")
        assert caught.value.retriable
        assert caught.value.topic == topic
        producer.flush(30)
        assert all(future.result(0).topic == topic for future in futures)


def test_lone_produce_sync_does_not_wait_for_linger(bootstrap: str, topic: str) -> None:
    # With a 10 s linger, only serving through flush() delivers within the wait below.
    with (
        kaffe.Producer(endpoints=bootstrap, topics=[topic], linger_ms=10_000) as producer,
        ThreadPoolExecutor(1) as pool,
    ):
        assert pool.submit(producer.produce_sync, b"k", b"v").result(timeout=5).topic == topic
        batch = pool.submit(producer.produce_batch_sync, topic, [(b"k", b"v")] * 10)
        assert len(batch.result(timeout=5)) == 10


def test_batch_larger_than_the_queue_is_offered_again_as_room_frees(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    # librdkafka takes 50 messages at a time: every produce_batch call fills the queue
    # midway and the refused tail must be offered again, in order, exactly once.
    messages = [
        (b"k%d" % (index % 11), b"k%d:%d" % (index % 11, index // 11)) for index in range(2_000)
    ]
    with kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        partition_strategy="crc32",
        client_config={"queue.buffering.max.messages": 50},
    ) as producer:
        deliveries = producer.produce_batch_sync(topic, messages)

    stored = {(record.partition, record.offset): record for record in read_back(topic)}
    assert len(stored) == len(messages)
    for (key, value), delivery in zip(messages, deliveries, strict=True):
        assert delivery.partition == partitioners.crc32(key, 8)
        assert stored[(delivery.partition, delivery.offset)].value == value
    _assert_each_key_in_sequence(list(stored.values()))


def test_a_thread_waiting_on_each_future_in_turn_always_gets_its_report(
    producer: kaffe.Producer, topic: str
) -> None:
    # Every 256th message the producing thread serves reports inline; the reports still
    # to come must be served all the same.
    deliveries = [producer.produce(topic, b"key-%d" % i, b"v").result(10) for i in range(600)]
    assert len({(d.partition, d.offset) for d in deliveries}) == 600
