"""
What `up` was asked for, and what runs: state.json.

state.json is written by the harness and read by other tools (the test
fixtures read its ports, bootstrap lists, credentials and TLS paths), so its
shape only grows.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any

from localkafka._credentials import TLS_FILES
from localkafka._java import kafka_version
from localkafka._layout import Layout, write_text_atomic
from localkafka._oauth import OAuthSettings
from localkafka._ports import HOST, node_ports, service_port
from localkafka._report import EXIT_USAGE, HarnessError, info

__all__ = [
    "DIRECT",
    "LISTENERS",
    "PROTOCOLS",
    "TLS_LISTENERS",
    "ClusterState",
    "Options",
    "load_state",
    "parse_security",
    "save_state",
]

#: Client listeners in port order; PLAINTEXT is always on.
LISTENERS = ("plaintext", "ssl", "sasl_ssl", "oauthbearer")
#: Listeners that need the TLS material.
TLS_LISTENERS = frozenset({"ssl", "sasl_ssl", "oauthbearer"})
#: With --proxied: the PLAINTEXT listener without a proxy, for inter-broker traffic (and
#: for clients that must not suffer the faults, such as a test's own admin client).
DIRECT = "direct"
#: The security protocol of each listener.
PROTOCOLS = {
    "plaintext": "PLAINTEXT",
    "ssl": "SSL",
    "sasl_ssl": "SASL_SSL",
    "oauthbearer": "SASL_SSL",
    DIRECT: "PLAINTEXT",
}


def parse_security(values: Sequence[str] | None) -> tuple[tuple[str, ...], str]:
    """
    Turn repeated or comma-separated --security values into (extra listeners, primary).

    The primary listener is the one named last (PLAINTEXT when none is): `up`
    prints its bootstrap list.

    Raises:
        HarnessError: A value names no listener (exit code 2).
    """
    given: list[str] = []
    for value in values or []:
        for item in value.split(","):
            name = item.strip().lower().replace("-", "_")
            if not name:
                continue
            if name not in LISTENERS:
                raise HarnessError(
                    f"unknown --security {item!r}; choose from {', '.join(LISTENERS)}", EXIT_USAGE
                )
            given.append(name)
    extra = tuple(dict.fromkeys(name for name in given if name != "plaintext"))
    return extra, (given[-1] if given else "plaintext")


@dataclasses.dataclass(frozen=True)
class Options:
    """What `up` was asked for."""

    brokers: int
    security: tuple[str, ...]  # listeners besides PLAINTEXT, in the order given
    port: int
    primary: str  # the listener whose addresses `up` prints
    proxied: bool = False  # a Toxiproxy proxy in front of each node's PLAINTEXT listener

    @property
    def listeners(self) -> tuple[str, ...]:
        """Every client listener, PLAINTEXT first."""
        return ("plaintext", *(name for name in LISTENERS[1:] if name in self.security))

    @property
    def needs_tls(self) -> bool:
        """Whether some listener needs the TLS material."""
        return bool(TLS_LISTENERS & set(self.security))

    def same_cluster(self, other: Options) -> bool:
        """Return whether `other` describes the same cluster (the printed listener aside)."""
        return (self.brokers, set(self.security), self.port, self.proxied) == (
            other.brokers,
            set(other.security),
            other.port,
            other.proxied,
        )

    def describe(self) -> str:
        """Describe the options in a few words."""
        proxied = ", proxied" if self.proxied else ""
        return f"{self.brokers} node(s), {'+'.join(self.listeners)}{proxied}, port {self.port}"

    def to_json(self) -> dict[str, Any]:
        """Serialise for state.json."""
        return {
            "brokers": self.brokers,
            "security": list(self.security),
            "port": self.port,
            "primary": self.primary,
            "proxied": self.proxied,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Options:
        """Read back what to_json wrote."""
        return cls(
            int(data["brokers"]),
            tuple(data["security"]),
            int(data["port"]),
            str(data["primary"]),
            bool(data.get("proxied", False)),
        )


@dataclasses.dataclass
class ClusterState:
    """The contents of state.json."""

    options: Options
    cluster_id: str
    credentials: dict[str, str]
    formatted: bool = False
    pids: dict[int, int] = dataclasses.field(default_factory=dict)
    oauth: OAuthSettings | None = None  # the token server, with --security oauthbearer
    services: dict[str, int] = dataclasses.field(default_factory=dict)  # server -> pid

    @property
    def node_ids(self) -> list[int]:
        """Ids of all nodes of the cluster, running or not."""
        return list(range(1, self.options.brokers + 1))

    def listener_ports(self, node_id: int) -> dict[str, int]:
        """
        Return the ports node `node_id` listens on with these options, CONTROLLER included.

        With --proxied, PLAINTEXT listens behind the proxy (on the `upstream` port)
        and DIRECT is added; the proxy's own port is :meth:`proxy_port`.
        """
        ports = node_ports(self.options.port, node_id)
        listening = {
            name: ports[name]
            for name in ports
            if name == "controller" or name in self.options.listeners
        }
        if self.options.proxied:
            listening["plaintext"] = ports["upstream"]
            listening[DIRECT] = ports[DIRECT]
        return listening

    def advertised_port(self, node_id: int, listener: str) -> int:
        """Return the port clients are told to use for a listener of a node."""
        return node_ports(self.options.port, node_id)[listener]

    def proxy_port(self, node_id: int) -> int:
        """Return the port of node `node_id`'s proxy (with --proxied): its PLAINTEXT port."""
        return node_ports(self.options.port, node_id)["plaintext"]

    @property
    def toxiproxy_url(self) -> str:
        """The base URL of Toxiproxy's HTTP API (with --proxied)."""
        return f"http://{HOST}:{service_port(self.options.port, 'toxiproxy')}"

    def proxies(self) -> dict[int, tuple[int, int]]:
        """Map each node to its proxy's (listen, upstream) ports; empty without --proxied."""
        if not self.options.proxied:
            return {}
        return {
            node: (self.proxy_port(node), self.listener_ports(node)["plaintext"])
            for node in self.node_ids
        }

    def bootstrap(self, listener: str, nodes: Iterable[int] | None = None) -> str:
        """
        Return the comma-separated host:port list of a listener (of all nodes by default).

        These are the advertised addresses: with --proxied, PLAINTEXT's are the proxies'.
        """
        chosen = self.node_ids if nodes is None else sorted(nodes)
        return ",".join(f"{HOST}:{self.advertised_port(node, listener)}" for node in chosen)

    @property
    def bootstrap_listeners(self) -> tuple[str, ...]:
        """Every listener `bootstrap` can print: the client listeners, and DIRECT when proxied."""
        return (*self.options.listeners, DIRECT) if self.options.proxied else self.options.listeners

    def to_json(self, layout: Layout) -> dict[str, Any]:
        """Serialise, adding derived facts (ports, addresses, paths) for other tools."""
        data: dict[str, Any] = {
            "kafka_version": kafka_version(),
            "options": self.options.to_json(),
            "cluster_id": self.cluster_id,
            "formatted": self.formatted,
            "nodes": [
                {
                    "id": node,
                    "pid": self.pids.get(node),
                    "ports": self.listener_ports(node),
                    "dir": str(layout.node_dir(node)),
                    "log": str(layout.server_log(node)),
                }
                for node in self.node_ids
            ],
            "bootstrap": {name: self.bootstrap(name) for name in self.bootstrap_listeners},
            "credentials": self.credentials,
        }
        if self.options.proxied:
            for node in data["nodes"]:
                node["proxy_port"] = self.proxy_port(node["id"])
            data["toxiproxy"] = {
                "api": self.toxiproxy_url,
                "proxies": {
                    f"node-{node}": {"listen": f"{HOST}:{listen}", "upstream": f"{HOST}:{upstream}"}
                    for node, (listen, upstream) in self.proxies().items()
                },
            }
        if self.options.needs_tls:
            data["tls"] = {name: str(layout.tls_dir / file) for name, file in TLS_FILES.items()}
        if self.oauth is not None:
            data["oauth"] = self.oauth.to_json()
        if self.services:
            data["services"] = dict(self.services)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        """Read back what to_json wrote."""
        pids = {
            int(node["id"]): int(node["pid"]) for node in data.get("nodes", []) if node.get("pid")
        }
        return cls(
            options=Options.from_json(data["options"]),
            cluster_id=str(data["cluster_id"]),
            credentials={str(k): str(v) for k, v in data.get("credentials", {}).items()},
            formatted=bool(data.get("formatted")),
            pids=pids,
            oauth=OAuthSettings.from_json(data["oauth"]) if data.get("oauth") else None,
            services={str(k): int(v) for k, v in data.get("services", {}).items()},
        )


def load_state(layout: Layout) -> ClusterState | None:
    """Read state.json, or return None when there is no (readable) state."""
    try:
        return ClusterState.from_json(json.loads(layout.state_file.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as exc:
        info(f"ignoring unreadable {layout.state_file}: {exc}")
        return None


def save_state(layout: Layout, state: ClusterState) -> None:
    """Write state.json (private: it holds the SASL passwords) and the pid files."""
    write_text_atomic(
        layout.state_file, json.dumps(state.to_json(layout), indent=2) + "\n", mode=0o600
    )
    for node in state.node_ids:
        pid = state.pids.get(node)
        if pid:
            write_text_atomic(layout.pid_file(node), f"{pid}\n")
        else:
            layout.pid_file(node).unlink(missing_ok=True)
