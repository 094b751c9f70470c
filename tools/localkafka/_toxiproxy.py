"""
Toxiproxy: building it, its proxies, and the network faults it injects.

With `up --proxied`, a Toxiproxy server (github.com/Shopify/toxiproxy/v2) runs
beside the nodes with one proxy per node in front of the node's PLAINTEXT
listener. A fault is a set of Toxiproxy "toxics" on a node's proxy; Toxiproxy
applies a new toxic to the connections already open as well as to new ones.

Faults, and the toxics that make them (`upstream` is client to broker,
`downstream` broker to client):

    latency MS [--jitter MS]  `latency` both ways: every chunk of data arrives MS
                              (plus or minus up to the jitter) later, in order, so a
                              request and its response take 2 x MS longer
    blackhole                 `timeout` with timeout 0 both ways: connections stay
                              open, new ones are accepted, and nothing passes
    reset                     `reset_peer` with timeout 0 both ways: a connection
                              is torn down as soon as data comes; connections opened
                              under the fault get a TCP RST (existing ones a close)
    bandwidth KBPS            `bandwidth` both ways: at most KBPS kilobytes a second
                              each way

`heal` removes every toxic. Removing a black hole also closes the connections it
held (the data it dropped leaves them unusable), so clients reconnect at once.

The server is built once with `go install` into the harness's cache
($XDG_CACHE_HOME/kaffe-localkafka, else ~/.cache/kaffe-localkafka); only the Go
module proxy needs to be reachable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from localkafka._layout import Layout, find_executable, write_text_atomic
from localkafka._ports import HOST
from localkafka._report import EXIT_NOT_RUNNING, EXIT_USAGE, HarnessError, info
from localkafka._state import ClusterState

__all__ = [
    "BUILD_WAIT_S",
    "FAULT_KINDS",
    "TOXIPROXY_MODULE",
    "TOXIPROXY_VERSION",
    "Fault",
    "Toxiproxy",
    "cache_dir",
    "ensure_server",
    "faults_from_toxics",
    "proxy_name",
    "server_command",
    "toxics_for",
    "write_config",
]

#: The Toxiproxy release the harness builds.
TOXIPROXY_VERSION = "v2.12.0"
#: Its server's Go package.
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
#: How long `go install` may take (it downloads the modules on a clean machine).
BUILD_WAIT_S = 600.0
#: The faults `scripts/kafka fault` knows, in the order `--help` lists them.
FAULT_KINDS = ("latency", "blackhole", "reset", "bandwidth")
#: Each fault's Toxiproxy toxic type.
_TOXIC_TYPES = {
    "latency": "latency",
    "blackhole": "timeout",
    "reset": "reset_peer",
    "bandwidth": "bandwidth",
}
_STREAMS = ("upstream", "downstream")
_API_TIMEOUT_S = 10.0


def cache_dir() -> Path:
    """The harness's cache folder: $XDG_CACHE_HOME/kaffe-localkafka, else ~/.cache/..."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "kaffe-localkafka"


def _server_path() -> Path:
    return cache_dir() / f"toxiproxy-{TOXIPROXY_VERSION}" / "toxiproxy-server"


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """Serialise builds by several harnesses (other state folders) on one machine."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_server() -> Path:
    """
    Return the Toxiproxy server binary, building it with `go install` on first use.

    Raises:
        HarnessError: Go is missing (exit code 2), or the build failed.
    """
    server = _server_path()
    if server.exists():
        return server
    go = find_executable(
        "go", f"--proxied builds Toxiproxy {TOXIPROXY_VERSION} with `go install`; install Go"
    )
    with _cache_lock():
        if server.exists():  # another harness built it meanwhile
            return server
        info(f"building Toxiproxy {TOXIPROXY_VERSION} with `go install` (first run only)")
        server.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=server.parent, prefix=".build-") as build:
            env = dict(os.environ, GOBIN=build)
            try:
                result = subprocess.run(
                    [go, "install", f"{TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    text=True,
                    timeout=BUILD_WAIT_S,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise HarnessError(
                    f"`go install` of Toxiproxy took over {BUILD_WAIT_S:.0f}s"
                ) from None
            built = Path(build) / "server"
            if result.returncode != 0 or not built.exists():
                output = (result.stdout + result.stderr).strip()[-3000:]
                raise HarnessError(
                    f"`go install {TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}` failed "
                    f"(exit code {result.returncode}):\n{output}"
                )
            os.replace(built, server)
    info(f"Toxiproxy is {server}")
    return server


def proxy_name(node: int) -> str:
    """The name of node `node`'s proxy in Toxiproxy."""
    return f"node-{node}"


def write_config(layout: Layout, state: ClusterState) -> Path:
    """Write the proxies Toxiproxy creates at start (its -config file); return its path."""
    proxies = [
        {
            "name": proxy_name(node),
            "listen": f"{HOST}:{listen}",
            "upstream": f"{HOST}:{upstream}",
            "enabled": True,
        }
        for node, (listen, upstream) in state.proxies().items()
    ]
    write_text_atomic(layout.toxiproxy_config, json.dumps(proxies, indent=2) + "\n")
    return layout.toxiproxy_config


def server_command(server: Path, layout: Layout, state: ClusterState) -> list[str]:
    """The command line of this cluster's Toxiproxy server."""
    port = state.toxiproxy_url.rsplit(":", 1)[1]
    return [str(server), "-host", HOST, "-port", port, "-config", str(layout.toxiproxy_config)]


