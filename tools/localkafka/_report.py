"""
How the harness reports: progress on stderr, failures as one message and an exit code.

Stdout is kept for results (a bootstrap list, `export` lines, JSON), so
scripts can read it while people watch the progress lines on stderr.
"""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_RUNNING",
    "EXIT_USAGE",
    "HarnessError",
    "NodesExited",
    "fail",
    "info",
]

#: Something went wrong while doing what was asked.
EXIT_FAILURE = 1
#: Bad arguments, or a missing tool (Java, Maven, OpenSSL, a Python package).
EXIT_USAGE = 2
#: The command needs a running cluster and there is none.
EXIT_NOT_RUNNING = 3
#: Ctrl-C.
EXIT_INTERRUPTED = 130


class HarnessError(Exception):
    """A failure to report as one message and a process exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class NodesExited(HarnessError):
    """Some nodes died while the cluster was starting."""

    def __init__(self, nodes: list[int]) -> None:
        super().__init__(f"node(s) {nodes} exited during start-up")
        self.nodes = nodes


def info(message: str) -> None:
    """Print a progress message on stderr (stdout is kept for results)."""
    print(f"kafka: {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int) -> NoReturn:
    """Print an error on stderr and exit with `code`."""
    print(f"kafka: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)
