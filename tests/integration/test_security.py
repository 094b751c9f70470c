"""
Heroku mode, TLS and SASL against the test broker's SSL and SASL_SSL listeners.

The material comes from ``scripts/kafka heroku-env`` / ``sasl-env`` and the
harness's throwaway certificates, among them a second, unrelated CA with its own
client certificate for the "untrusted" cases.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kaffe
from tests.conftest import REPO, Cluster, Record, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.security]

#: Seconds the failure cases allow for connecting; a refusal must be reported well before.
FAILING_START_TIMEOUT = 5.0
#: librdkafka's most talkative setting, to give it every chance to log a secret.
DEBUG_ALL = {"debug": "all"}


def _exports(text: str) -> dict[str, str]:
    """Parse ``export NAME=value`` lines as a shell would."""
    tokens = [token for token in shlex.split(text) if token != "export"]
    return dict(token.split("=", 1) for token in tokens)


def _body_lines(pem: str) -> list[str]:
    """The base64 lines of a PEM file: none of them may ever be shown."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


@pytest.fixture(scope="module")
def tls(kafka: Cluster) -> dict[str, str]:
    """PEM text of the harness's certificates and keys by name: ``client_key``, ``other_ca``..."""
    files = kafka.state.get("tls")
    listeners = kafka.state.get("bootstrap", {})
    if not files or "ssl" not in listeners or "sasl_ssl" not in listeners:
        pytest.skip("needs the SSL and SASL_SSL listeners of scripts/kafka")
    return {name: Path(path).read_text(encoding="ascii") for name, path in files.items()}


@pytest.fixture(scope="module")
def heroku_env(kafka: Cluster, tls: dict[str, str]) -> dict[str, str]:
    """What ``eval "$(scripts/kafka heroku-env)"`` puts in a shell."""
    return _exports(kafka.script("heroku-env"))


@pytest.fixture(scope="module")
def sasl_env(kafka: Cluster, tls: dict[str, str]) -> dict[str, str]:
    """What ``eval "$(scripts/kafka sasl-env)"`` puts in a shell."""
    return _exports(kafka.script("sasl-env"))


@pytest.fixture(scope="module")
def never_shown(tls: dict[str, str], kafka: Cluster) -> list[str]:
    """Every line of every key and certificate body, and every password."""
    lines = [line for pem in tls.values() for line in _body_lines(pem)]
    credentials = kafka.state["credentials"]
    passwords = [value for name, value in credentials.items() if name.endswith("_password")]
    return [*lines, *passwords, WRONG_PASSWORD]


def _tls_consumer(heroku_env: dict[str, str]) -> dict[str, Any]:
    return {
        "security.protocol": "SSL",
        "ssl.ca.pem": heroku_env["KAFKA_TRUSTED_CERT"],
        "ssl.certificate.pem": heroku_env["KAFKA_CLIENT_CERT"],
        "ssl.key.pem": heroku_env["KAFKA_CLIENT_CERT_KEY"],
    }


def _ssl_bootstrap(heroku_env: dict[str, str]) -> str:
    return ",".join(
        entry.strip().removeprefix("kafka+ssl://") for entry in heroku_env["KAFKA_URL"].split(",")
    )


def _assert_not_shown(text: str, never_shown: list[str]) -> None:
    leaked = [secret for secret in never_shown if secret in text]
    assert leaked == [], f"{len(leaked)} secret string(s) shown"


# --- Heroku mode -------------------------------------------------------------------------


def test_heroku_mode_produces_and_the_message_reads_back_over_tls(
    heroku_env: dict[str, str], topic: str
) -> None:
    with kaffe.Producer(heroku_kafka_env=True, environ=heroku_env, topics=[topic]) as producer:
        delivery = producer.produce_sync("user-42", "over tls")
    assert delivery.topic == topic
    records = read_topic(_ssl_bootstrap(heroku_env), topic, **_tls_consumer(heroku_env))
    assert [(r.partition, r.offset, r.key, r.value) for r in records] == [
        (delivery.partition, delivery.offset, b"user-42", b"over tls")
    ]


def test_heroku_mode_reads_the_process_environment(
    heroku_env: dict[str, str],
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
    read_back: Callable[[str], list[Record]],
) -> None:
    for name, value in heroku_env.items():
        monkeypatch.setenv(name, value)
    with kaffe.Producer(heroku_kafka_env=True, topics=[topic]) as producer:
        delivery = producer.produce_sync("key", "from os.environ")
    assert [r.value for r in read_back(topic)] == [b"from os.environ"]
    assert delivery.topic == topic


