"""Run the installed ``kaffe`` command as a subprocess, and read what it printed."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

_INSTALLED = shutil.which("kaffe", path=str(Path(sys.executable).parent))
#: The console script of this environment (``python -m kaffe._cli`` from a bare source tree).
KAFFE = [_INSTALLED] if _INSTALLED else [sys.executable, "-m", "kaffe._cli"]

# The documented exit codes, spelled out so a change to them fails these tests.
EXIT_NOT_PRODUCED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_UNKNOWN_TOPIC = 4
EXIT_INTERRUPTED = 130


def kaffe(
    *args: str, input: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``kaffe ARGS`` with ``input`` on stdin; tables are rendered 200 columns wide."""
    environment = {**os.environ, "COLUMNS": "200", **(env or {})}
    completed = subprocess.run(
        [*KAFFE, *args],
        input=input,
        capture_output=True,
        env=environment,
        timeout=60,
        check=False,
    )
    return subprocess.CompletedProcess(
        completed.args,
        completed.returncode,
        completed.stdout.decode(),
        completed.stderr.decode(),
    )


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def partition_counts(summary: str) -> dict[int, int]:
    """The ``partition: count`` pairs of a produce summary."""
    after = summary.split("messages per partition:", 1)[1]
    return {
        int(partition): int(count.replace(",", ""))
        for partition, count in re.findall(r"(\d+): ([\d,]+)", after)
    }


def table_row(output: str, first_cell: str) -> list[str]:
    """The cells of the table row that starts with ``first_cell``."""
    for line in output.splitlines():
        cells = [cell.strip() for cell in re.split(r"[│┃|]", line) if cell.strip()]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no row for {first_cell!r} in:\n{output}")
