from __future__ import annotations

import asyncio

import pytest

import kaffe
from kaffe import partitioners
from kaffe.testing import AsyncRecordingProducer, RecordingProducer


def test_recording_producer_places_keys_like_the_real_strategy() -> None:
    producer = RecordingProducer(topics={"events": 8})
    delivery = producer.produce_sync("user-42", "hello")
    assert delivery == kaffe.Delivery("events", partitioners.md5(b"user-42", 8), 0, None)
    sent = producer.sent[0]
    assert (sent.topic, sent.key, sent.value) == ("events", b"user-42", b"hello")


def test_recording_producer_counts_offsets_per_partition() -> None:
    producer = RecordingProducer(topics=["a"], partitions_count=2, partition_strategy="round_robin")
    offsets = [producer.produce_sync(None, "v").offset for _ in range(4)]
    assert offsets == [0, 0, 1, 1]


def test_recording_producer_raises_the_real_errors() -> None:
    producer = RecordingProducer(topics={"events": 4})
    with pytest.raises(kaffe.InvalidPartitionError):
        producer.produce_sync("events", 4, "k", "v")
    with pytest.raises(kaffe.UnknownTopicError, match="nope"):
        producer.produce_sync("nope", "k", "v")
    with pytest.raises(kaffe.MessageTypeError):
        producer.produce_sync("k", 3.5)
    assert producer.sent == []


def test_recording_producer_batches_and_headers() -> None:
    producer = RecordingProducer(topics={"events": 3})
    deliveries = producer.produce_batch_sync(
        "events", [("a", "1"), kaffe.Message("b", "2", headers={"h": "x"}, partition=2)]
    )
    assert [d.partition for d in deliveries] == [partitioners.md5(b"a", 3), 2]
    assert producer.messages("events")[1].headers == [("h", b"x")]


def test_recording_producer_can_simulate_failures() -> None:
    failure = kaffe.DeliveryTimeoutError("down", topic="events", reason="timed out", retriable=True)
    producer = RecordingProducer(topics={"events": 1}, fail_with=failure)
    with pytest.raises(kaffe.DeliveryTimeoutError):
        producer.produce_sync("k", "v")
    with pytest.raises(kaffe.BatchProduceError) as raised:
        producer.produce_batch_sync("events", [("k", "v")])
    assert raised.value.failed == [0]


def test_recording_producer_refuses_use_after_close() -> None:
    with RecordingProducer(topics={"events": 1}) as producer:
        assert producer.produce("k", "v").result().offset == 0
    with pytest.raises(kaffe.ProducerClosedError):
        producer.produce_sync("k", "v")


# --- the asyncio twin: the same behaviours, awaited ------------------------------------


def test_async_recording_producer_places_keys_like_the_real_strategy() -> None:
    async def main() -> None:
        async with AsyncRecordingProducer(topics={"events": 8}) as producer:
            delivery = await producer.produce_sync("user-42", "hello")
            assert delivery == kaffe.Delivery("events", partitioners.md5(b"user-42", 8), 0, None)
            sent = producer.sent[0]
            assert (sent.topic, sent.key, sent.value) == ("events", b"user-42", b"hello")

    asyncio.run(main())


def test_async_recording_producer_counts_offsets_per_partition() -> None:
    async def main() -> None:
        producer = AsyncRecordingProducer(
            topics=["a"], partitions_count=2, partition_strategy="round_robin"
        )
        offsets = [(await producer.produce_sync(None, "v")).offset for _ in range(4)]
        assert offsets == [0, 0, 1, 1]

    asyncio.run(main())


def test_async_recording_producer_raises_the_real_errors() -> None:
    async def main() -> None:
        producer = AsyncRecordingProducer(topics={"events": 4})
        with pytest.raises(kaffe.InvalidPartitionError):
            await producer.produce_sync("events", 4, "k", "v")
        with pytest.raises(kaffe.UnknownTopicError, match="nope"):
            await producer.produce_sync("nope", "k", "v")
        with pytest.raises(kaffe.MessageTypeError):
            await producer.produce_sync("k", 3.5)
        assert producer.sent == []

    asyncio.run(main())


def test_async_recording_producer_batches_and_headers() -> None:
    async def main() -> None:
        producer = AsyncRecordingProducer(topics={"events": 3})
        deliveries = await producer.produce_batch_sync(
            "events", [("a", "1"), kaffe.Message("b", "2", headers={"h": "x"}, partition=2)]
        )
        assert [d.partition for d in deliveries] == [partitioners.md5(b"a", 3), 2]
        assert producer.messages("events")[1].headers == [("h", b"x")]
        assert await producer.partitions_count() == 3

    asyncio.run(main())


def test_async_recording_producer_can_simulate_failures() -> None:
    async def main() -> None:
        failure = kaffe.DeliveryTimeoutError(
            "down", topic="events", reason="timed out", retriable=True
        )
        producer = AsyncRecordingProducer(topics={"events": 1}, fail_with=failure)
        with pytest.raises(kaffe.DeliveryTimeoutError):
            await producer.produce_sync("k", "v")
        future = await producer.produce("k", "v")
        assert future.exception() is failure
        with pytest.raises(kaffe.BatchProduceError) as raised:
            await producer.produce_batch_sync("events", [("k", "v")])
        assert raised.value.failed == [0]

    asyncio.run(main())


def test_async_recording_producer_refuses_use_after_close() -> None:
    async def main() -> None:
        async with AsyncRecordingProducer(topics={"events": 1}) as producer:
            assert (await (await producer.produce("k", "v"))).offset == 0
        with pytest.raises(kaffe.ProducerClosedError):
            await producer.produce_sync("k", "v")

    asyncio.run(main())


class _Watcher(kaffe.Observer):
    def __init__(self) -> None:
        self.sent: list[kaffe.OutgoingMessage] = []
        self.outcomes: list[object] = []

    def on_send(self, message: kaffe.OutgoingMessage, config: kaffe.ProducerConfig) -> object:
        self.sent.append(message)
        return len(self.sent)

    def on_outcome(
        self,
        context: object,
        message: kaffe.OutgoingMessage,
        outcome: kaffe.Delivery | kaffe.KaffeError,
        seconds: float,
    ) -> None:
        self.outcomes.append((context, outcome))


def test_recording_producers_tell_observers_like_the_real_ones() -> None:
    watcher = _Watcher()
    producer = RecordingProducer(topics={"events": 2}, observers=[watcher])
    first = producer.produce_sync("a", "1")
    batch = producer.produce_batch_sync("events", [("b", "2"), ("c", "3")])

    assert [m.key for m in watcher.sent] == ["a", "b", "c"]
    assert watcher.outcomes == [(1, first), (2, batch[0]), (3, batch[1])]

    async def main() -> None:
        async_watcher = _Watcher()
        async with AsyncRecordingProducer(topics={"events": 2}, observers=[async_watcher]) as ap:
            delivery = await ap.produce_sync("a", "1")
        assert async_watcher.outcomes == [(1, delivery)]

    asyncio.run(main())
