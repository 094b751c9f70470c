"""
Where things live: the repository's Kafka files, the state folder, and the programs used.

The state folder is `$KAFFE_KAFKA_DIR`, else `<repo>/.kafka`:

    state.json          what runs: options, ports, pids, credentials, paths
    node-N/             server.properties, data/, logs/server.log, logs/stdout.log
    tls/                the throwaway CA, broker and client certificates
    oauth/              the token server's signing keys and log (--security oauthbearer)
    toxiproxy/          Toxiproxy's proxies (proxies.json) and log (--proxied)
    classpath.json      the resolved Java classpath
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import fcntl
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from localkafka._report import EXIT_USAGE, HarnessError, info

__all__ = [
    "LOCK_WAIT_S",
    "LOG4J_CONFIG",
    "POLL_INTERVAL_S",
    "POM_FILE",
    "REPO_ROOT",
    "VENV_PYTHON",
    "Layout",
    "find_executable",
    "state_lock",
    "tail_lines",
    "write_text_atomic",
]

#: The repository this harness belongs to (tools/localkafka/ sits two levels below it).
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
#: Pins the Kafka release; Maven fetches its jars into ~/.m2.
POM_FILE = REPO_ROOT / "tools" / "kafka" / "pom.xml"
LOG4J_CONFIG = REPO_ROOT / "tools" / "kafka" / "log4j2.xml"

#: How long a command waits for another one holding the state folder.
LOCK_WAIT_S = 300.0
#: How often waits look again.
POLL_INTERVAL_S = 0.25


@dataclasses.dataclass(frozen=True)
class Layout:
    """Paths inside the state folder."""

    root: Path

    @classmethod
    def from_environment(cls) -> Layout:
        """Use $KAFFE_KAFKA_DIR, else <repo>/.kafka."""
        configured = os.environ.get("KAFFE_KAFKA_DIR")
        root = Path(configured).expanduser() if configured else REPO_ROOT / ".kafka"
        return cls(root.absolute())

    @property
    def state_file(self) -> Path:
        """state.json: what runs, with which options and credentials."""
        return self.root / "state.json"

    @property
    def lock_file(self) -> Path:
        """Lock file serialising commands that change the cluster."""
        return self.root / ".lock"

    @property
    def classpath_file(self) -> Path:
        """Cached Java classpath, keyed by the pom's hash."""
        return self.root / "classpath.json"

    @property
    def tls_dir(self) -> Path:
        """Generated CA, broker and client certificates."""
        return self.root / "tls"

    @property
    def oauth_dir(self) -> Path:
        """The token server's signing keys and log."""
        return self.root / "oauth"

    @property
    def toxiproxy_dir(self) -> Path:
        """Toxiproxy's proxies file and log (--proxied)."""
        return self.root / "toxiproxy"

    @property
    def toxiproxy_config(self) -> Path:
        """The proxies Toxiproxy creates at start (its -config file)."""
        return self.toxiproxy_dir / "proxies.json"

    @property
    def toxiproxy_log(self) -> Path:
        """Toxiproxy's log."""
        return self.toxiproxy_dir / "toxiproxy.log"

    @property
    def tool_logs(self) -> Path:
        """Log folder of Kafka's command line tools run by the harness (dump-log, say)."""
        return self.root / "tool-logs"

    def node_dir(self, node_id: int) -> Path:
        """Folder of one node."""
        return self.root / f"node-{node_id}"

    def node_properties(self, node_id: int) -> Path:
        """The node's server.properties."""
        return self.node_dir(node_id) / "server.properties"

    def node_data(self, node_id: int) -> Path:
        """The node's log.dirs (topic data and KRaft metadata)."""
        return self.node_dir(node_id) / "data"

    def node_logs(self, node_id: int) -> Path:
        """The node's log folder."""
        return self.node_dir(node_id) / "logs"

    def server_log(self, node_id: int) -> Path:
        """The node's broker log (Log4j)."""
        return self.node_logs(node_id) / "server.log"

    def stdout_log(self, node_id: int) -> Path:
        """The JVM's own output (crashes, start-up errors)."""
        return self.node_logs(node_id) / "stdout.log"

    def pid_file(self, node_id: int) -> Path:
        """The node's pid file."""
        return self.node_dir(node_id) / "kafka.pid"


@contextlib.contextmanager
def state_lock(layout: Layout, timeout: float = LOCK_WAIT_S) -> Iterator[None]:
    """Serialise commands that change the cluster (parallel `up`s, say)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.lock_file.open("a") as handle:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                raise HarnessError(
                    f"another scripts/kafka command has held {layout.lock_file} "
                    f"for over {timeout:.0f}s"
                )
            if not announced:
                info("waiting for another scripts/kafka command to finish")
                announced = True
            time.sleep(POLL_INTERVAL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_text_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write a file so readers never see it half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def tail_lines(path: Path, count: int) -> list[str]:
    """Return the last `count` lines of a text file (empty when missing)."""
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            return list(collections.deque(handle, maxlen=count))
    except FileNotFoundError:
        return []


def find_executable(name: str, hint: str) -> str:
    """Locate a program (java via $JAVA_HOME first) or fail with a hint."""
    if name == "java" and os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        raise HarnessError(f"`{name}` not found on PATH; {hint}", EXIT_USAGE)
    return found
