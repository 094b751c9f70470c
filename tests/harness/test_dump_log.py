"""
``scripts/kafka dump-log``: Kafka's own DumpLogSegments over a topic-partition's segments.

The unit tests check the command the harness builds; the integration tests
produce with each codec librdkafka offers and read the codec back from what
the broker stored.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from localkafka._dump_log import DUMP_LOG_CLASS, dump_log_command, segment_files
from localkafka._layout import Layout
from localkafka._report import HarnessError
from localkafka._state import ClusterState, Options
from tests.conftest import Cluster, create_topic


def _state(brokers: int) -> ClusterState:
    return ClusterState(Options(brokers, (), 29092, "plaintext"), "id", {})


def test_segments_come_oldest_first_from_the_first_node_holding_the_partition(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    folder = layout.node_data(2) / "events-3"
    folder.mkdir(parents=True)
    for name in (
        "00000000000000000042.log",
        "00000000000000000000.log",
        "00000000000000000000.index",
    ):
        (folder / name).touch()
    assert segment_files(layout, _state(3), "events", 3) == [
        folder / "00000000000000000000.log",
        folder / "00000000000000000042.log",
    ]


def test_a_partition_no_node_holds_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="no node has log segments of events partition 1"):
        segment_files(Layout(tmp_path), _state(1), "events", 1)


def test_an_unknown_node_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="node 4 does not exist") as caught:
        segment_files(Layout(tmp_path), _state(3), "events", 0, node=4)
    assert caught.value.exit_code == 2


def test_the_command_runs_kafkas_tool_over_every_segment(tmp_path: Path) -> None:
    files = [tmp_path / "0.log", tmp_path / "7.log"]
    command = dump_log_command(Layout(tmp_path), "a.jar:b.jar", files, print_data_log=True)
    assert command[-5:] == [
        "a.jar:b.jar",
        DUMP_LOG_CLASS,
        "--files",
        f"{files[0]},{files[1]}",
        "--print-data-log",
    ]
    assert f"-Dkafka.logs.dir={tmp_path / 'tool-logs'}" in command


@pytest.mark.integration
@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_dump_log_shows_the_codec_the_broker_stored(
    codec: str, kafka: Cluster, admin: AdminClient
) -> None:
    if not kafka.state:
        pytest.skip("needs a cluster started by scripts/kafka")
    topic = create_topic(admin, 2)
    producer = Producer({"bootstrap.servers": kafka.bootstrap, "compression.type": codec})
    for index in range(20):
        producer.produce(topic, key=b"key-%d" % index, value=b"value " * 20, partition=1)
    assert producer.flush(30) == 0

    output = kafka.script("dump-log", topic, "--partition", "1")

    batches = [line for line in output.splitlines() if line.startswith("baseOffset:")]
    assert batches
    assert all(f" compresscodec: {codec} " in line for line in batches), output
    assert sum(int(line.split(" count: ")[1].split()[0]) for line in batches) == 20


@pytest.mark.integration
def test_dump_log_of_a_missing_partition_fails_with_1(kafka: Cluster, admin: AdminClient) -> None:
    if not kafka.state:
        pytest.skip("needs a cluster started by scripts/kafka")
    topic = create_topic(admin, 1)
    with pytest.raises(subprocess.CalledProcessError) as caught:
        kafka.script("dump-log", topic, "--partition", "5")
    assert caught.value.returncode == 1
    assert f"no node has log segments of {topic} partition 5" in caught.value.stderr
