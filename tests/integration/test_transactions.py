"""
Transactions against the real broker, on both faces.

What a transaction promises is read back with confluent-kafka's ``Consumer`` at
``isolation.level=read_committed``: a committed transaction's messages are all
there, an aborted one's never are. ``TestProducer`` and ``TestAsyncProducer`` hold
the same tests, named alike; the asyncio ones run on a debug-mode loop that fails
them if a librdkafka call waits on the loop thread (see ``test_async_producer``).
The 3-node tests kill a partition leader in the middle of a transaction.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

import kaffe
from tests.conftest import Record, read_topic
from tests.integration.conftest import ReplicatedCluster
from tests.integration.test_async_producer import WatchedHandle, run_watched, watch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

#: Messages sent without waiting before a block ends.
PENDING = 2_000
#: linger_ms long enough that those are still queued when the block ends.
LINGER_MS = 1_000
#: Messages of the consume-transform-produce tests.
INPUT = 20
#: delivery_timeout of the 3-node tests: room for an election and a new coordinator.
FAILOVER_DELIVERY_TIMEOUT = 45.0


class Boom(Exception):
    """What the transaction blocks of these tests raise."""


def new_id() -> str:
    return f"kaffe-test-{uuid.uuid4().hex}"


def committed(bootstrap: str, topic: str, timeout: float = 30) -> list[bytes | None]:
    """The values a read_committed consumer sees, in log order."""
    return [record.value for record in _read(bootstrap, topic, timeout)]


def committed_values(bootstrap: str, topic: str) -> list[bytes]:
    """The values a read_committed consumer sees; none is a tombstone."""
    values = committed(bootstrap, topic)
    return [value for value in values if value is not None]


def _read(bootstrap: str, topic: str, timeout: float) -> list[Record]:
    _wait_until_settled(bootstrap, topic, timeout)
    read_committed: dict[str, Any] = {"isolation.level": "read_committed"}
    return read_topic(bootstrap, topic, timeout=timeout, **read_committed)


def _wait_until_settled(bootstrap: str, topic: str, timeout: float) -> None:
    """
    Wait until no transaction is open on the topic: its last stable offset is its end.

    A commit (or an abort) returns once the transaction coordinator decided it; the
    markers that end the transaction in each partition follow. Until they are written,
    a read_committed consumer stops at the last stable offset, before the transaction.
    """
    ends: dict[str, dict[int, int]] = {}
    deadline = time.monotonic() + timeout
    while True:
        for isolation in ("read_uncommitted", "read_committed"):
            consumer = Consumer(
                {
                    "bootstrap.servers": bootstrap,
                    "group.id": f"kaffe-test-{uuid.uuid4().hex}",
                    "isolation.level": isolation,
                }
            )
            try:
                metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
                ends[isolation] = {
                    partition: consumer.get_watermark_offsets(
                        TopicPartition(topic, partition), timeout=timeout
                    )[1]
                    for partition in metadata.partitions
                }
            finally:
                consumer.close()
        if ends["read_committed"] == ends["read_uncommitted"]:
            return
        assert time.monotonic() < deadline, f"a transaction stayed open on {topic}: {ends}"
        time.sleep(0.05)


@pytest.fixture
def one_partition(topic_factory: Callable[..., str]) -> str:
    """A fresh topic with one partition, so the log order is the produce order."""
    return topic_factory(1)


@pytest.fixture
def pipeline(bootstrap: str, topic_factory: Callable[..., str]) -> Iterator[Pipeline]:
    """An input topic holding ``INPUT`` messages, an output topic and a consumer of the input."""
    source, sink = topic_factory(2), topic_factory(2)
    with kaffe.Producer(endpoints=bootstrap, topics=[source]) as producer:
        producer.produce_batch_sync(source, [(f"k{n}", f"in-{n}") for n in range(INPUT)])
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"kaffe-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([source])
    try:
        yield Pipeline(bootstrap, source, sink, consumer)
    finally:
        consumer.close()


class Pipeline:
    """Consume-transform-produce: the input, the output and the consumer of the input."""

    def __init__(self, bootstrap: str, source: str, sink: str, consumer: Consumer) -> None:
        self.bootstrap = bootstrap
        self.source = source
        self.sink = sink
        self.consumer = consumer

    def consume_all(self) -> list[Any]:
        """Every input message, read by the consumer."""
        messages: list[Any] = []
        deadline = time.monotonic() + 60
        while len(messages) < INPUT:
            assert time.monotonic() < deadline, f"read {len(messages)} of {INPUT} inputs"
            message = self.consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
        return messages

    def positions(self) -> list[TopicPartition]:
        """The consumer's next offsets: what send_offsets_to_transaction takes."""
        return self.consumer.position(self.consumer.assignment())

    def committed_offsets(self) -> dict[int, int]:
        """The group's committed offset per input partition (negative: none)."""
        partitions = [TopicPartition(self.source, partition) for partition in range(2)]
        return {
            position.partition: position.offset
            for position in self.consumer.committed(partitions, timeout=30)
        }


