"""
Java, Maven and the Kafka classpath.

The Kafka release is pinned in tools/kafka/pom.xml; Maven fetches its jars
into ~/.m2 once, and the resolved classpath is cached in the state folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from xml.etree import ElementTree

from localkafka._layout import LOG4J_CONFIG, POM_FILE, Layout, find_executable, write_text_atomic
from localkafka._report import HarnessError, info

__all__ = [
    "JVM_HEAP",
    "JVM_LIGHT",
    "java_command",
    "kafka_version",
    "resolve_classpath",
]

#: A broker's heap: plenty for tests.
JVM_HEAP = ("-Xmx512m", "-Xms256m")
#: Start-up is CPU bound on small machines: the serial collector and the C1
#: compiler alone cut a node's start-up by about a third on two cores.
JVM_LIGHT = ("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true")

_POM_NAMESPACE = "{http://maven.apache.org/POM/4.0.0}"


def kafka_version() -> str:
    """Return the Kafka version pinned in tools/kafka/pom.xml."""
    try:
        root = ElementTree.parse(POM_FILE).getroot()
    except (OSError, ElementTree.ParseError):
        return "unknown"
    node = root.find(f"{_POM_NAMESPACE}properties/{_POM_NAMESPACE}kafka.version")
    return node.text.strip() if node is not None and node.text else "unknown"


def resolve_classpath(layout: Layout) -> str:
    """Return the Kafka classpath, asking Maven only when the pom changed or jars vanished."""
    pom_hash = hashlib.sha256(POM_FILE.read_bytes()).hexdigest()
    with contextlib.suppress(OSError, ValueError, KeyError):
        cached = json.loads(layout.classpath_file.read_text(encoding="utf-8"))
        classpath = str(cached["classpath"])
        if cached["pom_sha256"] == pom_hash and all(
            Path(jar).exists() for jar in classpath.split(os.pathsep)
        ):
            return classpath

    mvn = find_executable("mvn", "install Maven 3 to fetch the Kafka jars")
    info(f"resolving Kafka {kafka_version()} jars with Maven (first run only)")
    layout.root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=layout.root) as tmp:
        output = Path(tmp) / "classpath.txt"
        command = [
            mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM_FILE),
            "dependency:build-classpath", f"-Dmdep.outputFile={output}",
        ]  # fmt: skip
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not output.exists():
            # Maven 3.8 prints stray colour resets even in batch mode; drop them.
            log = (result.stdout + result.stderr).replace("\x1b[0m", "").strip()
            raise HarnessError(
                f"Maven could not resolve the Kafka jars ({shlex.join(command)}):\n{log}"
            )
        classpath = output.read_text(encoding="utf-8").strip()
    payload = {"pom_sha256": pom_hash, "classpath": classpath}
    write_text_atomic(layout.classpath_file, json.dumps(payload, indent=2) + "\n")
    return classpath


def java_command(
    logs_dir: Path,
    classpath: str,
    heap: Sequence[str] = (),
    properties: Sequence[str] = (),
) -> list[str]:
    """
    Return the JVM command prefix for Kafka's broker and tools.

    Args:
        logs_dir: Where Log4j writes server.log (a node's log folder, say).
        classpath: From `resolve_classpath`.
        heap: Heap flags (none for short-lived tools).
        properties: Extra ``-Dname=value`` system properties.
    """
    java = find_executable("java", "install a Java 17+ runtime")
    extra = shlex.split(os.environ.get("KAFFE_KAFKA_JVM_OPTS", ""))
    return [
        java,
        *heap,
        *JVM_LIGHT,
        f"-Dlog4j2.configurationFile={LOG4J_CONFIG}",
        f"-Dkafka.logs.dir={logs_dir}",
        *properties,
        *extra,
        "-cp",
        classpath,
    ]
