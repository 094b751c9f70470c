"""
The nodes' processes: finding them, starting them detached, signalling them, waiting for them.

A node is recognised by its command line (`kafka.Kafka <state>/node-N/server.properties`),
so nodes whose pid files were lost are still found and stopped. A paused node
(SIGSTOP) is one whose process the kernel shows as stopped; nothing else records it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from localkafka._layout import POLL_INTERVAL_S, Layout
from localkafka._report import HarnessError, info
from localkafka._state import ClusterState

__all__ = [
    "KILL_WAIT_S",
    "QUORUM_LOSS_GRACE_S",
    "STOP_WAIT_S",
    "continue_nodes",
    "exit_code",
    "find_node_processes",
    "is_paused",
    "launch_detached",
    "log_text_since_start",
    "paused_nodes",
    "process_is_node",
    "reap",
    "remember_log_offset",
    "running_nodes",
    "signal_nodes",
    "wait_for_exit",
]

#: Grace period between SIGTERM and SIGKILL.
STOP_WAIT_S = 30.0
#: How long a SIGKILLed process may take to disappear.
KILL_WAIT_S = 10.0
#: A little over KRaft's own graceful-shutdown wait.
QUORUM_LOSS_GRACE_S = 6.0

# Processes started by this very invocation, by pid; polling them reaps them if they die.
_children: dict[int, subprocess.Popen[bytes]] = {}
# Size of each node's server.log when this invocation (re)started it.
_log_offsets: dict[int, int] = {}


def process_is_node(pid: int, layout: Layout, node_id: int) -> bool:
    """Return whether `pid` is a live (non-zombie) Kafka node of this state folder."""
    proc = Path("/proc") / str(pid)
    if not Path("/proc/self").exists():  # no procfs: trust the pid
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    return str(layout.node_properties(node_id)).encode() in cmdline


def is_paused(pid: int) -> bool:
    """Return whether process `pid` is stopped by a signal (SIGSTOP): `T` in /proc/PID/stat."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] in ("T", "t")


def paused_nodes(alive: dict[int, int]) -> list[int]:
    """Return the nodes (of id -> pid) whose processes are stopped, in id order."""
    return sorted(node for node, pid in alive.items() if is_paused(pid))


