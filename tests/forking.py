"""
Running a piece of a test in a forked child process.

:func:`in_child` forks, runs a function in the child and hands its result back to
the parent through a pipe, or raises in the parent what it raised in the child. The
child never returns into pytest: it leaves with ``os._exit``.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["FORK_WARNING", "ChildFailedError", "in_child"]

T = TypeVar("T")

#: Python 3.12+ warns when a process with threads forks (kaffe's producers have some).
FORK_WARNING = "ignore:This process .* is multi-threaded, use of fork:DeprecationWarning"


class ChildFailedError(Exception):
    """What ``work`` raised in the child (its ``__cause__``), raised again in the parent."""


def in_child(work: Callable[[], T], *, timeout: float = 60) -> T:
    """
    Run ``work`` in a forked child and return its result.

    Raises:
        ChildFailedError: ``work`` raised in the child; the exception is its cause.
        AssertionError: The child did not finish within ``timeout`` seconds (it is
            killed), or it died.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        try:
            try:
                result: object = work()
            except BaseException as error:
                result = _Raised(error)
            try:
                data = pickle.dumps(result)
            except Exception as error:
                data = pickle.dumps(_Raised(RuntimeError(f"unpicklable outcome: {error!r}")))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(data)
        finally:
            os._exit(0)
    os.close(write_end)
    deadline = time.monotonic() + timeout
    received = bytearray()
    with os.fdopen(read_end, "rb", buffering=0) as pipe:
        while True:  # read until the child closes its end (it wrote, or it died)
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([pipe], [], [], max(remaining, 0))
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise AssertionError(f"the child process hung for {timeout:g}s")
            chunk = pipe.read(65536)
            if not chunk:
                break
            received += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert received, "the child died without an outcome"
    outcome: T | _Raised = pickle.loads(received)  # our own child wrote it
    if isinstance(outcome, _Raised):
        raise ChildFailedError(f"the child raised {outcome.error!r}") from outcome.error
    return outcome


class _Raised:
    """What the child sends back when ``work`` raised."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
