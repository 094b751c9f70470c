"""
Servers the cluster shares, run in the background beside the nodes: the token server.

They start before the nodes (a broker fetches the JWKS as it starts), stop
after them, and are found again by their command line, like the nodes.
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

from localkafka._layout import POLL_INTERVAL_S, REPO_ROOT, Layout
from localkafka._ports import wait_for_free_ports
from localkafka._processes import KILL_WAIT_S, STOP_WAIT_S, exit_code, launch_detached, reap
from localkafka._report import EXIT_USAGE, HarnessError, info
from localkafka._state import ClusterState

__all__ = [
    "SERVICE_WAIT_S",
    "TOKEN_SERVER",
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
#: How long a starting server may take to answer its health check.
SERVICE_WAIT_S = 30.0

_MODULES = {TOKEN_SERVER: "localkafka._token_server"}


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
    return [TOKEN_SERVER] if state.oauth is not None else []


def _log_file(layout: Layout, service: str) -> Path:
    return layout.oauth_dir / "token-server.log"


def _health_url(state: ClusterState, service: str) -> str:
    assert state.oauth is not None
    return f"{state.oauth.issuer}/health"


def find_service(layout: Layout, service: str) -> int | None:
    """Return the pid of a server of this state folder, found by its command line."""
    proc_root = Path("/proc")
    if not proc_root.exists():
        return None
    module = _MODULES[service].encode()
    root = str(layout.root).encode()
    for entry in proc_root.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if module in args and root in args and stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X"):
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


def _start(layout: Layout, state: ClusterState, service: str) -> int:
    port = state.oauth.port if state.oauth is not None else 0
    wait_for_free_ports({service.upper(): port}, f"the {service.replace('_', ' ')}")
    tools = str(REPO_ROOT / "tools")
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, PYTHONPATH=f"{tools}{os.pathsep}{path}" if path else tools)
    log = _log_file(layout, service)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", _MODULES[service], str(layout.root)]
    pid = launch_detached(command, cwd=layout.root, log=log, banner=f"starting {service}", env=env)
    url = _health_url(state, service)
    deadline = time.monotonic() + SERVICE_WAIT_S
    while not _healthy(url):
        code = exit_code(pid)
        if code is not None:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise HarnessError(
                f"the {service.replace('_', ' ')} exited with code {code} at start:\n{tail}"
            )
        if time.monotonic() > deadline:
            raise HarnessError(f"the {service.replace('_', ' ')} did not answer {url}")
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
    for service in _MODULES:
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
    assert state.oauth is not None
    return f"token {state.oauth.token_endpoint}  JWKS {state.oauth.jwks_url}"
