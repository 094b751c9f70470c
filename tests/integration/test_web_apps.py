"""
The web recipes in ``examples/`` under their real servers, against the test broker.

``examples/fastapi_app.py`` runs under uvicorn, ``examples/flask_app.py`` under
``gunicorn --preload -w 4 --threads 8`` (its producer is made in gunicorn's master and
re-opened in each forked worker). 100 concurrent clients send 2,000 events; every 2xx
answer's partition and offset must hold that event in the log, and no event may be
stored twice. A SIGTERM in the middle of the load must lose no acknowledged event.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, Record
from webserve import Server, gunicorn, serve, uvicorn

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

EXAMPLES = REPO / "examples"
#: Events per load run, and the clients sending them at once.
REQUESTS = 2_000
CLIENTS = 100
#: Seconds a client waits for one answer; only a broken server makes it wait that long.
ANSWER_TIMEOUT = 60.0
#: Answers with 2xx before the SIGTERM of the shutdown tests.
ANSWERED_BEFORE_SIGTERM = 500

SERVERS: dict[str, Callable[[int], list[str]]] = {
    "fastapi-uvicorn": lambda fd: uvicorn(EXAMPLES, "fastapi_app:app", fd),
    "flask-gunicorn": lambda fd: gunicorn(
        EXAMPLES, "flask_app:app", fd, "--preload", "-w", "4", "--threads", "8"
    ),
}
#: uvicorn re-raises the SIGTERM it handled once it has shut down gracefully.
CLEAN_EXIT = {"fastapi-uvicorn": (0, -signal.SIGTERM), "flask-gunicorn": (0,)}


@dataclass(frozen=True)
class Answer:
    """One request of the load and what came back."""

    index: int
    status: int | None  # None: no answer (connection refused or cut)
    body: Any


def _event(index: int) -> dict[str, str]:
    return {"key": f"user-{index % 97}", "value": f"event-{index}"}


async def _load(server: Server, *, sigterm_after: int | None = None) -> list[Answer]:
    """Send ``REQUESTS`` events from ``CLIENTS`` concurrent clients; SIGTERM after some."""
    numbers = itertools.count()
    answers: list[Answer] = []
    succeeded = 0

    async def client() -> None:  # one connection, kept alive, as a browser or a service has
        nonlocal succeeded
        async with httpx.AsyncClient(base_url=server.url, timeout=ANSWER_TIMEOUT) as http:
            while (index := next(numbers)) < REQUESTS:
                try:
                    response = await http.post("/events", json=_event(index))
                except httpx.TransportError:
                    answers.append(Answer(index, None, None))
                    continue
                answers.append(Answer(index, response.status_code, response.json()))
                if response.is_success:
                    succeeded += 1
                    if succeeded == sigterm_after:
                        server.terminate()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return answers


def _check_acknowledged_events_are_stored_once(
    answers: list[Answer], records: list[Record], topic: str
) -> None:
    stored = {(record.partition, record.offset): record.value for record in records}
    for answer in answers:
        if answer.status is not None and 200 <= answer.status < 300:
            assert answer.body["topic"] == topic
            where = (answer.body["partition"], answer.body["offset"])
            assert stored.get(where) == f"event-{answer.index}".encode(), answer
    counts = Counter(record.value for record in records)
    assert max(counts.values(), default=1) == 1, "an event was stored twice"


@pytest.fixture
def app_env(bootstrap: str, topic: str) -> dict[str, str]:
    """The server's environment: this one, plus the example's two variables."""
    return {**os.environ, "KAFFE_ENDPOINTS": bootstrap, "KAFFE_TOPICS": topic}


@pytest.fixture(params=sorted(SERVERS))
def server_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def running(server_name: str, app_env: dict[str, str]) -> Iterator[Server]:
    with serve(SERVERS[server_name], env=app_env) as server:
        yield server


def test_every_acknowledged_event_is_in_the_log_once_under_load(
    server_name: str, running: Server, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    answers = asyncio.run(_load(running))
    statuses = Counter(answer.status for answer in answers)
    assert statuses == {200: REQUESTS}, running.log()

    with httpx.Client(base_url=running.url, timeout=ANSWER_TIMEOUT) as client:
        malformed = client.post("/events", json={"key": 7})
        too_large = client.post("/events", json={"key": "k", "value": "x" * 2_000_000})
    assert 400 <= malformed.status_code < 500
    assert too_large.status_code == 503  # a KaffeError: its reason, and no Retry-After
    assert too_large.json()["error"] == "MessageTooLargeError"
    assert too_large.json()["reason"] == "message too large"
    assert "retry-after" not in too_large.headers

    assert running.stop() in CLEAN_EXIT[server_name], running.log()
    records = read_back(topic)
    assert len(records) == REQUESTS
    _check_acknowledged_events_are_stored_once(answers, records, topic)


def test_a_sigterm_during_load_loses_no_acknowledged_event(
    server_name: str, running: Server, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    answers = asyncio.run(_load(running, sigterm_after=ANSWERED_BEFORE_SIGTERM))
    assert running.wait() in CLEAN_EXIT[server_name], running.log()
    succeeded = [answer for answer in answers if answer.status == 200]
    assert len(succeeded) >= ANSWERED_BEFORE_SIGTERM
    unexpected = {answer.status for answer in answers} - {200, 503, None}
    assert not unexpected, running.log()
    _check_acknowledged_events_are_stored_once(answers, read_back(topic), topic)
