"""
Reliability against the single test broker: shutdown, lifecycle errors, bad input.

Every bad input raises a typed :class:`kaffe.KaffeError` naming the problem, and
the same producer then produces successfully. Nothing from librdkafka or Python
escapes untranslated, and nothing a caller waits on is left unresolved.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import psutil
import pytest
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions
from hypothesis import given, settings
from hypothesis import strategies as st

import kaffe
from kaffe import partitioners
from tests.conftest import Cluster, Record, create_topic

pytestmark = pytest.mark.integration

READ_BACK = Callable[[str], list[Record]]


def _grow(admin: AdminClient, topic: str, total: int) -> None:
    futures = admin.create_partitions([NewPartitions(topic, total)], operation_timeout=30)
    futures[topic].result(timeout=60)


# --- shutdown -----------------------------------------------------------------------------


def test_close_delivers_every_outstanding_message(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic], linger_ms=50)
    futures = [producer.produce(topic, i % 8, None, f"m{i}") for i in range(2000)]
    producer.close()
    assert all(future.done() for future in futures)
    deliveries = [future.result(timeout=0) for future in futures]
    records = read_back(topic)
    assert len(records) == 2000
    stored = {(r.partition, r.offset): r.value for r in records}
    for i, delivery in enumerate(deliveries):
        assert stored[(delivery.partition, delivery.offset)] == f"m{i}".encode()


def test_close_that_times_out_raises_the_count_and_fails_every_unacknowledged_future(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    # A 20-second linger keeps the messages queued until close() drops them: small ones,
    # so that no batch fills up and goes out early. Nothing here depends on timing.
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic], linger_ms=20_000)
    kept = producer.produce_sync(topic, 0, None, b"acknowledged")
    futures = [producer.produce(topic, i % 8, None, b"%d" % i) for i in range(2000)]
    with pytest.raises(kaffe.UndeliveredMessagesError, match="not acknowledged") as raised:
        producer.close(timeout=0)
    error = raised.value
    # Nothing is left hanging: every future says why it failed.
    assert all(future.done() for future in futures)
    failures = [future.exception(timeout=0) for future in futures]
    for failure in failures:
        assert type(failure) is kaffe.ProduceError
        assert failure.reason == "purged at close"
        assert failure.topic == topic
    assert error.undelivered == len(futures)
    assert (error.reason, error.retriable) == ("undelivered at close", False)
    records = read_back(topic)
    assert [(record.partition, record.offset, record.value) for record in records] == [
        (kept.partition, kept.offset, b"acknowledged")
    ]


def test_close_twice_and_closing_a_closed_producer_do_nothing(bootstrap: str, topic: str) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic])
    producer.produce_sync(topic, 0, None, b"one")
    producer.close()
    producer.close(timeout=0)
    assert producer.closed


CLOSED_OPERATIONS: dict[str, Callable[[kaffe.Producer, str], object]] = {
    "produce_sync": lambda p, t: p.produce_sync(t, 0, None, b"v"),
    "produce": lambda p, t: p.produce(t, 0, None, b"v"),
    "produce_batch_sync": lambda p, t: p.produce_batch_sync(t, [(None, b"v")]),
    "flush": lambda p, t: p.flush(1),
    "partitions_count": lambda p, t: p.partitions_count(t),
    "refresh_metadata": lambda p, t: p.refresh_metadata(),
}


@pytest.mark.parametrize("operation", sorted(CLOSED_OPERATIONS))
def test_every_operation_after_close_raises_producer_closed_error(
    bootstrap: str, topic: str, operation: str
) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic])
    producer.close()
    with pytest.raises(kaffe.ProducerClosedError, match="closed; create a new one") as raised:
        CLOSED_OPERATIONS[operation](producer, topic)
    assert isinstance(raised.value, RuntimeError)
    assert raised.value.reason == "closed"


def test_async_operations_after_aclose_raise_producer_closed_error(
    bootstrap: str, topic: str
) -> None:
    async def main() -> None:
        producer = kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic])
        await producer.start()
        await producer.aclose()
        await producer.aclose()
        for call in (
            lambda: producer.produce_sync(topic, 0, None, b"v"),
            lambda: producer.produce(topic, 0, None, b"v"),
            lambda: producer.produce_batch_sync(topic, [(None, b"v")]),
            lambda: producer.flush(1),
            lambda: producer.partitions_count(topic),
        ):
            with pytest.raises(kaffe.ProducerClosedError, match="closed"):
                await call()

    asyncio.run(main())


def _threads_settle_at(expected: int, timeout: float = 1.0) -> int:
    """The process's thread count (native ones included) once it is back to ``expected``."""
    process = psutil.Process()
    deadline = time.monotonic() + timeout
    while True:
        count: int = process.num_threads()
        if count <= expected or time.monotonic() >= deadline:
            return count
        time.sleep(0.01)


