"""
``examples/demo.py`` (what ``scripts/demo`` runs) prints kaffe's output and nothing else.

librdkafka prints its log lines on stderr itself unless a client is given a
``logger``; kaffe gives every client it creates one, and so does the demo's admin
client, so librdkafka's lines (such as "Purging 1 unserved events from background
queue" when a client closes) go to Python logging instead.
"""

from __future__ import annotations

import importlib.util
import logging
import socket
import subprocess
import sys
import time
import uuid
from types import ModuleType

import pytest
from confluent_kafka import KafkaException

from tests.conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

DEMO = REPO / "examples" / "demo.py"


def _demo_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("kaffe_demo", DEMO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_the_demo_prints_its_table_and_nothing_on_stderr(bootstrap: str) -> None:
    topic = f"demo-{uuid.uuid4().hex[:12]}"  # a fresh topic: the admin client creates it
    result = subprocess.run(
        [sys.executable, str(DEMO), "--bootstrap", bootstrap, "--topic", topic],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"Where keyed messages went in '{topic}'" in result.stdout
    assert "A batch of 6 went to partitions" in result.stdout


def test_the_demos_admin_client_logs_through_python_logging_not_stderr(
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # A broker that is not there: librdkafka logs the refused connection at once.
    admin = _demo_module().admin_client(f"127.0.0.1:{_closed_port()}")
    with caplog.at_level(logging.DEBUG, logger="kaffe.librdkafka"):
        with pytest.raises(KafkaException):
            admin.list_topics(timeout=0.5)
        deadline = time.monotonic() + 60
        while not any("Connection refused" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, "librdkafka logged no refused connection"
            admin.poll(0.1)  # serves the log queue
    assert {record.name for record in caplog.records} == {"kaffe.librdkafka"}
    del admin
    assert capfd.readouterr().err == ""
