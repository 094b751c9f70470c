"""The counting face against a real broker: failure reports only, and counts that add up."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError

import kaffe
from kaffe import partitioners
from kaffe._counting import CountingProducer
from tests.conftest import Record

pytestmark = pytest.mark.integration


def test_librdkafka_reports_a_failed_message_and_nothing_of_an_acknowledged_one(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(1, config={"max.message.bytes": "1024"})
    reports: list[tuple[bytes, KafkaError | None]] = []
    with CountingProducer(endpoints=bootstrap, topics=[topic]) as producer:
        handle = producer._engine.rk
        for value in (b"small", b"x" * 4000):  # the broker refuses the second
            handle.produce(
                topic, value, None, 0, lambda error, _, v=value: reports.append((v, error))
            )
            assert handle.flush(30) == 0

    [(value, error)] = reports
    assert value == b"x" * 4000
    assert error is not None
    assert error.code() == KafkaError.MSG_SIZE_TOO_LARGE


def test_a_clean_batch_counts_every_line_where_the_strategy_placed_it(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    lines = [b"key-%d:value %d" % (number, number) for number in range(3_000)]
    with CountingProducer(endpoints=bootstrap, topics=[topic], partition_strategy="crc32") as (
        producer
    ):
        sent = producer.produce_lines(topic, lines, b":", None)
        assert sent is not None
        counted, unsplit = sent
        producer.wait()

    assert unsplit == []
    assert counted.failures() == []
    records = read_back(topic)
    produced, payload, partitions = counted.acknowledged()
    assert produced == len(records) == 3_000
    assert payload == sum(len(line) - 1 for line in lines)
    assert partitions == Counter(record.partition for record in records)
    for record in records:
        assert record.key is not None
        assert record.partition == partitioners.crc32(record.key, 8)


def test_a_failed_line_is_named_by_its_tag_and_taken_out_of_the_counts(
    bootstrap: str, topic_factory: Callable[..., str], read_back: Callable[[str], list[Record]]
) -> None:
    topic = topic_factory(1, config={"max.message.bytes": "1024"})
    with CountingProducer(
        endpoints=bootstrap, topics=[topic], partition_strategy="murmur2"
    ) as producer:
        small = producer.produce_lines(topic, [b"a", b"", b"b"], None, None)
        producer.wait()
        large = producer.produce_lines(topic, [b"x" * 4000], None, None)
        producer.wait()

    assert small is not None
    assert large is not None
    assert small[0].acknowledged() == (2, 2, {0: 2})
    [(tag, error)] = large[0].failures()
    assert tag == 0
    assert isinstance(error, kaffe.MessageTooLargeError)
    assert large[0].acknowledged() == (0, 0, {})
    assert [record.value for record in read_back(topic)] == [b"a", b"b"]


def test_messages_of_any_form_are_counted_and_keep_their_tags(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    messages: list[kaffe.Message | tuple[Any, Any]] = [
        kaffe.Message("é", "ü", [("source", "test")], 3),
        ("k", b"value"),
    ]
    with CountingProducer(endpoints=bootstrap, topics=[topic]) as producer:
        counted = producer.produce_counted(topic, messages, [10, 11])
        producer.wait()

    assert counted.failures() == []
    assert counted.acknowledged() == (2, 4 + 6, {3: 1, partitioners.md5(b"k", 8): 1})
    records = sorted(read_back(topic), key=lambda record: record.key or b"")
    assert [(record.key, record.value, record.headers) for record in records] == [
        (b"k", b"value", []),
        ("é".encode(), "ü".encode(), [("source", b"test")]),
    ]


class _Outcomes(kaffe.Observer):
    def __init__(self) -> None:
        self.outcomes: list[kaffe.Delivery | kaffe.KaffeError] = []

    def on_send(self, message: kaffe.OutgoingMessage, config: kaffe.ProducerConfig) -> None:
        return None

    def on_outcome(
        self,
        context: object,
        message: kaffe.OutgoingMessage,
        outcome: kaffe.Delivery | kaffe.KaffeError,
        seconds: float,
    ) -> None:
        self.outcomes.append(outcome)


def test_observers_keep_a_report_coming_for_every_message(bootstrap: str, topic: str) -> None:
    observer = _Outcomes()
    with CountingProducer(endpoints=bootstrap, topics=[topic], observers=[observer]) as producer:
        assert producer.produce_lines(topic, [b"a:1", b"b:2"], b":", None) is None  # not plain
        counted = producer.produce_counted(topic, [(b"a", b"1"), (b"b", b"2")], [0, 1])
        producer.wait()

    assert counted.acknowledged()[0] == 2
    assert sorted(type(outcome).__name__ for outcome in observer.outcomes) == ["Delivery"] * 2


def test_a_transactional_id_is_refused_before_connecting() -> None:
    with pytest.raises(kaffe.ConfigError, match="a counting producer sends outside transactions"):
        CountingProducer(endpoints="127.0.0.1:9", transactional_id="bulk")
