"""The message core: calls become placed messages, outcomes settle waiters; no broker needed."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
from confluent_kafka import KafkaError

import kaffe
from kaffe import partitioners
from kaffe._core import Batch, Core, MissingMetadata, Observers, Waiter


def _core(**options: Any) -> Core:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events", "audit"], **options)
    core = Core(config)
    core.learn("events", 8, range(8))
    return core


class _Report:
    """Stands in for librdkafka's delivery report."""

    def __init__(self, topic: str, partition: int, offset: int, stamp: int | None = None) -> None:
        self._values = (topic, partition, offset, stamp)

    def topic(self) -> str:
        return self._values[0]

    def partition(self) -> int:
        return self._values[1]

    def offset(self) -> int:
        return self._values[2]

    def timestamp(self) -> tuple[int, int | None]:
        stamp = self._values[3]
        return (0, None) if stamp is None else (1, stamp)


class _Kept(Waiter):
    __slots__ = ("outcomes",)

    def __init__(self, core: Core) -> None:
        super().__init__(core)
        self.outcomes: list[object] = []

    def resolve(self, delivery: kaffe.Delivery) -> None:
        self.outcomes.append(delivery)

    def reject(self, error: kaffe.KaffeError) -> None:
        self.outcomes.append(error)


# --- calls into messages ---------------------------------------------------------------


def test_the_three_call_forms_build_one_placed_message_each() -> None:
    core = _core()
    assert core.message((b"k", b"v")) == (
        "events",
        partitioners.md5(b"k", 8),
        b"k",
        b"v",
        None,
        None,
    )
    # The fast path builds a plain tuple of the OutgoingMessage's shape: index, don't name.
    assert core.message(("events", "k", "v"))[1] == partitioners.md5(b"k", 8)
    assert core.message(("events", 3, "k", "v"))[1] == 3


@pytest.mark.parametrize("strategy", ["md5", "murmur2", "crc32", "fnv1a"])
def test_the_fast_path_places_keys_exactly_like_the_full_path(strategy: str) -> None:
    core = _core(partition_strategy=strategy)
    assert core.plain_hash is not None
    for key in (b"user-42", "café", b""):
        fast = core.message(("events", key, b"v"))
        full = core.message(("events", key, b"v"), headers={"h": "x"})
        assert fast[1] == full.partition == partitioners.HASH_FUNCTIONS[strategy](key, 8)


def test_a_topic_not_analysed_yet_asks_the_face_for_metadata() -> None:
    with pytest.raises(MissingMetadata) as missing:
        _core().message(("audit", b"k", b"v"))
    assert (missing.value.topic, missing.value.partition) == ("audit", None)


def test_a_partition_beyond_the_known_count_asks_for_a_refresh_then_is_refused() -> None:
    core = _core()
    with pytest.raises(MissingMetadata) as missing:
        core.message(("events", 8, b"k", b"v"))
    assert missing.value.partition == 8
    with pytest.raises(kaffe.InvalidPartitionError, match=r"0\.\.7") as refused:
        core.message(("events", 8, b"k", b"v"), refreshed=True)
    assert refused.value.partitions_count == 8


