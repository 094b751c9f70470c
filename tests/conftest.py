"""
Shared fixtures.

Integration tests use the real Apache Kafka that ``scripts/kafka`` runs. The
session fixture starts it (or reuses it) with SSL, SASL_SSL and OAUTHBEARER
listeners beside PLAINTEXT; ``KAFFE_TEST_BOOTSTRAP`` points the tests at an
existing cluster instead. ``oauth`` describes the OAUTHBEARER listener, its
token endpoint and test clients. When a test that used the broker fails, the
broker's log tail is attached to the report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    NewTopic,
    OffsetSpec,
)

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka"
#: Security listeners the single test broker runs beside PLAINTEXT.
SECURITY = "ssl,sasl_ssl,oauthbearer"


@dataclass(frozen=True)
class Cluster:
    """A running test cluster."""

    bootstrap: str
    state: dict[str, Any]
    env: dict[str, str]

    def script(self, *args: str, timeout: float = 180) -> str:
        """Run ``scripts/kafka`` against this cluster and return its stdout."""
        result = subprocess.run(
            [sys.executable, str(SCRIPT), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
        return result.stdout


def pytest_report_header() -> str:
    """Say which per-message path the tests run: compiled, or pure Python."""
    import kaffe

    return f"kaffe per-message path: {'compiled' if kaffe.__compiled__ else 'pure Python'}"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's Kafka settings, nor leak their own."""
    for name in list(os.environ):
        if (name.startswith(("KAFFE_", "KAFKA_"))) and not name.startswith(
            ("KAFFE_TEST_", "KAFFE_KAFKA_", "KAFFE_PURE_PYTHON")  # the mode under test stays
        ):
            monkeypatch.delenv(name)


def start_cluster(
    *,
    brokers: int = 1,
    security: str = SECURITY,
    kafka_dir: str | None = None,
    port: int | None = None,
    proxied: bool = False,
) -> Cluster:
    """Start (or reuse) a cluster through ``scripts/kafka up`` (``--proxied`` if asked)."""
    env = dict(os.environ)
    if kafka_dir is not None:
        env["KAFFE_KAFKA_DIR"] = kafka_dir
    if port is not None:
        env["KAFFE_KAFKA_PORT"] = str(port)
    args = [sys.executable, str(SCRIPT), "up", "--brokers", str(brokers)]
    if security:
        args += ["--security", security]
    if proxied:
        args.append("--proxied")
    # A first --proxied run builds Toxiproxy with `go install`, which takes a while.
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        pytest.exit(
            f"scripts/kafka up failed ({result.returncode}):\n{result.stdout}\n{result.stderr}",
            returncode=1,
        )
    state_dir = Path(env.get("KAFFE_KAFKA_DIR", REPO / ".kafka"))
    state = json.loads((state_dir / "state.json").read_text())
    plaintext = (
        subprocess.run(
            [sys.executable, str(SCRIPT), "bootstrap", "--listener", "plaintext"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    return Cluster(bootstrap=plaintext, state=state, env=env)


@dataclass(frozen=True)
class OAuthClient:
    """A client of the harness's token server (see ``scripts/kafka --help``)."""

    client_id: str
    client_secret: str = field(repr=False)
    #: ``valid``, ``expired``, ``bad_signature`` or ``wrong_audience``: what its tokens are.
    kind: str
    #: Seconds its tokens are valid for (``expired`` tokens ran out that long ago).
    lifetime: int


@dataclass(frozen=True)
class OAuthListener:
    """
    The OAUTHBEARER listener of the test broker and its local OAuth token server.

    ``clients`` maps a role to a test client: ``valid`` (hour-long tokens),
    ``short_lived`` (10-second tokens), ``expired`` (a token that expired an hour
    ago), ``bad_signature`` (signed by a key the JWKS lacks) and
    ``wrong_audience``. Any client with a wrong secret gets HTTP 401.
    """

    bootstrap: str
    ca: str
    token_endpoint: str
    jwks_url: str
    issuer: str
    audience: str
    scope: str
    clients: dict[str, OAuthClient]

    def env(self, role: str = "valid") -> dict[str, str]:
        """The ``KAFFE_*`` variables ``scripts/kafka oauth-env --client ROLE`` prints."""
        client = self.clients[role]
        return {
            "KAFFE_ENDPOINTS": self.bootstrap,
            "KAFFE_SSL_CA": self.ca,
            "KAFFE_SASL_MECHANISM": "OAUTHBEARER",
            "KAFFE_SASL_OIDC_TOKEN_ENDPOINT_URL": self.token_endpoint,
            "KAFFE_SASL_OIDC_CLIENT_ID": client.client_id,
            "KAFFE_SASL_OIDC_CLIENT_SECRET": client.client_secret,
            "KAFFE_SASL_OIDC_SCOPE": self.scope,
        }

    def librdkafka_config(
        self, role: str = "valid", *, secret: str | None = None
    ) -> dict[str, Any]:
        """A confluent-kafka configuration logging in as a test client with librdkafka's OIDC."""
        client = self.clients[role]
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "ssl.ca.pem": self.ca,
            "sasl.mechanism": "OAUTHBEARER",
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": self.token_endpoint,
            "sasl.oauthbearer.client.id": client.client_id,
            "sasl.oauthbearer.client.secret": client.client_secret if secret is None else secret,
            "sasl.oauthbearer.scope": self.scope,
        }


@pytest.fixture(scope="session")
def kafka() -> Cluster:
    """The single-broker test cluster (PLAINTEXT, plus SSL, SASL_SSL and OAUTHBEARER)."""
    existing = os.environ.get("KAFFE_TEST_BOOTSTRAP")
    if existing:
        return Cluster(bootstrap=existing, state={}, env=dict(os.environ))
    return start_cluster()


@pytest.fixture(scope="session")
def oauth(kafka: Cluster) -> OAuthListener:
    """The OAUTHBEARER listener, its CA, the token endpoint and the test clients."""
    settings = kafka.state.get("oauth")
    listener = kafka.state.get("bootstrap", {}).get("oauthbearer")
    if not settings or not listener:
        pytest.skip("needs the OAUTHBEARER listener of scripts/kafka")
    return OAuthListener(
        bootstrap=listener,
        ca=Path(kafka.state["tls"]["ca"]).read_text(encoding="ascii"),
        token_endpoint=settings["token_endpoint"],
        jwks_url=settings["jwks_url"],
        issuer=settings["issuer"],
        audience=settings["audience"],
        scope=settings["scope"],
        clients={
            role: OAuthClient(
                client["client_id"], client["client_secret"], client["kind"], client["lifetime"]
            )
            for role, client in settings["clients"].items()
        },
    )


@pytest.fixture(scope="session")
def bootstrap(kafka: Cluster) -> str:
    """The PLAINTEXT bootstrap address of the test broker."""
    return kafka.bootstrap


@pytest.fixture(scope="session")
def admin(bootstrap: str) -> AdminClient:
    """An admin client for creating topics (it never auto-creates one by asking about it)."""
    return AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})