class _LineCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1


@pytest.fixture
def librdkafka_lines() -> Iterator[_LineCounter]:
    """Counts the lines librdkafka logs (its debug contexts switched on by the test)."""
    counter = _LineCounter()
    logger = logging.getLogger("kaffe.librdkafka")
    logger.addHandler(counter)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.setLevel(level)
        logger.removeHandler(counter)


def test_close_stops_librdkafkas_threads_and_its_log(
    bootstrap: str, topic: str, librdkafka_lines: _LineCounter
) -> None:
    before = psutil.Process().num_threads()
    producer = kaffe.Producer(
        endpoints=bootstrap,
        topics=[topic],
        metadata_refresh_interval=0.1,
        client_config={"debug": "broker,topic", "topic.metadata.refresh.interval.ms": 100},
    )
    producer.produce_sync(b"k", b"v")
    assert psutil.Process().num_threads() > before

    producer.close()

    assert _threads_settle_at(before) == before
    logged = librdkafka_lines.lines
    assert logged > 0
    time.sleep(0.5)
    assert librdkafka_lines.lines == logged


def test_aclose_stops_librdkafkas_threads_and_its_log(
    bootstrap: str, topic: str, librdkafka_lines: _LineCounter
) -> None:
    async def main() -> None:
        producer = kaffe.AsyncProducer(
            endpoints=bootstrap,
            topics=[topic],
            metadata_refresh_interval=0.1,
            client_config={"debug": "broker,topic", "topic.metadata.refresh.interval.ms": 100},
        )
        await producer.start()
        await producer.produce_sync(b"k", b"v")
        await producer.aclose()

    # asyncio.to_thread keeps its worker threads for the loop's lifetime: count after it.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: None).result()
        before = psutil.Process().num_threads()
        pool.submit(asyncio.run, main()).result(timeout=60)
        assert _threads_settle_at(before) == before
    logged = librdkafka_lines.lines
    assert logged > 0
    time.sleep(0.5)
    assert librdkafka_lines.lines == logged


def test_calls_racing_with_close_get_producer_closed_error_never_a_crash(
    bootstrap: str, topic: str
) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic], metadata_refresh_interval=0.1)
    unexpected: list[BaseException] = []
    outcomes: Counter[str] = Counter()
    stop = threading.Event()

    def hammer(call: Callable[[], object]) -> None:
        while not stop.is_set():
            try:
                call()
                outcomes["ok"] += 1
            except kaffe.ProducerClosedError:
                outcomes["closed"] += 1
                return
            except kaffe.ProduceError as error:  # purged at close: the message was dropped
                outcomes[f"produce error: {error.reason}"] += 1
            except BaseException as error:
                unexpected.append(error)
                return

    calls: list[Callable[[], object]] = [
        lambda: producer.produce_sync(topic, b"k", b"sync"),
        lambda: producer.produce(topic, b"k", b"future"),
        lambda: producer.produce_batch_sync(topic, [(b"k", b"batch")] * 20),
        lambda: producer.partitions_count(topic),
        lambda: producer.flush(0.01),
        lambda: producer.refresh_metadata(),
    ]
    threads = [threading.Thread(target=hammer, args=(call,)) for call in calls * 2]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    producer.close(timeout=5)
    time.sleep(0.2)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)

    assert unexpected == []
    assert set(outcomes) <= {"ok", "closed", "produce error: purged at close"}
    assert outcomes["closed"] == len(threads)
    assert outcomes["ok"] > 0


