"""``kaffe produce`` without a broker: argument errors, and how lines become messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from kaffe._cli._exit import EXIT_USAGE
from kaffe._cli._produce import ProducerSettings, failure_runs
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
