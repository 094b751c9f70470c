"""How the ``kaffe`` commands end: one error line, an exit code, details with --verbose."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner
from confluent_kafka import KafkaError, KafkaException

import kaffe
from kaffe._cli import _exit
from kaffe._cli._output import exit_code, reported
from tests.cli_runner import run


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (kaffe.ConfigError("bad"), _exit.EXIT_USAGE),
        (kaffe.InvalidTopicError("bad"), _exit.EXIT_USAGE),
        (kaffe.InvalidPartitionError("bad"), _exit.EXIT_USAGE),
        (kaffe.BrokerUnavailableError("down"), _exit.EXIT_UNREACHABLE),
        (kaffe.AuthenticationError("refused"), _exit.EXIT_UNREACHABLE),
        (kaffe.UnknownTopicError("missing"), _exit.EXIT_UNKNOWN_TOPIC),
        (kaffe.AuthorizationError("denied"), _exit.EXIT_ERROR),
        (kaffe.ProduceError("failed"), _exit.EXIT_ERROR),
    ],
)
def test_each_kind_of_error_has_its_exit_code(error: kaffe.KaffeError, code: int) -> None:
    assert exit_code(error) == code


def test_configuration_errors_print_exactly_one_line() -> None:
    result = run("produce", "events", "-e", "not an endpoint", input=b"value\n")

    assert result.stderr.splitlines() == ["Error: endpoints: 'not an endpoint' is not 'host:port'"]


def test_verbose_adds_the_error_details_before_the_error_line() -> None:
    result = run("produce", "events", "-e", "not an endpoint", "--verbose", input=b"value\n")

    assert result.exit_code == _exit.EXIT_USAGE
    assert "type: kaffe.ConfigError" in result.stderr
    assert "reason: invalid endpoint" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: endpoints:")


def raising(error: BaseException) -> click.Command:
    """A command whose work raises ``error``."""

    @click.command()
    def command() -> None:
        with reported(verbose=False):
            raise error

    return command


@pytest.mark.parametrize(
    ("error", "code", "line"),
    [
        (
            KafkaException(KafkaError(KafkaError._ALL_BROKERS_DOWN, "1/1 brokers are down")),
            _exit.EXIT_UNREACHABLE,
            "Error: broker unavailable: 1/1 brokers are down",
        ),
        (
            FileNotFoundError(2, "No such file or directory", "out.txt"),
            _exit.EXIT_ERROR,
            "Error: No such file or directory: out.txt",
        ),
        (
            RuntimeError("boom"),
            _exit.EXIT_ERROR,
            "Error: unexpected RuntimeError: boom (run with --verbose for the traceback)",
        ),
        (KeyboardInterrupt(), _exit.EXIT_INTERRUPTED, "Error: interrupted"),
    ],
)
def test_every_failure_ends_in_one_error_line_and_its_exit_code(
    error: BaseException, code: int, line: str
) -> None:
    result = CliRunner().invoke(raising(error))

    assert result.exit_code == code
    assert result.stderr.splitlines() == [line]


def test_usage_errors_are_left_to_click() -> None:
    result = CliRunner().invoke(raising(click.UsageError("give one")))

    assert result.exit_code == _exit.EXIT_USAGE
    assert "Usage:" in result.stderr
    assert "Error: give one" in result.stderr
