"""
Fixtures for the 3-broker clusters.

The ``cluster`` session fixture starts (or reuses) a 3-node KRaft cluster through
``scripts/kafka up --brokers 3``. Its state lives in ``$KAFFE_TEST_CLUSTER_DIR``
(default ``<repo>/.kafka-cluster``) and its base port is ``$KAFFE_TEST_CLUSTER_PORT``
(default 29192), so it runs beside the single test broker. Tests that use it are
marked ``pytest.mark.cluster``; they kill, stop and restart nodes, and leave every
node running when they finish.

The ``proxied_cluster`` session fixture is a third cluster, ``scripts/kafka up
--brokers 3 --proxied``: a Toxiproxy proxy in front of each node's client listener,
for network faults. Its state lives in ``$KAFFE_TEST_PROXIED_DIR`` (default
``<repo>/.kafka-proxied``), its base port is ``$KAFFE_TEST_PROXIED_PORT`` (default
29292). Its admin client and read-backs go past the proxies (the DIRECT listener), so
a test's own checks never suffer the faults it injects.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from tests.conftest import REPO, SCRIPT, Cluster, Record, read_topic, start_cluster

#: Base port of the 3-broker cluster when $KAFFE_TEST_CLUSTER_PORT is not set.
DEFAULT_CLUSTER_PORT = 29192
#: Base port of the proxied 3-broker cluster when $KAFFE_TEST_PROXIED_PORT is not set.
DEFAULT_PROXIED_PORT = 29292
#: Node ids of the 3-broker cluster.
NODES = (1, 2, 3)
#: Seconds any single wait on the cluster (leaders, in-sync replicas) may take.
CLUSTER_WAIT = 90.0


@dataclass(frozen=True)
class ReplicatedCluster:
    """The running 3-broker cluster and the operations the failover tests need."""

    cluster: Cluster
    admin: AdminClient

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT bootstrap list of all three nodes."""
        return self.cluster.bootstrap

    @property
    def control_bootstrap(self) -> str:
        """Where the test's own checks connect: the PLAINTEXT listeners here."""
        return self.cluster.bootstrap

    def kill(self, node: int) -> None:
        """SIGKILL one node (``scripts/kafka kill N``)."""
        self.cluster.script("kill", str(node))

    def stop(self, node: int) -> None:
        """Stop one node gracefully (``scripts/kafka stop N``)."""
        self.cluster.script("stop", str(node))

    def start(self, node: int) -> None:
        """Restart one node with its data and wait until it is back in the metadata."""
        self.cluster.script("start", str(node))

    def up(self) -> None:
        """Start every node that is down (``scripts/kafka up --brokers 3``) and wait for all."""
        self.cluster.script("up", "--brokers", "3")

    def running(self) -> set[int]:
        """Ids of the nodes whose processes are alive."""
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "status"],
            env=self.cluster.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return {node for node in NODES if f"node {node}: running" in result.stdout}

    def create_topic(
        self,
        partitions: int = 6,
        *,
        replication_factor: int = 3,
        min_insync_replicas: int = 2,
        replica_assignment: list[list[int]] | None = None,
    ) -> str:
        """Create a replicated topic and wait until every partition has a leader and full ISR."""
        name = f"failover-{uuid.uuid4().hex[:12]}"
        config = {"min.insync.replicas": str(min_insync_replicas)}
        if replica_assignment is not None:
            # confluent-kafka wants the partition count even with an explicit assignment.
            new = NewTopic(
                name, len(replica_assignment), replica_assignment=replica_assignment, config=config
            )
        else:
            new = NewTopic(name, partitions, replication_factor, config=config)
        self.admin.create_topics([new], operation_timeout=30)[name].result(timeout=60)
        self.wait_for_full_isr(name)
        self.wait_until_every_node_knows(name)
        return name

    def wait_until_every_node_knows(self, topic: str, timeout: float = CLUSTER_WAIT) -> None:
        """
        Wait until each running node's own metadata lists the topic with its partitions.

        A node learns of a new topic a moment after the controller created it; a client
        that asks that node first would be told the topic does not exist.

        Raises:
            AssertionError: Some node did not know the topic within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        for node in sorted(self.running()):
            address = self.control_bootstrap.split(",")[node - 1]
            # A fresh client asks its only bootstrap address first.
            admin = AdminClient({"bootstrap.servers": address, "log_level": 0})
            while True:
                try:
                    found = admin.list_topics(topic, timeout=5).topics.get(topic)
                except Exception:  # the node may be busy; ask again
                    found = None
                if found is not None and found.error is None and found.partitions:
                    break
                assert time.monotonic() < deadline, f"node {node} does not know {topic}"
                time.sleep(0.1)

    def leaders(self, topic: str) -> dict[int, int]:
        """Map each partition of a topic to its leader's node id (-1 when it has none)."""
        metadata = self.admin.list_topics(topic, timeout=10).topics[topic]
        return {partition: info.leader for partition, info in metadata.partitions.items()}

    def wait_for_full_isr(self, topic: str, timeout: float = CLUSTER_WAIT) -> None:
        """
        Wait until every partition has a leader and all its replicas are in sync.

        Raises:
            AssertionError: Not reached within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        state = "no metadata yet"
        while time.monotonic() < deadline:
            try:
                metadata = self.admin.list_topics(topic, timeout=5).topics.get(topic)
            except Exception as error:  # the cluster may be electing; ask again
                state = repr(error)
                metadata = None
            if metadata is not None and metadata.error is None and metadata.partitions:
                partitions = metadata.partitions.values()
                if all(p.leader >= 0 and set(p.isrs) == set(p.replicas) for p in partitions):
                    return
                state = ", ".join(
                    f"p{p.id} leader {p.leader} isr {sorted(p.isrs)}/{sorted(p.replicas)}"
                    for p in partitions
                )
            time.sleep(0.25)
        raise AssertionError(f"{topic} did not get full in-sync replicas in {timeout:g}s: {state}")

    def wait_for_new_leader(
        self, topic: str, partition: int, old_leader: int, timeout: float = CLUSTER_WAIT
    ) -> int:
        """
        Wait until a partition is led by a node other than ``old_leader``; return it.

        Raises:
            AssertionError: No other leader within ``timeout``.
        """
        deadline = time.monotonic() + timeout
        leader = old_leader
        while time.monotonic() < deadline:
            try:
                leader = self.leaders(topic).get(partition, -1)
            except Exception:  # no answer while the cluster elects; ask again
                leader = -1
            if leader not in (-1, old_leader):
                return leader
            time.sleep(0.2)
        raise AssertionError(
            f"{topic} partition {partition} still led by {leader} after {timeout:g}s"
        )

    def read(self, topic: str, timeout: float = CLUSTER_WAIT) -> list[Record]:
        """
        Read every message of a topic, once its replicas are in sync again.

        Right after nodes restart, a new leader may refuse offset queries for a moment
        (its high watermark is not caught up yet); the read is tried again until
        ``timeout``.
        """
        self.wait_for_full_isr(topic)
        deadline = time.monotonic() + timeout
        while True:
            try:
                return read_topic(self.control_bootstrap, topic, timeout=60)
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)


@dataclass(frozen=True)
class ProxiedCluster(ReplicatedCluster):
    """
    The 3-broker cluster behind Toxiproxy, and its fault verbs.

    ``bootstrap`` is the proxies' addresses (what a producer under test uses);
    ``control_bootstrap`` is the DIRECT listeners, which no fault touches.
    """

    direct: str

    @property
    def control_bootstrap(self) -> str:
        """The DIRECT listeners, past the proxies."""
        return self.direct

    def up(self) -> None:
        """Start every node that is down, resume paused ones, and wait for all."""
        self.cluster.script("up", "--brokers", "3", "--proxied")

    def pause(self, node: int) -> None:
        """SIGSTOP one node (``scripts/kafka pause N``)."""
        self.cluster.script("pause", str(node))

    def resume(self, node: int) -> None:
        """SIGCONT a paused node (``scripts/kafka resume N``)."""
        self.cluster.script("resume", str(node))

    def fault(self, node: int, *fault: str) -> None:
        """Put a network fault on a node's proxy (``scripts/kafka fault N ...``)."""
        self.cluster.script("fault", str(node), *fault)

    def heal(self, node: int | None = None) -> None:
        """Remove every network fault (``scripts/kafka heal [N]``)."""
        self.cluster.script("heal", *([] if node is None else [str(node)]))

    def status(self) -> dict[str, Any]:
        """``scripts/kafka status --json``: nodes, ``paused`` and ``faults``."""
        result = subprocess.run(
            [sys.executable, str(SCRIPT), "status", "--json"],
            env=self.cluster.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        data: dict[str, Any] = json.loads(result.stdout)
        return data


def _cluster_dir() -> str:
    return os.environ.get("KAFFE_TEST_CLUSTER_DIR") or str(REPO / ".kafka-cluster")


def _cluster_port() -> int:
    text = os.environ.get("KAFFE_TEST_CLUSTER_PORT")
    return int(text) if text else DEFAULT_CLUSTER_PORT


def _proxied_dir() -> str:
    return os.environ.get("KAFFE_TEST_PROXIED_DIR") or str(REPO / ".kafka-proxied")


def _proxied_port() -> int:
    text = os.environ.get("KAFFE_TEST_PROXIED_PORT")
    return int(text) if text else DEFAULT_PROXIED_PORT


@pytest.fixture(scope="session")
def cluster() -> Iterator[ReplicatedCluster]:
    """The 3-broker cluster, started (or reused) through ``scripts/kafka up --brokers 3``."""
    started = start_cluster(brokers=3, security="", kafka_dir=_cluster_dir(), port=_cluster_port())
    admin = AdminClient(
        {
            "bootstrap.servers": started.bootstrap,
            "reconnect.backoff.max.ms": 1000,
            "log_level": 0,  # refused connections to killed nodes are expected
        }
    )
    replicated = ReplicatedCluster(started, admin)
    yield replicated
    # Leave every node running for the next session, whatever a test did.
    if replicated.running() != set(NODES):
        replicated.up()


@pytest.fixture
def healthy_cluster(cluster: ReplicatedCluster) -> Iterator[ReplicatedCluster]:
    """The cluster with every node running before the test, and again after it."""
    if cluster.running() != set(NODES):
        cluster.up()
    yield cluster
    if cluster.running() != set(NODES):
        cluster.up()


@pytest.fixture(scope="session")
def proxied_cluster() -> Iterator[ProxiedCluster]:
    """The proxied 3-broker cluster (``scripts/kafka up --brokers 3 --proxied``)."""
    started = start_cluster(
        brokers=3, security="", kafka_dir=_proxied_dir(), port=_proxied_port(), proxied=True
    )
    direct = started.state["bootstrap"]["direct"]
    admin = AdminClient(
        {"bootstrap.servers": direct, "reconnect.backoff.max.ms": 1000, "log_level": 0}
    )
    proxied = ProxiedCluster(started, admin, direct)
    yield proxied
    # Leave the cluster healthy for the next session, whatever a test did.
    proxied.heal()
    proxied.up()


@pytest.fixture
def healthy_proxied_cluster(proxied_cluster: ProxiedCluster) -> Iterator[ProxiedCluster]:
    """The proxied cluster without faults, every node running, before the test and after."""
    proxied_cluster.heal()
    proxied_cluster.up()
    yield proxied_cluster
    proxied_cluster.heal()
    proxied_cluster.up()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Attach the cluster's log tails to failed tests that used it."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    names = getattr(item, "fixturenames", ())
    if report.failed and call.when == "call" and ("cluster" in names or "proxied_cluster" in names):
        env = dict(
            os.environ,
            KAFFE_KAFKA_DIR=_cluster_dir() if "cluster" in names else _proxied_dir(),
        )
        try:
            logs = subprocess.run(
                [sys.executable, str(SCRIPT), "logs", "--lines", "40"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
        except (OSError, subprocess.SubprocessError) as error:
            logs = f"(could not read the cluster logs: {error})"
        report.sections.append(("cluster log tail", logs))


def schedstat() -> dict[int, tuple[float, float]]:
    """
    Seconds each thread of this process has spent on a CPU, and waiting for one.

    Linux keeps both per thread, in the first two fields of
    ``/proc/self/task/TID/schedstat`` (nanoseconds). Empty where the kernel does not say.
    """
    threads: dict[int, tuple[float, float]] = {}
    with contextlib.suppress(OSError):
        for thread in os.listdir("/proc/self/task"):
            path = f"/proc/self/task/{thread}/schedstat"
            with (
                contextlib.suppress(OSError, IndexError, ValueError),
                open(path, encoding="ascii") as stats,
            ):
                running, waiting = stats.read().split()[:2]
                threads[int(thread)] = (int(running) / 1e9, int(waiting) / 1e9)
    return threads


def cpu_waits(
    previous: dict[int, tuple[float, float]], now: dict[int, tuple[float, float]]
) -> float:
    """
    Seconds of a wait that the machine accounts for, between two :func:`schedstat` reads.

    The waits for a CPU of every Python thread of this process (any of them may hold
    the GIL another needs next), plus the longest wait of any other thread (one holding
    a lock inside librdkafka).
    """
    python = {thread.native_id for thread in threading.enumerate()}
    waited = {t: now[t][1] - previous.get(t, now[t])[1] for t in now}
    return sum(w for t, w in waited.items() if t in python) + max(
        (w for t, w in waited.items() if t not in python), default=0.0
    )
