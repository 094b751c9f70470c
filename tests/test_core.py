"""The message core: calls become placed messages, outcomes settle waiters; no broker needed."""

from __future__ import annotations

import logging
from typing import Any

import pytest

import kaffe
from kaffe import partitioners
from kaffe._core import Core, MissingMetadata, Observers


def _core(**options: Any) -> Core:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events", "audit"], **options)
    core = Core(config)
    core.learn("events", 8, range(8))
    return core


# --- calls into messages ---------------------------------------------------------------


def test_the_three_call_forms_build_one_placed_message_each() -> None:
    core = _core()
    assert core.message((b"k", b"v")) == kaffe.OutgoingMessage(
        "events", partitioners.md5(b"k", 8), b"k", b"v", None, None
    )
    assert core.message(("events", "k", "v")).partition == partitioners.md5(b"k", 8)
    assert core.message(("events", 3, "k", "v")).partition == 3
    assert type(core.message(("events", "k", "v"))) is kaffe.OutgoingMessage


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


# --- observers -------------------------------------------------------------------------


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