@pytest.mark.parametrize(
    ("args", "headers", "timestamp", "error"),
    [
        ((b"k", 3.5), None, None, kaffe.MessageTypeError),
        (("events", "3", b"k", b"v"), None, None, kaffe.MessageTypeError),
        ((b"k", b"v"), {"h": 1}, None, kaffe.MessageTypeError),
        ((b"k", b"v"), None, -1, kaffe.MessageTypeError),
        (("bad topic!", b"k", b"v"), None, None, kaffe.InvalidTopicError),
        ((None, b"v"), None, None, kaffe.PartitionStrategyError),
        (("\udc80", b"v"), None, None, kaffe.MessageTypeError),
    ],
)
def test_bad_input_raises_a_typed_error(
    args: tuple[Any, ...], headers: Any, timestamp: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        _core().message(args, headers, timestamp)


def test_a_bad_batch_message_names_its_index() -> None:
    with pytest.raises(kaffe.MessageTypeError, match="batch message 2"):
        _core().batch("events", [(b"a", b"1"), (b"b", b"2"), (b"c", 3)])


def test_learning_a_topic_again_keeps_the_strategys_memory_and_logs_growth(
    caplog: pytest.LogCaptureFixture,
) -> None:
    core = _core(partition_strategy="round_robin")
    assert [core.message((None, b"v"))[1] for _ in range(3)] == [0, 1, 2]
    with caplog.at_level(logging.INFO, logger="kaffe"):
        core.learn("events", 16, range(16))
    assert core.message((None, b"v"))[1] == 3
    assert "now has 16 partitions (was 8)" in caplog.text


# --- outcomes ----------------------------------------------------------------------------


def test_a_delivery_report_settles_the_waiter_with_a_delivery() -> None:
    waiter = _Kept(_core())
    waiter(None, _Report("events", 2, 41, 1_700_000_000_000))
    assert waiter.outcomes == [kaffe.Delivery("events", 2, 41, 1_700_000_000_000)]


def test_a_failed_report_is_translated_and_a_refusal_passes_as_it_is() -> None:
    core = _core()
    waiter = _Kept(core)
    waiter(KafkaError(KafkaError._MSG_TIMED_OUT), _Report("events", 2, -1))
    refusal = kaffe.QueueFullError("full", topic="events", reason="queue full", retriable=True)
    waiter(refusal, None)
    timed_out, refused = waiter.outcomes
    assert isinstance(timed_out, kaffe.DeliveryTimeoutError)
    assert (timed_out.topic, timed_out.partition) == ("events", 2)
    assert refused is refusal


def test_an_unknown_partition_report_asks_for_a_metadata_refresh() -> None:
    core = _core()
    asked: list[bool] = []
    core.on_unknown_partition = lambda: asked.append(True)
    _Kept(core)(KafkaError(KafkaError._UNKNOWN_PARTITION), _Report("events", 9, -1))
    assert asked == [True]


class _Observer(kaffe.Observer):
    def __init__(self, fail: str = "") -> None:
        self.fail = fail
        self.calls: list[tuple[str, object]] = []

    def on_send(self, message: kaffe.OutgoingMessage, config: kaffe.ProducerConfig) -> object:
        if self.fail == "on_send":
            raise RuntimeError("boom")
        self.calls.append(("send", message))
        return "context"

    def on_outcome(
        self,
        context: object,
        message: kaffe.OutgoingMessage,
        outcome: kaffe.Delivery | kaffe.KaffeError,
        seconds: float,
    ) -> None:
        if self.fail == "on_outcome":
            raise RuntimeError("boom")
        assert seconds >= 0
        self.calls.append(("outcome", (context, outcome)))


def test_observers_hear_of_each_outcome_once_with_their_context() -> None:
    core = _core()
    observer = _Observer()
    observers = Observers([observer], core.config)
    message = core.message(("events", 1, b"k", b"v"))
    waiter = _Kept(core)
    core.observers = observers
    waiter.message, waiter.started = message, 0.0
    waiter.contexts = observers.send(message)
    waiter(None, _Report("events", 1, 7))
    waiter(None, _Report("events", 1, 7))  # a duplicate report is never observed twice
    delivery = kaffe.Delivery("events", 1, 7, None)
    assert observer.calls == [("send", message), ("outcome", ("context", delivery))]


@pytest.mark.parametrize("kind", ["on_send", "on_outcome"])
def test_a_raising_observer_is_logged_once_per_kind_and_breaks_nothing(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    core = _core()
    observers = Observers([_Observer(fail=kind)], core.config)
    message = core.message(("events", 1, b"k", b"v"))
    with caplog.at_level(logging.ERROR, logger="kaffe"):
        for _ in range(3):
            contexts = observers.send(message)
            observers.outcome(contexts, message, kaffe.Delivery("events", 1, 0), 0.0)
    assert [record.getMessage().count(kind) > 0 for record in caplog.records] == [True]


class _CountingBatch(Batch):
    __slots__ = ("completions",)

    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.completions = 0

    def complete(self) -> None:
        self.completions += 1


def test_a_batch_completes_exactly_once_however_many_threads_settle_it() -> None:
    core = _core()
    batch = _CountingBatch(4_000)
    slots = batch.slots(core)

    def settle(part: list[Any]) -> None:
        for slot in part:
            slot(None, _Report("events", 0, slot.index))

    threads = [threading.Thread(target=settle, args=(slots[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert batch.completions == 1
    assert batch.is_done()
    assert [delivery.offset for delivery in batch.result("events")] == list(range(4_000))


def test_a_batch_reports_messages_without_an_outcome_as_timed_out() -> None:
    core = _core()
    batch = _CountingBatch(2)
    batch.slots(core)[0](None, _Report("events", 0, 0))
    with pytest.raises(kaffe.BatchProduceError) as raised:
        batch.result("events")
    assert raised.value.failed == [1]
    assert isinstance(raised.value.errors[1], kaffe.DeliveryTimeoutError)