@dataclasses.dataclass(frozen=True)
class Fault:
    """
    One fault of a node's proxy, as `scripts/kafka fault` takes it.

    Attributes:
        kind: One of FAULT_KINDS.
        latency_ms: `latency`: milliseconds added each way.
        jitter_ms: `latency`: up to this many milliseconds more or less.
        kbps: `bandwidth`: kilobytes a second each way.
    """

    kind: str
    latency_ms: int = 0
    jitter_ms: int = 0
    kbps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise HarnessError(
                f"unknown fault {self.kind!r}; choose from {', '.join(FAULT_KINDS)}", EXIT_USAGE
            )
        if min(self.latency_ms, self.jitter_ms, self.kbps) < 0:
            raise HarnessError("fault values must not be negative", EXIT_USAGE)
        if self.kind == "bandwidth" and self.kbps < 1:
            raise HarnessError("bandwidth needs at least 1 KB/s", EXIT_USAGE)

    def describe(self) -> str:
        """Describe the fault in a few words, as `status` shows it."""
        if self.kind == "latency":
            jitter = f" ± {self.jitter_ms} ms" if self.jitter_ms else ""
            return f"latency {self.latency_ms} ms{jitter} each way"
        if self.kind == "bandwidth":
            return f"bandwidth {self.kbps} KB/s each way"
        if self.kind == "blackhole":
            return "blackhole (connections open, nothing passes)"
        return "reset (connections reset as data comes)"

    def to_json(self) -> dict[str, Any]:
        """The fault for `status --json`."""
        data: dict[str, Any] = {"fault": self.kind}
        if self.kind == "latency":
            data.update(latency_ms=self.latency_ms, jitter_ms=self.jitter_ms)
        elif self.kind == "bandwidth":
            data["kbps"] = self.kbps
        return data


def toxics_for(fault: Fault) -> list[dict[str, Any]]:
    """Return the Toxiproxy toxics (as the API takes them) that make `fault`, both ways."""
    if fault.kind == "latency":
        attributes: dict[str, int] = {"latency": fault.latency_ms, "jitter": fault.jitter_ms}
    elif fault.kind == "bandwidth":
        attributes = {"rate": fault.kbps}
    else:  # blackhole and reset: at once (timeout 0), and for as long as the toxic stays
        attributes = {"timeout": 0}
    return [
        {
            "name": f"{fault.kind}_{stream}",
            "type": _TOXIC_TYPES[fault.kind],
            "stream": stream,
            "toxicity": 1.0,
            "attributes": attributes,
        }
        for stream in _STREAMS
    ]


def faults_from_toxics(toxics: Sequence[Mapping[str, Any]]) -> list[Fault | str]:
    """
    Read a proxy's toxics back as faults.

    Returns:
        The harness's faults, in the order they were added, and the name of each
        toxic the harness did not add (one made through the API by hand, say).
    """
    found: list[Fault | str] = []
    seen: set[str] = set()
    for toxic in toxics:
        name = str(toxic.get("name", ""))
        kind, _, stream = name.rpartition("_")
        if kind in _TOXIC_TYPES and stream in _STREAMS and toxic.get("type") == _TOXIC_TYPES[kind]:
            if kind in seen:
                continue
            seen.add(kind)
            attributes = toxic.get("attributes") or {}
            found.append(
                Fault(
                    kind,
                    latency_ms=int(attributes.get("latency", 0)) if kind == "latency" else 0,
                    jitter_ms=int(attributes.get("jitter", 0)) if kind == "latency" else 0,
                    kbps=int(attributes.get("rate", 0)) if kind == "bandwidth" else 0,
                )
            )
        else:
            found.append(f"{name} ({toxic.get('type')}, {toxic.get('stream')})")
    return found


class Toxiproxy:
    """A client of one Toxiproxy server's HTTP API."""

    def __init__(self, url: str) -> None:
        self.url = url

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310  (our own http URL)
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=_API_TIMEOUT_S) as answer:  # noqa: S310
                text = answer.read().decode()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace").strip()
            raise HarnessError(
                f"Toxiproxy refused {method} {path}: HTTP {error.code} {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as error:
            raise HarnessError(
                f"Toxiproxy does not answer at {self.url} ({error}); "
                "start the cluster with `scripts/kafka up --proxied`",
                EXIT_NOT_RUNNING,
            ) from None
        return json.loads(text) if text.strip() else None

    def proxies(self) -> dict[str, Any]:
        """Every proxy by name, with its toxics."""
        answer = self._call("GET", "/proxies")
        return answer if isinstance(answer, dict) else {}

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        """The toxics of one proxy, in the order they were added."""
        answer = self._call("GET", f"/proxies/{proxy}/toxics")
        return answer if isinstance(answer, list) else []

    def add(self, proxy: str, fault: Fault) -> None:
        """Add a fault to a proxy, replacing an earlier fault of the same kind."""
        wanted = toxics_for(fault)
        present = {toxic["name"]: toxic for toxic in self.toxics(proxy)}
        if all(
            toxic["name"] in present
            and present[toxic["name"]].get("attributes") == toxic["attributes"]
            for toxic in wanted
        ):
            return  # already so
        for toxic in wanted:
            if toxic["name"] in present:
                self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic['name']}")
        for toxic in wanted:
            self._call("POST", f"/proxies/{proxy}/toxics", toxic)

    def heal(self, proxy: str) -> int:
        """Remove every toxic of a proxy and make sure it is enabled; return how many went."""
        toxics = self.toxics(proxy)
        for toxic in toxics:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{toxic['name']}")
        self._call("POST", f"/proxies/{proxy}", {"enabled": True})
        return len(toxics)