def continue_nodes(nodes: dict[int, int], timeout: float = KILL_WAIT_S) -> list[int]:
    """
    Send SIGCONT to the paused nodes among `nodes` (id -> pid) and wait until they run.

    Returns:
        The nodes that were paused.

    Raises:
        HarnessError: A node stays stopped.
    """
    paused = {node: pid for node, pid in nodes.items() if is_paused(pid)}
    _send(paused, signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while any(is_paused(pid) for pid in paused.values()):
        if time.monotonic() > deadline:
            still = [node for node, pid in paused.items() if is_paused(pid)]
            raise HarnessError(f"node(s) {still} stay stopped after SIGCONT")
        time.sleep(POLL_INTERVAL_S / 5)
    return sorted(paused)


def find_node_processes(layout: Layout) -> dict[int, int]:
    """Find Kafka nodes of this state folder by command line, pids lost or not."""
    found: dict[int, int] = {}
    proc_root = Path("/proc")
    if not proc_root.exists():
        return found
    prefix = str(layout.root / "node-").encode()
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"kafka.Kafka" not in args:
            continue
        for arg in args:
            if arg.startswith(prefix) and arg.endswith(b"/server.properties"):
                node_text = arg[len(prefix) :].split(b"/", 1)[0]
                if node_text.isdigit() and process_is_node(int(entry.name), layout, int(node_text)):
                    found[int(node_text)] = int(entry.name)
    return found


def running_nodes(layout: Layout, state: ClusterState | None) -> dict[int, int]:
    """Map node id to pid for every node of this state folder that is alive."""
    alive = find_node_processes(layout)
    if state is not None:
        for node, pid in state.pids.items():
            if node not in alive and process_is_node(pid, layout, node):
                alive[node] = pid
    return alive


def launch_detached(
    command: Sequence[str],
    *,
    cwd: Path,
    log: Path,
    banner: str,
    env: dict[str, str] | None = None,
) -> int:
    """
    Start a long-running process detached from this one; return its pid.

    It gets its own session (so Ctrl-C in this terminal does not reach it),
    no stdin, and stdout and stderr appended to `log` after a `banner` line.
    """
    with log.open("ab") as out:
        out.write(f"\n=== {banner} at {time.strftime('%Y-%m-%d %H:%M:%S')} ===\n".encode())
        out.flush()
        child = subprocess.Popen(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    _children[child.pid] = child
    return child.pid


def remember_log_offset(layout: Layout, node_id: int) -> None:
    """Note where a node's server.log ends, before (re)starting the node."""
    with contextlib.suppress(FileNotFoundError):
        _log_offsets[node_id] = layout.server_log(node_id).stat().st_size


def log_text_since_start(layout: Layout, node_id: int) -> str:
    """Return what a node wrote to server.log since this invocation started it."""
    try:
        with layout.server_log(node_id).open("rb") as handle:
            handle.seek(_log_offsets.get(node_id, 0))
            return handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def exit_code(pid: int) -> int | None:
    """Return the exit code of a child this invocation started, or None while it runs."""
    child = _children.get(pid)
    return None if child is None else child.poll()


def reap(pid: int) -> None:
    """Collect the exit status of a child this invocation started, if it has ended."""
    child = _children.get(pid)
    if child is not None:
        child.poll()


def wait_for_exit(
    layout: Layout, nodes: dict[int, int], timeout: float, voters: int = 0
) -> dict[int, int]:
    """
    Wait until the given nodes' processes are gone; return the nodes still alive.

    With `voters` (the size of the controller quorum) the wait also ends
    QUORUM_LOSS_GRACE_S after fewer than a majority of all nodes still run:
    a node without a quorum waits for the controller forever and never
    finishes a graceful shutdown.
    """
    deadline = time.monotonic() + timeout
    remaining = dict(nodes)
    while remaining:
        for pid in remaining.values():
            reap(pid)
        remaining = {n: p for n, p in remaining.items() if process_is_node(p, layout, n)}
        if not remaining or time.monotonic() > deadline:
            break
        if voters > 1 and 2 * len(find_node_processes(layout)) <= voters:
            deadline = min(deadline, time.monotonic() + QUORUM_LOSS_GRACE_S)
            voters = 0  # start the grace period once
        time.sleep(POLL_INTERVAL_S / 2)
    return remaining


def _send(nodes: dict[int, int], sig: signal.Signals) -> None:
    for pid in nodes.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def signal_nodes(
    layout: Layout,
    nodes: dict[int, int],
    graceful: bool,
    timeout: float = STOP_WAIT_S,
    voters: int = 0,
) -> None:
    """
    Stop nodes (id -> pid): SIGTERM, then SIGKILL after `timeout`; or SIGKILL at once.

    `voters` is the cluster's node count; see wait_for_exit.

    Raises:
        HarnessError: A node survived SIGKILL.
    """
    if not nodes:
        return
    # A paused node handles no SIGTERM, and a node must never be left stopped.
    continue_nodes(nodes)
    left = nodes
    if graceful:
        _send(left, signal.SIGTERM)
        started = time.monotonic()
        left = wait_for_exit(layout, left, timeout, voters)
        if left:
            waited = time.monotonic() - started
            why = "the controller quorum is gone" if waited < timeout else "timeout"
            info(
                f"node(s) {sorted(left)} still running {waited:.0f}s after SIGTERM ({why}); killing"
            )
    if left:
        _send(left, signal.SIGKILL)
        left = wait_for_exit(layout, left, KILL_WAIT_S)
    if left:
        raise HarnessError(f"could not stop node(s) {sorted(left)} (pids {sorted(left.values())})")