def test_an_unclosed_producer_warns_and_still_delivers_what_it_queued(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    producer = kaffe.Producer(endpoints=bootstrap, topics=[topic])
    producer.produce_sync(topic, 0, None, b"sync")
    future = producer.produce(topic, 1, None, b"queued")
    future.result(timeout=30)  # the future holds the producer until it resolves
    del future
    with pytest.warns(ResourceWarning, match="unclosed"):
        del producer  # the last reference: collected at once
    assert sorted(r.value or b"" for r in read_back(topic)) == [b"queued", b"sync"]


def test_an_unclosed_async_producer_warns(bootstrap: str, topic: str) -> None:
    async def main() -> None:
        producer = kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic])
        await producer.start()
        await (await producer.produce(topic, 0, None, b"v"))
        with pytest.warns(ResourceWarning, match="unclosed"):
            del producer  # the last reference: collected at once

    asyncio.run(main())


# --- partition count growth -----------------------------------------------------------------


def test_partition_growth_is_noticed_on_the_refresh_interval_and_logged(
    bootstrap: str,
    admin: AdminClient,
    topic_factory: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = topic_factory(2)
    caplog.set_level(logging.INFO, logger="kaffe")
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], metadata_refresh_interval=0.2
    ) as producer:
        assert producer.produce_sync(b"key-7", b"before").partition == partitioners.md5(b"key-7", 2)
        _grow(admin, topic, 5)
        deadline = time.monotonic() + 30
        while producer.partitions_count(topic) != 5:
            assert time.monotonic() < deadline, "the new partition count was never read"
            time.sleep(0.05)
        # md5 placement follows the new count.
        delivery = producer.produce_sync(b"key-7", b"after")
        assert delivery.partition == partitioners.md5(b"key-7", 5)
    messages = [r for r in caplog.records if "now has" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in messages] == [
        (
            logging.INFO,
            f"topic '{topic}' now has 5 partitions (was 2); strategy placement of keys shifts",
        )
    ]


def test_a_partition_beyond_the_known_count_triggers_one_refresh_and_succeeds(
    bootstrap: str, admin: AdminClient, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(2)
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], metadata_refresh_interval=None
    ) as producer:
        _grow(admin, topic, 4)
        assert producer.partitions_count(topic) == 2  # no periodic refresh
        assert producer.produce_sync(topic, 3, None, b"new").partition == 3
        assert producer.partitions_count(topic) == 4
        with pytest.raises(kaffe.InvalidPartitionError, match="has 4 partitions") as raised:
            producer.produce_sync(topic, 4, None, b"too far")
        assert raised.value.partitions_count == 4


