"""
The fault verbs: pause, resume, fault and heal, and what status shows of them.

The pause and refusal tests use a stand-in process that the harness takes for a
node; the network-fault tests use the proxied 3-node cluster of the integration
suite and look at the toxics in Toxiproxy itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localkafka._faults import add_fault, heal, pause_node, resume_node
from localkafka._layout import Layout
from localkafka._processes import is_paused
from localkafka._report import HarnessError
from localkafka._state import ClusterState, Options, save_state
from localkafka._toxiproxy import Fault
from tests.conftest import SCRIPT
from tests.harness.test_processes import STAND_IN
from tests.integration.conftest import ProxiedCluster

CREDENTIALS = {
    "scram_username": "u",
    "scram_password": "p",
    "plain_username": "u",
    "plain_password": "p",
}


@pytest.fixture
def one_node(tmp_path: Path) -> Iterator[tuple[Layout, int]]:
    """A formatted single-node cluster without proxies, whose node is a stand-in process."""
    layout = Layout(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-c", STAND_IN, "kafka.Kafka", str(layout.node_properties(1))],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        state = ClusterState(Options(1, (), 29092, "plaintext"), "id", CREDENTIALS, formatted=True)
        state.pids = {1: process.pid}
        save_state(layout, state)
        yield layout, process.pid
        os.kill(process.pid, signal.SIGCONT)
        process.kill()


def test_pause_stops_a_node_and_resume_continues_it(one_node: tuple[Layout, int]) -> None:
    layout, pid = one_node
    pause_node(layout, 1)
    assert is_paused(pid)
    pause_node(layout, 1)  # again: nothing to do
    assert is_paused(pid)

    resume_node(layout, 1)
    assert not is_paused(pid)
    resume_node(layout, 1)  # again: nothing to do
    assert not is_paused(pid)


def test_pausing_a_node_the_cluster_lacks_is_a_usage_error(one_node: tuple[Layout, int]) -> None:
    layout, _ = one_node
    with pytest.raises(HarnessError, match="node 4 does not exist") as caught:
        pause_node(layout, 4)
    assert caught.value.exit_code == 2


def test_a_network_fault_needs_a_proxied_cluster(one_node: tuple[Layout, int]) -> None:
    layout, _ = one_node
    with pytest.raises(HarnessError, match=r"up --brokers 1 --proxied") as caught:
        add_fault(layout, 1, Fault("blackhole"))
    assert caught.value.exit_code == 2


def test_heal_without_proxies_has_nothing_to_remove_and_says_a_pause_stays(
    one_node: tuple[Layout, int], capsys: pytest.CaptureFixture[str]
) -> None:
    layout, pid = one_node
    pause_node(layout, 1)
    heal(layout, None)
    assert is_paused(pid)
    err = capsys.readouterr().err
    assert "no network fault to remove" in err
    assert "node 1 is still paused; `scripts/kafka resume 1` continues it" in err


def test_pause_without_a_cluster_exits_with_3(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "pause", "1"],
        capture_output=True,
        text=True,
        check=False,
        env={"KAFFE_KAFKA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 3


# --- on the proxied cluster ---------------------------------------------------------------


def _toxics(cluster: ProxiedCluster, node: int) -> list[dict[str, Any]]:
    url = f"{cluster.cluster.state['toxiproxy']['api']}/proxies/node-{node}/toxics"
    with urllib.request.urlopen(url, timeout=10) as answer:
        toxics: list[dict[str, Any]] = json.load(answer)
    return toxics


@pytest.mark.integration
@pytest.mark.faults
def test_faults_are_toxics_on_the_nodes_proxy_until_heal(
    healthy_proxied_cluster: ProxiedCluster,
) -> None:
    cluster = healthy_proxied_cluster
    cluster.fault(2, "latency", "200", "--jitter", "20")
    cluster.fault(3, "blackhole")
    cluster.fault(3, "bandwidth", "50")

    assert {(t["name"], t["type"], t["stream"]) for t in _toxics(cluster, 2)} == {
        ("latency_upstream", "latency", "upstream"),
        ("latency_downstream", "latency", "downstream"),
    }
    assert len(_toxics(cluster, 3)) == 4
    assert cluster.status()["faults"] == {
        "2": [{"fault": "latency", "latency_ms": 200, "jitter_ms": 20}],
        "3": [{"fault": "blackhole"}, {"fault": "bandwidth", "kbps": 50}],
    }
    text = cluster.cluster.script("status")
    assert "faults on node 2: latency 200 ms ± 20 ms each way" in text
    assert "faults on node 3: blackhole (connections open, nothing passes); " in text

    cluster.fault(2, "latency", "100")  # the same kind again replaces it
    assert cluster.status()["faults"]["2"] == [
        {"fault": "latency", "latency_ms": 100, "jitter_ms": 0}
    ]
    cluster.heal(3)
    assert _toxics(cluster, 3) == []
    assert set(cluster.status()["faults"]) == {"2"}
    cluster.heal()
    assert cluster.status()["faults"] == {}
    assert "faults: none" in cluster.cluster.script("status")


@pytest.mark.integration
@pytest.mark.faults
def test_status_lists_a_paused_node_until_it_is_resumed(
    healthy_proxied_cluster: ProxiedCluster,
) -> None:
    cluster = healthy_proxied_cluster
    cluster.pause(1)
    status = cluster.status()
    assert status["paused"] == [1]
    assert is_paused(status["nodes"][0]["pid"])
    assert "node 1: running, pid" in cluster.cluster.script("status")

    cluster.resume(1)
    assert cluster.status()["paused"] == []
    assert cluster.running() == {1, 2, 3}


@pytest.mark.integration
@pytest.mark.faults
def test_a_proxied_cluster_advertises_its_proxies_and_replicates_directly(
    proxied_cluster: ProxiedCluster,
) -> None:
    state = proxied_cluster.cluster.state
    assert state["options"]["proxied"] is True
    proxies = state["toxiproxy"]["proxies"]
    assert proxied_cluster.bootstrap == ",".join(
        proxies[f"node-{node}"]["listen"] for node in (1, 2, 3)
    )
    brokers = proxied_cluster.admin.list_topics(timeout=30).brokers
    # The admin client connected to DIRECT, so it is told DIRECT's addresses.
    assert sorted(f"{b.host}:{b.port}" for b in brokers.values()) == sorted(
        proxied_cluster.direct.split(",")
    )