def transformed(messages: list[Any]) -> list[tuple[bytes, bytes]]:
    """What the consume-transform-produce tests make of their input: the value upper-cased."""
    return [(message.key(), message.value().upper()) for message in messages]


def kaffe_pollers() -> int:
    return sum(thread.name == "kaffe-poller" for thread in threading.enumerate())


# --- the threaded face ---------------------------------------------------------------------


class TestProducer:
    """``kaffe.Producer``."""

    def test_committed_messages_are_visible_to_a_read_committed_consumer(
        self, bootstrap: str, one_partition: str
    ) -> None:
        with kaffe.Producer(
            endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
        ) as producer:
            with producer.transaction():
                delivery = producer.produce_sync("k", "sync")
                future = producer.produce("k", "future")
                batch = producer.produce_batch_sync(one_partition, [("k", "b1"), ("k", "b2")])
            assert future.done()
            assert [delivery.offset, future.result().offset] == [0, 1]
            assert [d.offset for d in batch] == [2, 3]
        assert committed(bootstrap, one_partition) == [b"sync", b"future", b"b1", b"b2"]

    def test_a_commit_delivers_every_pending_future_first(
        self, bootstrap: str, one_partition: str
    ) -> None:
        with kaffe.Producer(
            endpoints=bootstrap,
            topics=[one_partition],
            transactional_id=new_id(),
            linger_ms=LINGER_MS,
        ) as producer:
            with producer.transaction():
                futures = [producer.produce("k", f"v{n}") for n in range(PENDING)]
            assert all(future.done() for future in futures)
            assert [future.result().offset for future in futures] == list(range(PENDING))
        assert len(committed(bootstrap, one_partition)) == PENDING

    def test_an_exception_in_the_block_aborts_and_is_reraised(
        self, bootstrap: str, one_partition: str
    ) -> None:
        with kaffe.Producer(
            endpoints=bootstrap,
            topics=[one_partition],
            transactional_id=new_id(),
            linger_ms=LINGER_MS,
        ) as producer:
            error = Boom("the block failed")
            futures: list[kaffe.DeliveryFuture] = []

            def failing_transaction() -> None:
                with producer.transaction():
                    producer.produce_sync("k", "acknowledged, then aborted")
                    futures.extend(producer.produce("k", f"pending-{n}") for n in range(PENDING))
                    raise error

            with pytest.raises(Boom) as raised:
                failing_transaction()
            assert raised.value is error
            assert all(future.done() for future in futures)
            failures = [future.exception() for future in futures]
            # Acknowledged before the abort, or failed by it; which, depends on timing.
            assert all(
                failure is None or isinstance(failure, kaffe.TransactionAbortedError)
                for failure in failures
            )
            with producer.transaction():  # the producer goes on
                producer.produce_sync("k", "next transaction")
        assert committed(bootstrap, one_partition) == [b"next transaction"]

    def test_an_abort_fails_the_messages_still_queued(
        self, bootstrap: str, one_partition: str
    ) -> None:
        # Nobody waits on them and they linger for a second: the abort finds them queued.
        with kaffe.Producer(
            endpoints=bootstrap,
            topics=[one_partition],
            transactional_id=new_id(),
            linger_ms=LINGER_MS,
        ) as producer:
            futures: list[kaffe.DeliveryFuture] = []

            def failing_transaction() -> None:
                with producer.transaction():
                    futures.extend(producer.produce("k", f"queued-{n}") for n in range(10))
                    raise Boom("the block failed")

            with pytest.raises(Boom):
                failing_transaction()
            assert all(future.done() for future in futures)
            assert all(
                isinstance(future.exception(), kaffe.TransactionAbortedError) for future in futures
            )
        assert committed(bootstrap, one_partition) == []

    def test_producing_outside_a_transaction_raises_a_transaction_state_error(
        self, bootstrap: str, one_partition: str
    ) -> None:
        with kaffe.Producer(
            endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
        ) as producer:
            with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
                producer.produce_sync("k", "outside")
            with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
                producer.produce("k", "outside")
            with pytest.raises(kaffe.BatchProduceError) as raised:
                producer.produce_batch_sync(one_partition, [("k", "out-1"), ("k", "out-2")])
            assert isinstance(raised.value.errors[0], kaffe.TransactionStateError)
            with producer.transaction():
                producer.produce_sync("k", "inside")
        assert committed(bootstrap, one_partition) == [b"inside"]

    def test_a_nested_transaction_raises_and_the_outer_one_aborts(
        self, bootstrap: str, one_partition: str
    ) -> None:
        with kaffe.Producer(
            endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
        ) as producer:

            def nested_transactions() -> None:
                with producer.transaction():
                    producer.produce_sync("k", "outer")
                    with producer.transaction():
                        producer.produce_sync("k", "inner")

            with pytest.raises(kaffe.TransactionStateError, match="do not nest"):
                nested_transactions()
            with producer.transaction():
                producer.produce_sync("k", "after")
        assert committed(bootstrap, one_partition) == [b"after"]

    def test_a_producer_without_transactional_id_refuses_transactions(
        self, bootstrap: str, one_partition: str
    ) -> None:
        with kaffe.Producer(endpoints=bootstrap, topics=[one_partition]) as producer:
            with pytest.raises(kaffe.TransactionStateError, match="not transactional"):
                producer.transaction().__enter__()
            with pytest.raises(kaffe.TransactionStateError, match="not transactional"):
                producer.send_offsets_to_transaction([], b"")
            producer.produce_sync("k", "still works")

    def test_send_offsets_outside_a_transaction_raises(self, pipeline: Pipeline) -> None:
        pipeline.consume_all()
        with kaffe.Producer(
            endpoints=pipeline.bootstrap, topics=[pipeline.sink], transactional_id=new_id()
        ) as producer:
            with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
                producer.send_offsets_to_transaction(
                    pipeline.positions(), pipeline.consumer.consumer_group_metadata()
                )
            with (
                pytest.raises(kaffe.InvalidOffsetsError, match="TopicPartition"),
                producer.transaction(),
            ):
                producer.send_offsets_to_transaction({"topic": 3}, b"")

    def test_consume_transform_produce_advances_the_group_only_on_commit(
        self, pipeline: Pipeline
    ) -> None:
        messages = pipeline.consume_all()
        group = pipeline.consumer.consumer_group_metadata()
        with kaffe.Producer(
            endpoints=pipeline.bootstrap, topics=[pipeline.sink], transactional_id=new_id()
        ) as producer:

            def failing_transaction() -> None:
                with producer.transaction():
                    for key, value in transformed(messages):
                        producer.produce_sync(pipeline.sink, key, value)
                    producer.send_offsets_to_transaction(pipeline.positions(), group)
                    raise Boom

            with pytest.raises(Boom):
                failing_transaction()
            assert all(offset < 0 for offset in pipeline.committed_offsets().values())
            with producer.transaction():
                for key, value in transformed(messages):
                    producer.produce_sync(pipeline.sink, key, value)
                producer.send_offsets_to_transaction(pipeline.positions(), group)
        assert sum(pipeline.committed_offsets().values()) == INPUT
        assert sorted(committed_values(pipeline.bootstrap, pipeline.sink)) == sorted(
            value for _key, value in transformed(messages)
        )

    def test_a_newer_producer_fences_the_older_at_its_commit(
        self, bootstrap: str, one_partition: str
    ) -> None:
        transactional_id = new_id()
        older = kaffe.Producer(
            endpoints=bootstrap, topics=[one_partition], transactional_id=transactional_id
        )
        started: list[kaffe.Producer] = []

        def fenced_transaction() -> None:
            with older.transaction():
                older.produce_sync("k", "older")
                started.append(
                    kaffe.Producer(
                        endpoints=bootstrap,
                        topics=[one_partition],
                        transactional_id=transactional_id,
                    )
                )

        try:
            with pytest.raises(kaffe.ProducerFencedError) as raised:
                fenced_transaction()
            assert raised.value.fatal
            self.assert_refused_as_fenced(older, one_partition)
            with started[0].transaction():
                started[0].produce_sync("k", "newer")
        finally:
            older.close()
            for newer in started:
                newer.close()
        assert committed(bootstrap, one_partition) == [b"newer"]

    def test_a_newer_producer_fences_the_older_while_it_produces(
        self, bootstrap: str, one_partition: str
    ) -> None:
        transactional_id = new_id()
        pollers = kaffe_pollers()
        older = kaffe.Producer(
            endpoints=bootstrap, topics=[one_partition], transactional_id=transactional_id
        )
        with kaffe.Producer(
            endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
        ) as bystander:
            started: list[kaffe.Producer] = []

            def fenced_transaction() -> None:
                with older.transaction():
                    older.produce_sync("k", "older")
                    started.append(
                        kaffe.Producer(
                            endpoints=bootstrap,
                            topics=[one_partition],
                            transactional_id=transactional_id,
                        )
                    )
                    older.produce_sync("k", "zombie")

            try:
                with pytest.raises(kaffe.ProducerFencedError):
                    fenced_transaction()
                self.assert_refused_as_fenced(older, one_partition)
                assert kaffe_pollers() == pollers + 2  # the fenced producer's is gone
            finally:
                older.close()
                for newer in started:
                    newer.close()
            with bystander.transaction():  # other producers are untouched
                bystander.produce_sync("k", "bystander")
        assert committed(bootstrap, one_partition) == [b"bystander"]

    @staticmethod
    def assert_refused_as_fenced(producer: kaffe.Producer, topic: str) -> None:
        assert producer.closed
        calls: list[Callable[[], object]] = [
            lambda: producer.produce_sync("k", "v"),
            lambda: producer.produce("k", "v"),
            lambda: producer.produce_batch_sync(topic, [("k", "v")]),
            lambda: producer.transaction().__enter__(),
            lambda: producer.send_offsets_to_transaction([], b""),
            producer.flush,
            producer.refresh_metadata,
        ]
        for call in calls:
            with pytest.raises(kaffe.ProducerFencedError, match="fenced and closed"):
                call()

    def test_observers_see_committed_and_aborted_messages(
        self, bootstrap: str, one_partition: str
    ) -> None:
        observer = Outcomes()
        with kaffe.Producer(
            endpoints=bootstrap,
            topics=[one_partition],
            transactional_id=new_id(),
            observers=[observer],
            linger_ms=LINGER_MS,
        ) as producer:
            with producer.transaction():
                producer.produce_sync("k", "committed")
            futures: list[kaffe.DeliveryFuture] = []

            def failing_transaction() -> None:
                with producer.transaction():
                    futures.extend(producer.produce("k", f"aborted-{n}") for n in range(PENDING))
                    raise Boom

            with pytest.raises(Boom):
                failing_transaction()
        observer.assert_saw(futures)

    def test_a_failed_start_raises_a_typed_error_and_releases_the_producer(
        self, bootstrap: str, one_partition: str
    ) -> None:
        pollers = kaffe_pollers()
        with pytest.raises(kaffe.TransactionError, match="transactional_id") as raised:
            kaffe.Producer(
                endpoints=bootstrap,
                topics=[one_partition],
                transactional_id=new_id(),
                client_config={"transaction.timeout.ms": 3_600_000},  # over the broker's limit
            )
        assert raised.value.fatal
        assert raised.value.code == "INVALID_TRANSACTION_TIMEOUT"
        assert kaffe_pollers() == pollers

    @pytest.mark.cluster
    @pytest.mark.timeout(400)
    def test_a_leader_killed_mid_transaction_ends_in_a_commit_or_a_clean_abort(
        self, healthy_cluster: ReplicatedCluster
    ) -> None:
        cluster = healthy_cluster
        topic = cluster.create_topic(partitions=1)
        leader = cluster.leaders(topic)[0]
        values = [f"v{n}".encode() for n in range(200)]
        finished = False
        with kaffe.Producer(
            endpoints=cluster.bootstrap,
            topics=[topic],
            transactional_id=new_id(),
            delivery_timeout=FAILOVER_DELIVERY_TIMEOUT,
        ) as producer:
            try:
                with producer.transaction():
                    for value in values[:100]:
                        producer.produce_sync("k", value)
                    cluster.kill(leader)
                    for value in values[100:]:
                        producer.produce("k", value)
                finished = True
            except kaffe.TransactionError as error:
                if error.reason in ("commit unfinished", "abort unfinished"):
                    with producer.transaction():  # finishes it, whichever way it goes
                        pass
        cluster.start(leader)
        cluster.wait_for_full_isr(topic)
        seen = committed(cluster.bootstrap, topic, timeout=90)
        assert seen in ([], values), f"a partial transaction: {len(seen)} of {len(values)}"
        if finished:
            assert seen == values


