"""``kaffe ping``: the brokers, the controller and the round-trip time."""

from __future__ import annotations

import statistics
import time

import click
from rich.table import Table
from rich.text import Text

from ._connection import Admin, Connection, connection_options
from ._output import reported, stdout

__all__ = ["ping"]


@click.command(short_help="Show brokers, controller and round-trip time.")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Requests to time.",
)
@connection_options
def ping(count: int, connection: Connection, verbose: bool) -> None:
    """
    Connect and show the brokers, the controller and the round-trip time.

    The round trip is timed over --count cluster-description requests, after
    the first connection (whose time is shown on its own).
    """
    with reported(verbose):
        admin = Admin(connection.config())
        started = time.perf_counter()
        metadata = admin.metadata()
        connected = time.perf_counter() - started
        controller = metadata.controller_id
        round_trips = []
        for _ in range(count):
            started = time.perf_counter()
            described = admin.describe_cluster()
            round_trips.append(time.perf_counter() - started)
            if described.controller is not None:
                controller = described.controller.id
        table = Table(title=f"cluster {metadata.cluster_id}")
        table.add_column("broker", justify="right")
        table.add_column("host")
        table.add_column("port", justify="right")
        table.add_column("role")
        for broker_id, broker in sorted(metadata.brokers.items()):
            table.add_row(
                str(broker_id),
                Text(broker.host),
                str(broker.port),
                "controller" if broker_id == controller else "",
            )
        console = stdout()
        console.print(table)
        console.print(Text(f"controller: {controller if controller >= 0 else 'unknown'}"))
        console.print(
            Text(
                f"round trip: min {min(round_trips) * 1000:.2f} ms, "
                f"median {statistics.median(round_trips) * 1000:.2f} ms, "
                f"max {max(round_trips) * 1000:.2f} ms over {count} request(s); "
                f"connected in {connected * 1000:.1f} ms"
            )
        )