def test_from_env_with_kaffe_heroku_kafka_env_uses_heroku_variables(
    heroku_env: dict[str, str], topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    environ = {**heroku_env, "KAFFE_HEROKU_KAFKA_ENV": "true", "KAFFE_TOPICS": topic}
    with kaffe.Producer.from_env(environ) as producer:
        producer.produce_sync("key", "from_env")
    assert [r.value for r in read_back(topic)] == [b"from_env"]


def test_heroku_prefix_applies_to_configured_topics_and_topic_arguments(
    heroku_env: dict[str, str],
    topic_factory: Callable[..., str],
    read_back: Callable[[str], list[Record]],
) -> None:
    prefix = f"tenant-{uuid.uuid4().hex[:8]}."
    full = topic_factory(4, name=f"{prefix}events")
    environ = {**heroku_env, "KAFKA_PREFIX": prefix}
    with kaffe.Producer(heroku_kafka_env=True, environ=environ, topics=["events"]) as producer:
        assert producer.topics == (full,)
        assert producer.partitions_count("events") == 4
        deliveries = [
            producer.produce_sync("k1", "default topic"),
            producer.produce_sync("events", "k2", "named topic"),
            producer.produce("events", 1, "k3", "future").result(timeout=30),
            *producer.produce_batch_sync("events", [("k4", "batch")]),
        ]
    assert {delivery.topic for delivery in deliveries} == {full}
    assert sorted(r.value for r in read_back(full) if r.value) == [
        b"batch",
        b"default topic",
        b"future",
        b"named topic",
    ]


def test_heroku_example_runs_in_a_shell_that_evaluated_heroku_env(
    heroku_env: dict[str, str], read_back: Callable[[str], list[Record]]
) -> None:
    topic = f"heroku-example-{uuid.uuid4().hex[:8]}"
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("KAFFE_", "KAFKA_"))
    }
    result = subprocess.run(
        [sys.executable, str(REPO / "examples" / "heroku.py"), topic],
        env={**environ, **heroku_env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"Delivery(topic='{topic}', partition=0, offset=0" in result.stdout
    assert [r.value for r in read_back(topic)] == [b"hello from kaffe"]


def test_async_producer_in_heroku_mode_produces_over_tls(
    heroku_env: dict[str, str], topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    async def produce() -> kaffe.Delivery:
        async with kaffe.AsyncProducer(
            heroku_kafka_env=True, environ=heroku_env, topics=[topic]
        ) as producer:
            return await producer.produce_sync("key", "async over tls")

    delivery = asyncio.run(produce())
    assert delivery.topic == topic
    assert [r.value for r in read_back(topic)] == [b"async over tls"]


# --- TLS and SASL options -----------------------------------------------------------------


def test_ssl_from_file_paths_with_hostname_verification_produces(
    kafka: Cluster, tls: dict[str, str], topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    paths = kafka.state["tls"]
    ssl = kaffe.SSLConfig(ca=paths["ca"], cert=paths["client_cert"], key=paths["client_key"])
    assert ssl.verify_hostname is True
    assert ssl.key == tls["client_key"]
    endpoints = kafka.state["bootstrap"]["ssl"]
    with kaffe.Producer(endpoints=endpoints, ssl=ssl, topics=[topic]) as producer:
        producer.produce_sync("key", "verified host")
    assert [r.value for r in read_back(topic)] == [b"verified host"]


def test_hostname_verification_stays_on_outside_heroku_mode(
    kafka: Cluster, tls: dict[str, str], topic: str
) -> None:
    # The broker certificate names 127.0.0.1 and localhost only; reach it by another name.
    other_name = socket.gethostname()
    try:
        address = socket.gethostbyname(other_name)
    except OSError:
        address = ""
    if address != "127.0.0.1" or other_name == "localhost":
        pytest.skip("needs a host name other than localhost that resolves to 127.0.0.1")
    port = kafka.state["bootstrap"]["ssl"].rsplit(":", 1)[1]
    ssl = {"ca": tls["ca"], "cert": tls["client_cert"], "key": tls["client_key"]}
    options: dict[str, Any] = {"endpoints": f"{other_name}:{port}", "topics": [topic]}
    with pytest.raises(kaffe.AuthenticationError, match="certificate verify failed"):
        kaffe.Producer(**options, ssl=ssl, start_timeout=FAILING_START_TIMEOUT)
    with kaffe.Producer(**options, ssl={**ssl, "verify_hostname": False}) as producer:
        assert producer.partitions_count(topic) == 8


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_sasl_login_over_tls_produces_and_reads_back(
    mechanism: str,
    kafka: Cluster,
    tls: dict[str, str],
    topic: str,
    read_back: Callable[[str], list[Record]],
) -> None:
    credentials = kafka.state["credentials"]
    user = "plain" if mechanism == "PLAIN" else "scram"
    sasl = kaffe.SASLConfig(
        mechanism, credentials[f"{user}_username"], credentials[f"{user}_password"]
    )
    endpoints = kafka.state["bootstrap"]["sasl_ssl"]
    with kaffe.Producer(
        endpoints=endpoints, ssl={"ca": tls["ca"]}, sasl=sasl, topics=[topic]
    ) as producer:
        delivery = producer.produce_sync("key", mechanism)
    assert [(r.partition, r.offset, r.value) for r in read_back(topic)] == [
        (delivery.partition, delivery.offset, mechanism.encode())
    ]


def test_from_env_with_sasl_env_logs_in_with_scram(
    sasl_env: dict[str, str], topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    environ = {name: value for name, value in sasl_env.items() if not name.startswith("KAFFE_TEST")}
    with kaffe.Producer.from_env({**environ, "KAFFE_TOPICS": topic}) as producer:
        assert producer.config.sasl is not None
        assert producer.config.sasl.mechanism == "SCRAM-SHA-512"
        producer.produce_sync("key", "scram from env")
    assert [r.value for r in read_back(topic)] == [b"scram from env"]


# --- refusals: typed, bounded, and silent about secrets ------------------------------------

WRONG_PASSWORD = "wrong-password-8d1f"
REFUSALS: dict[str, tuple[type[kaffe.KaffeError], ...]] = {
    # librdkafka checks key against certificate when the client is created.
    "client key that does not match the certificate": (
        kaffe.ConfigError,
        kaffe.AuthenticationError,
    ),
    "broker certificate from an untrusted CA": (kaffe.AuthenticationError,),
    "client certificate from a CA the broker does not trust": (kaffe.AuthenticationError,),
    "wrong SCRAM-SHA-512 password": (kaffe.AuthenticationError,),
    "wrong PLAIN password": (kaffe.AuthenticationError,),
}


def _refused_options(
    case: str, kafka: Cluster, tls: dict[str, str], heroku_env: dict[str, str]
) -> dict[str, Any]:
    heroku = {"heroku_kafka_env": True}
    if case == "client key that does not match the certificate":
        return {
            **heroku,
            "environ": {**heroku_env, "KAFKA_CLIENT_CERT_KEY": tls["other_client_key"]},
        }
    if case == "broker certificate from an untrusted CA":
        return {**heroku, "environ": {**heroku_env, "KAFKA_TRUSTED_CERT": tls["other_ca"]}}
    if case == "client certificate from a CA the broker does not trust":
        environ = {
            **heroku_env,
            "KAFKA_CLIENT_CERT": tls["other_client_cert"],
            "KAFKA_CLIENT_CERT_KEY": tls["other_client_key"],
        }
        return {**heroku, "environ": environ}
    credentials = kafka.state["credentials"]
    mechanism, user = ("PLAIN", "plain") if "PLAIN" in case else ("SCRAM-SHA-512", "scram")
    return {
        "endpoints": kafka.state["bootstrap"]["sasl_ssl"],
        "ssl": {"ca": tls["ca"]},
        "sasl": {
            "mechanism": mechanism,
            "username": credentials[f"{user}_username"],
            "password": WRONG_PASSWORD,
        },
    }


def _shown_text(error: BaseException, caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(
        [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text]
    )


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusal_fails_typed_and_bounded_without_showing_secrets(
    case: str,
    kafka: Cluster,
    tls: dict[str, str],
    heroku_env: dict[str, str],
    never_shown: list[str],
    topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kaffe")
    options = _refused_options(case, kafka, tls, heroku_env)
    with pytest.raises(kaffe.KaffeError) as raised:
        kaffe.Producer(
            topics=[topic],
            start_timeout=FAILING_START_TIMEOUT,
            client_config=DEBUG_ALL,
            **options,
        )
    error = raised.value
    assert isinstance(error, REFUSALS[case]), repr(error)
    if isinstance(error, kaffe.AuthenticationError):
        assert error.reason == "authentication failed"
        assert error.retriable is False
        # librdkafka did talk (debug=all), through the masking logger.
        assert any(record.name == "kaffe.librdkafka" for record in caplog.records)
    _assert_not_shown(_shown_text(error, caplog), never_shown)


@pytest.mark.timeout(60)
def test_async_producer_reports_a_wrong_password_as_authentication_error(
    kafka: Cluster,
    tls: dict[str, str],
    heroku_env: dict[str, str],
    never_shown: list[str],
    topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kaffe")
    options = _refused_options("wrong SCRAM-SHA-512 password", kafka, tls, heroku_env)

    async def start() -> None:
        producer = kaffe.AsyncProducer(
            topics=[topic], start_timeout=FAILING_START_TIMEOUT, client_config=DEBUG_ALL, **options
        )
        await producer.start()

    with pytest.raises(kaffe.AuthenticationError) as raised:
        asyncio.run(start())
    _assert_not_shown(_shown_text(raised.value, caplog), never_shown)


# --- nothing on disk, nothing in reprs ------------------------------------------------------


def _temp_roots() -> list[Path]:
    roots = {Path(tempfile.gettempdir()), Path("/tmp"), Path("/var/tmp"), Path("/dev/shm")}
    return sorted(root for root in roots if root.is_dir())


def _entries(root: Path) -> set[Path]:
    try:
        return set(root.iterdir())
    except OSError:
        return set()


def _files_under(path: Path, limit: int = 5000) -> Iterator[Path]:
    if path.is_file():
        yield path
        return
    for count, found in enumerate(path.rglob("*")):
        if count >= limit:
            return
        if found.is_file():
            yield found


def _holds_any(path: Path, needles: list[bytes]) -> bool:
    try:
        if path.stat().st_size > 4 * 1024 * 1024:
            return False
        content = path.read_bytes()
    except OSError:
        return False
    return any(needle in content for needle in needles)


def test_no_key_material_is_written_to_temp_folders(
    kafka: Cluster,
    tls: dict[str, str],
    heroku_env: dict[str, str],
    topic: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    roots = _temp_roots()
    before = {root: _entries(root) for root in roots}
    isolated = tmp_path / "tmp"
    isolated.mkdir()
    monkeypatch.setenv("TMPDIR", str(isolated))
    monkeypatch.setattr(tempfile, "tempdir", None)
    paths = kafka.state["tls"]

    with kaffe.Producer(heroku_kafka_env=True, environ=heroku_env, topics=[topic]) as producer:
        producer.produce_sync("key", "heroku")
    ssl = {"ca": paths["ca"], "cert": paths["client_cert"], "key": paths["client_key_pkcs1"]}
    with kaffe.Producer(
        endpoints=kafka.state["bootstrap"]["ssl"], ssl=ssl, topics=[topic]
    ) as producer:
        producer.produce_sync("key", "ssl from files")
    with pytest.raises(kaffe.AuthenticationError):
        kaffe.Producer(
            heroku_kafka_env=True,
            environ={**heroku_env, "KAFKA_TRUSTED_CERT": tls["other_ca"]},
            topics=[topic],
            start_timeout=FAILING_START_TIMEOUT,
        )

    assert list(isolated.iterdir()) == []
    keys = [tls["client_key"], tls["client_key_pkcs1"]]
    needles = [line.encode() for key in keys for line in _body_lines(key)]
    created = [path for root in roots for path in _entries(root) - before[root]]
    written = [
        str(found) for path in created for found in _files_under(path) if _holds_any(found, needles)
    ]
    assert written == []


def test_live_producer_repr_and_config_hide_secrets(
    kafka: Cluster,
    tls: dict[str, str],
    heroku_env: dict[str, str],
    never_shown: list[str],
    topic: str,
) -> None:
    credentials = kafka.state["credentials"]
    sasl = {
        "mechanism": "SCRAM-SHA-512",
        "username": credentials["scram_username"],
        "password": credentials["scram_password"],
    }
    with (
        kaffe.Producer(heroku_kafka_env=True, environ=heroku_env, topics=[topic]) as heroku,
        kaffe.Producer(
            endpoints=kafka.state["bootstrap"]["sasl_ssl"],
            ssl={"ca": tls["ca"]},
            sasl=sasl,
            topics=[topic],
        ) as scram,
    ):
        for producer in (heroku, scram):
            shown = [repr(producer), str(producer), repr(producer.config), str(producer.config)]
            _assert_not_shown("\n".join(shown), never_shown)
        assert "password='***'" in repr(scram.config)
        assert "key='***'" in repr(heroku.config)
