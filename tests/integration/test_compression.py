"""
Compression through a real broker: each codec round-trips, and the broker stores it.

The broker's own tool, ``DumpLogSegments``, reads the partition's log segment and
shows the codec of every stored batch.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

import kaffe
from tests.conftest import Cluster, Record, create_topic, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
#: Compressible values, like the JSON most topics carry.
MESSAGES = [
    kaffe.Message(
        f"order-{number}",
        json.dumps({"id": number, "customer": f"customer-{number % 7}", "status": "created"}),
    )
    for number in range(500)
]
_BATCH = re.compile(
    r"^baseOffset: .* count: (\d+) .* size: (\d+) .*compresscodec: (\w+)", re.MULTILINE
)


def dump_log_segments(cluster: Cluster, topics: list[str]) -> dict[str, str]:
    """
    Run Kafka's ``DumpLogSegments`` over partition 0 of each topic, in one JVM.

    Small on purpose: ``scripts/kafka`` may offer the same as a command.

    Returns:
        The tool's output for each topic.
    """
    node_dir = Path(cluster.state["nodes"][0]["dir"])
    segments = {topic: sorted((node_dir / "data" / f"{topic}-0").glob("*.log")) for topic in topics}
    classpath = cluster.script("classpath").strip().splitlines()[-1]
    files = ",".join(str(path) for paths in segments.values() for path in paths)
    result = subprocess.run(
        ["java", "-cp", classpath, "org.apache.kafka.tools.DumpLogSegments", "--files", files],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    sections = result.stdout.split("Dumping ")
    return {
        topic: "".join(section for section in sections if f"/{topic}-0/" in section.split("\n")[0])
        for topic in topics
    }


@pytest.fixture(scope="module")
def compressed(bootstrap: str, admin: AdminClient) -> dict[str, str]:
    """One single-partition topic per codec, each holding MESSAGES produced with that codec."""
    topics = {}
    for codec in CODECS:
        topic = create_topic(admin, 1)
        with kaffe.Producer(endpoints=bootstrap, topics=[topic], compression=codec) as producer:  # type: ignore[arg-type]
            producer.produce_batch_sync(topic, MESSAGES[:-1])
            producer.produce_sync(topic, MESSAGES[-1].key, MESSAGES[-1].value)
        topics[codec] = topic
    return topics


def _batches(dump: str) -> list[tuple[int, int, str]]:
    """``(messages, bytes, codec)`` of every batch in a ``DumpLogSegments`` output."""
    return [(int(count), int(size), codec) for count, size, codec in _BATCH.findall(dump)]


@pytest.fixture(scope="module")
def stored(kafka: Cluster, compressed: dict[str, str]) -> dict[str, list[tuple[int, int, str]]]:
    """``(messages, bytes, codec)`` of every batch the broker stored, per codec."""
    if not kafka.state:
        pytest.skip("needs the log files of the broker scripts/kafka runs")
    dumps = dump_log_segments(kafka, list(compressed.values()))
    return {codec: _batches(dumps[topic]) for codec, topic in compressed.items()}


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_round_trips_through_the_broker(
    bootstrap: str, compressed: dict[str, str], codec: str
) -> None:
    records: list[Record] = read_topic(bootstrap, compressed[codec])
    assert [(record.key, record.value) for record in records] == [
        (message.key.encode(), message.value.encode()) for message in MESSAGES
    ]


@pytest.mark.parametrize("codec", CODECS)
def test_the_broker_stores_the_codec_kaffe_was_told(
    stored: dict[str, list[tuple[int, int, str]]], codec: str
) -> None:
    batches = stored[codec]
    assert sum(count for count, _, _ in batches) == len(MESSAGES)
    # librdkafka sends a batch uncompressed when compressing would not make it smaller,
    # as with the lone message of produce_sync here.
    assert {found for count, _, found in batches if count > 1} == {codec}
    assert {found for _, _, found in batches} <= {codec, "none"}


def test_every_codec_stores_these_messages_in_less_than_half_the_bytes(
    stored: dict[str, list[tuple[int, int, str]]],
) -> None:
    total = {codec: sum(size for _, size, _ in batches) for codec, batches in stored.items()}
    for codec in CODECS[1:]:
        assert total[codec] < total["none"] / 2, total


def test_compression_from_the_environment_reaches_the_broker(
    kafka: Cluster, bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    if not kafka.state:
        pytest.skip("needs the log files of the broker scripts/kafka runs")
    topic = topic_factory(1)
    environ = {"KAFFE_ENDPOINTS": bootstrap, "KAFFE_TOPICS": topic, "KAFFE_COMPRESSION": "lz4"}
    with kaffe.Producer.from_env(environ) as producer:
        producer.produce_batch_sync(topic, MESSAGES[:50])
    assert {codec for _, _, codec in _batches(dump_log_segments(kafka, [topic])[topic])} == {"lz4"}
