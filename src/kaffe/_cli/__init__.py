"""
The ``kaffe`` command line.

One module per command: ``kaffe produce`` (:mod:`._produce`, its input in
:mod:`._lines`, its progress bar in :mod:`._progress`) sends lines from stdin or a
file in batches through kaffe's counting face
(:class:`kaffe._counting.CountingProducer`); ``kaffe topics`` (:mod:`._topics`) and
``kaffe ping`` (:mod:`._ping`) read cluster metadata; ``kaffe partition``
(:mod:`._partition`) shows, without a broker, where each strategy places a key.
:mod:`._connection` holds the options and the admin client the broker-facing
commands share, :mod:`._output` what they print and how failures end, and
:mod:`._exit` the exit codes.

It needs the ``cli`` extra (click and rich): ``pip install 'kaffe[cli]'``.

A command's module is imported only when that command runs (or ``--help`` lists
them all), so ``kaffe produce`` starts without what the other commands need.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Sequence

from ._exit import EXIT_CODES_HELP, EXIT_ERROR

__all__ = ["main"]

_MISSING = [name for name in ("click", "rich") if importlib.util.find_spec(name) is None]
if _MISSING:  # pragma: no cover - the cli extra is part of the dev install
    sys.stderr.write(
        f"Error: the kaffe command needs {' and '.join(_MISSING)}; "
        "install the cli extra: pip install 'kaffe[cli]'\n"
    )
    raise SystemExit(EXIT_ERROR)

# The imports below need the cli extra, checked above.
import click  # noqa: E402

import kaffe  # noqa: E402

#: Each command, and the module that defines it under the command's name.
_COMMANDS = {
    "partition": "._partition",
    "ping": "._ping",
    "produce": "._produce",
    "topics": "._topics",
}


class _Commands(click.Group):
    """The command group; a command's module is imported when the command is needed."""

    def list_commands(self, context: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, context: click.Context, name: str) -> click.Command | None:
        module = _COMMANDS.get(name)
        if module is None:
            return None
        command: click.Command = getattr(importlib.import_module(module, __name__), name)
        return command


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(
    package_name="kaffe",
    prog_name="kaffe",
    message="%(prog)s %(version)s (per-message path: "
    + ("compiled" if kaffe.__compiled__ else "pure Python")
    + ")",
)
def cli() -> None:
    """
    Produce to Apache Kafka and place keys the way other Kafka clients do.

    Brokers come from --endpoints, KAFFE_ENDPOINTS, or --heroku. TLS and SASL
    settings come from the KAFFE_SSL_* and KAFFE_SASL_* variables.
    """


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the ``kaffe`` command.

    Args:
        argv: The arguments; ``sys.argv[1:]`` when ``None``.
    """
    cli.main(args=list(argv) if argv is not None else None, prog_name="kaffe")
