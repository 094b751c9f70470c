"""
Failure injection: kill, stop, restart, pause and resume single nodes, and network faults.

Each function holds the state lock, so it never races a concurrent `up` or
`down`, and keeps state.json's pids true. Network faults (`fault`, `heal`) need a
cluster started with --proxied: they are toxics on the node's Toxiproxy proxy
(see `_toxiproxy`), which lives as long as Toxiproxy runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

from localkafka._cluster import (
    require_confluent_kafka,
    require_running,
    start_nodes,
    wait_until_ready,
)
from localkafka._layout import POLL_INTERVAL_S, Layout, state_lock
from localkafka._processes import (
    KILL_WAIT_S,
    continue_nodes,
    is_paused,
    paused_nodes,
    running_nodes,
    signal_nodes,
)
from localkafka._report import EXIT_NOT_RUNNING, EXIT_USAGE, HarnessError, info
from localkafka._services import TOXIPROXY, find_service
from localkafka._state import ClusterState, load_state, save_state
from localkafka._toxiproxy import Fault, Toxiproxy, faults_from_toxics, proxy_name

__all__ = [
    "active_faults",
    "add_fault",
    "heal",
    "kill_node",
    "pause_node",
    "resume_node",
    "start_node",
    "stop_node",
]


def _existing_node(state: ClusterState, node: int) -> int:
    if node not in state.node_ids:
        raise HarnessError(
            f"node {node} does not exist; the cluster has nodes {state.node_ids}", EXIT_USAGE
        )
    return node


def kill_node(layout: Layout, node: int) -> None:
    """
    SIGKILL one node (no clean shutdown) and wait until it is gone.

    Raises:
        HarnessError: No cluster runs (exit code 3), or the node does not exist (2).
    """
    with state_lock(layout):
        state, alive = require_running(layout)
        _existing_node(state, node)
        if node not in alive:
            info(f"node {node} is not running")
            return
        signal_nodes(layout, {node: alive[node]}, graceful=False)
        state.pids = {n: p for n, p in alive.items() if n != node}
        save_state(layout, state)
        info(f"killed node {node} (pid {alive[node]})")


def stop_node(layout: Layout, node: int, timeout: float) -> None:
    """
    Stop one node gracefully (SIGTERM, SIGKILL after `timeout`) and wait until it exits.

    Raises:
        HarnessError: No cluster runs (exit code 3), or the node does not exist (2).
    """
    with state_lock(layout):
        state, alive = require_running(layout)
        _existing_node(state, node)
        if node not in alive:
            info(f"node {node} is not running")
            return
        started = time.monotonic()
        signal_nodes(
            layout,
            {node: alive[node]},
            graceful=True,
            timeout=timeout,
            voters=state.options.brokers,
        )
        state.pids = {n: p for n, p in alive.items() if n != node}
        save_state(layout, state)
        info(f"stopped node {node} in {time.monotonic() - started:.1f}s")


def start_node(layout: Layout, node: int, timeout: float) -> None:
    """
    Restart one node with its data and wait until it is back in the metadata.

    Raises:
        HarnessError: No cluster was created (exit code 3), the node does not
            exist (2), or it did not come back within `timeout`.
    """
    require_confluent_kafka()
    with state_lock(layout):
        state = load_state(layout)
        if state is None or not state.formatted:
            raise HarnessError(
                f"no Kafka cluster in {layout.root}; use `scripts/kafka up`", EXIT_NOT_RUNNING
            )
        _existing_node(state, node)
        alive = running_nodes(layout, state)
        state.pids = dict(alive)
        if node in alive:
            if continue_nodes({node: alive[node]}):
                info(f"node {node} was paused; resumed it")
            else:
                info(f"node {node} is already running (pid {alive[node]})")
            wait_until_ready(layout, state, set(alive), timeout)
        else:
            start_nodes(layout, state, [node], timeout)
        save_state(layout, state)


def pause_node(layout: Layout, node: int) -> None:
    """
    Stop one node's process with SIGSTOP: its sockets stay open and nothing answers.

    Raises:
        HarnessError: No cluster runs (exit code 3), the node does not exist (2),
            or it is not running (3).
    """
    with state_lock(layout):
        state, alive = require_running(layout)
        _existing_node(state, node)
        if node not in alive:
            raise HarnessError(f"node {node} is not running", EXIT_NOT_RUNNING)
        pid = alive[node]
        if is_paused(pid):
            info(f"node {node} is already paused")
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + KILL_WAIT_S
        while not is_paused(pid):
            if time.monotonic() > deadline:
                raise HarnessError(f"node {node} (pid {pid}) did not stop on SIGSTOP")
            time.sleep(POLL_INTERVAL_S / 5)
        info(f"paused node {node} (pid {pid}); `scripts/kafka resume {node}` continues it")


def resume_node(layout: Layout, node: int) -> None:
    """
    Continue a paused node with SIGCONT.

    Raises:
        HarnessError: No cluster runs (exit code 3), the node does not exist (2),
            or it is not running (3).
    """
    with state_lock(layout):
        state, alive = require_running(layout)
        _existing_node(state, node)
        if node not in alive:
            raise HarnessError(f"node {node} is not running", EXIT_NOT_RUNNING)
        if continue_nodes({node: alive[node]}):
            info(f"resumed node {node}")
        else:
            info(f"node {node} is not paused")


def _proxied(layout: Layout) -> tuple[ClusterState, Toxiproxy]:
    """
    Return the state and a client of its Toxiproxy.

    Raises:
        HarnessError: No cluster (exit code 3), one without --proxied (2), or
            Toxiproxy is not running (3).
    """
    state = load_state(layout)
    if state is None or not state.formatted:
        raise HarnessError(
            f"no Kafka cluster in {layout.root}; use `scripts/kafka up --proxied`",
            EXIT_NOT_RUNNING,
        )
    if not state.options.proxied:
        raise HarnessError(
            "network faults need proxies in front of the nodes; start the cluster with "
            f"`scripts/kafka up --brokers {state.options.brokers} --proxied`",
            EXIT_USAGE,
        )
    if find_service(layout, TOXIPROXY) is None:
        raise HarnessError(
            "Toxiproxy is not running; `scripts/kafka up --proxied` starts it",
            EXIT_NOT_RUNNING,
        )
    return state, Toxiproxy(state.toxiproxy_url)


def add_fault(layout: Layout, node: int, fault: Fault) -> None:
    """
    Put a network fault on a node's proxy (replacing one of the same kind).

    Raises:
        HarnessError: No proxied cluster runs, or the node does not exist (2).
    """
    with state_lock(layout):
        state, proxy = _proxied(layout)
        _existing_node(state, node)
        proxy.add(proxy_name(node), fault)
        info(f"node {node}: {fault.describe()}; `scripts/kafka heal {node}` removes it")


def heal(layout: Layout, node: int | None) -> None:
    """
    Remove every network fault of one node, or of every node.

    A paused node stays paused (`resume` continues it); heal says so.

    Raises:
        HarnessError: No cluster (exit code 3), or the node does not exist (2).
    """
    with state_lock(layout):
        state = load_state(layout)
        if state is None or not state.formatted:
            raise HarnessError(f"no Kafka cluster in {layout.root}", EXIT_NOT_RUNNING)
        nodes = state.node_ids if node is None else [_existing_node(state, node)]
        if state.options.proxied:
            _, proxy = _proxied(layout)
            removed = {chosen: proxy.heal(proxy_name(chosen)) for chosen in nodes}
            healed = [chosen for chosen, count in removed.items() if count]
            info(f"healed node(s) {healed}" if healed else "no network fault to remove")
        else:
            info("no network fault to remove (the cluster runs without proxies)")
        alive = running_nodes(layout, state)
        for paused in paused_nodes({n: p for n, p in alive.items() if n in nodes}):
            info(f"node {paused} is still paused; `scripts/kafka resume {paused}` continues it")


def active_faults(layout: Layout, state: ClusterState) -> dict[int, list[Fault | str]]:
    """
    Return each node's network faults, as its proxy's toxics show them.

    Returns:
        Faults by node, for the nodes that have any; empty without --proxied.

    Raises:
        HarnessError: Toxiproxy does not answer (exit code 3).
    """
    if not state.options.proxied:
        return {}
    proxies = Toxiproxy(state.toxiproxy_url).proxies()
    faults: dict[int, list[Fault | str]] = {}
    for node in state.node_ids:
        proxy = proxies.get(proxy_name(node), {})
        found = faults_from_toxics(proxy.get("toxics") or [])
        if proxy and not proxy.get("enabled", True):
            found.append("proxy disabled (connections refused)")
        if found:
            faults[node] = found
    return faults
