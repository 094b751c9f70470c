"""``kaffe produce`` against a real broker: placement, input formats, failures."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from kaffe import partitioners
from tests.conftest import Record
from tests.integration.kaffe_command import (
    EXIT_INTERRUPTED,
    EXIT_NOT_PRODUCED,
    EXIT_UNKNOWN_TOPIC,
    EXIT_UNREACHABLE,
    KAFFE,
    closed_port,
    kaffe,
    partition_counts,
)

pytestmark = pytest.mark.integration


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


def _keys_on(partition: int, partitions: int, count: int) -> list[bytes]:
    """``count`` keys that crc32 places on ``partition``."""
    keys = (b"key-%d" % number for number in range(10_000))
    return [key for key in keys if partitioners.crc32(key, partitions) == partition][:count]


def test_failed_lines_are_reported_by_number_and_the_others_counted_where_they_went(
    bootstrap: str,
    topic_factory: Callable[..., str],
    read_back: Callable[[str], list[Record]],
    tmp_path: Path,
) -> None:
    # The broker refuses partition 1's record batch (its lines are larger than the
    # topic takes) and takes partition 0's, all in one batch of the command: only
    # failures are reported, so the acknowledged lines are counted without a report each.
    topic = topic_factory(2, config={"max.message.bytes": "1024"})
    small = [key + b":ok" for key in _keys_on(0, 2, 6)]
    large = [key + b":" + b"x" * 2000 for key in _keys_on(1, 2, 3)]
    lines = [small[0], large[0], small[1], small[2], large[1], large[2], *small[3:]]
    failed = tmp_path / "failed.txt"

    result = kaffe(
        "produce", topic, "-e", bootstrap, "-K", ":", "-s", "crc32",
        "--failed-out", str(failed), input=b"\n".join(lines) + b"\n",
    )  # fmt: skip

    assert result.returncode == EXIT_NOT_PRODUCED, result.stderr
    assert "6 of 9 produced" in result.stdout
    assert re.search(r"^failed\s+3\s*$", result.stdout, re.MULTILINE), result.stdout
    assert partition_counts(result.stdout) == {0: 6}
    assert f"{sum(len(line) - 1 for line in small):,} (keys and values)" in result.stdout
    reported = result.stderr.splitlines()
    assert [line.split(":")[0] for line in reported[:-1]] == ["line 2", "lines 5-6"]
    assert all("message too large" in line for line in reported[:-1])
    assert reported[-1] == f"Error: 3 of 9 lines were not produced; they are in {failed}"
    assert failed.read_bytes() == b"".join(line + b"\n" for line in large)
    assert sorted(record.value or b"" for record in read_back(topic)) == [b"ok"] * 6


def test_a_line_librdkafka_refuses_fails_alone_among_acknowledged_ones(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    huge = b"x" * 1_100_000  # over librdkafka's message.max.bytes: refused at hand-over

    result = kaffe("produce", topic, "-e", bootstrap, input=b"a\n" + huge + b"\nb\nc\n")

    assert result.returncode == EXIT_NOT_PRODUCED, result.stderr
    assert "3 of 4 produced" in result.stdout
    first, last = result.stderr.splitlines()
    assert first.startswith("line 2: message too large")
    assert last == "Error: 1 of 4 lines were not produced"
    assert sorted(record.value or b"" for record in read_back(topic)) == [b"a", b"b", b"c"]


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


def _wait_for_messages(bootstrap: str, topic: str, command: subprocess.Popen[bytes]) -> None:
    """Wait until the topic has messages, while the command runs."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "kaffe-test-watch"})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        deadline = time.monotonic() + 120  # a fail-safe only: it takes about a second
        while True:
            assert command.poll() is None, "the command ended before it was interrupted"
            stored = sum(
                consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)[1]
                for partition in partitions
            )
            if stored > 0:
                return
            assert time.monotonic() < deadline, "the command sent nothing"
            time.sleep(0.1)
    finally:
        consumer.close()


