"""
Compression: throughput, CPU and stored size of each codec kaffe offers.

For each payload (JSON events, and random bytes that do not compress) and each codec,
a fresh 1-partition topic receives ``--messages`` keyed messages through
``produce_batch_sync`` in chunks of 10,000, with kaffe's defaults otherwise
(``acks=all``, idempotence, ``linger_ms=5``). Every codec runs ``--rounds`` times, the
codecs taking turns, and the table shows medians:

- msg/s and MB/s of uncompressed payload, from the first call to the last acknowledgement;
- CPU seconds the process spent (librdkafka compresses on its own threads in-process);
- bytes per message the broker stored: the size of the partition's log segments,
  which hold the record batches exactly as the producer sent them, so this is also
  what went over the wire, without request framing;
- the ratio of those bytes to ``none``.

Needs the local broker of ``scripts/kafka`` (started if none runs), because it reads
the log segments from its data directory. Honours KAFFE_KAFKA_DIR and KAFFE_KAFKA_PORT.

Run: .venv/bin/python bench/compression.py [--quick] [--messages N] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

import kaffe

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "kafka"
RESULTS = REPO / "bench" / "results"
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
CHUNK = 10_000
EVENTS = ("signed_up", "logged_in", "viewed", "added_to_cart", "paid", "refunded")


def json_events(count: int) -> list[kaffe.Message]:
    """Keyed JSON events of about 230 bytes: ids, timestamps, a few repeating fields."""
    rng = random.Random(42)
    start = 1_790_000_000_000
    messages = []
    for number in range(count):
        user = f"user-{rng.randrange(10_000)}"
        event = {
            "id": str(uuid.UUID(int=rng.getrandbits(128))),
            "type": rng.choice(EVENTS),
            "user": user,
            "at": start + number * 17,
            "amount": round(rng.uniform(1, 500), 2),
            "currency": "EUR",
            "source": {"app": "web", "version": "4.12.0", "country": rng.choice("DE FR NL ES")},
        }
        messages.append(kaffe.Message(user, json.dumps(event, separators=(",", ":"))))
    return messages


def random_bytes(count: int) -> list[kaffe.Message]:
    """Keyed 230-byte random values, which no codec can shrink."""
    rng = random.Random(7)
    return [kaffe.Message(f"user-{n % 10_000}", rng.randbytes(230)) for n in range(count)]


def ensure_broker() -> str:
    """Reuse the running broker of ``scripts/kafka``, or start one; return its address."""
    status = subprocess.run(
        [sys.executable, str(SCRIPT), "status"], capture_output=True, timeout=60
    )
    if status.returncode != 0:
        subprocess.run([sys.executable, str(SCRIPT), "up"], check=True, timeout=600)
    bootstrap = subprocess.run(
        [sys.executable, str(SCRIPT), "bootstrap", "--listener", "plaintext"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return bootstrap.stdout.strip().splitlines()[-1]


def machine() -> dict[str, Any]:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "confluent_kafka": confluent_kafka.version(),
        "librdkafka": confluent_kafka.libversion()[0],
    }


def data_dir() -> Path:
    state_dir = Path(os.environ.get("KAFFE_KAFKA_DIR") or REPO / ".kafka")
    state = json.loads((state_dir / "state.json").read_text())
    return Path(state["nodes"][0]["dir"]) / "data"


def stored_bytes(topic: str) -> int:
    """Bytes in the topic's log segments (partition 0), waiting for the broker's writes."""
    folder = data_dir() / f"{topic}-0"
    previous = -1
    for _ in range(50):
        size = sum(path.stat().st_size for path in folder.glob("*.log"))
        if size == previous:
            return size
        previous = size
        time.sleep(0.1)
    return previous


def one_run(
    admin: AdminClient, bootstrap: str, codec: str, messages: list[kaffe.Message]
) -> dict[str, float]:
    topic = f"bench-compression-{codec}-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(timeout=60)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until the partition has a leader
        metadata = admin.list_topics(topic, timeout=10).topics.get(topic)
        partitions = metadata.partitions.values() if metadata and not metadata.error else ()
        if partitions and all(info.leader >= 0 for info in partitions):
            break
        time.sleep(0.1)
    try:
        with kaffe.Producer(endpoints=bootstrap, topics=[topic], compression=codec) as producer:  # type: ignore[arg-type]
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            for index in range(0, len(messages), CHUNK):
                producer.produce_batch_sync(topic, messages[index : index + CHUNK])
            seconds = time.perf_counter() - started
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        payload = sum(len(m.key) + len(m.value) for m in messages)
        return {
            "msg_per_s": len(messages) / seconds,
            "mb_per_s": payload / seconds / 1e6,
            "cpu_s": (cpu_after.ru_utime - cpu_before.ru_utime)
            + (cpu_after.ru_stime - cpu_before.ru_stime),
            "stored_per_msg": stored_bytes(topic) / len(messages),
            "payload_per_msg": payload / len(messages),
        }
    finally:
        admin.delete_topics([topic])[topic].result(timeout=60)


def run(bootstrap: str, count: int, rounds: int) -> dict[str, Any]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    report: dict[str, Any] = {"messages": count, "rounds": rounds, "payloads": {}}
    for name, make in (("json", json_events), ("random", random_bytes)):
        messages = make(count)
        runs: dict[str, list[dict[str, float]]] = {codec: [] for codec in CODECS}
        for round_number in range(rounds):
            order = CODECS if round_number % 2 == 0 else tuple(reversed(CODECS))
            for codec in order:
                runs[codec].append(one_run(admin, bootstrap, codec, messages))
                print(
                    f"{name} {codec} round {round_number + 1}: {runs[codec][-1]}", file=sys.stderr
                )
        report["payloads"][name] = {
            codec: {key: statistics.median(run[key] for run in codec_runs) for key in codec_runs[0]}
            | {"rounds_msg_per_s": [round(run["msg_per_s"]) for run in codec_runs]}
            for codec, codec_runs in runs.items()
        }
    return report


def show(report: dict[str, Any]) -> None:
    for name, codecs in report["payloads"].items():
        payload = codecs["none"]["payload_per_msg"]
        print(f"\n{name} payload, {payload:.0f} bytes of key and value per message:\n")
        print("| codec | msg/s (median) | each round | MB/s | CPU s | stored bytes/msg | of none |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        none = codecs["none"]["stored_per_msg"]
        for codec, figures in codecs.items():
            rounds = ", ".join(f"{value:,}" for value in figures["rounds_msg_per_s"])
            print(
                f"| `{codec}` | {figures['msg_per_s']:,.0f} | {rounds} | "
                f"{figures['mb_per_s']:.1f} | {figures['cpu_s']:.2f} | "
                f"{figures['stored_per_msg']:.1f} | {figures['stored_per_msg'] / none:.2f} |"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="20,000 messages, 1 round")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    arguments = parser.parse_args(argv)
    count = 20_000 if arguments.quick else arguments.messages
    rounds = 1 if arguments.quick else arguments.rounds
    bootstrap = ensure_broker()
    report = run(bootstrap, count, rounds)
    report["machine"] = machine()
    report["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    show(report)
    path = arguments.json or RESULTS / f"compression-{report['date'][:10]}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
