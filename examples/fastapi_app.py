"""
A FastAPI service that produces every event it is sent: ``POST /events``.

The ASGI ``app`` opens one :class:`kaffe.AsyncProducer` in its lifespan, shares it
between all requests, and closes it at shutdown, delivering what is outstanding. The
producer is configured by the environment: ``KAFFE_ENDPOINTS``, ``KAFFE_TOPICS`` (the
first topic is where events go) and any other ``KAFFE_*`` variable.

``POST /events`` takes ``{"key": str, "value": str}`` and answers, once the broker has
acknowledged the message, 200 with ``{"topic": ..., "partition": ..., "offset": ...}``.
When kaffe raises, it answers 503 with the error's reason (and ``Retry-After`` when
trying again may help). Run it with uvicorn (``pip install 'kaffe[web]'``)::

    export KAFFE_ENDPOINTS=127.0.0.1:29092 KAFFE_TOPICS=events
    uvicorn --app-dir examples fastapi_app:app --port 8000
    curl localhost:8000/events --json '{"key": "user-42", "value": "signed up"}'
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import kaffe


class Event(BaseModel):
    """What a client posts."""

    key: str
    value: str


class Stored(BaseModel):
    """Where the broker stored the event."""

    topic: str
    partition: int
    offset: int


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, kaffe.AsyncProducer]]:
    """Start the producer before the first request; close it after the last one."""
    async with kaffe.AsyncProducer.from_env() as producer:
        yield {"producer": producer}  # each request finds it as request.state.producer


app = FastAPI(title="kaffe FastAPI example", lifespan=lifespan)


@app.post("/events", response_model=Stored)
async def post_event(event: Event, request: Request) -> Stored | JSONResponse:
    """Produce the event to the first configured topic; answer once it is acknowledged."""
    producer: kaffe.AsyncProducer = request.state.producer
    try:
        delivery = await producer.produce_sync(event.key, event.value)
    except kaffe.KaffeError as error:
        return unavailable(error)
    return Stored(topic=delivery.topic, partition=delivery.partition, offset=delivery.offset)


def unavailable(error: kaffe.KaffeError) -> JSONResponse:
    """Answer 503 with the error's reason; its message never holds a secret."""
    return JSONResponse(
        {"error": type(error).__name__, "reason": error.reason, "message": error.message},
        status_code=503,
        headers={"Retry-After": "1"} if error.retriable else None,
    )
