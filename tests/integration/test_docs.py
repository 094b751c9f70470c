"""The Python examples of the README and of every docs page run as written against the broker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

import kaffe
from tests.conftest import create_topic
from tests.docs_examples import PAGES, README, examples

pytestmark = pytest.mark.integration

#: Topics the examples produce to; created with 8 partitions when missing.
EXAMPLE_TOPICS = ("events", "audit")


def _runnable(page: Path) -> bool:
    return any(example.skip_reason is None for example in examples(page))


RUNNABLE_PAGES = [page for page in PAGES if _runnable(page)]


def test_readme_has_python_examples() -> None:
    assert sum(example.skip_reason is None for example in examples(README)) >= 3


@pytest.mark.parametrize(
    "page", RUNNABLE_PAGES, ids=[str(page.relative_to(README.parent)) for page in RUNNABLE_PAGES]
)
def test_page_python_examples_run(
    page: Path, bootstrap: str, admin: AdminClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    existing = admin.list_topics(timeout=10).topics
    for name in EXAMPLE_TOPICS:
        if name not in existing:
            create_topic(admin, 8, name=name)
    monkeypatch.setenv("KAFFE_ENDPOINTS", bootstrap)
    monkeypatch.setenv("KAFFE_TOPICS", "events")
    namespace: dict[str, Any] = {"__name__": f"docs.{page.stem}"}
    created: list[kaffe.Producer] = []
    original_init = kaffe.Producer.__init__

    def recording_init(self: kaffe.Producer, *args: Any, **kwargs: Any) -> None:
        created.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(kaffe.Producer, "__init__", recording_init)
    try:
        for example in examples(page):
            if example.skip_reason is None:
                exec(example.compiled(bootstrap), namespace)
    finally:
        for producer in created:
            if not producer.closed:
                producer.close()
