"""
The cluster's lifecycle: create, format, start, wait until ready, resume, stop, wipe.

Readiness is asked of Kafka itself: the nodes must list each other in their
metadata, and the active controller must accept a (validate-only) topic
creation. An open port proves nothing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from localkafka._broker_config import jvm_properties, write_node_config
from localkafka._credentials import (
    ensure_tls,
    new_oauth_keys,
    new_sasl_credentials,
    random_cluster_id,
    scram_format_argument,
)
from localkafka._java import JVM_HEAP, java_command, resolve_classpath
from localkafka._layout import POLL_INTERVAL_S, Layout, state_lock, tail_lines
from localkafka._oauth import new_oauth_settings
from localkafka._ports import (
    ephemeral_port_warning,
    listening_ports,
    service_port,
    wait_for_free_ports,
)
from localkafka._processes import (
    continue_nodes,
    launch_detached,
    log_text_since_start,
    process_is_node,
    reap,
    remember_log_offset,
    running_nodes,
    signal_nodes,
)
from localkafka._report import EXIT_NOT_RUNNING, EXIT_USAGE, HarnessError, NodesExited, info
from localkafka._services import require_oauth_packages, start_services, stop_services
from localkafka._state import DIRECT, ClusterState, Options, load_state, save_state

__all__ = [
    "BIND_RETRIES",
    "DEFAULT_WAIT_S",
    "create_cluster",
    "down_cluster",
    "require_confluent_kafka",
    "require_running",
    "resume_cluster",
    "start_nodes",
    "up_cluster",
    "wait_until_ready",
    "wipe_cluster",
]

#: How long `up` and `start` wait for the cluster by default.
DEFAULT_WAIT_S = 120.0
#: How often a node that lost its port to a passing connection is started again.
BIND_RETRIES = 3

_VENV_HINT = (
    "run `python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'` in the repository first"
)


def require_confluent_kafka() -> None:
    """
    Fail with a setup hint when confluent_kafka is missing (readiness checks need it).

    Raises:
        HarnessError: It cannot be imported (exit code 2).
    """
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        raise HarnessError(
            f"the Python package confluent_kafka is not importable; {_VENV_HINT}", EXIT_USAGE
        ) from None


def require_running(layout: Layout) -> tuple[ClusterState, dict[int, int]]:
    """
    Return the state and live nodes.

    Raises:
        HarnessError: No node of this state folder runs (exit code 3).
    """
    state = load_state(layout)
    alive = running_nodes(layout, state) if state else {}
    if state is None or not alive:
        raise HarnessError(
            f"no Kafka cluster is running (state folder {layout.root})", EXIT_NOT_RUNNING
        )
    return state, alive


def wipe_cluster(layout: Layout, keep_tls: bool) -> None:
    """Delete node folders and state (and TLS material unless kept); keep the classpath cache."""
    for path in layout.root.glob("node-*"):
        shutil.rmtree(path, ignore_errors=True)
    layout.state_file.unlink(missing_ok=True)
    shutil.rmtree(layout.oauth_dir, ignore_errors=True)
    if not keep_tls:
        shutil.rmtree(layout.tls_dir, ignore_errors=True)


def _check_node_ports(state: ClusterState, node_id: int) -> None:
    wanted = {name.upper(): port for name, port in state.listener_ports(node_id).items()}
    wait_for_free_ports(wanted, f"node {node_id}")


def format_storage(layout: Layout, state: ClusterState, classpath: str) -> None:
    """Format every node's KRaft storage (in parallel) and create the SCRAM user."""
    scram = scram_format_argument(state.credentials)
    running: list[tuple[int, subprocess.Popen[str]]] = []
    for node in state.node_ids:
        command = [
            *java_command(layout.node_logs(node), classpath),
            "kafka.tools.StorageTool", "format",
            "--cluster-id", state.cluster_id,
            "--config", str(layout.node_properties(node)),
            "--add-scram", scram,
        ]  # fmt: skip
        if state.options.brokers == 1:
            command.append("--standalone")
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        running.append((node, proc))
    failures: list[str] = []
    for node, proc in running:
        try:
            output, _ = proc.communicate(timeout=DEFAULT_WAIT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            failures.append(f"node {node}: no result after {DEFAULT_WAIT_S:.0f}s\n{output}")
            continue
        if proc.returncode != 0:
            failures.append(f"node {node}: {output.strip()}")
    if failures:
        raise HarnessError("formatting KRaft storage failed:\n" + "\n".join(failures))


def launch_node(layout: Layout, state: ClusterState, node_id: int, classpath: str) -> int:
    """Start one node detached from this process (own session, no stdin); return its pid."""
    write_node_config(layout, state, node_id)
    _check_node_ports(state, node_id)
    command = [
        *java_command(
            layout.node_logs(node_id), classpath, heap=JVM_HEAP, properties=jvm_properties(state)
        ),
        "kafka.Kafka",
        str(layout.node_properties(node_id)),
    ]
    remember_log_offset(layout, node_id)
    pid = launch_detached(
        command,
        cwd=layout.node_dir(node_id),
        log=layout.stdout_log(node_id),
        banner=f"starting node {node_id}",
    )
    state.pids[node_id] = pid
    return pid


def _admin_client(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "reconnect.backoff.ms": 100,
            "reconnect.backoff.max.ms": 500,
            "socket.connection.setup.timeout.ms": 3000,
            "log_level": 0,  # connection refused is expected while nodes start
        }
    )


