"""Toxiproxy in the harness: which toxics make each fault, its proxies and its cache."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from localkafka._layout import Layout
from localkafka._report import HarnessError
from localkafka._state import ClusterState, Options
from localkafka._toxiproxy import (
    FAULT_KINDS,
    TOXIPROXY_MODULE,
    TOXIPROXY_VERSION,
    Fault,
    cache_dir,
    faults_from_toxics,
    server_command,
    toxics_for,
    write_config,
)

CREDENTIALS = {
    "scram_username": "u",
    "scram_password": "p",
    "plain_username": "u",
    "plain_password": "p",
}


def _proxied() -> ClusterState:
    return ClusterState(Options(3, (), 29292, "plaintext", proxied=True), "id", CREDENTIALS)


def _both_ways(kind: str, toxic_type: str, attributes: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {
            "name": f"{kind}_{stream}",
            "type": toxic_type,
            "stream": stream,
            "toxicity": 1.0,
            "attributes": attributes,
        }
        for stream in ("upstream", "downstream")
    ]


def test_the_harness_builds_a_pinned_toxiproxy_server() -> None:
    assert TOXIPROXY_MODULE == "github.com/Shopify/toxiproxy/v2/cmd/server"
    assert TOXIPROXY_VERSION == "v2.12.0"


@pytest.mark.parametrize(
    ("fault", "toxics"),
    [
        (
            Fault("latency", latency_ms=200, jitter_ms=20),
            _both_ways("latency", "latency", {"latency": 200, "jitter": 20}),
        ),
        # Connections stay open and nothing passes: a timeout that never closes them.
        (Fault("blackhole"), _both_ways("blackhole", "timeout", {"timeout": 0})),
        (Fault("reset"), _both_ways("reset", "reset_peer", {"timeout": 0})),
        (Fault("bandwidth", kbps=50), _both_ways("bandwidth", "bandwidth", {"rate": 50})),
    ],
    ids=FAULT_KINDS,
)
def test_each_fault_is_one_toxiproxy_toxic_in_each_direction(
    fault: Fault, toxics: list[dict[str, Any]]
) -> None:
    assert toxics_for(fault) == toxics


def test_the_faults_read_back_from_the_toxics_they_made() -> None:
    faults = [Fault("latency", latency_ms=200, jitter_ms=20), Fault("bandwidth", kbps=50)]
    toxics = [toxic for fault in faults for toxic in toxics_for(fault)]
    assert faults_from_toxics(toxics) == faults


def test_a_toxic_the_harness_did_not_make_is_named_as_it_is() -> None:
    foreign = {"name": "slow", "type": "slow_close", "stream": "downstream", "attributes": {}}
    assert faults_from_toxics([foreign]) == ["slow (slow_close, downstream)"]


@pytest.mark.parametrize(
    ("fault", "described"),
    [
        (Fault("latency", latency_ms=200), "latency 200 ms each way"),
        (Fault("latency", latency_ms=200, jitter_ms=50), "latency 200 ms ± 50 ms each way"),
        (Fault("blackhole"), "blackhole (connections open, nothing passes)"),
        (Fault("reset"), "reset (connections reset as data comes)"),
        (Fault("bandwidth", kbps=50), "bandwidth 50 KB/s each way"),
    ],
)
def test_status_describes_each_fault_in_a_few_words(fault: Fault, described: str) -> None:
    assert fault.describe() == described


@pytest.mark.parametrize(
    ("kind", "values", "complaint"),
    [
        ("jam", {}, "unknown fault 'jam'"),
        ("latency", {"latency_ms": -1}, "must not be negative"),
        ("bandwidth", {"kbps": 0}, "at least 1 KB/s"),
    ],
)
def test_a_fault_that_cannot_be_is_a_usage_error(
    kind: str, values: dict[str, int], complaint: str
) -> None:
    with pytest.raises(HarnessError, match=complaint) as caught:
        Fault(kind, **values)
    assert caught.value.exit_code == 2


def test_the_proxies_file_puts_a_proxy_on_each_nodes_plaintext_port(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    path = write_config(layout, _proxied())
    assert json.loads(path.read_text()) == [
        {
            "name": f"node-{node}",
            "listen": f"127.0.0.1:{29292 + 10 * (node - 1)}",
            "upstream": f"127.0.0.1:{29297 + 10 * (node - 1)}",
            "enabled": True,
        }
        for node in (1, 2, 3)
    ]


def test_the_server_listens_on_loopback_and_names_its_state_folders_proxies(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    command = server_command(Path("/cache/toxiproxy-server"), layout, _proxied())
    assert command == [
        "/cache/toxiproxy-server",
        "-host",
        "127.0.0.1",
        "-port",
        "29300",
        "-config",
        str(tmp_path / "toxiproxy" / "proxies.json"),
    ]


def test_the_cache_follows_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "kaffe-localkafka"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "kaffe-localkafka"
