"""
The transaction state machine and its retries, driven by scripted engine outcomes.

``ScriptedEngine`` stands in for the engine's one transactional entry point,
``transact``: each call answers with the next scripted outcome (``None`` or an
error already translated), so the phases, the bounded retries, the abort after an
abortable commit, the unfinished calls and fencing are checked without timing
luck. What librdkafka and the broker really do is checked end to end in
``tests/integration/test_transactions.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import TopicPartition

import kaffe
from kaffe._transactions import Phase, Transactions, check_offsets, require

GROUP = b"CGMDv2:group"


class ScriptedEngine:
    """Answers each transactional call with the next scripted outcome of its call name."""

    def __init__(self, delivery_wait: float = 0.5, **script: list[Exception | None]) -> None:
        self.config = kaffe.ProducerConfig(endpoints="h:1", transactional_id="billing-1")
        self.delivery_wait = delivery_wait
        self.core = Core()
        self.fenced = False
        self.calls: list[str] = []
        self.purged_by_during: list[str] = []
        self._script = {call: iter(outcomes) for call, outcomes in script.items()}

    def transact(self, call: str, *args: Any, timeout: float | None = None) -> None:
        self.calls.append(call)
        if call == "abort_transaction":
            self.purged_by_during.append(self.core.purged_by)
        outcome = next(self._script.get(call, iter(())), None)
        if outcome is not None:
            raise outcome

    def answer(self, call: str, *outcomes: Exception | None) -> None:
        """Script the next outcomes of ``call``."""
        self._script[call] = iter(outcomes)

    def fence(self) -> None:
        self.fenced = True
        self.core.purged_by = "fenced"


class Core:
    purged_by = "close"


def transactions(engine: ScriptedEngine) -> Transactions:
    return Transactions(engine)  # type: ignore[arg-type]


def phase(state: Transactions) -> Phase:
    """The phase now (a call, so type checkers do not narrow it across calls)."""
    return state.phase


def retriable() -> kaffe.TransactionError:
    return kaffe.TransactionError("timed out", reason="timed out", retriable=True)


def abortable() -> kaffe.TransactionError:
    return kaffe.TransactionError("a message failed", reason="abortable error", abortable=True)


def fenced() -> kaffe.ProducerFencedError:
    return kaffe.ProducerFencedError("fenced", reason="fenced", fatal=True)


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kaffe._transactions.FIRST_BACKOFF", 0.01)
    monkeypatch.setattr("kaffe._transactions.MAX_BACKOFF", 0.02)


# --- the block ---------------------------------------------------------------------------


def test_a_transaction_begins_then_commits_and_the_producer_is_ready_again() -> None:
    engine = ScriptedEngine()
    state = transactions(engine)
    state.begin()
    assert phase(state) is Phase.OPEN
    state.commit()
    assert phase(state) is Phase.READY
    assert engine.calls == ["begin_transaction", "commit_transaction"]


def test_a_second_begin_while_one_is_open_refuses_to_nest() -> None:
    state = transactions(ScriptedEngine())
    state.begin()
    with pytest.raises(kaffe.TransactionStateError, match="do not nest") as raised:
        state.begin()
    assert raised.value.reason == "transaction already open"
    assert phase(state) is Phase.OPEN


def test_a_failed_begin_leaves_the_producer_ready() -> None:
    engine = ScriptedEngine(begin_transaction=[kaffe.TransactionStateError("state")])
    state = transactions(engine)
    with pytest.raises(kaffe.TransactionStateError):
        state.begin()
    assert phase(state) is Phase.READY
    state.begin()


def test_commit_or_abort_without_an_open_transaction_raises() -> None:
    state = transactions(ScriptedEngine())
    with pytest.raises(kaffe.TransactionStateError, match="no transaction is open"):
        state.commit()
    with pytest.raises(kaffe.TransactionStateError, match="no transaction is open"):
        state.abort()


def test_a_retriable_commit_failure_is_retried_until_it_succeeds() -> None:
    engine = ScriptedEngine(commit_transaction=[retriable(), retriable(), None])
    state = transactions(engine)
    state.begin()
    state.commit()
    assert engine.calls.count("commit_transaction") == 3
    assert state.unfinished is None


def test_an_abortable_commit_failure_aborts_and_raises_transaction_aborted() -> None:
    engine = ScriptedEngine(commit_transaction=[abortable()])
    state = transactions(engine)
    state.begin()
    with pytest.raises(kaffe.TransactionAbortedError, match="its commit failed") as raised:
        state.commit()
    assert raised.value.retriable  # run the transaction again
    assert isinstance(raised.value.__cause__, kaffe.TransactionError)
    assert engine.calls == ["begin_transaction", "commit_transaction", "abort_transaction"]
    assert engine.purged_by_during == ["abort"]
    assert engine.core.purged_by == "close"
    assert phase(state) is Phase.READY


def test_a_commit_out_of_time_is_finished_by_the_next_transaction_first() -> None:
    engine = ScriptedEngine(delivery_wait=0.05, commit_transaction=[retriable()] * 100)
    state = transactions(engine)
    state.begin()
    with pytest.raises(kaffe.TransactionError, match=r"next transaction\(\) finishes the commit"):
        state.commit()
    assert state.unfinished == "commit_transaction"
    engine.answer("commit_transaction", None)
    engine.calls.clear()
    state.begin()
    assert engine.calls == ["commit_transaction", "begin_transaction"]
    assert state.unfinished is None


def test_an_unfinished_commit_that_then_fails_for_good_is_raised_once() -> None:
    engine = ScriptedEngine(delivery_wait=0.05, commit_transaction=[retriable()] * 100)
    state = transactions(engine)
    state.begin()
    with pytest.raises(kaffe.TransactionError):
        state.commit()
    engine.answer("commit_transaction", kaffe.TransactionStateError("not in a commit"))
    with pytest.raises(kaffe.TransactionStateError, match="not in a commit"):
        state.begin()
    assert state.unfinished is None
    state.begin()
    assert phase(state) is Phase.OPEN


def test_an_abort_out_of_time_is_finished_by_the_next_transaction_first() -> None:
    engine = ScriptedEngine(delivery_wait=0.05, abort_transaction=[retriable()] * 100)
    state = transactions(engine)
    state.begin()
    with pytest.raises(kaffe.TransactionError) as raised:
        state.abort()
    assert raised.value.reason == "abort unfinished"
    engine.answer("abort_transaction", None)
    engine.calls.clear()
    state.begin()
    assert engine.calls == ["abort_transaction", "begin_transaction"]


def test_an_abort_that_fails_after_the_block_raised_is_returned_and_noted_not_raised() -> None:
    engine = ScriptedEngine(abort_transaction=[kaffe.TransactionError("broken", fatal=True)])
    state = transactions(engine)
    state.begin()
    cause = ValueError("the block failed")
    failure = state.abort(cause)
    assert isinstance(failure, kaffe.TransactionError)
    assert phase(state) is Phase.READY
    if hasattr(cause, "__notes__"):
        assert "aborting the transaction failed: broken" in cause.__notes__[0]


@pytest.mark.parametrize("call", ["commit_transaction", "abort_transaction", "begin_transaction"])
def test_fencing_met_by_any_call_closes_the_producer(call: str) -> None:
    engine = ScriptedEngine()
    engine.answer(call, fenced())
    state = transactions(engine)
    if call != "begin_transaction":
        state.begin()
    with pytest.raises(kaffe.ProducerFencedError):
        getattr(state, call.split("_")[0])()
    assert engine.fenced
    assert phase(state) is Phase.READY
    assert engine.core.purged_by == "fenced"


def test_send_offsets_needs_an_open_transaction() -> None:
    engine = ScriptedEngine()
    state = transactions(engine)
    offsets = [TopicPartition("orders", 0, 7)]
    with pytest.raises(kaffe.TransactionStateError, match="only inside a transaction"):
        state.send_offsets(offsets, GROUP, None)
    state.begin()
    state.send_offsets(offsets, GROUP, 5)
    assert engine.calls[-1] == "send_offsets_to_transaction"


def test_start_up_retries_init_within_start_timeout_and_names_the_transactional_id() -> None:
    from kaffe._transactions import start_transactions

    engine = ScriptedEngine(init_transactions=[retriable()] * 1000)
    engine.config = engine.config.replace(start_timeout=0.05)
    with pytest.raises(kaffe.TransactionError, match="transactional_id 'billing-1'") as raised:
        start_transactions(engine)  # type: ignore[arg-type]
    assert "transaction.state.log.replication.factor" in str(raised.value)
    assert engine.calls.count("init_transactions") > 1


def test_a_producer_without_transactional_id_has_no_transactions() -> None:
    from kaffe._transactions import start_transactions

    engine = ScriptedEngine()
    engine.config = kaffe.ProducerConfig(endpoints="h:1")
    assert start_transactions(engine) is None  # type: ignore[arg-type]
    with pytest.raises(kaffe.TransactionStateError, match=r"transaction\(\): this producer"):
        require(None, "transaction()")


# --- offsets -------------------------------------------------------------------------------


def test_offsets_of_any_iterable_of_topic_partitions_are_accepted_as_a_list() -> None:
    positions = (TopicPartition("orders", partition, 10) for partition in range(3))
    assert [p.partition for p in check_offsets(positions, GROUP)] == [0, 1, 2]
    assert check_offsets([], GROUP) == []


@pytest.mark.parametrize(
    ("offsets", "message"),
    [
        ("orders", "must be a list of confluent_kafka.TopicPartition"),
        (TopicPartition("orders", 0, 1), "must be a list"),
        ({"orders": 1}, r"offsets\[0\] must be a confluent_kafka.TopicPartition, not str"),
        ([("orders", 0, 1)], r"offsets\[0\] must be a confluent_kafka.TopicPartition, not tuple"),
        ([TopicPartition("orders")], r"offsets\[0\] names no topic and partition"),
        (7, "not int"),
    ],
)
def test_malformed_offsets_raise_invalid_offsets_naming_the_problem(
    offsets: object, message: str
) -> None:
    with pytest.raises(kaffe.InvalidOffsetsError, match=message) as raised:
        check_offsets(offsets, GROUP)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("metadata", [None, "group", b"", object()])
def test_group_metadata_must_be_what_the_consumer_gives(metadata: object) -> None:
    with pytest.raises(kaffe.InvalidOffsetsError, match="consumer_group_metadata"):
        check_offsets([TopicPartition("orders", 0, 1)], metadata)
