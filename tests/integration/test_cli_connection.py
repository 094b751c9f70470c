"""Where the broker-facing commands connect: unreachable brokers, Heroku, TLS and SASL."""

from __future__ import annotations

import shlex
from collections.abc import Callable

import pytest

from tests.conftest import Cluster, Record
from tests.integration.kaffe_command import EXIT_UNREACHABLE, closed_port, kaffe

pytestmark = pytest.mark.integration


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


def _exports(script_output: str) -> dict[str, str]:
    """The variables an ``eval "$(scripts/kafka ...-env)"`` would set."""
    return dict(token.split("=", 1) for token in shlex.split(script_output) if token != "export")


@pytest.fixture
def sasl_env(kafka: Cluster) -> dict[str, str]:
    """``KAFFE_ENDPOINTS``, ``KAFFE_SASL_*`` and ``KAFFE_SSL_CA`` of the SASL_SSL listener."""
    if "sasl_ssl" not in kafka.state.get("bootstrap", {}):
        pytest.skip("needs the SASL_SSL listener of scripts/kafka")
    return _exports(kafka.script("sasl-env"))


@pytest.mark.security
def test_sasl_and_tls_settings_come_from_kaffe_variables(
    sasl_env: dict[str, str], topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    pinged = kaffe("ping", env=sasl_env)
    listed = kaffe("topics", topic, env=sasl_env)
    produced = kaffe("produce", topic, "-K", "=", input=b"a=1\n", env=sasl_env)

    assert pinged.returncode == 0, pinged.stderr
    assert listed.returncode == 0, listed.stderr
    assert produced.returncode == 0, produced.stderr
    assert [(record.key, record.value) for record in read_back(topic)] == [(b"a", b"1")]


@pytest.mark.security
@pytest.mark.parametrize("command", ["ping", "topics"])
def test_a_refused_sasl_login_exits_3_without_showing_the_password(
    command: str, sasl_env: dict[str, str]
) -> None:
    wrong = {**sasl_env, "KAFFE_SASL_PASSWORD": "not-the-password-42"}

    result = kaffe(command, "--timeout", "5", env=wrong)

    assert result.returncode == EXIT_UNREACHABLE
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: authentication failed: ")
    assert "not-the-password-42" not in result.stdout + result.stderr