def test_refresh_metadata_reads_partition_counts_at_once(
    bootstrap: str, admin: AdminClient, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(2)
    with kaffe.Producer(
        endpoints=bootstrap, topics=[topic], metadata_refresh_interval=None
    ) as producer:
        _grow(admin, topic, 3)
        producer.refresh_metadata()
        assert producer.partitions_count(topic) == 3


# --- the bad input matrix -----------------------------------------------------------------


def _explode_on_bad(topic: str, current: int | None, count: int, key: Any, value: Any) -> int:
    if key == b"bad":
        raise ZeroDivisionError("the strategy broke")
    return 0


def _text_on_bad(topic: str, current: int | None, count: int, key: Any, value: Any) -> int:
    return "1" if key == b"bad" else 0  # type: ignore[return-value]


def _serialize_or_explode(value: Any) -> bytes:
    if value == "bad":
        raise ValueError("cannot serialize this")
    return str(value).encode()


@dataclass(frozen=True)
class BadInput:
    """One row of the matrix: producer options, the bad call, and what it must raise."""

    call: Callable[[Any, str, str], Any]  # (producer, topic, small_topic) -> awaitable or value
    error: type[kaffe.KaffeError]
    names: str  # a fragment of the message that names the problem
    options: tuple[tuple[str, Any], ...] = ()


BAD_INPUT: dict[str, BadInput] = {
    "unknown topic": BadInput(
        lambda p, t, s: p.produce_sync("kaffe-no-such-topic", None, b"v"),
        kaffe.UnknownTopicError,
        "'kaffe-no-such-topic' does not exist",
    ),
    "invalid topic name": BadInput(
        lambda p, t, s: p.produce_sync("not a topic!", None, b"v"),
        kaffe.InvalidTopicError,
        "'not a topic!' is not a valid topic name",
    ),
    "topic name too long": BadInput(
        lambda p, t, s: p.produce_sync("x" * 250, None, b"v"),
        kaffe.InvalidTopicError,
        "is not a valid topic name",
    ),
    "partition out of range": BadInput(
        lambda p, t, s: p.produce_sync(t, 8, None, b"v"),
        kaffe.InvalidPartitionError,
        "partition 8 is out of range",
    ),
    "negative partition": BadInput(
        lambda p, t, s: p.produce_sync(t, -1, None, b"v"),
        kaffe.InvalidPartitionError,
        "partition -1 is out of range",
    ),
    "partition of the wrong type": BadInput(
        lambda p, t, s: p.produce_sync(t, "1", None, b"v"),
        kaffe.MessageTypeError,
        "partition must be int, not str",
    ),
    "strategy function raises": BadInput(
        lambda p, t, s: p.produce_sync(t, b"bad", b"v"),
        kaffe.PartitionStrategyError,
        "raised ZeroDivisionError: the strategy broke",
        (("partition_strategy", _explode_on_bad),),
    ),
    "strategy function returns a non-int": BadInput(
        lambda p, t, s: p.produce_sync(t, b"bad", b"v"),
        kaffe.PartitionStrategyError,
        "returned str '1'; it must return an int",
        (("partition_strategy", _text_on_bad),),
    ),
    "md5 strategy without a key": BadInput(
        lambda p, t, s: p.produce_sync(t, None, b"v"),
        kaffe.PartitionStrategyError,
        "the md5 strategy needs a key",
    ),
    "value over the topic's max.message.bytes": BadInput(
        lambda p, t, s: p.produce_sync(s, 0, None, bytes(5000)),
        kaffe.MessageTooLargeError,
        "message too large",
    ),
    "value over the broker's message.max.bytes": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, bytes(1_200_000)),
        kaffe.MessageTooLargeError,
        "message too large",
        # Let the client send it, so the broker (limit 1 MiB by default) refuses it.
        (("client_config", {"message.max.bytes": 2_000_000}),),
    ),
    "value over the client's message.max.bytes": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, bytes(1_100_000)),
        kaffe.MessageTooLargeError,
        "message too large",
    ),
    "header value of the wrong type": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", headers={"trace": 7}),
        kaffe.MessageTypeError,
        "header 'trace' value must be str, bytes or None, not int",
    ),
    "header name of the wrong type": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", headers=[(b"trace", b"1")]),
        kaffe.MessageTypeError,
        "header name b'trace' must be str, not bytes",
    ),
    "headers of the wrong type": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", headers="trace=1"),
        kaffe.MessageTypeError,
        "headers must be a mapping or a list of (name, value) pairs, not str",
    ),
    "header that is not a pair": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", headers=[("trace",)]),
        kaffe.MessageTypeError,
        "is not a (name, value) pair",
    ),
    "header name that is not UTF-8": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", headers={"\ud800": b"1"}),
        kaffe.MessageTypeError,
        "header name '\\ud800' is not valid UTF-8 text",
    ),
    "header value that is not UTF-8": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", headers={"trace": "\udfff"}),
        kaffe.MessageTypeError,
        "header 'trace' value is not valid UTF-8 text",
    ),
    "value that is not bytes, without a serializer": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, {"id": 1}),
        kaffe.MessageTypeError,
        "value must be bytes, str or None, not dict; configure a value_serializer",
    ),
    "key that is not bytes, without a serializer": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, 1.5, b"v"),
        kaffe.MessageTypeError,
        "key must be bytes, str or None, not float",
    ),
    "value text that is not UTF-8": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, "\ud800"),
        kaffe.MessageTypeError,
        "value is not valid UTF-8 text",
    ),
    "key text that is not UTF-8, hashed by the strategy": BadInput(
        lambda p, t, s: p.produce_sync(t, "\ud800", b"v"),
        kaffe.MessageTypeError,
        "key is not valid UTF-8 text",
    ),
    "serializer that raises": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, "bad"),
        kaffe.SerializationError,
        "value_serializer raised ValueError: cannot serialize this",
        (("value_serializer", _serialize_or_explode),),
    ),
    "serializer that returns a non-bytes value": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, "v"),
        kaffe.MessageTypeError,
        "value_serializer must return bytes, str or None, not int",
        (("value_serializer", lambda value: 5 if value == "v" else b"ok"),),
    ),
    "timestamp of the wrong type": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", timestamp="yesterday"),
        kaffe.MessageTypeError,
        "timestamp must be an int of milliseconds since the epoch",
    ),
    "timestamp out of range": BadInput(
        lambda p, t, s: p.produce_sync(t, 0, None, b"v", timestamp=2**70),
        kaffe.MessageTypeError,
        "timestamp must be an int of milliseconds since the epoch",
    ),
}


