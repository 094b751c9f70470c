"""
Servers the cluster shares, run beside the nodes: the token server and Toxiproxy.

The token server runs with --security oauthbearer, Toxiproxy with --proxied.

They start before the nodes (a broker fetches the JWKS as it starts; clients reach
a proxied node through its proxy), stop after them, and are found again by their
command line, like the nodes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from localkafka._layout import POLL_INTERVAL_S, REPO_ROOT, Layout, tail_lines
from localkafka._ports import service_port, wait_for_free_ports
from localkafka._processes import KILL_WAIT_S, STOP_WAIT_S, exit_code, launch_detached, reap
from localkafka._report import EXIT_USAGE, HarnessError, info
from localkafka._state import ClusterState
from localkafka._toxiproxy import Toxiproxy, ensure_server, proxy_name, server_command, write_config

__all__ = [
    "SERVICE_WAIT_S",
    "TOKEN_SERVER",
    "TOXIPROXY",
    "describe_service",
    "find_service",
    "require_oauth_packages",
    "running_services",
    "start_services",
    "stop_services",
    "wanted_services",
]

#: The token server's name in state.json and `status`.
TOKEN_SERVER = "token_server"  # noqa: S105  (a name, not a password)
#: Toxiproxy's name in state.json and `status`.
TOXIPROXY = "toxiproxy"
#: How long a starting server may take to answer its health check.
SERVICE_WAIT_S = 30.0

#: Every server the harness may run, in the order they start.
_SERVICES = (TOKEN_SERVER, TOXIPROXY)
_TOKEN_SERVER_MODULE = "localkafka._token_server"  # noqa: S105  (a module, not a password)


def require_oauth_packages() -> None:
    """
    Fail with a setup hint when PyJWT or cryptography is missing (the token server needs them).

    Raises:
        HarnessError: One cannot be imported (exit code 2).
    """
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ImportError as exc:
        raise HarnessError(
            f"--security oauthbearer needs the Python package {exc.name}; "
            "run `.venv/bin/pip install -e '.[dev]'` in the repository",
            EXIT_USAGE,
        ) from None


def wanted_services(state: ClusterState) -> list[str]:
    """Return the servers a cluster with these options needs."""
    wanted = []
    if state.oauth is not None:
        wanted.append(TOKEN_SERVER)
    if state.options.proxied:
        wanted.append(TOXIPROXY)
    return wanted


def _log_file(layout: Layout, service: str) -> Path:
    if service == TOXIPROXY:
        return layout.toxiproxy_log
    return layout.oauth_dir / "token-server.log"


def _markers(layout: Layout, service: str) -> list[bytes]:
    """Arguments that together tell this state folder's server by its command line."""
    if service == TOXIPROXY:
        return [b"-config", str(layout.toxiproxy_config).encode()]
    return [_TOKEN_SERVER_MODULE.encode(), str(layout.root).encode()]


def find_service(layout: Layout, service: str) -> int | None:
    """Return the pid of a server of this state folder, found by its command line."""
    proc_root = Path("/proc")
    if not proc_root.exists():
        return None
    markers = _markers(layout, service)
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        alive = stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
        if alive and all(marker in args for marker in markers):
            return int(entry.name)
    return None


def running_services(layout: Layout, state: ClusterState | None) -> dict[str, int]:
    """Map each server this cluster needs to its pid, for those that run."""
    if state is None:
        return {}
    found = {service: find_service(layout, service) for service in wanted_services(state)}
    return {service: pid for service, pid in found.items() if pid is not None}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310  (our own URL)
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _ready(layout: Layout, state: ClusterState, service: str) -> bool:
    """
    Return whether a starting server serves.

    Raises:
        HarnessError: Toxiproxy answers but lacks a proxy (its port was taken, say).
    """
    if service == TOKEN_SERVER:
        assert state.oauth is not None
        return _healthy(f"{state.oauth.issuer}/health")
    if not _healthy(f"{state.toxiproxy_url}/version"):
        return False
    proxies = Toxiproxy(state.toxiproxy_url).proxies()
    missing = [
        proxy_name(node)
        for node in state.node_ids
        if not proxies.get(proxy_name(node), {}).get("enabled")
    ]
    if missing:
        tail = "".join(tail_lines(_log_file(layout, service), 20))
        raise HarnessError(f"Toxiproxy started without proxies {missing}:\n{tail}")
    return True


def _ports(state: ClusterState, service: str) -> dict[str, int]:
    if service == TOKEN_SERVER:
        return {"TOKEN_SERVER": state.oauth.port if state.oauth is not None else 0}
    ports = {"TOXIPROXY_API": service_port(state.options.port, TOXIPROXY)}
    ports.update({f"PROXY {node}": listen for node, (listen, _upstream) in state.proxies().items()})
    return ports


def _command(layout: Layout, state: ClusterState, service: str) -> tuple[list[str], dict[str, str]]:
    if service == TOXIPROXY:
        server = ensure_server()
        write_config(layout, state)
        return server_command(server, layout, state), dict(os.environ)
    tools = str(REPO_ROOT / "tools")
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=f"{tools}{os.pathsep}{path}" if path else tools)
    return [sys.executable, "-m", _TOKEN_SERVER_MODULE, str(layout.root)], env


def _start(layout: Layout, state: ClusterState, service: str) -> int:
    title = service.replace("_", " ")
    command, env = _command(layout, state, service)
    wait_for_free_ports(_ports(state, service), f"the {title}")
    log = _log_file(layout, service)
    log.parent.mkdir(parents=True, exist_ok=True)
    pid = launch_detached(command, cwd=layout.root, log=log, banner=f"starting {service}", env=env)
    deadline = time.monotonic() + SERVICE_WAIT_S
    while not _ready(layout, state, service):
        code = exit_code(pid)
        if code is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise HarnessError(f"the {title} exited with code {code} at start:\n{tail}")
        if time.monotonic() > deadline:
            raise HarnessError(f"the {title} did not answer within {SERVICE_WAIT_S:.0f}s")
        time.sleep(POLL_INTERVAL_S / 2)
    return pid


def start_services(layout: Layout, state: ClusterState) -> None:
    """Start every server the cluster needs that does not run yet, and wait until it answers."""
    for service in wanted_services(state):
        pid = find_service(layout, service)
        if pid is None:
            info(f"starting the {service.replace('_', ' ')} (log: {_log_file(layout, service)})")
            pid = _start(layout, state, service)
        state.services[service] = pid


def stop_services(layout: Layout, state: ClusterState | None) -> None:
    """Stop every server of this state folder (SIGTERM, then SIGKILL)."""
    for service in _SERVICES:
        pid = find_service(layout, service)
        if pid is None:
            continue
        info(f"stopping the {service.replace('_', ' ')}")
        for sig, wait in ((signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, KILL_WAIT_S)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while find_service(layout, service) == pid and time.monotonic() < deadline:
                reap(pid)
                time.sleep(POLL_INTERVAL_S / 2)
            if find_service(layout, service) != pid:
                break
        else:
            raise HarnessError(f"could not stop the {service.replace('_', ' ')} (pid {pid})")
    if state is not None:
        state.services = {}


def describe_service(state: ClusterState, service: str) -> str:
    """Return what a server offers, for `status`."""
    if service == TOXIPROXY:
        proxies = ", ".join(
            f"node {node} :{listen}->:{upstream}"
            for node, (listen, upstream) in state.proxies().items()
        )
        return f"API {state.toxiproxy_url}  proxies {proxies}"
    assert state.oauth is not None
    return f"token {state.oauth.token_endpoint}  JWKS {state.oauth.jwks_url}"
