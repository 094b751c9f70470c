"""``kaffe produce`` without a broker: argument errors, and how lines become messages."""

from __future__ import annotations

import json
import socket
import sys
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import kaffe
from kaffe._cli._exit import EXIT_USAGE
from kaffe._cli._produce import (
    DEFAULT_METRICS_ADDRESS,
    ProducerSettings,
    RunStatistics,
    Tally,
    failure_runs,
    serve_metrics,
)
from kaffe.prometheus import Prometheus
from tests.cli_runner import error_lines, run

# --- errors found before connecting ---------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--key-field", "id"], "--key-field and --value-field need --format jsonl"),
        (["--format", "jsonl", "-K", ":"], "--key-separator is for --format lines"),
        (["-K", ""], "must not be empty"),
        (["-p", "1", "-s", "md5"], "--partition and --strategy exclude each other"),
        (["-H", "no-equals"], "'no-equals' is not NAME=VALUE"),
        (["-H", "=value"], "'=value' is not NAME=VALUE"),
        (["-s", "md5", "-e", "127.0.0.1:9"], "the md5 strategy needs keys"),
        (["-s", "sha1"], "'sha1' is not one of"),
        (["--batch-size", "0"], "0 is not in the range x>=1"),
        (["--delivery-timeout", "0"], "is not in the range x>=0.001"),
        (["--file", "/nonexistent/input.txt"], "does not exist"),
    ],
)
def test_produce_refuses_bad_arguments_with_exit_code_2(args: list[str], complaint: str) -> None:
    result = run("produce", "events", *args, input=b"k:v\n")

    assert result.exit_code == EXIT_USAGE, result.output
    assert complaint in result.stderr
    assert result.stdout == ""


def test_produce_refuses_an_invalid_topic_name_with_exit_code_2() -> None:
    result = run("produce", "no spaces allowed", "-e", "127.0.0.1:9", input=b"value\n")

    assert result.exit_code == EXIT_USAGE
    assert error_lines(result) == [
        "Error: topics: 'no spaces allowed' is not a valid topic name; use 1-249 characters "
        "of a-z, A-Z, 0-9, '.', '_' and '-'"
    ]


def test_failed_out_refuses_the_input_file_and_leaves_it_intact(tmp_path: Path) -> None:
    path = tmp_path / "retry.txt"
    path.write_bytes(b"k:v\n")

    result = run(
        "produce",
        "events",
        "-e",
        "127.0.0.1:9",
        "-K",
        ":",
        "-f",
        str(path),
        "--failed-out",
        str(path),
    )

    assert result.exit_code == EXIT_USAGE
    assert f"{path} is the input; writing it would erase the lines" in result.stderr
    assert path.read_bytes() == b"k:v\n"


def test_failed_out_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "retry.txt"

    result = run("produce", "events", "-e", "127.0.0.1:9", "--failed-out", str(target), input=b"v")

    assert result.exit_code == EXIT_USAGE
    assert f"cannot write {target}: No such file or directory" in result.stderr


# --- the producer's settings --------------------------------------------------------------------


def test_keyed_input_defaults_to_md5_and_keyless_input_to_murmur2() -> None:
    settings = ProducerSettings()

    assert settings.config_options("events", keyed=True) == {
        "topics": ("events",),
        "partition_strategy": "md5",
    }
    assert settings.config_options("events", keyed=False)["partition_strategy"] == "murmur2"


def test_kaffe_partition_strategy_wins_over_the_input_based_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFFE_PARTITION_STRATEGY", "crc32")

    assert "partition_strategy" not in ProducerSettings().config_options("events", keyed=True)


def test_strategy_and_delivery_timeout_options_reach_the_config() -> None:
    settings = ProducerSettings(strategy="FNV1A", delivery_timeout=2.5)

    assert settings.config_options("events", keyed=False) == {
        "topics": ("events",),
        "partition_strategy": "fnv1a",
        "delivery_timeout": 2.5,
    }


def test_failed_lines_are_grouped_into_runs_with_the_same_reason() -> None:
    failures = [(1, "a"), (2, "a"), (3, "b"), (5, "b"), (6, "b"), (7, "a")]

    assert list(failure_runs(failures)) == [(1, 2, "a"), (3, 3, "b"), (5, 6, "b"), (7, 7, "a")]
    assert list(failure_runs([])) == []


# --- --metrics-port and --stats -----------------------------------------------------------------

STATISTICS = Path(__file__).resolve().parent / "data" / "statistics"


def snapshot(name: str, **brokers_rtt: tuple[int, int, int]) -> kaffe.Statistics:
    """A captured statistics document; ``broker_N=(count, p50, p99)`` sets broker N's rtt (µs)."""
    document: dict[str, Any] = json.loads((STATISTICS / f"{name}.json").read_text())
    for key, (count, p50, p99) in brokers_rtt.items():
        node_id = int(key.removeprefix("broker_"))
        for broker in document["brokers"].values():
            if broker["nodeid"] == node_id:
                broker["rtt"].update(cnt=count, p50=p50, p99=p99)
    return kaffe.Statistics(document)


def test_stats_and_metrics_turn_on_statistics_every_second() -> None:
    plain = ProducerSettings().config_options("events", keyed=False)
    stats = ProducerSettings(stats=True).config_options("events", keyed=False)
    metrics = ProducerSettings(metrics_port=0).config_options("events", keyed=False)

    assert "statistics_interval" not in plain
    assert stats["statistics_interval"] == metrics["statistics_interval"] == 1.0


def test_metrics_are_served_on_this_host_only_unless_told_otherwise() -> None:
    assert DEFAULT_METRICS_ADDRESS == "127.0.0.1"


