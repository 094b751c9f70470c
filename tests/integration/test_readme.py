"""The README's Python examples run as written against the test broker."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

import kaffe
from tests.conftest import create_topic

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"
README_ENDPOINT = "127.0.0.1:29092"
SKIP_MARK = "<!-- not run by the tests"


def python_blocks() -> list[str]:
    """Every ```python block of the README that is not marked as not run."""
    text = README.read_text()
    blocks = []
    for match in re.finditer(r"```python\n(.*?)```", text, re.S):
        before = text[: match.start()].rstrip().splitlines()[-1:]
        if before and before[0].startswith(SKIP_MARK):
            continue
        blocks.append(match.group(1))
    return blocks


def test_readme_has_python_examples() -> None:
    assert len(python_blocks()) >= 3


def test_readme_python_examples_run(
    bootstrap: str, admin: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = admin.list_topics(timeout=10).topics
    for name in ("events", "audit"):
        if name not in existing:
            create_topic(admin, 8, name=name)
    monkeypatch.setenv("KAFFE_ENDPOINTS", bootstrap)
    monkeypatch.setenv("KAFFE_TOPICS", "events")
    namespace: dict[str, Any] = {"__name__": "readme", "json": json}
    created: list[kaffe.Producer] = []
    original_init = kaffe.Producer.__init__

    def recording_init(self: kaffe.Producer, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(kaffe.Producer, "__init__", recording_init)
    try:
        for block in python_blocks():
            code = block.replace(README_ENDPOINT, bootstrap)
            exec(compile(code, str(README), "exec"), namespace)
    finally:
        for producer in created:
            if not producer.closed:
                producer.close()
