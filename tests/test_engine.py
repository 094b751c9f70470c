"""
The engine's logic that needs no broker: closing, and who calls librdkafka's produce family.

Handing messages over (the per-message path) is tested in ``tests/test_hot.py``;
everything that talks to Kafka is tested in ``tests/integration``.
"""

from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

import kaffe
from kaffe._core import Core
from kaffe._engine import Engine

SRC = Path(__file__).resolve().parent.parent / "src" / "kaffe"


def test_close_releases_librdkafkas_handle_and_refuses_later_use() -> None:
    config = kaffe.ProducerConfig(endpoints="127.0.0.1:9", topics=["events"])
    engine = Engine(Core(config))
    before = threading.active_count()

    assert engine.close(0.1) == 0

    assert threading.active_count() < before  # the poller is gone
    with pytest.raises(kaffe.ProducerClosedError):
        engine.check_open()
    with pytest.raises(kaffe.ProducerClosedError):
        engine.rk.produce("events", b"v")
    assert engine.close(0.1) == 0  # again: nothing to do


def _produce_calls(path: Path) -> list[str]:
    """Names of the functions in ``path`` that call ``<something>.produce``/``produce_batch``."""
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("produce", "produce_batch")
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "rk"
            ):
                found.append(function.name)
    return found


def test_only_the_hot_paths_hand_over_calls_librdkafkas_produce_family() -> None:
    callers = {f"{path.name}:{name}" for path in SRC.rglob("*.py") for name in _produce_calls(path)}
    assert callers == {"_hot.py:_offer", "_hot.py:_send_groups"}