def create_topic(
    admin: AdminClient,
    partitions: int = 8,
    *,
    replication_factor: int = 1,
    config: dict[str, str] | None = None,
    name: str | None = None,
) -> str:
    """Create a uniquely named topic and wait until its partitions have leaders."""
    name = name or f"test-{uuid.uuid4().hex[:12]}"
    futures = admin.create_topics(
        [NewTopic(name, partitions, replication_factor, config=config or {})],
        operation_timeout=30,
    )
    futures[name].result(timeout=60)
    for _ in range(100):
        metadata = admin.list_topics(name, timeout=10).topics.get(name)
        if (
            metadata is not None
            and metadata.error is None
            and len(metadata.partitions) == partitions
            and all(p.leader >= 0 for p in metadata.partitions.values())
            and _partitions_answer(admin, name, partitions)
        ):
            return name
        time.sleep(0.1)
    raise AssertionError(f"topic {name} never got leaders")


def _partitions_answer(admin: AdminClient, topic: str, partitions: int) -> bool:
    """
    True once every partition's leader serves it.

    A busy broker announces a new partition's leader before its log exists; until
    then it answers offset requests with NOT_LEADER_FOR_PARTITION.
    """
    requests = {
        TopicPartition(topic, partition): OffsetSpec.latest()  # type: ignore[no-untyped-call]
        for partition in range(partitions)
    }
    try:
        for future in admin.list_offsets(requests, request_timeout=10).values():
            future.result(timeout=15)
    except KafkaException:
        return False
    return True


@pytest.fixture
def topic_factory(admin: AdminClient) -> Callable[..., str]:
    """Create fresh topics: ``topic_factory(partitions=8)``."""

    def make(partitions: int = 8, **kwargs: Any) -> str:
        return create_topic(admin, partitions, **kwargs)

    return make


@pytest.fixture
def topic(topic_factory: Callable[..., str]) -> str:
    """A fresh topic with 8 partitions."""
    return topic_factory(8)


@dataclass(frozen=True)
class Record:
    """One message read back from the log."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def read_topic(bootstrap: str, topic: str, *, timeout: float = 30, **config: Any) -> list[Record]:
    """Read every message of a topic from the beginning to the current end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"kaffe-test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            **config,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout).topics[topic]
        partitions = sorted(metadata.partitions)
        ends = {}
        for partition in partitions:
            _low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=timeout
            )
            ends[partition] = high
        wanted = {p for p in partitions if ends[p] > 0}
        consumer.assign([TopicPartition(topic, p, 0) for p in wanted])
        records: list[Record] = []
        import time

        deadline = time.monotonic() + timeout
        while wanted and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            partition, offset = message.partition(), message.offset()
            assert partition is not None
            assert offset is not None
            if error is not None:
                if error.code() == error._PARTITION_EOF:
                    if offset >= ends[partition]:
                        wanted.discard(partition)
                    continue
                raise KafkaException(error)
            headers = message.headers() or []
            records.append(
                Record(
                    partition,
                    offset,
                    message.key(),
                    message.value(),
                    list(headers),  # type: ignore[arg-type]
                )
            )
            if offset + 1 >= ends[partition]:
                wanted.discard(partition)
        if wanted:
            raise AssertionError(f"could not read partitions {sorted(wanted)} of {topic} in time")
        return sorted(records, key=lambda record: (record.partition, record.offset))
    finally:
        consumer.close()


@pytest.fixture
def read_back(bootstrap: str) -> Callable[[str], list[Record]]:
    """Read every message of a topic back from the broker."""

    def read(topic: str) -> list[Record]:
        return read_topic(bootstrap, topic)

    return read


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the broker log tail to failed tests that used a broker."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.failed and call.when == "call" and "kafka" in getattr(item, "fixturenames", ()):
        try:
            logs = subprocess.run(
                [sys.executable, str(SCRIPT), "logs", "--lines", "60"],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError) as error:
            logs = f"(could not read the broker log: {error})"
        report.sections.append(("broker log tail", logs))
