"""kaffe.Statistics against real librdkafka documents, and the observers' snapshot board."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import kaffe
from kaffe._statistics import (
    BrokerStatistics,
    LatestStatistics,
    PartitionStatistics,
    Statistics,
)

DATA = Path(__file__).resolve().parent / "data" / "statistics"
DOCUMENTS = ("bootstrap", "queued", "delivered", "down")


def load(name: str) -> Statistics:
    return Statistics.from_json((DATA / f"{name}.json").read_text())


def raw_document(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return document


@pytest.mark.parametrize("name", DOCUMENTS)
def test_top_level_fields_match_the_raw_document(name: str) -> None:
    statistics = load(name)
    raw = statistics.raw
    assert statistics.name == raw["name"]
    assert statistics.client_id == raw["client_id"] == "kaffe"
    assert statistics.emitted_at == raw["time"]
    assert statistics.clock == raw["ts"] / 1_000_000
    assert statistics.age == raw["age"] / 1_000_000
    assert statistics.queue_messages == raw["msg_cnt"]
    assert statistics.queue_bytes == raw["msg_size"]
    assert statistics.queue_max_messages == raw["msg_max"]
    assert statistics.queue_max_bytes == raw["msg_size_max"]
    assert statistics.pending_events == raw["replyq"]
    assert statistics.sent_requests == raw["tx"]
    assert statistics.sent_bytes == raw["tx_bytes"]
    assert statistics.received_responses == raw["rx"]
    assert statistics.received_bytes == raw["rx_bytes"]
    assert statistics.sent_messages == raw["txmsgs"]
    assert statistics.sent_message_bytes == raw["txmsg_bytes"]
    assert statistics.received_messages == raw["rxmsgs"]
    assert statistics.received_message_bytes == raw["rxmsg_bytes"]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_brokers_are_the_clusters_brokers_with_fields_matching_the_raw_document(
    name: str,
) -> None:
    statistics = load(name)
    raw_brokers = statistics.raw["brokers"]
    assert [broker.name for broker in statistics.brokers] == sorted(
        (entry["name"] for entry in raw_brokers.values() if entry["nodeid"] >= 0),
        key=lambda broker_name: raw_brokers[broker_name]["nodeid"],
    )
    for broker in statistics.brokers:
        raw = raw_brokers[broker.name]
        rtt = raw["rtt"]
        assert broker.node_id == raw["nodeid"]
        assert broker.address == raw["nodename"]
        assert broker.state == raw["state"]
        assert broker.up is (raw["state"] == "UP")
        assert broker.rtt_samples == rtt["cnt"]
        if rtt["cnt"]:
            assert broker.rtt_p50 == rtt["p50"] / 1_000_000
            assert broker.rtt_p99 == rtt["p99"] / 1_000_000
        else:
            assert broker.rtt_p50 is None
            assert broker.rtt_p99 is None
        assert broker.waiting_messages == raw["outbuf_msg_cnt"]
        assert broker.in_flight_messages == raw["waitresp_msg_cnt"]
        assert broker.request_timeouts == raw["req_timeouts"]
        assert broker.disconnects == raw["disconnects"]


@pytest.mark.parametrize("name", DOCUMENTS)
def test_partitions_are_every_real_partition_with_fields_matching_the_raw_document(
    name: str,
) -> None:
    statistics = load(name)
    topics = statistics.raw["topics"]
    assert [(p.topic, p.partition) for p in statistics.partitions] == sorted(
        (topic, entry["partition"])
        for topic, topic_entry in topics.items()
        for entry in topic_entry["partitions"].values()
        if entry["partition"] >= 0
    )
    for partition in statistics.partitions:
        raw = topics[partition.topic]["partitions"][str(partition.partition)]
        assert partition.leader == raw["leader"]
        assert partition.waiting_messages == raw["msgq_cnt"]
        assert partition.waiting_bytes == raw["msgq_bytes"]
        assert partition.ready_messages == raw["xmit_msgq_cnt"]
        assert partition.ready_bytes == raw["xmit_msgq_bytes"]
        assert partition.in_flight_messages == raw["msgs_inflight"]
        assert partition.sent_messages == raw["txmsgs"]
        assert partition.sent_bytes == raw["txbytes"]
        assert partition.queue_depth == raw["msgq_cnt"] + raw["xmit_msgq_cnt"]


def test_bootstrap_pseudo_brokers_are_left_out() -> None:
    statistics = load("bootstrap")
    assert {entry["nodeid"] for entry in statistics.raw["brokers"].values()} == {-1}
    assert statistics.brokers == ()


def test_a_producer_with_messages_queued_and_round_trips_measured() -> None:
    statistics = load("queued")
    assert statistics.queue_messages > 0
    assert statistics.queue_bytes > 0
    (broker,) = statistics.brokers
    assert (broker.node_id, broker.state, broker.up) == (1, "UP", True)
    assert broker.rtt_p50 is not None
    assert broker.rtt_p99 is not None
    assert 0 < broker.rtt_p50 <= broker.rtt_p99 < 10
    assert statistics.broker(1) is broker
    assert statistics.broker(2) is None


def test_the_unassigned_partition_is_left_out() -> None:
    statistics = load("delivered")
    (topic,) = statistics.raw["topics"]
    assert "-1" in statistics.raw["topics"][topic]["partitions"]
    assert [p.partition for p in statistics.partitions] == [0, 1, 2]
    assert statistics.partition(topic, 2) == statistics.partitions[2]
    assert statistics.partition(topic, -1) is None
    assert statistics.queue_messages == 0
    assert statistics.sent_messages == sum(p.sent_messages for p in statistics.partitions)


def test_a_producer_whose_broker_is_down_lists_no_broker_and_its_waiting_messages() -> None:
    statistics = load("down")
    assert statistics.brokers == ()
    assert statistics.queue_messages == 10
    waiting = [p for p in statistics.partitions if p.queue_depth]
    assert [(p.partition, p.queue_depth) for p in waiting] == [(0, 10)]


def test_logical_and_internal_brokers_are_left_out() -> None:
    document = raw_document("queued")
    (real,) = document["brokers"].values()
    for name, source, node_id in (
        ("GroupCoordinator", "logical", 1),
        (":0/internal", "internal", 0),
    ):
        entry = copy.deepcopy(real)
        entry.update(name=name, source=source, nodeid=node_id)
        document["brokers"][name] = entry
    assert [broker.name for broker in Statistics(document).brokers] == [real["name"]]


def test_brokers_are_sorted_by_node_id() -> None:
    document = raw_document("queued")
    (real,) = document["brokers"].values()
    for node_id in (3, 2):
        entry = copy.deepcopy(real)
        entry.update(name=f"127.0.0.1:{9090 + node_id}/{node_id}", nodeid=node_id)
        document["brokers"][entry["name"]] = entry
    assert [broker.node_id for broker in Statistics(document).brokers] == [1, 2, 3]


def test_documented_txbytes_and_rxbytes_spellings_are_read_too() -> None:
    document = raw_document("delivered")
    document["txbytes"] = document.pop("tx_bytes")
    document["rxbytes"] = document.pop("rx_bytes")
    statistics = Statistics(document)
    assert (statistics.sent_bytes, statistics.received_bytes) == (
        document["txbytes"],
        document["rxbytes"],
    )


def test_missing_or_odd_fields_read_as_zero_and_never_raise() -> None:
    statistics = Statistics(
        {"msg_cnt": "many", "brokers": {"x": {"nodeid": 1, "rtt": None}, "y": 3}, "topics": []}
    )
    assert (statistics.name, statistics.queue_messages, statistics.sent_messages) == ("", 0, 0)
    (broker,) = statistics.brokers
    assert (broker.node_id, broker.rtt_p50, broker.rtt_samples) == (1, None, 0)
    assert statistics.partitions == ()
    assert Statistics({}).brokers == ()


def test_the_constructor_takes_the_parsed_document_as_raw() -> None:
    document = raw_document("queued")
    statistics = Statistics(document)
    assert statistics.raw is document
    assert statistics.queue_messages == document["msg_cnt"]


def test_from_json_accepts_bytes() -> None:
    text = (DATA / "queued.json").read_bytes()
    assert Statistics.from_json(text).raw == json.loads(text)


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_from_json_rejects_what_is_not_a_json_object(text: str) -> None:
    with pytest.raises(kaffe.KaffeError, match="statistics") as error:
        Statistics.from_json(text)
    assert error.value.reason == "invalid statistics"


def test_statistics_are_immutable() -> None:
    statistics = load("queued")
    with pytest.raises(AttributeError, match="immutable"):
        statistics.queue_messages = 0
    with pytest.raises(AttributeError, match="immutable"):
        del statistics.name
    with pytest.raises(AttributeError):
        statistics.brokers[0].state = "DOWN"  # type: ignore[misc]


def test_repr_is_short_and_names_the_producer() -> None:
    statistics = load("queued")
    assert repr(statistics) == (
        f"Statistics(name={statistics.raw['name']!r}, "
        f"queue_messages={statistics.queue_messages}, queue_bytes={statistics.queue_bytes}, "
        "brokers=['127.0.0.1:30892/1'])"
    )


def test_sub_records_are_typed_tuples() -> None:
    statistics = load("queued")
    assert isinstance(statistics.brokers[0], BrokerStatistics)
    assert isinstance(statistics.partitions[0], PartitionStatistics)


# --- LatestStatistics ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def snapshot(
    name: str = "kaffe#producer-1",
    *,
    clock: float = 10.0,
    queue: int = 5,
    rtt: tuple[int, int] | None = (2000, 9000),
    brokers: tuple[int, ...] = (1,),
) -> Statistics:
    document = raw_document("queued")
    (template,) = document["brokers"].values()
    document["brokers"] = {}
    for node_id in brokers:
        entry = copy.deepcopy(template)
        entry.update(name=f"b{node_id}:9092/{node_id}", nodename=f"b{node_id}:9092", nodeid=node_id)
        entry["rtt"].update(
            cnt=0 if rtt is None else 3, p50=rtt[0] if rtt else 0, p99=rtt[1] if rtt else 0
        )
        document["brokers"][entry["name"]] = entry
    document.update(name=name, ts=int(clock * 1_000_000), msg_cnt=queue, msg_size=queue * 100)
    return Statistics(document)


def test_board_is_empty_until_a_snapshot_arrives() -> None:
    board = LatestStatistics()
    assert board.queue() is None
    assert board.round_trips() == {}
    assert board.current() == []


def test_board_sums_the_queues_of_all_producers_and_keeps_the_latest_of_each() -> None:
    board = LatestStatistics(FakeClock())
    board.update(snapshot("kaffe#producer-1", queue=5))
    board.update(snapshot("kaffe#producer-2", queue=7))
    board.update(snapshot("kaffe#producer-1", clock=11.0, queue=1))
    assert board.queue() == (8, 800)
    assert [s.name for s in board.current()] == ["kaffe#producer-1", "kaffe#producer-2"]


def test_board_takes_the_slowest_round_trip_when_producers_share_a_broker() -> None:
    board = LatestStatistics(FakeClock())
    board.update(snapshot("kaffe#producer-1", rtt=(2000, 9000)))
    board.update(snapshot("kaffe#producer-2", rtt=(3000, 4000)))
    trip = board.round_trips()["b1:9092/1"]
    assert (trip.p50, trip.p99) == (0.003, 0.009)


def test_board_keeps_the_last_measured_round_trip_through_idle_intervals() -> None:
    board = LatestStatistics(FakeClock())
    board.update(snapshot(rtt=(2000, 9000), brokers=(1, 2)))
    board.update(snapshot(clock=11.0, rtt=None, brokers=(1, 2)))
    assert {name: (t.p50, t.p99) for name, t in board.round_trips().items()} == {
        "b1:9092/1": (0.002, 0.009),
        "b2:9092/2": (0.002, 0.009),
    }
    board.update(snapshot(clock=12.0, rtt=None, brokers=(2,)))
    assert list(board.round_trips()) == ["b2:9092/2"]


def test_board_forgets_a_producer_three_intervals_after_its_last_snapshot() -> None:
    clock = FakeClock()
    board = LatestStatistics(clock)
    board.update(snapshot(clock=10.0))
    clock.now += 2
    board.update(snapshot(clock=12.0))  # a 2 s interval
    clock.now += 5.9
    assert board.queue() == (5, 500)
    clock.now += 0.2
    assert board.queue() is None
    assert board.round_trips() == {}


def test_board_never_forgets_sooner_than_a_second() -> None:
    clock = FakeClock()
    board = LatestStatistics(clock)
    board.update(snapshot(clock=10.0))
    clock.now += 0.1
    board.update(snapshot(clock=10.1))
    clock.now += 0.9
    assert board.queue() == (5, 500)
    clock.now += 0.2
    assert board.queue() is None


def test_board_keeps_a_first_snapshot_until_the_next_replaces_it() -> None:
    clock = FakeClock()
    board = LatestStatistics(clock)
    board.update(snapshot())
    clock.now += 3600
    assert board.queue() == (5, 500)
