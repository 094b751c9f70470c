"""
The port layout, and checks that ports are free.

Every node is a combined broker + controller. Node i (1-based) listens on

    PLAINTEXT  BASE + 10*(i-1)        always on
    SSL        BASE + 10*(i-1) + 1    --security ssl (client certificate required)
    SASL_SSL   BASE + 10*(i-1) + 2    --security sasl_ssl (SCRAM-SHA-512 and PLAIN)
    CONTROLLER BASE + 10*(i-1) + 3
    OAUTHBEARER BASE + 10*(i-1) + 4   --security oauthbearer (SASL_SSL, SASL/OAUTHBEARER)

With --proxied, a Toxiproxy proxy takes the PLAINTEXT port, so clients reach
the node through it, and the node's own listeners move behind it:

    proxy      BASE + 10*(i-1)        Toxiproxy, in front of the node's PLAINTEXT listener
    upstream   BASE + 10*(i-1) + 5    the node's PLAINTEXT listener (advertised as the proxy)
    direct     BASE + 10*(i-1) + 6    a PLAINTEXT listener without proxy: inter-broker traffic

Servers the cluster shares take spare ports of node 1's block, so every
cluster size leaves them free:

    token endpoint and JWKS   BASE + 7    with --security oauthbearer
    Toxiproxy's HTTP API      BASE + 8    with --proxied

BASE is --port, else $KAFFE_KAFKA_PORT, else 29092.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path

from localkafka._report import EXIT_USAGE, HarnessError, info

__all__ = [
    "DEFAULT_PORT",
    "HOST",
    "PORT_OFFSETS",
    "PORT_STRIDE",
    "PORT_WAIT_S",
    "SERVICE_OFFSETS",
    "default_port",
    "ephemeral_port_warning",
    "last_port",
    "listening_ports",
    "node_ports",
    "port_is_free",
    "service_port",
    "wait_for_free_ports",
]

#: Everything listens on loopback only.
HOST = "127.0.0.1"
DEFAULT_PORT = 29092
#: Ports between the first ports of two consecutive nodes.
PORT_STRIDE = 10
#: Each listener's port, counted from the node's first port.
PORT_OFFSETS = {
    "plaintext": 0,
    "ssl": 1,
    "sasl_ssl": 2,
    "controller": 3,
    "oauthbearer": 4,
    "upstream": 5,
    "direct": 6,
}
#: Ports of the servers the cluster shares, counted from the base port.
SERVICE_OFFSETS = {"token_server": 7, "toxiproxy": 8}
#: How long to wait for client connections to free a port: a little over Linux's 60 s TIME_WAIT.
PORT_WAIT_S = 75.0


def node_ports(base_port: int, node_id: int) -> dict[str, int]:
    """Return the ports of node `node_id` (1-based), keyed by listener."""
    first = base_port + (node_id - 1) * PORT_STRIDE
    return {name: first + offset for name, offset in PORT_OFFSETS.items()}


def service_port(base_port: int, service: str) -> int:
    """Return the port of a server the cluster shares (a key of SERVICE_OFFSETS)."""
    return base_port + SERVICE_OFFSETS[service]


def last_port(base_port: int, brokers: int) -> int:
    """Return the highest port a cluster of `brokers` nodes may use."""
    last_node_port = base_port + PORT_STRIDE * (brokers - 1) + max(PORT_OFFSETS.values())
    return max(last_node_port, *(base_port + offset for offset in SERVICE_OFFSETS.values()))


def default_port() -> int:
    """Return $KAFFE_KAFKA_PORT or the default base port."""
    text = os.environ.get("KAFFE_KAFKA_PORT", "")
    try:
        return int(text) if text else DEFAULT_PORT
    except ValueError:
        raise HarnessError(
            f"KAFFE_KAFKA_PORT must be a port number, not {text!r}", EXIT_USAGE
        ) from None


def port_is_free(port: int) -> bool:
    """Return whether a server could listen on HOST:port right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def listening_ports() -> set[int] | None:
    """Return the local TCP ports in LISTEN state, or None where /proc/net is missing."""
    ports: set[int] = set()
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not any(table.exists() for table in tables):
        return None
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def wait_for_free_ports(
    wanted: Mapping[str, int], owner: str, timeout: float = PORT_WAIT_S
) -> None:
    """
    Fail early, and clearly, when another program listens on one of the `wanted` ports.

    A port that nobody listens on can still be blocked by a connection: one
    in TIME_WAIT (for a minute), a client that connected to itself, or any
    client given that port as its local port. The last two only happen to
    ports inside the kernel's ephemeral range. Wait a while for them to clear.

    Args:
        wanted: Ports by the name to show in messages (``"PLAINTEXT"``, say).
        owner: Who needs them, for messages (``"node 1"``).
        timeout: How long to wait for client connections to go away.

    Raises:
        HarnessError: A port is taken by a listener, or stays taken.
    """
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        busy = {name: port for name, port in wanted.items() if not port_is_free(port)}
        if not busy:
            return
        listening = listening_ports()
        taken = [
            f"{name} {port}"
            for name, port in busy.items()
            if listening is None or port in listening
        ]
        if taken:
            raise HarnessError(
                f"port(s) in use on {HOST} for {owner}: {', '.join(taken)}; another "
                "Kafka may run there (pick another base with --port or $KAFFE_KAFKA_PORT)"
            )
        if time.monotonic() > deadline:
            raise HarnessError(
                f"port(s) {sorted(busy.values())} still taken by client connections after "
                f"{timeout:.0f}s; ports inside the ephemeral range serve as clients' local "
                "ports, so pick a base port below it (--port or $KAFFE_KAFKA_PORT)"
            )
        if not announced:
            info(f"waiting for connections to free port(s) {sorted(busy.values())}")
            announced = True
        time.sleep(1.0)


def ephemeral_port_warning(base_port: int, brokers: int) -> None:
    """Warn when a cluster's ports fall inside the kernel's ephemeral port range."""
    with contextlib.suppress(OSError, ValueError):
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        last = last_port(base_port, brokers)
        if base_port <= high and last >= low:
            info(
                f"note: ports {base_port}-{last} overlap the ephemeral range {low}-{high}; "
                "ports below it (the default 29092, say) start more reliably"
            )