class SyncFace:
    """Calls a :class:`kaffe.Producer` directly."""

    def __init__(self, producer: kaffe.Producer) -> None:
        self.producer = producer

    def produce_sync(self, *args: Any, **kwargs: Any) -> kaffe.Delivery:
        return self.producer.produce_sync(*args, **kwargs)

    def close(self) -> None:
        self.producer.close()


class AsyncFace:
    """Runs the same calls on a :class:`kaffe.AsyncProducer`, on a private event loop."""

    def __init__(self, producer: kaffe.AsyncProducer) -> None:
        self.producer = producer
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(producer.start())

    def produce_sync(self, *args: Any, **kwargs: Any) -> kaffe.Delivery:
        return self.loop.run_until_complete(self.producer.produce_sync(*args, **kwargs))

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.producer.aclose())
        finally:
            self.loop.close()


@pytest.fixture
def small_topic(topic_factory: Callable[..., str]) -> str:
    """A 1-partition topic that takes messages of at most 2,000 bytes."""
    return topic_factory(1, config={"max.message.bytes": "2000"})


@pytest.mark.parametrize("face", ["sync", "async"])
@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_raises_a_typed_error_naming_it_and_the_producer_stays_usable(
    bootstrap: str, topic: str, small_topic: str, case: str, face: str
) -> None:
    bad = BAD_INPUT[case]
    options: dict[str, Any] = dict(bad.options)
    front: SyncFace | AsyncFace
    if face == "sync":
        front = SyncFace(kaffe.Producer(endpoints=bootstrap, topics=[topic], **options))
    else:
        front = AsyncFace(kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic], **options))
    try:
        with pytest.raises(kaffe.KaffeError) as raised:
            bad.call(front, topic, small_topic)
        assert type(raised.value) is bad.error, repr(raised.value)
        assert bad.names in str(raised.value)
        # The same producer goes on working, through the strategy and by partition.
        assert front.produce_sync(topic, b"good", b"ok").topic == topic
        assert front.produce_sync(topic, 2, b"good", b"ok").partition == 2
    finally:
        front.close()