def _probe_cluster(admin: Any, expected: set[int], timeout: float) -> str | None:
    """Return None when the cluster is ready, else a reason it is not."""
    from confluent_kafka import KafkaException
    from confluent_kafka.cimpl import NewTopic

    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        return f"no metadata ({exc.args[0]})"
    seen = set(metadata.brokers)
    if not expected <= seen:
        return f"metadata lists brokers {sorted(seen)}, waiting for {sorted(expected)}"
    # A validate-only CreateTopics goes through the active controller and needs
    # every expected broker registered and unfenced; nothing is created.
    probe = NewTopic("kaffe-readiness-probe", num_partitions=1, replication_factor=len(expected))
    futures = admin.create_topics(
        [probe], validate_only=True, request_timeout=timeout, operation_timeout=timeout
    )
    try:
        futures[probe.topic].result(timeout=timeout + 1)
    except KafkaException as exc:
        return f"controller not ready ({exc.args[0]})"
    except concurrent.futures.TimeoutError:
        return "controller not ready (no answer)"
    return None


def wait_until_ready(
    layout: Layout, state: ClusterState, expected: set[int], timeout: float
) -> None:
    """
    Wait until the expected nodes serve metadata and the quorum accepts topic creation.

    No client connects before every expected port listens (as /proc/net/tcp
    tells, without probing). A client that connects to a port nobody listens
    on, which it does when the metadata still lists a node that is starting,
    can land on that very port (a TCP self-connect, possible for ports in the
    ephemeral range) and so keep the broker from binding it.

    Raises:
        NodesExited: An expected node died.
        HarnessError: Not ready within `timeout`.
    """
    require_confluent_kafka()
    deadline = time.monotonic() + timeout
    admin: Any = None
    reason = "not checked yet"
    while True:
        dead = [
            node
            for node in sorted(expected)
            if not process_is_node(state.pids.get(node, 0), layout, node)
        ]
        for node in dead:
            reap(state.pids.get(node, 0))
        if dead:
            raise NodesExited(dead)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise HarnessError(f"cluster not ready after {timeout:.0f}s: {reason}")
        wanted = sorted(
            (name, port)
            for node in expected
            for name, port in state.listener_ports(node).items()
            if name != "controller"
        )
        listening = listening_ports()
        if listening is None:  # no /proc: assume every port listens
            listening = {port for _, port in wanted}
        closed = [f"{name.upper()} {port}" for name, port in wanted if port not in listening]
        if closed:
            reason = f"not listening yet: {', '.join(closed)}"
        else:
            if admin is None:
                # Past the proxies (with --proxied): a network fault is no failure to start.
                listener = DIRECT if state.options.proxied else "plaintext"
                admin = _admin_client(state.bootstrap(listener, expected))
            problem = _probe_cluster(admin, expected, timeout=max(0.5, min(3.0, remaining)))
            if problem is None:
                return
            reason = problem
        time.sleep(POLL_INTERVAL_S)


def report_logs(layout: Layout, nodes: Sequence[int], lines: int = 30) -> None:
    """Print the end of the nodes' logs to stderr (after a failure)."""
    for node in nodes:
        console = [
            line
            for line in tail_lines(layout.stdout_log(node), lines)
            if not line.startswith("=== ")
        ]
        if any(line.strip() for line in console):
            print(f"==> {layout.stdout_log(node)} <==", file=sys.stderr)
            sys.stderr.writelines(console)
        print(f"==> {layout.server_log(node)} <==", file=sys.stderr)
        sys.stderr.writelines(tail_lines(layout.server_log(node), lines))
    sys.stderr.flush()


