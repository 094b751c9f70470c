"""The nodes' processes: telling a paused node, continuing it, and stopping it gracefully."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localkafka._layout import Layout
from localkafka._processes import (
    continue_nodes,
    find_node_processes,
    is_paused,
    paused_nodes,
    signal_nodes,
)

#: A stand-in for a node: it exits cleanly on SIGTERM, as a broker does after a
#: controlled shutdown, and a stopped process cannot run that handler.
STAND_IN = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Layout, subprocess.Popen[str]]]:
    """A process that looks like node 1 of a state folder in ``tmp_path``."""
    layout = Layout(tmp_path)
    with subprocess.Popen(
        [sys.executable, "-c", STAND_IN, "kafka.Kafka", str(layout.node_properties(1))],
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "ready\n"
        yield layout, process
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()


def _until(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_a_node_is_found_by_its_command_line(
    node: tuple[Layout, subprocess.Popen[str]],
) -> None:
    layout, process = node
    assert find_node_processes(layout) == {1: process.pid}


def test_a_stopped_node_counts_as_paused_until_it_is_continued(
    node: tuple[Layout, subprocess.Popen[str]],
) -> None:
    _, process = node
    assert not is_paused(process.pid)
    os.kill(process.pid, signal.SIGSTOP)
    _until(lambda: is_paused(process.pid))
    assert paused_nodes({1: process.pid}) == [1]

    assert continue_nodes({1: process.pid}) == [1]
    assert not is_paused(process.pid)
    assert continue_nodes({1: process.pid}) == []  # nothing paused any more


def test_stopping_a_paused_node_continues_it_so_it_shuts_down_gracefully(
    node: tuple[Layout, subprocess.Popen[str]],
) -> None:
    layout, process = node
    os.kill(process.pid, signal.SIGSTOP)
    _until(lambda: is_paused(process.pid))

    signal_nodes(layout, {1: process.pid}, graceful=True, timeout=120)

    # Exit code 0: its SIGTERM handler ran; it was not left stopped and then SIGKILLed.
    assert process.wait(timeout=30) == 0


def test_a_process_that_is_gone_is_not_paused(
    node: tuple[Layout, subprocess.Popen[str]],
) -> None:
    _, process = node
    process.kill()
    process.wait()
    assert not is_paused(process.pid)
