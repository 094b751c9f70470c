"""
Failure injection: kill, stop and restart single nodes of a running cluster.

Each function holds the state lock, so it never races a concurrent `up` or
`down`, and keeps state.json's pids true.
"""

from __future__ import annotations

import time

from localkafka._cluster import (
    require_confluent_kafka,
    require_running,
    start_nodes,
    wait_until_ready,
)
from localkafka._layout import Layout, state_lock
from localkafka._processes import running_nodes, signal_nodes
from localkafka._report import EXIT_NOT_RUNNING, EXIT_USAGE, HarnessError, info
from localkafka._state import ClusterState, load_state, save_state

__all__ = ["kill_node", "start_node", "stop_node"]


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
            info(f"node {node} is already running (pid {alive[node]})")
            wait_until_ready(layout, state, set(alive), timeout)
        else:
            start_nodes(layout, state, [node], timeout)
        save_state(layout, state)
