"""The scripts/kafka command line: its commands, options and defaults."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from localkafka._cli import build_parser, export_lines
from tests.conftest import SCRIPT


def test_up_defaults_to_one_plaintext_broker_and_a_two_minute_wait() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.brokers, args.security, args.port, args.timeout) == (1, None, None, 120.0)


def test_up_takes_repeated_security_values_and_a_port() -> None:
    args = build_parser().parse_args(
        ["up", "--brokers", "3", "--security", "ssl", "--security", "sasl_ssl", "--port", "31000"]
    )
    assert (args.brokers, args.security, args.port) == (3, ["ssl", "sasl_ssl"], 31000)


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--brokers", "2"],
        ["kill"],
        ["bootstrap", "--listener", "tls"],
        ["nonsense"],
        [],
        ["pause"],
        ["fault", "2"],
        ["fault", "2", "jam"],
        ["fault", "2", "latency"],
        ["fault", "2", "latency", "-5"],
        ["fault", "2", "latency", "200", "--jitter", "-1"],
        ["fault", "2", "bandwidth", "0"],
        ["fault", "2", "blackhole", "10"],
    ],
)
def test_bad_arguments_exit_with_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "node", "timeout"),
    [(["kill", "2"], 2, None), (["stop", "3"], 3, 30.0), (["start", "1"], 1, 120.0)],
)
def test_failure_injection_commands_take_a_node_id(
    argv: list[str], node: int, timeout: float | None
) -> None:
    args = build_parser().parse_args(argv)
    assert args.node == node
    assert getattr(args, "timeout", None) == timeout


def test_logs_defaults_to_every_node_and_200_lines() -> None:
    args = build_parser().parse_args(["logs"])
    assert (args.node, args.lines) == (None, 200)
    assert build_parser().parse_args(["logs", "2", "-n", "5"]).lines == 5


def test_export_lines_quote_values_for_the_shell() -> None:
    assert export_lines([("A", "plain"), ("B", "two words\nline")]) == (
        "export A=plain\nexport B='two words\nline'\n"
    )


def test_the_script_lists_every_command_in_its_help() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True
    )
    for command in (
        "up", "down", "status", "logs", "kill", "stop", "start", "bootstrap", "classpath",
        "heroku-env", "sasl-env", "oauth-env", "dump-log", "pause", "resume", "fault", "heal",
        "prepare",
    ):  # fmt: skip
        assert re.search(rf"^    {command}\s", result.stdout, re.MULTILINE), command


def test_status_without_a_cluster_exits_with_3(tmp_path: object) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "status"],
        capture_output=True,
        text=True,
        check=False,
        env={"KAFFE_KAFKA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 3
    assert result.stdout == f"no Kafka cluster in {tmp_path}\n"


def test_dump_log_takes_a_topic_and_defaults_to_partition_0_on_any_node() -> None:
    args = build_parser().parse_args(["dump-log", "events"])
    assert (args.topic, args.partition, args.node, args.print_data_log) == (
        "events",
        0,
        None,
        False,
    )
    args = build_parser().parse_args(["dump-log", "events", "-p", "3", "--node", "2"])
    assert (args.partition, args.node) == (3, 2)


def test_oauth_env_logs_in_as_the_valid_client_unless_told_otherwise() -> None:
    assert build_parser().parse_args(["oauth-env"]).client == "valid"
    assert build_parser().parse_args(["oauth-env", "--client", "short_lived"]).client == (
        "short_lived"
    )


def test_up_accepts_oauthbearer_among_the_listeners() -> None:
    args = build_parser().parse_args(["up", "--security", "ssl,sasl_ssl,oauthbearer"])
    assert args.security == ["ssl,sasl_ssl,oauthbearer"]


def test_up_proxied_is_off_unless_asked() -> None:
    assert build_parser().parse_args(["up"]).proxied is False
    assert build_parser().parse_args(["up", "--brokers", "3", "--proxied"]).proxied is True


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["pause", "2"], ("pause", 2)),
        (["resume", "3"], ("resume", 3)),
        (["heal"], ("heal", None)),
        (["heal", "1"], ("heal", 1)),
    ],
)
def test_pause_resume_and_heal_take_a_node(argv: list[str], expected: tuple[str, int]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.node) == expected


@pytest.mark.parametrize(
    ("argv", "fault", "values"),
    [
        (["fault", "2", "latency", "200"], "latency", {"ms": 200, "jitter": 0}),
        (["fault", "2", "latency", "200", "--jitter", "50"], "latency", {"ms": 200, "jitter": 50}),
        (["fault", "2", "blackhole"], "blackhole", {}),
        (["fault", "2", "reset"], "reset", {}),
        (["fault", "2", "bandwidth", "50"], "bandwidth", {"kbps": 50}),
    ],
)
def test_fault_takes_a_node_a_kind_and_its_values(
    argv: list[str], fault: str, values: dict[str, int]
) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.node, args.fault) == ("fault", 2, fault)
    assert {name: getattr(args, name) for name in values} == values


def test_bootstrap_can_ask_for_the_direct_listener() -> None:
    assert build_parser().parse_args(["bootstrap", "--listener", "direct"]).listener == "direct"
