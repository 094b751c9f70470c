"""
kaffe demo: produce keyed messages with every partition strategy and show where they went.

Run it through ``scripts/demo``, which installs kaffe and starts a local broker, or
directly: ``python examples/demo.py --bootstrap 127.0.0.1:29092``.
"""

from __future__ import annotations

import argparse
import logging
from typing import Any

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from rich.console import Console
from rich.table import Table

import kaffe

KEYS = ["alice", "bob", "carol", "dave", "erin", "frank"]


def admin_client(bootstrap: str) -> AdminClient:
    """
    An admin client whose librdkafka log lines go to Python logging, as kaffe's do.

    Without a ``logger``, librdkafka prints its lines on stderr itself, such as
    "Purging 1 unserved events from background queue" when the client is closed.
    """
    return AdminClient(
        {"bootstrap.servers": bootstrap}, logger=logging.getLogger("kaffe.librdkafka")
    )


def ensure_topic(bootstrap: str, name: str, partitions: int) -> None:
    """Create the demo topic unless it exists (kaffe itself never creates topics unasked)."""
    admin = admin_client(bootstrap)
    if name in admin.list_topics(timeout=10).topics:
        return
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)


def every_third(
    topic: str, current: int | None, partitions_count: int, key: Any, value: Any
) -> int:
    """A custom strategy, called like Kaffe's: move three partitions on each time."""
    return 0 if current is None else (current + 3) % partitions_count


def main() -> None:
    """Produce with each strategy and print a table of the deliveries."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:29092")
    parser.add_argument("--topic", default="kaffe-demo")
    parser.add_argument("--partitions", type=int, default=8)
    args = parser.parse_args()

    console = Console()
    ensure_topic(args.bootstrap, args.topic, args.partitions)
    strategies: list[Any] = [
        *("md5", "murmur2", "crc32", "fnv1a", "round_robin", "random"),
        every_third,
    ]
    table = Table(title=f"Where keyed messages went in {args.topic!r}")
    table.add_column("strategy")
    for key in KEYS:
        table.add_column(key, justify="right")

    for strategy in strategies:
        with kaffe.Producer(
            endpoints=args.bootstrap, topics=[args.topic], partition_strategy=strategy
        ) as producer:
            deliveries = [producer.produce_sync(key, f"hello {key}") for key in KEYS]
        name = strategy if isinstance(strategy, str) else f"function {strategy.__name__}"
        table.add_row(name, *(f"p{d.partition} @{d.offset}" for d in deliveries))

    console.print(table)
    console.print(
        "Each cell is partition @ offset, acknowledged by the broker (acks=all). "
        "md5 is Kaffe's rule; murmur2, crc32 and fnv1a match Java, librdkafka and Sarama."
    )
    with kaffe.Producer(endpoints=args.bootstrap, topics=[args.topic]) as producer:
        batch = producer.produce_batch_sync(args.topic, [(key, "batched") for key in KEYS])
        console.print(f"A batch of {len(batch)} went to partitions {[d.partition for d in batch]}.")


if __name__ == "__main__":
    main()