def start_nodes(layout: Layout, state: ClusterState, nodes: Sequence[int], timeout: float) -> None:
    """
    Start the given nodes, then wait until all running nodes form a ready cluster.

    A broker binds its client ports late in start-up. Until then, other nodes
    and clients keep connecting to those ports, and when the base port lies
    in the kernel's ephemeral range such a connection can land on the very
    port (a TCP self-connect) and make the bind fail. A node that dies of
    that is started again, a few times.
    """
    classpath = resolve_classpath(layout)
    if state.options.needs_tls:
        ensure_tls(layout)
    started = time.monotonic()
    deadline = started + timeout
    start_services(layout, state)  # before the nodes: a broker fetches the JWKS as it starts
    for node in nodes:
        info(f"starting node {node} (log: {layout.server_log(node)})")
        launch_node(layout, state, node, classpath)
    save_state(layout, state)
    expected = set(running_nodes(layout, state)) | set(nodes)
    retries = BIND_RETRIES
    while True:
        try:
            wait_until_ready(layout, state, expected, max(1.0, deadline - time.monotonic()))
            break
        except NodesExited as exc:
            bind_failures = [
                node
                for node in exc.nodes
                if "Address already in use" in log_text_since_start(layout, node)
            ]
            if retries > 0 and bind_failures == exc.nodes and set(exc.nodes) <= set(nodes):
                retries -= 1
                for node in exc.nodes:
                    info(f"node {node} lost its port to a passing connection; starting it again")
                    launch_node(layout, state, node, classpath)
                save_state(layout, state)
                continue
            _abandon_start(layout, state, nodes)
            raise
        except HarnessError:
            _abandon_start(layout, state, nodes)
            raise
    info(f"ready in {time.monotonic() - started:.1f}s")


def _abandon_start(layout: Layout, state: ClusterState, nodes: Sequence[int]) -> None:
    """Show the logs of nodes that failed to come up, and stop them."""
    report_logs(layout, nodes)
    info(f"stopping node(s) {list(nodes)} again")
    alive = {node: pid for node, pid in running_nodes(layout, state).items() if node in nodes}
    with contextlib.suppress(HarnessError):
        signal_nodes(layout, alive, graceful=False)
    for node in nodes:
        state.pids.pop(node, None)
    save_state(layout, state)


def resume_cluster(
    layout: Layout, state: ClusterState, alive: dict[int, int], timeout: float
) -> None:
    """Bring an existing cluster up: resume paused nodes, start those that are down, wait."""
    state.pids = {node: pid for node, pid in alive.items() if node in state.node_ids}
    resumed = continue_nodes(state.pids)
    if resumed:
        info(f"node(s) {resumed} were paused; resumed them")
    missing = [node for node in state.node_ids if node not in alive]
    if missing:
        start_nodes(layout, state, missing, timeout)
    else:
        start_services(layout, state)
        save_state(layout, state)
        wait_until_ready(layout, state, set(state.node_ids), timeout)


def create_cluster(layout: Layout, options: Options, timeout: float) -> ClusterState:
    """Format a fresh cluster (new id, data and passwords; TLS material is kept) and start it."""
    wipe_cluster(layout, keep_tls=True)
    state = ClusterState(
        options=options,
        cluster_id=random_cluster_id(),
        credentials=new_sasl_credentials(),
    )
    ephemeral_port_warning(options.port, options.brokers)
    classpath = resolve_classpath(layout)
    if options.needs_tls:
        ensure_tls(layout)
    if "oauthbearer" in options.security:
        require_oauth_packages()
        state.oauth = new_oauth_settings(service_port(options.port, "token_server"))
        new_oauth_keys(layout)
    for node in state.node_ids:
        write_node_config(layout, state, node)
        _check_node_ports(state, node)
    info(f"formatting storage for {options.brokers} node(s), cluster id {state.cluster_id}")
    format_storage(layout, state, classpath)
    state.formatted = True
    save_state(layout, state)
    start_nodes(layout, state, state.node_ids, timeout)
    save_state(layout, state)
    return state


def up_cluster(layout: Layout, options: Options, timeout: float) -> ClusterState:
    """
    Start a cluster with `options`, reusing the running one when it has the same options.

    A cluster with other options is stopped and replaced by a fresh one.
    """
    with state_lock(layout):
        state = load_state(layout)
        alive = running_nodes(layout, state)
        if state is not None and state.formatted and state.options.same_cluster(options):
            state.options = options  # the printed listener may differ
            resume_cluster(layout, state, alive, timeout)
            return state
        if alive:
            running = state.options.describe() if state else "unknown options"
            info(f"stopping the running cluster ({running}) to start {options.describe()}")
            voters = state.options.brokers if state else 0
            signal_nodes(layout, alive, graceful=True, voters=voters)
        stop_services(layout, state)
        return create_cluster(layout, options, timeout)


def down_cluster(layout: Layout, timeout: float, purge: bool) -> None:
    """Stop every node of this state folder; with `purge` delete its data too."""
    if not layout.root.exists():
        info("nothing to stop")
        return
    with state_lock(layout):
        state = load_state(layout)
        alive = running_nodes(layout, state)
        if alive:
            info(f"stopping node(s) {sorted(alive)}")
            voters = state.options.brokers if state else 0
            signal_nodes(layout, alive, graceful=True, timeout=timeout, voters=voters)
        else:
            info("no node is running")
        stop_services(layout, state)
        if state is not None:
            state.pids = {}
            save_state(layout, state)
        if purge:
            wipe_cluster(layout, keep_tls=False)
            info(f"deleted data, certificates and credentials in {layout.root}")
