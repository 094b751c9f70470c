"""The Kaffe producer, end to end against a real broker."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

import kaffe
from kaffe import partitioners
from tests.conftest import Record

pytestmark = pytest.mark.integration


@pytest.fixture
def producer(bootstrap: str, topic: str) -> Iterator[kaffe.Producer]:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        yield producer


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _topic_exists(admin: AdminClient, name: str) -> bool:
    return name in admin.list_topics(timeout=10).topics


# --- the three produce_sync forms --------------------------------------------------------


def test_produce_sync_with_key_and_value_sends_to_the_first_topic(
    bootstrap: str, topic_factory: Callable[..., str], read_back: Callable[[str], list[Record]]
) -> None:
    first, second = topic_factory(4), topic_factory(4)
    with kaffe.Producer(endpoints=bootstrap, topics=[first, second]) as producer:
        delivery = producer.produce_sync("key", "value")
    assert delivery.topic == first
    assert delivery.partition == partitioners.md5(b"key", 4)
    assert [(r.partition, r.offset, r.key, r.value) for r in read_back(first)] == [
        (delivery.partition, delivery.offset, b"key", b"value")
    ]
    assert read_back(second) == []


def test_produce_sync_with_topic_uses_the_strategy(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    delivery = producer.produce_sync(topic, b"user-42", b"hello")
    assert (delivery.topic, delivery.partition) == (topic, partitioners.md5(b"user-42", 8))
    record = read_back(topic)[0]
    assert (record.partition, record.offset, record.value) == (
        delivery.partition,
        delivery.offset,
        b"hello",
    )


def test_produce_sync_with_topic_and_partition_skips_the_strategy(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    deliveries = [producer.produce_sync(topic, 5, f"k{i}", f"v{i}") for i in range(3)]
    assert {d.partition for d in deliveries} == {5}
    assert [d.offset for d in deliveries] == [0, 1, 2]
    assert [(r.partition, r.key) for r in read_back(topic)] == [(5, b"k0"), (5, b"k1"), (5, b"k2")]


def test_delivery_offsets_match_the_log(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    sent = {}
    for i in range(60):
        delivery = producer.produce_sync(topic, f"key-{i}", f"value-{i}")
        sent[(delivery.partition, delivery.offset)] = (f"key-{i}".encode(), f"value-{i}".encode())
    logged = {(r.partition, r.offset): (r.key, r.value) for r in read_back(topic)}
    assert logged == sent


def test_headers_and_timestamp_reach_the_log(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    stamp = 1_700_000_000_000
    delivery = producer.produce_sync(
        topic, "k", "v", headers={"trace": "abc", "raw": b"\x00\x01"}, timestamp=stamp
    )
    producer.produce_sync(topic, "k", "v2", headers=[("dup", "1"), ("dup", "2")])
    assert delivery.timestamp == stamp
    records = read_back(topic)
    assert records[0].headers == [("trace", b"abc"), ("raw", b"\x00\x01")]
    assert records[1].headers == [("dup", b"1"), ("dup", b"2")]


def test_none_value_is_a_tombstone_and_bytes_like_values_are_accepted(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    producer.produce_sync(topic, 0, "gone", None)
    producer.produce_sync(topic, 0, bytearray(b"k"), memoryview(b"v"))
    records = read_back(topic)
    assert [(r.key, r.value) for r in records] == [(b"gone", None), (b"k", b"v")]


# --- strategies -----------------------------------------------------------------------------


def test_md5_placement_matches_kaffe_for_every_key(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    keys = [f"customer-{i}" for i in range(100)]
    for key in keys:
        producer.produce_sync(topic, key, "x")
    for record in read_back(topic):
        assert record.key is not None
        assert record.partition == partitioners.md5(record.key, 8)


def test_round_robin_starts_at_zero_and_cycles_per_topic(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    first, second = topic_factory(3), topic_factory(2)
    with kaffe.Producer(
        endpoints=bootstrap, topics=[first, second], partition_strategy="round_robin"
    ) as producer:
        a = [producer.produce_sync(first, None, "x").partition for _ in range(7)]
        b = [producer.produce_sync(second, None, "x").partition for _ in range(3)]
        producer.produce_sync(first, 2, None, "explicit partitions do not move the cursor")
        c = producer.produce_sync(first, None, "x").partition
    assert a == [0, 1, 2, 0, 1, 2, 0]
    assert b == [0, 1, 0]
    assert c == 1


def test_random_strategy_spreads_over_every_partition(producer: kaffe.Producer, topic: str) -> None:
    with kaffe.Producer(
        endpoints=producer.config.endpoints, topics=[topic], partition_strategy="random"
    ) as random_producer:
        futures = [random_producer.produce(topic, None, "x") for _ in range(400)]
        partitions = Counter(future.result(timeout=30).partition for future in futures)
    assert set(partitions) == set(range(8))


def test_function_strategy_gets_topic_current_partition_count_key_and_value(
    bootstrap: str, topic: str
) -> None:
    calls: list[tuple[Any, ...]] = []

    def strategy(name: str, current: int | None, count: int, key: Any, value: Any) -> int:
        calls.append((name, current, count, key, value))
        return 0 if current is None else (current + 3) % count

    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], partition_strategy=strategy
    ) as producer:
        placed = [producer.produce_sync("k", f"v{i}").partition for i in range(3)]
    assert placed == [0, 3, 6]
    assert calls == [
        (topic, None, 8, "k", "v0"),
        (topic, 0, 8, "k", "v1"),
        (topic, 3, 8, "k", "v2"),
    ]


def test_partitions_count_reports_each_topic(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    first, second = topic_factory(3), topic_factory(5)
    with kaffe.Producer(endpoints=bootstrap, topics=[first]) as producer:
        assert producer.partitions_count(first) == 3
        assert producer.partitions_count() == 3
        assert producer.partitions_count(second) == 5


# --- concurrency ------------------------------------------------------------------------


def test_concurrent_produce_sync_from_16_threads_loses_and_duplicates_nothing(
    producer: kaffe.Producer, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    deliveries: dict[bytes, kaffe.Delivery] = {}
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def worker(thread: int) -> None:
        start.wait()
        for i in range(50):
            value = f"{thread}-{i}".encode()
            try:
                delivery = producer.produce_sync(topic, value, value)
            except BaseException as error:
                errors.append(error)
                continue
            with lock:
                deliveries[value] = delivery

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    records = read_back(topic)
    values = Counter(record.value for record in records)
    assert len(deliveries) == 800
    assert set(values) == set(deliveries)
    assert max(values.values()) == 1
    for record in records:
        assert record.value is not None
        delivery = deliveries[record.value]
        assert (delivery.partition, delivery.offset) == (record.partition, record.offset)


# --- start-up analysis and errors ------------------------------------------------------


def test_unreachable_endpoints_raise_broker_unavailable_within_the_start_timeout(
    topic: str, capfd: pytest.CaptureFixture[str]
) -> None:
    endpoint = f"127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    with pytest.raises(kaffe.BrokerUnavailableError) as raised:
        kaffe.Producer(endpoints=endpoint, topics=[topic], start_timeout=2)
    assert time.monotonic() - started < 6
    assert endpoint in str(raised.value)
    assert raised.value.retriable
    assert capfd.readouterr().err == ""  # librdkafka's complaints go to logging, not stderr


def test_default_start_timeout_is_bounded(topic: str) -> None:
    started = time.monotonic()
    with pytest.raises(kaffe.BrokerUnavailableError):
        kaffe.Producer(endpoints=f"127.0.0.1:{_closed_port()}", topics=[topic])
    assert time.monotonic() - started < 15


def test_unknown_configured_topic_raises_and_is_not_created(
    bootstrap: str, admin: AdminClient
) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(kaffe.UnknownTopicError, match=name) as raised:
        kaffe.Producer(endpoints=bootstrap, topics=[name], start_timeout=5)
    assert raised.value.topic == name
    time.sleep(0.5)
    assert not _topic_exists(admin, name)


def test_unknown_topic_in_a_call_raises_and_the_producer_stays_usable(
    producer: kaffe.Producer, topic: str, admin: AdminClient
) -> None:
    name = f"missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(kaffe.UnknownTopicError, match=name):
        producer.produce_sync(name, "k", "v")
    assert not _topic_exists(admin, name)
    assert producer.produce_sync(topic, "k", "v").topic == topic


def test_topic_auto_creation_only_when_allowed(bootstrap: str, admin: AdminClient) -> None:
    name = f"created-{uuid.uuid4().hex[:8]}"
    with kaffe.Producer(
        endpoints=bootstrap, topics=[name], allow_topic_auto_creation=True, start_timeout=20
    ) as producer:
        delivery = producer.produce_sync("k", "v")
    assert delivery.topic == name
    assert _topic_exists(admin, name)


def test_topic_used_in_a_call_is_analysed_on_first_use(
    producer: kaffe.Producer, topic_factory: Callable[..., str]
) -> None:
    other = topic_factory(2)
    assert other not in producer._core.topics
    assert producer.produce_sync(other, "k", "v").partition == partitioners.md5(b"k", 2)
    assert producer.partitions_count(other) == 2


def test_out_of_range_partition_raises_and_the_producer_stays_usable(
    producer: kaffe.Producer, topic: str
) -> None:
    with pytest.raises(kaffe.InvalidPartitionError, match=r"partition 8 .* 8 partitions") as raised:
        producer.produce_sync(topic, 8, "k", "v")
    assert (raised.value.topic, raised.value.partition, raised.value.partitions_count) == (
        topic,
        8,
        8,
    )
    with pytest.raises(kaffe.InvalidPartitionError):
        producer.produce_sync(topic, -1, "k", "v")
    assert producer.produce_sync(topic, 7, "k", "v").partition == 7


def test_strategy_returning_out_of_range_raises_invalid_partition(
    bootstrap: str, topic: str
) -> None:
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], partition_strategy=lambda *args: 99
    ) as producer:
        with pytest.raises(kaffe.InvalidPartitionError, match="99"):
            producer.produce_sync("k", "v")
        assert producer.produce_sync(topic, 1, "k", "v").partition == 1


def test_none_key_under_md5_raises_an_error_that_mentions_the_key(
    producer: kaffe.Producer, topic: str
) -> None:
    with pytest.raises(kaffe.PartitionStrategyError, match="key"):
        producer.produce_sync(None, "v")
    assert (
        producer.produce_sync(topic, 0, None, "keyless with an explicit partition").partition == 0
    )


@pytest.mark.parametrize("bad", [1, 2.5, {"a": 1}, object()])
def test_unsupported_value_types_raise_type_error_naming_the_type(
    producer: kaffe.Producer, bad: object
) -> None:
    with pytest.raises(TypeError, match=type(bad).__name__) as raised:
        producer.produce_sync("k", bad)
    assert isinstance(raised.value, kaffe.KaffeError)
    with pytest.raises(kaffe.MessageTypeError, match="key"):
        producer.produce_sync(bad, "v")
    assert producer.produce_sync("k", "v").offset >= 0


def test_serializers_turn_other_types_into_bytes(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    with kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        key_serializer=lambda key: str(key).encode(),
        value_serializer=lambda value: json.dumps(value).encode(),
    ) as producer:
        delivery = producer.produce_sync(42, {"id": 42})
    assert delivery.partition == partitioners.md5(b"42", 8)
    record = read_back(topic)[0]
    assert (record.key, record.value) == (b"42", b'{"id": 42}')


def test_bad_client_config_option_raises_config_error_naming_it(bootstrap: str, topic: str) -> None:
    options = {"no.such.property": "1"}
    with pytest.raises(kaffe.ConfigError, match=r"no\.such\.property"):
        kaffe.Producer(endpoints=bootstrap, topics=[topic], client_config=options)
    assert options == {"no.such.property": "1"}


def test_wrong_argument_count_raises_type_error(producer: kaffe.Producer) -> None:
    with pytest.raises(TypeError, match="positional"):
        producer.produce_sync("only-one")  # type: ignore[call-overload]


def test_librdkafka_logs_go_to_python_logging(
    topic: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="kaffe")
    with pytest.raises(kaffe.BrokerUnavailableError):
        kaffe.Producer(
            endpoints=f"127.0.0.1:{_closed_port()}",
            topics=[topic],
            start_timeout=1.5,
            client_config={"debug": "broker"},
        )
    assert any(record.name == "kaffe.librdkafka" for record in caplog.records)
    assert capfd.readouterr().err == ""


# --- environment and lifecycle ------------------------------------------------------


def test_from_env_reads_kaffe_variables(
    bootstrap: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFFE_ENDPOINTS", bootstrap)
    monkeypatch.setenv("KAFFE_TOPICS", topic)
    monkeypatch.setenv("KAFFE_PARTITION_STRATEGY", "round_robin")
    with kaffe.Producer.from_env() as producer:
        assert [producer.produce_sync(None, "x").partition for _ in range(2)] == [0, 1]


def test_use_after_close_raises_producer_closed(bootstrap: str, topic: str) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic])
    producer.close()
    producer.close()  # closing twice is fine
    assert producer.closed
    with pytest.raises(kaffe.ProducerClosedError, match="closed"):
        producer.produce_sync("k", "v")


def test_repr_names_the_endpoints_topics_and_strategy(producer: kaffe.Producer, topic: str) -> None:
    text = repr(producer)
    assert "kaffe.Producer" not in text or "open" in text
    assert topic in text
    assert "md5" in text
