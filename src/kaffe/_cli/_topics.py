"""``kaffe topics``: topics with their partitions, leaders and in-sync replicas."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from rich.table import Table
from rich.text import Text

import kaffe

from ._connection import Admin, Connection, connection_options
from ._output import reported, stdout

__all__ = ["topics"]


@click.command(short_help="List topics: partitions, leaders, in-sync replicas.")
@click.argument("topics", nargs=-1, metavar="[TOPIC...]")
@click.option(
    "--all", "show_internal", is_flag=True, help="Include internal topics (__consumer_offsets...)."
)
@click.option(
    "--partitions",
    "-p",
    "per_partition",
    is_flag=True,
    help="One row per partition: leader, replicas and in-sync replicas.",
)
@connection_options
def topics(
    topics: tuple[str, ...],
    show_internal: bool,
    per_partition: bool,
    connection: Connection,
    verbose: bool,
) -> None:
    """
    List topics with their partition count, leaders and in-sync replicas.

    With TOPIC arguments, only those; a TOPIC that does not exist is an error.
    """
    with reported(verbose):
        config = connection.config()
        metadata = Admin(config).metadata()
        wanted = [config.topic_name(topic) for topic in topics]
        for name in wanted:
            if name not in metadata.topics:
                raise kaffe.UnknownTopicError(
                    f"topic {name!r} does not exist", topic=name, reason="unknown topic"
                )
        names = wanted or sorted(
            name for name in metadata.topics if show_internal or not name.startswith("__")
        )
        table = (
            _partition_table(metadata, names) if per_partition else _topic_table(metadata, names)
        )
        stdout().print(table)


def _span(values: Sequence[int]) -> str:
    """``3`` when every value is 3, ``2-3`` when they differ, ``-`` when there are none."""
    if not values:
        return "-"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _topic_table(metadata: Any, names: Sequence[str]) -> Table:
    table = Table(title=f"{len(names)} topic(s) on {len(metadata.brokers)} broker(s)")
    table.add_column("topic")
    table.add_column("partitions", justify="right")
    table.add_column("leaders")
    table.add_column("replicas", justify="right")
    table.add_column("in sync", justify="right")
    table.add_column("under-replicated", justify="right")
    table.add_column("no leader", justify="right")
    for name in names:
        parts = list(metadata.topics[name].partitions.values())
        leaders = sorted({part.leader for part in parts if part.leader >= 0})
        table.add_row(
            Text(name),
            str(len(parts)),
            ", ".join(map(str, leaders)) or "-",
            _span([len(part.replicas) for part in parts]),
            _span([len(part.isrs) for part in parts]),
            str(sum(len(part.isrs) < len(part.replicas) for part in parts)),
            str(sum(part.leader < 0 for part in parts)),
        )
    return table


def _partition_table(metadata: Any, names: Sequence[str]) -> Table:
    table = Table()
    for column in ("topic", "partition", "leader", "replicas", "in sync"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for name in names:
        for number, part in sorted(metadata.topics[name].partitions.items()):
            table.add_row(
                Text(name),
                str(number),
                str(part.leader) if part.leader >= 0 else "none",
                ", ".join(map(str, part.replicas)),
                ", ".join(map(str, part.isrs)),
            )
    return table