def test_an_unknown_strategy_name_is_refused_at_construction(bootstrap: str, topic: str) -> None:
    with pytest.raises(kaffe.ConfigError, match="unknown strategy 'md6'; allowed: md5"):
        kaffe.Producer(endpoints=bootstrap, topics=[topic], partition_strategy="md6")
    with pytest.raises(kaffe.ConfigError, match="unknown strategy"):
        kaffe.AsyncProducer(endpoints=bootstrap, topics=[topic], partition_strategy="md6")


def test_a_bad_batch_message_sends_nothing_and_names_its_index(
    bootstrap: str, topic: str, read_back: READ_BACK
) -> None:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        with pytest.raises(kaffe.MessageTypeError, match="batch message 2: value must be bytes"):
            producer.produce_batch_sync(topic, [(b"a", b"1"), (b"b", b"2"), (b"c", 3)])
        assert len(producer.produce_batch_sync(topic, [(b"a", b"1")])) == 1
    assert [r.value for r in read_back(topic)] == [b"1"]


# --- no untyped escapes ---------------------------------------------------------------------

_ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.binary(max_size=20),
    st.text(max_size=10),
    st.sampled_from(["\ud800", "x\udfffy", "", "a" * 300, "ok-topic"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.builds(object),
)
_HASHABLE = st.one_of(
    st.none(), st.integers(), st.binary(max_size=5), st.text(max_size=5), st.just("\ud800")
)


@pytest.fixture(scope="module")
def fuzz_producer(kafka: Cluster) -> Iterator[tuple[kaffe.Producer, str]]:
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    topic = create_topic(admin, 4)
    producer = kaffe.Producer(
        endpoints=kafka.bootstrap, topics=[topic], partition_strategy="murmur2", delivery_timeout=5
    )
    yield producer, topic
    producer.close()


@settings(max_examples=300, deadline=None, database=None)
@given(
    form=st.sampled_from([2, 3, 4]),
    topic_arg=_ANYTHING,
    partition=_ANYTHING,
    key=_ANYTHING,
    value=_ANYTHING,
    headers=st.one_of(_ANYTHING, st.dictionaries(_HASHABLE, _ANYTHING, max_size=2)),
    timestamp=_ANYTHING,
    use_topic=st.booleans(),
    use_partition=st.booleans(),
)
def test_arbitrary_arguments_raise_only_kaffe_errors(
    fuzz_producer: tuple[kaffe.Producer, str],
    form: int,
    topic_arg: Any,
    partition: Any,
    key: Any,
    value: Any,
    headers: Any,
    timestamp: Any,
    use_topic: bool,
    use_partition: bool,
) -> None:
    producer, topic = fuzz_producer
    chosen_topic = topic if use_topic else topic_arg
    chosen_partition = 1 if use_partition else partition
    args = {2: (key, value), 3: (chosen_topic, key, value)}.get(
        form, (chosen_topic, chosen_partition, key, value)
    )
    outcome: object
    try:
        outcome = producer.produce_sync(*args, headers=headers, timestamp=timestamp)
    except kaffe.KaffeError as error:  # anything else fails the test
        outcome = error
    assert isinstance(outcome, (kaffe.Delivery, kaffe.KaffeError))
    assert str(outcome)
    # Whatever happened, the producer still works.
    assert producer.produce_sync(topic, 0, None, b"ok").partition == 0


def test_a_failed_delivery_future_carries_a_typed_error(
    bootstrap: str, small_topic: str, topic: str
) -> None:
    with kaffe.Producer(endpoints=bootstrap, topics=[topic]) as producer:
        future: Future[kaffe.Delivery] = producer.produce(small_topic, 0, None, bytes(5000))
        error = future.exception(timeout=30)
        assert type(error) is kaffe.MessageTooLargeError
        assert producer.produce(small_topic, 0, None, b"small").result(timeout=30).offset >= 0
