from __future__ import annotations

import pytest

import kaffe
from kaffe import partitioners
from kaffe.testing import RecordingProducer


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
