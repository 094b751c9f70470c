"""
Capture real librdkafka statistics documents for the ``kaffe.Statistics`` tests.

Run against the local broker (``scripts/kafka up``; it is stopped and started again
for ``down.json``)::

    .venv/bin/python tests/data/statistics/capture.py 127.0.0.1:29092

It produces with a plain ``confluent_kafka.Producer`` and ``statistics.interval.ms``
of 100, and writes four documents exactly as librdkafka emitted them:

- ``bootstrap.json``: the first snapshot of a producer given a reachable endpoint and
  an unreachable one, so it still lists bootstrap brokers;
- ``queued.json``: messages waiting in the local queue, with round trips sampled;
- ``delivered.json``: every message acknowledged, with round trips sampled;
- ``down.json``: messages waiting while the only broker is stopped. librdkafka then
  forgets the broker it learned and lists its bootstrap broker again.

The documents hold no credentials: the producer uses PLAINTEXT without SASL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

HERE = Path(__file__).resolve().parent
SCRIPT = HERE.parent.parent.parent / "scripts" / "kafka"
#: An address nothing listens on, so its bootstrap broker never comes up.
UNREACHABLE = "127.0.0.1:9"


def _producer(bootstrap: str, documents: list[str]) -> Any:
    return Producer(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "kaffe",
            "statistics.interval.ms": 100,
            "stats_cb": documents.append,
            "linger.ms": 5,
            "log_level": 0,
        }
    )


def _first(documents: list[str], wanted: Callable[[dict[str, Any]], bool]) -> str:
    for text in documents:
        if wanted(json.loads(text)):
            return text
    raise SystemExit("no captured document matched; run again")


def _sampled(document: dict[str, Any]) -> bool:
    return any(broker["rtt"]["cnt"] > 0 for broker in document["brokers"].values())


def main(bootstrap: str) -> None:
    """Capture the three documents into this folder."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"statistics-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout=30)
    time.sleep(1)

    early: list[str] = []
    producer = _producer(f"{bootstrap},{UNREACHABLE}", early)
    while not any(_bootstrapping(json.loads(text)) for text in early):
        producer.poll(0.01)
    (HERE / "bootstrap.json").write_text(_first(early, _bootstrapping) + "\n")

    documents: list[str] = []
    producer = _producer(bootstrap, documents)
    for index in range(20_000):
        producer.produce(topic, key=f"key-{index}", value=b"v" * 100, partition=index % 3)
        if index % 500 == 0:
            producer.poll(0.02)
    while producer.flush(0.05):
        pass
    for _ in range(5):
        producer.poll(0.1)
    (HERE / "queued.json").write_text(
        _first(documents, lambda doc: doc["msg_cnt"] > 0 and _sampled(doc)) + "\n"
    )
    (HERE / "delivered.json").write_text(
        _first(documents, lambda doc: doc["msg_cnt"] == 0 and doc["txmsgs"] > 0 and _sampled(doc))
        + "\n"
    )

    documents.clear()
    subprocess.run([sys.executable, str(SCRIPT), "stop", "1"], check=True)
    try:
        for index in range(10):
            producer.produce(topic, key=f"late-{index}", value=b"v" * 100, partition=0)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            producer.poll(0.1)
            if any(_down(json.loads(text)) for text in documents):
                break
        (HERE / "down.json").write_text(_first(documents, _down) + "\n")
    finally:
        subprocess.run([sys.executable, str(SCRIPT), "start", "1"], check=True)
    while producer.flush(1):
        pass


def _bootstrapping(document: dict[str, Any]) -> bool:
    return any(broker["nodeid"] == -1 for broker in document["brokers"].values())


def _down(document: dict[str, Any]) -> bool:
    brokers = document["brokers"].values()
    return document["msg_cnt"] > 0 and all(broker["state"] != "UP" for broker in brokers)


if __name__ == "__main__":
    main(sys.argv[1])
