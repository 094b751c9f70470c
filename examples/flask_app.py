"""
A Flask service that produces every event it is sent: ``POST /events``.

The WSGI ``app`` uses one :class:`kaffe.Producer`, made when the module is imported,
as Flask applications usually make their clients. The producer is configured by the
environment: ``KAFFE_ENDPOINTS``, ``KAFFE_TOPICS`` (the first topic is where events
go) and any other ``KAFFE_*`` variable.

``POST /events`` takes ``{"key": str, "value": str}`` and answers, once the broker has
acknowledged the message, 200 with ``{"topic": ..., "partition": ..., "offset": ...}``.
When kaffe raises, it answers 503 with the error's reason (and ``Retry-After`` when
trying again may help). Run it under gunicorn (``pip install 'kaffe[web]'``)::

    export KAFFE_ENDPOINTS=127.0.0.1:29092 KAFFE_TOPICS=events
    gunicorn --preload -w 4 --threads 8 --chdir examples flask_app:app
    curl localhost:8000/events --json '{"key": "user-42", "value": "signed up"}'

With ``--preload`` the module is imported once, in gunicorn's master, before it forks
the workers: each worker's first request re-opens the producer in that worker (see
the frameworks guide). Without ``--preload`` each worker imports it, and makes its own.
"""

from __future__ import annotations

import atexit
from typing import Any

from flask import Flask, request

import kaffe

producer = kaffe.Producer.from_env()
# When a process ends (a worker or gunicorn's master), deliver what it has outstanding.
atexit.register(producer.close)

app = Flask(__name__)


@app.post("/events")
def post_event() -> tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]:
    """Produce the event to the first configured topic; answer once it is acknowledged."""
    event = request.get_json(silent=True)
    if not (
        isinstance(event, dict)
        and isinstance(event.get("key"), str)
        and isinstance(event.get("value"), str)
    ):
        return {"error": 'expected a JSON object {"key": str, "value": str}'}, 400
    try:
        delivery = producer.produce_sync(event["key"], event["value"])
    except kaffe.KaffeError as error:
        return unavailable(error)
    return {
        "topic": delivery.topic,
        "partition": delivery.partition,
        "offset": delivery.offset,
    }, 200


def unavailable(error: kaffe.KaffeError) -> tuple[dict[str, Any], int, dict[str, str]]:
    """Answer 503 with the error's reason; its message never holds a secret."""
    body = {"error": type(error).__name__, "reason": error.reason, "message": error.message}
    return body, 503, {"Retry-After": "1"} if error.retriable else {}