def test_ctrl_c_stops_after_the_batch_in_flight_and_reports_what_was_produced(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    command = subprocess.Popen(
        [*KAFFE, "produce", topic, "-e", bootstrap, "--batch-size", "2000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert command.stdin is not None

    def feed() -> None:  # lines until the command has gone
        block = b"".join(b"value %d\n" % number for number in range(1000))
        # OSError: the pipe broke; ValueError: communicate() closed stdin meanwhile.
        with contextlib.suppress(OSError, ValueError):
            while True:
                command.stdin.write(block)  # type: ignore[union-attr]

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    # Well into sending: the broker has messages from it (the command is past start-up).
    _wait_for_messages(bootstrap, topic, command)
    command.send_signal(signal.SIGINT)
    stdout, stderr = command.communicate(timeout=60)

    assert command.returncode == EXIT_INTERRUPTED, stderr
    assert stderr.decode().splitlines()[-1] == "Error: interrupted"
    assert "(interrupted)" in stdout.decode()
    produced = re.search(r"messages\s+([\d,]+) of [\d,]+ produced", stdout.decode())
    assert produced is not None, stdout
    count = int(produced.group(1).replace(",", ""))
    assert count > 0
    assert len(read_back(topic)) == count


# --- --metrics-port and --stats -------------------------------------------------------------


def _scrape(url: str) -> dict[str, list[Sample]]:
    """The samples of a /metrics page, by metric family."""
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def _outcomes(metrics: dict[str, list[Sample]], topic: str) -> dict[str, float]:
    return {
        sample.labels["result"]: sample.value
        for sample in metrics.get("kaffe_produced_messages", [])
        if sample.name == "kaffe_produced_messages_total" and sample.labels["topic"] == topic
    }


def _run_scraped(
    topic: str, bootstrap: str, lines: list[bytes], *options: str
) -> tuple[dict[str, list[Sample]], subprocess.CompletedProcess[str], str]:
    """
    Run ``kaffe produce --metrics-port 0 --stats`` and scrape its metrics while it runs.

    The lines are written without closing stdin, so the command sends every full
    batch and then waits for more input, still serving its metrics: the scrape
    happens then, once every line has an outcome and the round trips are in.

    Returns:
        The metrics scraped, the finished command, and the URL it served.
    """
    with subprocess.Popen(
        [*KAFFE, "produce", topic, "-e", bootstrap, "--metrics-port", "0", "--stats", *options],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    ) as command:
        assert command.stdin is not None
        assert command.stderr is not None
        try:
            announced = command.stderr.readline().decode()
            assert announced.startswith("Serving Prometheus metrics at http://127.0.0.1:")
            url = announced.split(" at ", 1)[1].strip()
            command.stdin.write(b"\n".join(lines) + b"\n")
            command.stdin.flush()
            deadline = time.monotonic() + 30
            metrics = _scrape(url)
            while (
                sum(_outcomes(metrics, topic).values()) < len(lines)
                or "kaffe_broker_rtt_seconds" not in metrics
            ) and time.monotonic() < deadline:
                time.sleep(0.2)
                metrics = _scrape(url)
            stdout, stderr = (output.decode() for output in command.communicate(timeout=60))
        finally:
            if command.poll() is None:
                command.kill()
    finished = subprocess.CompletedProcess(command.args, command.returncode, stdout, stderr)
    return metrics, finished, url


def test_metrics_port_serves_the_runs_metrics_while_it_runs(
    bootstrap: str, topic_factory: Callable[..., str], read_back: Callable[[str], list[Record]]
) -> None:
    topic = topic_factory(1, config={"max.message.bytes": "1024"})
    # Three batches go through; the broker refuses the fourth, whose lines are larger than
    # the topic takes (it refuses a record batch as a whole).
    lines = [b"line %d" % number for number in range(9)] + [b"x" * 4000] * 3

    metrics, result, url = _run_scraped(topic, bootstrap, lines, "--batch-size", "3")

    assert _outcomes(metrics, topic) == {"acknowledged": 9.0, "failed": 3.0}
    [queue] = metrics["kaffe_queue_messages"]
    assert queue.value >= 0
    assert {sample.labels["quantile"] for sample in metrics["kaffe_broker_rtt_seconds"]} == {
        "0.5",
        "0.99",
    }
    assert result.returncode == EXIT_NOT_PRODUCED, result.stderr
    assert "9 of 12 produced" in result.stdout
    assert re.search(r"^failed\s+3\s*$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^queue\s+peak [\d,]+ messages", result.stdout, re.MULTILINE)
    assert re.search(r"^rtt\s+broker 1 \(127\.0\.0\.1:\d+\): p50 [\d.]+ ms", result.stdout, re.M)
    assert [record.value for record in read_back(topic)] == lines[:9]
    with pytest.raises(OSError):  # the metrics end with the run
        urllib.request.urlopen(url, timeout=2)


def test_metrics_count_every_line_of_full_batches_once(
    bootstrap: str, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    # Observers give every message a header list, so the batches go to librdkafka
    # message by message: each line must still be sent once and counted once.
    lines = [b"key-%d:value %d" % (number, number) for number in range(20_000)]

    metrics, result, _ = _run_scraped(topic, bootstrap, lines, "--key-separator", ":")

    assert _outcomes(metrics, topic) == {"acknowledged": 20_000.0, "failed": 0.0}
    [produced_bytes] = [
        sample.value
        for sample in metrics["kaffe_produced_bytes"]
        if sample.name == "kaffe_produced_bytes_total"
    ]
    assert produced_bytes == sum(len(line) - 1 for line in lines)
    assert result.returncode == 0, result.stderr
    assert "20,000 of 20,000 produced" in result.stdout
    assert f"{int(produced_bytes):,} (keys and values)" in result.stdout
    records = read_back(topic)
    assert len(records) == 20_000
    assert partition_counts(result.stdout) == Counter(record.partition for record in records)


def test_stats_add_the_queue_and_round_trip_figures_to_a_short_runs_summary(
    bootstrap: str, topic: str
) -> None:
    result = kaffe("produce", topic, "-e", bootstrap, "--stats", input=b"a\nb\nc\n")

    assert result.returncode == 0, result.stderr
    assert "3 of 3 produced" in result.stdout
    # The run is shorter than one statistics interval: the summary waits for a snapshot
    # taken after it, so the queue is empty and the round trip measured.
    assert re.search(
        r"^queue\s+peak [\d,]+ messages \([\d.]+ MB\) in \d+ snapshot\(s\) 1 s apart, 0 at the end",
        result.stdout,
        re.MULTILINE,
    ), result.stdout
    rtt = re.search(
        r"^rtt\s+broker 1 \(127\.0\.0\.1:\d+\): p50 ([\d.]+) ms, p99 ([\d.]+) ms",
        result.stdout,
        re.MULTILINE,
    )
    assert rtt is not None, result.stdout
    assert 0 < float(rtt.group(1)) <= float(rtt.group(2))
