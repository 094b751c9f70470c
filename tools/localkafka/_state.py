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
from localkafka._ports import HOST, node_ports
from localkafka._report import EXIT_USAGE, HarnessError, info

__all__ = [
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
#: The security protocol of each listener.
PROTOCOLS = {
    "plaintext": "PLAINTEXT",
    "ssl": "SSL",
    "sasl_ssl": "SASL_SSL",
    "oauthbearer": "SASL_SSL",
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
        return (self.brokers, set(self.security), self.port) == (
            other.brokers,
            set(other.security),
            other.port,
        )

    def describe(self) -> str:
        """Describe the options in a few words."""
        return f"{self.brokers} node(s), {'+'.join(self.listeners)}, port {self.port}"

    def to_json(self) -> dict[str, Any]:
        """Serialise for state.json."""
        return {
            "brokers": self.brokers,
            "security": list(self.security),
            "port": self.port,
            "primary": self.primary,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Options:
        """Read back what to_json wrote."""
        return cls(
            int(data["brokers"]), tuple(data["security"]), int(data["port"]), str(data["primary"])
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
        """Return the ports node `node_id` uses with these options, CONTROLLER included."""
        return {
            name: port
            for name, port in node_ports(self.options.port, node_id).items()
            if name == "controller" or name in self.options.listeners
        }

    def bootstrap(self, listener: str, nodes: Iterable[int] | None = None) -> str:
        """Return the comma-separated host:port list of a listener (of all nodes by default)."""
        chosen = self.node_ids if nodes is None else sorted(nodes)
        return ",".join(
            f"{HOST}:{node_ports(self.options.port, node)[listener]}" for node in chosen
        )

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
            "bootstrap": {name: self.bootstrap(name) for name in self.options.listeners},
            "credentials": self.credentials,
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