def test_metrics_address_without_metrics_port_is_a_usage_error() -> None:
    result = run("produce", "events", "-e", "127.0.0.1:9", "--metrics-address", "0.0.0.0")

    assert result.exit_code == EXIT_USAGE
    assert "--metrics-address needs --metrics-port" in result.stderr


def test_a_metrics_port_that_is_taken_exits_2_before_connecting() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        result = run("produce", "events", "-e", "127.0.0.1:9", "--metrics-port", str(port))

    assert result.exit_code == EXIT_USAGE
    assert (
        f"Invalid value for --metrics-port: cannot listen on 127.0.0.1:{port}: "
        "Address already in use (the port is taken)"
    ) in result.stderr
    assert result.stdout == ""


def test_an_unknown_metrics_address_exits_2_naming_the_option() -> None:
    result = run(
        "produce", "events", "-e", "127.0.0.1:9", "--metrics-port", "0",
        "--metrics-address", "no-such-host.invalid",
    )  # fmt: skip

    assert result.exit_code == EXIT_USAGE
    assert "Invalid value for --metrics-address: 'no-such-host.invalid' is not an address" in (
        result.stderr
    )


def test_metrics_without_prometheus_client_exit_2_naming_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed

    result = run("produce", "events", "-e", "127.0.0.1:9", "--metrics-port", "0")

    assert result.exit_code == EXIT_USAGE
    assert (
        "Invalid value for --metrics-port: serving metrics needs prometheus_client; "
        "install it with pip install 'kaffe[prometheus]'"
    ) in result.stderr


def test_serve_metrics_serves_the_prometheus_observers_metrics_until_the_block_ends() -> None:
    with serve_metrics("127.0.0.1", 0) as (observer, url):
        assert isinstance(observer, Prometheus)
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/metrics")
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200
            assert b"# TYPE kaffe_produced_messages_total counter" in answer.read()

    with pytest.raises(OSError):
        urllib.request.urlopen(url, timeout=2)


def test_run_statistics_keep_the_peak_queue_and_each_brokers_latest_round_trip() -> None:
    run_statistics = RunStatistics()
    run_statistics(snapshot("queued", broker_1=(2, 1_500, 25_000)))
    run_statistics(snapshot("delivered", broker_1=(9, 800, 3_250)))

    assert run_statistics.rows() == [
        ("queue", "peak 2,000 messages (0.20 MB) in 2 snapshot(s) 1 s apart, 0 at the end"),
        ("rtt", "broker 1 (127.0.0.1:30892): p50 0.80 ms, p99 3.25 ms"),
    ]


def test_run_statistics_keep_a_round_trip_through_an_interval_without_requests() -> None:
    run_statistics = RunStatistics()
    run_statistics(snapshot("queued", broker_1=(2, 1_500, 25_000)))
    run_statistics(snapshot("delivered", broker_1=(0, 0, 0)))

    assert run_statistics.rows()[1] == (
        "rtt",
        "broker 1 (127.0.0.1:30892): p50 1.50 ms, p99 25.00 ms",
    )


def test_run_statistics_name_a_broker_never_measured() -> None:
    run_statistics = RunStatistics()
    run_statistics(snapshot("delivered", broker_1=(0, 0, 0)))

    assert run_statistics.rows()[1] == (
        "rtt",
        "broker 1 (127.0.0.1:30892): not measured (no request answered)",
    )


def test_run_statistics_keep_brokers_that_went_away() -> None:
    run_statistics = RunStatistics()
    run_statistics(snapshot("queued", broker_1=(2, 1_500, 25_000)))
    run_statistics(snapshot("down"))

    assert run_statistics.rows() == [
        ("queue", "peak 2,000 messages (0.20 MB) in 2 snapshot(s) 1 s apart, 10 at the end"),
        ("rtt", "broker 1 (127.0.0.1:30892): p50 1.50 ms, p99 25.00 ms"),
    ]


def test_run_statistics_say_when_no_snapshot_arrived() -> None:
    run_statistics = RunStatistics()

    assert run_statistics.wait_for_run(3, 0.01) is False
    assert run_statistics.rows() == [("statistics", "none arrived before the run ended")]


@pytest.mark.parametrize(
    ("names", "produced", "covered"),
    [
        (["bootstrap"], 3, False),  # taken before the run sent anything
        (["queued"], 2_000, False),  # messages still queued: their round trips may follow
        (["queued", "delivered"], 20_000, True),
        (["delivered"], 20_001, False),  # fewer sent than the run had acknowledged
        (["bootstrap"], 0, True),  # nothing to wait for
    ],
)
def test_run_statistics_wait_for_a_snapshot_taken_after_the_run(
    names: list[str], produced: int, covered: bool
) -> None:
    run_statistics = RunStatistics()
    for name in names:
        run_statistics(snapshot(name))

    assert run_statistics.wait_for_run(produced, 0.01) is covered


def test_the_rate_covers_sending_only_not_the_wait_for_statistics_after_it() -> None:
    tally = Tally(produced=3, started=100.0, finished=100.5)

    assert tally.elapsed == 0.5  # fixed once sending finished, however long the summary waits


def test_a_snapshot_arriving_later_ends_the_wait_for_the_run() -> None:
    run_statistics = RunStatistics()
    run_statistics(snapshot("bootstrap"))
    later = threading.Timer(0.05, run_statistics, [snapshot("delivered")])
    later.start()
    try:
        assert run_statistics.wait_for_run(20_000, 60) is True
    finally:
        later.join()
    assert run_statistics.snapshots == 2
