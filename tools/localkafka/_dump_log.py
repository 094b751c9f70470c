"""
Kafka's own log dump tool over one topic-partition's segments.

`scripts/kafka dump-log TOPIC --partition N` runs
`org.apache.kafka.tools.DumpLogSegments` (what `kafka-dump-log.sh` runs) with
the harness's jars over every `.log` segment of that partition on one node,
and prints what it prints: one line per record batch, with the codec the
broker stored it with (`compresscodec: zstd`), its offsets, producer id and
whether it is transactional.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from localkafka._java import java_command, resolve_classpath
from localkafka._layout import Layout
from localkafka._report import EXIT_NOT_RUNNING, EXIT_USAGE, HarnessError
from localkafka._state import ClusterState, load_state

__all__ = ["DUMP_LOG_CLASS", "DUMP_LOG_WAIT_S", "dump_log", "dump_log_command", "segment_files"]

#: The tool `kafka-dump-log.sh` runs; in kafka-tools since Kafka 4.0.
DUMP_LOG_CLASS = "org.apache.kafka.tools.DumpLogSegments"
#: How long the tool may run.
DUMP_LOG_WAIT_S = 120.0


def segment_files(
    layout: Layout, state: ClusterState, topic: str, partition: int, node: int | None = None
) -> list[Path]:
    """
    Return a topic-partition's `.log` segments, oldest first, on `node` or the first holding it.

    Raises:
        HarnessError: The node does not exist (exit code 2), or no node holds the partition.
    """
    if node is not None and node not in state.node_ids:
        raise HarnessError(
            f"node {node} does not exist; the cluster has nodes {state.node_ids}", EXIT_USAGE
        )
    candidates = [node] if node is not None else state.node_ids
    for candidate in candidates:
        folder = layout.node_data(candidate) / f"{topic}-{partition}"
        segments = sorted(folder.glob("*.log"))
        if segments:
            return segments
    where = f"node {node} has no" if node is not None else "no node has"
    raise HarnessError(f"{where} log segments of {topic} partition {partition}")


def dump_log_command(
    layout: Layout,
    classpath: str,
    files: list[Path],
    *,
    print_data_log: bool = False,
    deep_iteration: bool = False,
) -> list[str]:
    """Return the command that dumps `files` with Kafka's DumpLogSegments."""
    command = [
        *java_command(layout.tool_logs, classpath),
        DUMP_LOG_CLASS,
        "--files",
        ",".join(str(path) for path in files),
    ]
    if print_data_log:
        command.append("--print-data-log")
    if deep_iteration:
        command.append("--deep-iteration")
    return command


def dump_log(
    layout: Layout,
    topic: str,
    partition: int,
    *,
    node: int | None = None,
    print_data_log: bool = False,
    deep_iteration: bool = False,
    timeout: float = DUMP_LOG_WAIT_S,
) -> None:
    """
    Run DumpLogSegments over a topic-partition's segments; its output goes to this stdout.

    Raises:
        HarnessError: There is no cluster (exit code 3), no such partition, or the tool failed.
    """
    state = load_state(layout)
    if state is None or not state.formatted:
        raise HarnessError(
            f"no Kafka cluster in {layout.root}; use `scripts/kafka up`", EXIT_NOT_RUNNING
        )
    files = segment_files(layout, state, topic, partition, node)
    layout.tool_logs.mkdir(parents=True, exist_ok=True)
    command = dump_log_command(
        layout,
        resolve_classpath(layout),
        files,
        print_data_log=print_data_log,
        deep_iteration=deep_iteration,
    )
    try:
        result = subprocess.run(command, stdin=subprocess.DEVNULL, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{DUMP_LOG_CLASS} gave no result within {timeout:.0f}s") from None
    if result.returncode != 0:
        raise HarnessError(f"{DUMP_LOG_CLASS} failed with exit code {result.returncode}")