# --- the asyncio face ----------------------------------------------------------------------


class TestAsyncProducer:
    """``kaffe.AsyncProducer``: the same tests, awaited."""

    def test_committed_messages_are_visible_to_a_read_committed_consumer(
        self, bootstrap: str, one_partition: str
    ) -> None:
        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
            ) as producer:
                handle = watch(producer)
                async with producer.transaction():
                    delivery = await producer.produce_sync("k", "sync")
                    future = await producer.produce("k", "future")
                    batch = await producer.produce_batch_sync(
                        one_partition, [("k", "b1"), ("k", "b2")]
                    )
                assert future.done()
                assert [delivery.offset, future.result().offset] == [0, 1]
                assert [d.offset for d in batch] == [2, 3]
            return [handle]

        run_watched(main)
        assert committed(bootstrap, one_partition) == [b"sync", b"future", b"b1", b"b2"]

    def test_a_commit_delivers_every_pending_future_first(
        self, bootstrap: str, one_partition: str
    ) -> None:
        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap,
                topics=[one_partition],
                transactional_id=new_id(),
                linger_ms=LINGER_MS,
            ) as producer:
                handle = watch(producer)
                async with producer.transaction():
                    futures = [await producer.produce("k", f"v{n}") for n in range(PENDING)]
                assert all(future.done() for future in futures)
                assert [future.result().offset for future in futures] == list(range(PENDING))
            return [handle]

        run_watched(main)
        assert len(committed(bootstrap, one_partition)) == PENDING

    def test_an_exception_in_the_block_aborts_and_is_reraised(
        self, bootstrap: str, one_partition: str
    ) -> None:
        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap,
                topics=[one_partition],
                transactional_id=new_id(),
                linger_ms=LINGER_MS,
            ) as producer:
                handle = watch(producer)
                error = Boom("the block failed")
                futures: list[asyncio.Future[kaffe.Delivery]] = []

                async def failing_transaction() -> None:
                    async with producer.transaction():
                        await producer.produce_sync("k", "acknowledged, then aborted")
                        for n in range(PENDING):
                            futures.append(await producer.produce("k", f"pending-{n}"))
                        raise error

                with pytest.raises(Boom) as raised:
                    await failing_transaction()
                assert raised.value is error
                await asyncio.sleep(0)
                assert all(future.done() for future in futures)
                failures = [future.exception() for future in futures]
                # Acknowledged before the abort, or failed by it; which, depends on timing.
                assert all(
                    f is None or isinstance(f, kaffe.TransactionAbortedError) for f in failures
                )
                async with producer.transaction():
                    await producer.produce_sync("k", "next transaction")
            return [handle]

        run_watched(main)
        assert committed(bootstrap, one_partition) == [b"next transaction"]

    def test_an_abort_fails_the_messages_still_queued(
        self, bootstrap: str, one_partition: str
    ) -> None:
        # Nobody waits on them and they linger for a second: the abort finds them queued.
        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap,
                topics=[one_partition],
                transactional_id=new_id(),
                linger_ms=LINGER_MS,
            ) as producer:
                handle = watch(producer)
                futures: list[asyncio.Future[kaffe.Delivery]] = []

                async def failing_transaction() -> None:
                    async with producer.transaction():
                        for n in range(10):
                            futures.append(await producer.produce("k", f"queued-{n}"))
                        raise Boom("the block failed")

                with pytest.raises(Boom):
                    await failing_transaction()
                await asyncio.sleep(0)
                assert all(future.done() for future in futures)
                assert all(
                    isinstance(future.exception(), kaffe.TransactionAbortedError)
                    for future in futures
                )
            return [handle]

        run_watched(main)
        assert committed(bootstrap, one_partition) == []

    def test_producing_outside_a_transaction_raises_a_transaction_state_error(
        self, bootstrap: str, one_partition: str
    ) -> None:
        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
            ) as producer:
                handle = watch(producer)
                with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
                    await producer.produce_sync("k", "outside")
                with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
                    await producer.produce("k", "outside")
                with pytest.raises(kaffe.BatchProduceError) as raised:
                    await producer.produce_batch_sync(
                        one_partition, [("k", "out-1"), ("k", "out-2")]
                    )
                assert isinstance(raised.value.errors[0], kaffe.TransactionStateError)
                async with producer.transaction():
                    await producer.produce_sync("k", "inside")
            return [handle]

        run_watched(main)
        assert committed(bootstrap, one_partition) == [b"inside"]

    def test_a_nested_transaction_raises_and_the_outer_one_aborts(
        self, bootstrap: str, one_partition: str
    ) -> None:
        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=new_id()
            ) as producer:
                handle = watch(producer)

                async def nested_transactions() -> None:
                    async with producer.transaction():
                        await producer.produce_sync("k", "outer")
                        async with producer.transaction():
                            await producer.produce_sync("k", "inner")

                with pytest.raises(kaffe.TransactionStateError, match="do not nest"):
                    await nested_transactions()
                async with producer.transaction():
                    await producer.produce_sync("k", "after")
            return [handle]

        run_watched(main)
        assert committed(bootstrap, one_partition) == [b"after"]

    def test_a_producer_without_transactional_id_refuses_transactions(
        self, bootstrap: str, one_partition: str
    ) -> None:
        async def main() -> None:
            async with kaffe.AsyncProducer(endpoints=bootstrap, topics=[one_partition]) as producer:
                with pytest.raises(kaffe.TransactionStateError, match="not transactional"):
                    await producer.transaction().__aenter__()
                with pytest.raises(kaffe.TransactionStateError, match="not transactional"):
                    await producer.send_offsets_to_transaction([], b"")
                await producer.produce_sync("k", "still works")

        asyncio.run(main())

    def test_send_offsets_outside_a_transaction_raises(self, pipeline: Pipeline) -> None:
        pipeline.consume_all()

        async def main() -> None:
            async with kaffe.AsyncProducer(
                endpoints=pipeline.bootstrap, topics=[pipeline.sink], transactional_id=new_id()
            ) as producer:
                with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
                    await producer.send_offsets_to_transaction(
                        pipeline.positions(), pipeline.consumer.consumer_group_metadata()
                    )

                async def bad_offsets() -> None:
                    async with producer.transaction():
                        await producer.send_offsets_to_transaction({"topic": 3}, b"")

                with pytest.raises(kaffe.InvalidOffsetsError, match="TopicPartition"):
                    await bad_offsets()

        asyncio.run(main())

    def test_consume_transform_produce_advances_the_group_only_on_commit(
        self, pipeline: Pipeline
    ) -> None:
        messages = pipeline.consume_all()
        group = pipeline.consumer.consumer_group_metadata()
        positions = pipeline.positions()

        async def main() -> list[WatchedHandle]:
            async with kaffe.AsyncProducer(
                endpoints=pipeline.bootstrap, topics=[pipeline.sink], transactional_id=new_id()
            ) as producer:
                handle = watch(producer)

                async def failing_transaction() -> None:
                    async with producer.transaction():
                        for key, value in transformed(messages):
                            await producer.produce_sync(pipeline.sink, key, value)
                        await producer.send_offsets_to_transaction(positions, group)
                        raise Boom

                with pytest.raises(Boom):
                    await failing_transaction()
                assert all(offset < 0 for offset in pipeline.committed_offsets().values())
                async with producer.transaction():
                    for key, value in transformed(messages):
                        await producer.produce_sync(pipeline.sink, key, value)
                    await producer.send_offsets_to_transaction(positions, group)
            return [handle]

        run_watched(main)
        assert sum(pipeline.committed_offsets().values()) == INPUT
        assert sorted(committed_values(pipeline.bootstrap, pipeline.sink)) == sorted(
            value for _key, value in transformed(messages)
        )

    def test_a_newer_producer_fences_the_older_at_its_commit(
        self, bootstrap: str, one_partition: str
    ) -> None:
        transactional_id = new_id()

        async def main() -> None:
            older = kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=transactional_id
            )
            newer = kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=transactional_id
            )

            async def fenced_transaction() -> None:
                async with older.transaction():
                    await older.produce_sync("k", "older")
                    await newer.start()

            await older.start()
            try:
                with pytest.raises(kaffe.ProducerFencedError) as raised:
                    await fenced_transaction()
                assert raised.value.fatal
                await self.assert_refused_as_fenced(older, one_partition)
                async with newer.transaction():
                    await newer.produce_sync("k", "newer")
            finally:
                await older.aclose()
                await newer.aclose()

        asyncio.run(main())
        assert committed(bootstrap, one_partition) == [b"newer"]

    def test_a_newer_producer_fences_the_older_while_it_produces(
        self, bootstrap: str, one_partition: str
    ) -> None:
        transactional_id = new_id()

        async def main() -> None:
            older = kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=transactional_id
            )
            newer = kaffe.AsyncProducer(
                endpoints=bootstrap, topics=[one_partition], transactional_id=transactional_id
            )

            async def fenced_transaction() -> None:
                async with older.transaction():
                    await older.produce_sync("k", "older")
                    await newer.start()
                    await older.produce_sync("k", "zombie")

            await older.start()
            try:
                with pytest.raises(kaffe.ProducerFencedError):
                    await fenced_transaction()
                await self.assert_refused_as_fenced(older, one_partition)
                async with newer.transaction():
                    await newer.produce_sync("k", "newer")
            finally:
                await older.aclose()
                await newer.aclose()

        asyncio.run(main())
        assert committed(bootstrap, one_partition) == [b"newer"]

    @staticmethod
    async def assert_refused_as_fenced(producer: kaffe.AsyncProducer, topic: str) -> None:
        assert producer.closed

        async def enter_transaction() -> None:
            await producer.transaction().__aenter__()

        calls: list[Callable[[], Any]] = [
            lambda: producer.produce_sync("k", "v"),
            lambda: producer.produce("k", "v"),
            lambda: producer.produce_batch_sync(topic, [("k", "v")]),
            enter_transaction,
            lambda: producer.send_offsets_to_transaction([], b""),
            producer.flush,
            producer.refresh_metadata,
        ]
        for call in calls:
            with pytest.raises(kaffe.ProducerFencedError, match="fenced and closed"):
                await call()

    def test_observers_see_committed_and_aborted_messages(
        self, bootstrap: str, one_partition: str
    ) -> None:
        observer = Outcomes()

        async def main() -> list[asyncio.Future[kaffe.Delivery]]:
            async with kaffe.AsyncProducer(
                endpoints=bootstrap,
                topics=[one_partition],
                transactional_id=new_id(),
                observers=[observer],
                linger_ms=LINGER_MS,
            ) as producer:
                async with producer.transaction():
                    await producer.produce_sync("k", "committed")
                futures: list[asyncio.Future[kaffe.Delivery]] = []

                async def failing_transaction() -> None:
                    async with producer.transaction():
                        for n in range(PENDING):
                            futures.append(await producer.produce("k", f"aborted-{n}"))
                        raise Boom

                with pytest.raises(Boom):
                    await failing_transaction()
            return futures

        futures = asyncio.run(main())
        observer.assert_saw(futures)

    def test_a_failed_start_raises_a_typed_error_and_releases_the_producer(
        self, bootstrap: str, one_partition: str
    ) -> None:
        pollers = kaffe_pollers()
        producer = kaffe.AsyncProducer(
            endpoints=bootstrap,
            topics=[one_partition],
            transactional_id=new_id(),
            client_config={"transaction.timeout.ms": 3_600_000},  # over the broker's limit
        )
        with pytest.raises(kaffe.TransactionError, match="transactional_id") as raised:
            asyncio.run(producer.start())
        assert raised.value.fatal
        assert raised.value.code == "INVALID_TRANSACTION_TIMEOUT"
        assert kaffe_pollers() == pollers

    @pytest.mark.cluster
    @pytest.mark.timeout(400)
    def test_a_leader_killed_mid_transaction_ends_in_a_commit_or_a_clean_abort(
        self, healthy_cluster: ReplicatedCluster
    ) -> None:
        cluster = healthy_cluster
        topic = cluster.create_topic(partitions=1)
        leader = cluster.leaders(topic)[0]
        values = [f"v{n}".encode() for n in range(200)]

        async def main() -> bool:
            async with kaffe.AsyncProducer(
                endpoints=cluster.bootstrap,
                topics=[topic],
                transactional_id=new_id(),
                delivery_timeout=FAILOVER_DELIVERY_TIMEOUT,
            ) as producer:
                try:
                    async with producer.transaction():
                        for value in values[:100]:
                            await producer.produce_sync("k", value)
                        await asyncio.to_thread(cluster.kill, leader)
                        for value in values[100:]:
                            await producer.produce("k", value)
                except kaffe.TransactionError as error:
                    if error.reason in ("commit unfinished", "abort unfinished"):
                        async with producer.transaction():
                            pass
                    return False
            return True

        finished = asyncio.run(main())
        cluster.start(leader)
        cluster.wait_for_full_isr(topic)
        seen = committed(cluster.bootstrap, topic, timeout=90)
        assert seen in ([], values), f"a partial transaction: {len(seen)} of {len(values)}"
        if finished:
            assert seen == values


# --- observers -----------------------------------------------------------------------------


class Outcomes(kaffe.Observer):
    """Keeps every outcome, by message value."""

    def __init__(self) -> None:
        self.outcomes: dict[bytes, kaffe.Delivery | kaffe.KaffeError] = {}

    def on_outcome(
        self,
        context: Any,
        message: kaffe.OutgoingMessage,
        outcome: kaffe.Delivery | kaffe.KaffeError,
        seconds: float,
    ) -> None:
        value = message.value
        assert isinstance(value, (str, bytes))
        self.outcomes[value.encode() if isinstance(value, str) else value] = outcome

    def assert_saw(self, futures: list[Any]) -> None:
        """One outcome per message, each the one its future got."""
        assert len(self.outcomes) == 1 + PENDING
        assert isinstance(self.outcomes[b"committed"], kaffe.Delivery)
        aborted = 0
        for n, future in enumerate(futures):
            outcome = self.outcomes[f"aborted-{n}".encode()]
            if isinstance(outcome, kaffe.KaffeError):
                assert isinstance(outcome, kaffe.TransactionAbortedError)
                assert future.exception() is outcome
                aborted += 1
            else:
                assert future.result() == outcome
        assert aborted
