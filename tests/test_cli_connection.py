"""Where the broker-facing commands connect: options, variables and their errors."""

from __future__ import annotations

import pytest

import kaffe
from kaffe._cli._connection import Admin, Connection
from kaffe._cli._exit import EXIT_USAGE
from tests.cli_runner import run

BROKER_COMMANDS = [["produce", "events"], ["topics"], ["ping"]]


@pytest.mark.parametrize("command", BROKER_COMMANDS)
@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--timeout", "-1"], "is not in the range x>=0.001"),
        ([], "no brokers given: pass --endpoints HOST:PORT, set KAFFE_ENDPOINTS, or use --heroku"),
        (["--heroku", "-e", "127.0.0.1:9"], "--endpoints and --heroku exclude each other"),
    ],
)
def test_connection_options_refuse_bad_arguments_with_exit_code_2(
    command: list[str], args: list[str], complaint: str
) -> None:
    result = run(*command, *args, input=b"k:v\n")

    assert result.exit_code == EXIT_USAGE, result.output
    assert complaint in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["-e", "not an endpoint"], {}, "Error: endpoints: 'not an endpoint' is not 'host:port'"),
        ([], {"KAFFE_ENDPOINTS": "host:99999"}, "Error: endpoints: 'host:99999' has an invalid"),
        (["--heroku"], {"KAFKA_URL": "http://x:1"}, "Error: KAFKA_URL entry 'http://x:1'"),
        (["-e", "127.0.0.1:9"], {"KAFFE_REQUIRED_ACKS": "2"}, "Error: required_acks: '2'"),
    ],
)
def test_produce_reports_bad_configuration_in_one_line_with_exit_code_2(
    args: list[str], env: dict[str, str], complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = run("produce", "events", *args, input=b"value\n")

    assert result.exit_code == EXIT_USAGE, result.output
    assert complaint in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["topics", "ping"])
def test_metadata_commands_need_brokers(command: str) -> None:
    result = run(command)

    assert result.exit_code == EXIT_USAGE
    assert "no brokers given" in result.stderr


def test_endpoints_option_wins_over_kaffe_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFFE_ENDPOINTS", "env-host:9092")

    assert Connection(endpoints="cli-host:9092").config().bootstrap_servers == "cli-host:9092"
    assert Connection().config().bootstrap_servers == "env-host:9092"


def test_timeout_option_wins_over_kaffe_start_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFFE_START_TIMEOUT", "7")

    assert Connection(endpoints="h:1", timeout=2.5).config().start_timeout == 2.5
    assert Connection(endpoints="h:1").config().start_timeout == 7


def test_tls_and_sasl_come_from_kaffe_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFFE_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("KAFFE_SASL_USERNAME", "alice")
    monkeypatch.setenv("KAFFE_SASL_PASSWORD", "s3cret-word")

    config = Connection(endpoints="h:1").config(topics=("events",))

    assert config.sasl is not None
    assert config.sasl.username == "alice"
    assert config.topics == ("events",)
    assert "s3cret-word" in config.secrets


def test_heroku_mode_from_the_environment_counts_as_brokers_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFFE_HEROKU_KAFKA_ENV", "yes")
    monkeypatch.setenv("KAFKA_URL", "kafka://broker-1:9092,kafka://broker-2:9092")

    config = Connection().config()

    assert config.bootstrap_servers == "broker-1:9092,broker-2:9092"


def test_a_configuration_librdkafka_refuses_is_a_config_error_without_secrets() -> None:
    config = kaffe.ProducerConfig(
        endpoints="h:1",
        sasl={"mechanism": "PLAIN", "username": "u", "password": "s3cret-word"},
        client_config={"socket.timeout.ms": "abc"},
    )

    with pytest.raises(kaffe.ConfigError) as caught:
        Admin(config)

    assert str(caught.value).startswith("librdkafka rejected the configuration: ")
    assert "socket.timeout.ms" in str(caught.value)
    assert "s3cret-word" not in str(caught.value)
    assert caught.value.reason == "invalid option"
