"""The installed ``kaffe`` command, run as a subprocess against a real broker."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from kaffe import partitioners
from tests.conftest import Cluster, Record

pytestmark = pytest.mark.integration

_INSTALLED = shutil.which("kaffe", path=str(Path(sys.executable).parent))
#: The console script of this environment (``python -m kaffe._cli`` from a bare source tree).
KAFFE = [_INSTALLED] if _INSTALLED else [sys.executable, "-m", "kaffe._cli"]

EXIT_NOT_PRODUCED = 1
EXIT_UNREACHABLE = 3
EXIT_UNKNOWN_TOPIC = 4


def kaffe(
    *args: str, input: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``kaffe ARGS`` with ``input`` on stdin; tables are rendered 200 columns wide."""
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    completed = subprocess.run(
        [*KAFFE, *args],
        input=input,
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode(),
        completed.stderr.decode(),
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def partition_counts(summary: str) -> dict[int, int]:
    """The ``partition: count`` pairs of a produce summary."""
    after = summary.split("messages per partition:", 1)[1]
    return {
        int(partition): int(count.replace(",", ""))
        for partition, count in re.findall(r"(\d+): ([\d,]+)", after)
    }


def table_row(output: str, first_cell: str) -> list[str]:
    """The cells of the table row that starts with ``first_cell``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line) if cell.strip()]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row for {first_cell!r} in:\n{output}")


# --- kaffe produce ------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", sorted(partitioners.HASH_FUNCTIONS))
def test_produce_places_10000_keyed_lines_where_the_strategy_says(
    strategy: str,
    bootstrap: str,
    topic_factory: Callable[..., str],
    read_back: Callable[[str], list[Record]],
) -> None:
    topic = topic_factory(8)
    lines = [f"user-{number}:value {number}" for number in range(10_000)]

    result = kaffe(
        "produce",
        topic,
        "--endpoints",
        bootstrap,
        "--key-separator",
        ":",
        "--strategy",
        strategy,
        input="\n".join(lines).encode() + b"\n",
    )

    assert result.returncode == 0, result.stderr
    assert "10,000 of 10,000 produced" in result.stdout
    assert f"strategy {strategy}" in result.stdout
    records = read_back(topic)
    assert len(records) == 10_000
    placement = partitioners.HASH_FUNCTIONS[strategy]
    for record in records:
        assert record.key is not None
        assert record.partition == placement(record.key, 8), record
    assert sorted(f"{r.key!r}:{r.value!r}" for r in records) == sorted(
        f"{key.encode()!r}:{value.encode()!r}"
        for key, value in (line.split(":", 1) for line in lines)
    )
    assert partition_counts(result.stdout) == Counter(record.partition for record in records)


def test_keyless_lines_stay_on_one_partition_for_a_batch_at_a_time(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    lines = [f"event {number:05d} {'x' * (number % 40)}" for number in range(10_000)]

    result = kaffe("produce", topic, "-e", bootstrap, input="\n".join(lines).encode())

    assert result.returncode == 0, result.stderr
    assert "strategy murmur2" in result.stdout
    by_line = {int(r.value.split()[1]): r for r in read_back(topic) if r.value is not None}
    assert sorted(by_line) == list(range(10_000))
    # Replay the sticky rule: a partition is drawn before the first message and again
    # after each message that brings the bytes sent to it to a full batch.
    blocks: list[set[int]] = [set()]
    sent = 0
    for number, line in enumerate(lines):
        if sent >= partitioners.DEFAULT_STICKY_BATCH_BYTES:
            blocks.append(set())
            sent = 0
        blocks[-1].add(by_line[number].partition)
        sent += len(line)
    assert len(blocks) > 10
    assert all(len(block) == 1 for block in blocks)
    assert len(set().union(*blocks)) > 1


def test_produce_reads_a_jsonl_file_with_key_and_value_fields(
    bootstrap: str,
    topic_factory: Callable[..., str],
    read_back: Callable[[str], list[Record]],
    tmp_path: Path,
) -> None:
    topic = topic_factory(12)
    documents = [
        {"id": f"ü-{number}" if number % 2 else number, "body": {"n": number}, "x": 1}
        for number in range(300)
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))

    result = kaffe(
        "produce",
        topic,
        "-e",
        bootstrap,
        "--format",
        "jsonl",
        "--key-field",
        "id",
        "--value-field",
        "body",
        "--strategy",
        "crc32",
        "--file",
        str(path),
    )

    assert result.returncode == 0, result.stderr
    assert "300 of 300 produced" in result.stdout
    records = read_back(topic)
    expected = {
        str(document["id"]).encode(): json.dumps(document["body"], separators=(",", ":")).encode()
        for document in documents
    }
    assert {record.key: record.value for record in records} == expected
    for record in records:
        assert record.key is not None
        assert record.partition == partitioners.crc32(record.key, 12)


def test_key_separator_and_repeated_headers_reach_every_message(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    data = b"k1\tv1\r\nk2\tv\t2\n\nk3\t\nk4\tlast"

    result = kaffe(
        "produce",
        topic,
        "-e",
        bootstrap,
        "-K",
        "\t",
        "-H",
        "source=cli",
        "-H",
        "trace=a=b",
        "-H",
        "source=again",
        input=data,
    )

    assert result.returncode == 0, result.stderr
    records = read_back(topic)
    assert sorted((record.key, record.value) for record in records) == [
        (b"k1", b"v1"),
        (b"k2", b"v\t2"),
        (b"k3", b""),
        (b"k4", b"last"),
    ]
    for record in records:
        assert record.headers == [("source", b"cli"), ("trace", b"a=b"), ("source", b"again")]
        assert record.key is not None
        assert record.partition == partitioners.md5(record.key, 8)


def test_partition_option_sends_every_line_to_that_partition(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    result = kaffe("produce", topic, "-e", bootstrap, "--partition", "5", input=b"a\nb\nc\n")

    assert result.returncode == 0, result.stderr
    assert [(r.partition, r.value) for r in read_back(topic)] == [
        (5, b"a"),
        (5, b"b"),
        (5, b"c"),
    ]


def test_partition_option_beyond_the_topic_exits_2(bootstrap: str, topic: str) -> None:
    result = kaffe("produce", topic, "-e", bootstrap, "--partition", "8", input=b"a\n")

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"Error: partition 8 is out of range for topic {topic!r}, which has 8 partitions (0..7)"
    ]


def test_empty_input_produces_nothing_and_succeeds(bootstrap: str, topic: str) -> None:
    result = kaffe("produce", topic, "-e", bootstrap, input=b"")

    assert result.returncode == 0, result.stderr
    assert "0 of 0 produced" in result.stdout


def test_progress_flag_draws_a_bar_with_the_rate(bootstrap: str, topic: str) -> None:
    result = kaffe("produce", topic, "-e", bootstrap, "--progress", input=b"\n".join([b"v"] * 2000))

    assert result.returncode == 0, result.stderr
    assert "msg/s" in result.stderr
    assert "2,000 msgs" in result.stderr
    assert "100%" in result.stderr


def test_malformed_jsonl_lines_are_reported_saved_and_skipped(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]], tmp_path: Path
) -> None:
    data = b'{"id": "a"}\n{"id": \n{"id": "c"}\n[1]\n{"id": "e"}\n'
    failed = tmp_path / "failed.jsonl"

    result = kaffe(
        "produce",
        topic,
        "-e",
        bootstrap,
        "--format",
        "jsonl",
        "--key-field",
        "id",
        "--failed-out",
        str(failed),
        input=data,
    )

    assert result.returncode == EXIT_NOT_PRODUCED
    assert result.stderr.splitlines() == [
        "line 2: not valid JSON (Expecting value at column 8)",
        "line 4: a JSON array, not an object with the fields to read",
        f"Error: 2 of 5 lines were not produced; they are in {failed}",
    ]
    assert failed.read_bytes() == b'{"id": \n[1]\n'
    assert "3 of 5 produced" in result.stdout
    assert sorted(record.key or b"" for record in read_back(topic)) == [b"a", b"c", b"e"]


def test_messages_the_broker_refuses_are_reported_with_exit_code_1(
    bootstrap: str,
    topic_factory: Callable[..., str],
    read_back: Callable[[str], list[Record]],
    tmp_path: Path,
) -> None:
    topic = topic_factory(1, config={"max.message.bytes": "1024"})
    failed = tmp_path / "failed.txt"
    big = b"x" * 4000

    result = kaffe(
        "produce",
        topic,
        "-e",
        bootstrap,
        "--batch-size",
        "1",
        "--failed-out",
        str(failed),
        input=b"small\n" + big + b"\nsmall again\n",
    )

    assert result.returncode == EXIT_NOT_PRODUCED
    first, last = result.stderr.splitlines()
    assert first.startswith("line 2: message too large")
    assert last == f"Error: 1 of 3 lines were not produced; they are in {failed}"
    assert failed.read_bytes() == big + b"\n"
    assert [record.value for record in read_back(topic)] == [b"small", b"small again"]


def test_unknown_topic_exits_4_with_one_error_line(bootstrap: str) -> None:
    result = kaffe("produce", "no-such-topic-here", "-e", bootstrap, input=b"v\n")

    assert result.returncode == EXIT_UNKNOWN_TOPIC
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Error: topic 'no-such-topic-here' does not exist (kaffe does not create topics "
        "unless allow_topic_auto_creation=True)"
    ]


def test_unreachable_broker_exits_3_with_one_error_line() -> None:
    endpoint = f"127.0.0.1:{closed_port()}"

    result = kaffe("produce", "events", "-e", endpoint, "--timeout", "1", input=b"v\n")

    assert result.returncode == EXIT_UNREACHABLE
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: broker unavailable for topic 'events': ")
    assert "Connection refused" in line


def test_verbose_shows_the_traceback_and_client_logs(bootstrap: str) -> None:
    result = kaffe("produce", "no-such-topic-here", "-e", bootstrap, "--verbose", input=b"v\n")

    assert result.returncode == EXIT_UNKNOWN_TOPIC
    assert "Traceback" in result.stderr
    assert "type: kaffe.UnknownTopicError" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: topic 'no-such-topic-here'")


# --- kaffe topics and kaffe ping ------------------------------------------------------------


def test_topics_lists_partitions_leaders_and_in_sync_replicas(
    bootstrap: str, admin: AdminClient, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(3)
    brokers = admin.list_topics(topic, timeout=10).topics[topic].partitions
    leaders = ", ".join(str(leader) for leader in sorted({p.leader for p in brokers.values()}))

    result = kaffe("topics", topic, env={"KAFFE_ENDPOINTS": bootstrap})

    assert result.returncode == 0, result.stderr
    # topic, partitions, leaders, replicas, in sync, under-replicated, no leader
    assert table_row(result.stdout, topic) == [topic, "3", leaders, "1", "1", "0", "0"]


def test_topics_without_arguments_lists_every_user_topic(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(2)

    result = kaffe("topics", "-e", bootstrap)

    assert result.returncode == 0, result.stderr
    assert table_row(result.stdout, topic)[1] == "2"
    assert "__consumer_offsets" not in result.stdout


def test_topics_with_partitions_shows_one_row_per_partition(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(3)

    result = kaffe("topics", topic, "--partitions", "-e", bootstrap)

    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if f" {topic} " in line]
    assert len(rows) == 3


def test_topics_with_an_unknown_topic_exits_4(bootstrap: str) -> None:
    result = kaffe("topics", "no-such-topic-here", "-e", bootstrap)

    assert result.returncode == EXIT_UNKNOWN_TOPIC
    assert result.stderr.splitlines() == ["Error: topic 'no-such-topic-here' does not exist"]


def test_ping_shows_brokers_controller_and_round_trip(bootstrap: str, admin: AdminClient) -> None:
    metadata = admin.list_topics(timeout=10)

    result = kaffe("ping", "-e", bootstrap, "--count", "2")

    assert result.returncode == 0, result.stderr
    for broker_id, broker in metadata.brokers.items():
        assert table_row(result.stdout, str(broker_id))[1:3] == [broker.host, str(broker.port)]
    assert f"controller: {metadata.controller_id}" in result.stdout
    assert re.search(r"round trip: min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms", result.stdout)
    assert "over 2 request(s)" in result.stdout


@pytest.mark.parametrize("command", ["ping", "topics"])
def test_metadata_commands_exit_3_when_no_broker_answers(command: str) -> None:
    endpoint = f"127.0.0.1:{closed_port()}"

    result = kaffe(command, "-e", endpoint, "--timeout", "1")

    assert result.returncode == EXIT_UNREACHABLE
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: broker unavailable: ")
    assert "Connection refused" in line


# --- Heroku's variables ----------------------------------------------------------------------


@pytest.mark.security
def test_heroku_flag_connects_over_tls_with_herokus_variables(
    kafka: Cluster, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    if "ssl" not in kafka.state.get("bootstrap", {}):
        pytest.skip("needs the SSL listener of scripts/kafka")
    exports = kafka.script("heroku-env")
    env = dict(token.split("=", 1) for token in shlex.split(exports) if token != "export")
    assert env["KAFKA_URL"].startswith("kafka+ssl://")

    pinged = kaffe("ping", "--heroku", env=env)
    produced = kaffe("produce", topic, "--heroku", "-K", "=", input=b"a=1\nb=2\n", env=env)

    assert pinged.returncode == 0, pinged.stderr
    assert "round trip" in pinged.stdout
    assert produced.returncode == 0, produced.stderr
    records = read_back(topic)
    assert sorted((record.key, record.value) for record in records) == [
        (b"a", b"1"),
        (b"b", b"2"),
    ]
