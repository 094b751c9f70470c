"""
examples/fastapi_app.py written with aiokafka instead of kaffe: bench/http.py's peer.

The same route and answers: one ``AIOKafkaProducer`` (``acks="all"``, idempotent, its
defaults otherwise) started in the lifespan and stopped at shutdown; ``POST /events``
awaits ``send_and_wait`` to the first topic of ``KAFFE_TOPICS``, at ``KAFFE_ENDPOINTS``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

TOPIC = os.environ["KAFFE_TOPICS"].split(",")[0]


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
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
    """Start the producer before the first request; stop it after the last one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=os.environ["KAFFE_ENDPOINTS"], acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        yield {"producer": producer}
    finally:
        await producer.stop()


app = FastAPI(title="aiokafka FastAPI peer", lifespan=lifespan)


@app.post("/events", response_model=Stored)
async def post_event(event: Event, request: Request) -> Stored | JSONResponse:
    """Produce the event; answer once it is acknowledged."""
    producer = request.state.producer
    try:
        metadata = await producer.send_and_wait(TOPIC, event.value.encode(), key=event.key.encode())
    except KafkaError as error:
        return JSONResponse({"error": type(error).__name__, "message": str(error)}, 503)
    return Stored(topic=metadata.topic, partition=metadata.partition, offset=metadata.offset)
