"""``kaffe partition``: where each strategy puts keys, worked out without a broker."""

from __future__ import annotations

import os

import click
from rich.table import Table
from rich.text import Text

from kaffe import partitioners

from ._output import stdout

__all__ = ["partition"]


@click.command(short_help="Show where each strategy puts keys (offline).")
@click.argument("keys", nargs=-1, required=True, metavar="KEY [KEY...]")
@click.option(
    "--partitions",
    "-n",
    "partitions_count",
    type=click.IntRange(min=1),
    required=True,
    help="How many partitions the topic has.",
)
@click.option(
    "--strategy",
    "-s",
    type=click.Choice([*partitioners.HASH_FUNCTIONS, "all"], case_sensitive=False),
    help="The hash to apply, or 'all' for a table of every one. "
    "Default: $KAFFE_PARTITION_STRATEGY if it names a hash, else md5.",
)
@click.option("--hex", "hex_keys", is_flag=True, help="The keys are hex-encoded bytes.")
def partition(
    keys: tuple[str, ...], partitions_count: int, strategy: str | None, hex_keys: bool
) -> None:
    """
    Show the partition each KEY goes to. Works offline.

    One line per key, `KEY<TAB>PARTITION`, so with one key the partition is the
    last token. With --strategy all, a table across md5, murmur2, crc32 and fnv1a.

    \b
    Example:
      kaffe partition user-42 --partitions 12 --strategy murmur2
    """  # noqa: D301 - \b is click's marker for "do not rewrap"
    encoded = [_key_bytes(key, hex_keys) for key in keys]
    if strategy is None:
        configured = os.environ.get("KAFFE_PARTITION_STRATEGY", "").strip().lower()
        strategy = configured if configured in partitioners.HASH_FUNCTIONS else "md5"
    strategy = strategy.lower()
    if strategy != "all":
        function = partitioners.HASH_FUNCTIONS[strategy]
        for key, key_bytes in zip(keys, encoded, strict=True):
            click.echo(f"{key}\t{function(key_bytes, partitions_count)}")
        return
    table = Table(title=f"Partitions of {len(keys)} key(s) among {partitions_count}")
    table.add_column("key")
    for name in partitioners.HASH_FUNCTIONS:
        table.add_column(name, justify="right")
    for key, key_bytes in zip(keys, encoded, strict=True):
        table.add_row(
            Text(key),
            *(
                str(function(key_bytes, partitions_count))
                for function in partitioners.HASH_FUNCTIONS.values()
            ),
        )
    stdout().print(table)


def _key_bytes(key: str, hex_keys: bool) -> bytes:
    """The bytes a KEY argument stands for."""
    if not hex_keys:
        # The bytes the shell passed, even if they are not valid UTF-8.
        return os.fsencode(key)
    try:
        return bytes.fromhex(key)
    except ValueError:
        raise click.BadParameter(f"{key!r} is not hex-encoded bytes", param_hint="KEY") from None
