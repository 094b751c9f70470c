"""
examples/flask_app.py written with raw confluent-kafka instead of kaffe: bench/http.py's peer.

The same route and answers. A librdkafka handle does not survive ``fork()``, so each
process makes its producer on its first request (which also works under ``gunicorn
--preload``), with a thread that serves delivery reports; a request waits for its
own report on an event. The producer has ``acks=all`` and idempotence, librdkafka's
defaults otherwise (``linger.ms`` 5); librdkafka's default partitioner places keys.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import confluent_kafka
from flask import Flask, request

TOPIC = os.environ["KAFFE_TOPICS"].split(",")[0]
#: Seconds a request waits for its delivery report: librdkafka's message timeout and a margin.
REPORT_WAIT = 32.0

_producer: confluent_kafka.Producer | None = None
_owner = 0  # the process that made _producer
_making = threading.Lock()  # made at import; never held when a process forks

app = Flask(__name__)


def producer() -> confluent_kafka.Producer:
    """This process's producer, made on first use, with its delivery-report thread."""
    global _producer, _owner
    if _owner != os.getpid():
        with _making:
            if _owner != os.getpid():
                made = confluent_kafka.Producer(
                    {
                        "bootstrap.servers": os.environ["KAFFE_ENDPOINTS"],
                        "acks": "all",
                        "enable.idempotence": True,
                    }
                )
                threading.Thread(target=_serve_reports, args=(made,), daemon=True).start()
                _producer, _owner = made, os.getpid()
    assert _producer is not None
    return _producer


def _serve_reports(made: confluent_kafka.Producer) -> None:
    while True:
        made.poll(0.1)


@app.post("/events")
def post_event() -> tuple[dict[str, Any], int]:
    """Produce the event; answer once it is acknowledged."""
    event = request.get_json(silent=True)
    if not (
        isinstance(event, dict)
        and isinstance(event.get("key"), str)
        and isinstance(event.get("value"), str)
    ):
        return {"error": 'expected a JSON object {"key": str, "value": str}'}, 400
    reported = threading.Event()
    outcome: list[Any] = []

    def on_delivery(error: Any, message: Any) -> None:
        outcome.extend((error, message))
        reported.set()

    try:
        producer().produce(TOPIC, event["value"], event["key"], on_delivery=on_delivery)
    except (BufferError, confluent_kafka.KafkaException) as error:
        return {"error": type(error).__name__, "message": str(error)}, 503
    if not reported.wait(REPORT_WAIT):
        return {"error": "timed out"}, 503
    failure, message = outcome
    if failure is not None:
        return {"error": failure.name(), "message": failure.str()}, 503
    return {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
    }, 200
