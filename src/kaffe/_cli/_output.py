"""
What the ``kaffe`` commands print, and how a failure becomes one line and an exit code.

Results go to stdout; progress, logs and errors go to stderr. Every failure ends
as a single ``Error:`` line on stderr and one of the exit codes of
:mod:`kaffe._cli._exit`; ``--verbose`` adds the traceback, the error's details and
the client's log lines.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import click
from confluent_kafka import KafkaException
from rich.console import Console
from rich.text import Text

import kaffe
from kaffe._errors import translate_kafka_error

from ._exit import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_UNKNOWN_TOPIC, EXIT_UNREACHABLE, EXIT_USAGE

__all__ = ["exit_code", "reported", "say_error", "stderr", "stdout"]


def stdout() -> Console:
    """
    A console for results.

    Text is printed as given: no markup, no emoji codes, no highlighting, and long
    lines are not wrapped, so output stays easy to parse.
    """
    return Console(highlight=False, emoji=False, soft_wrap=True)


def stderr(*, force_terminal: bool | None = None) -> Console:
    """
    A console for progress, logs and errors.

    Args:
        force_terminal: Draw as on a terminal (``True``), as into a file
            (``False``), or decide from stderr itself (``None``).
    """
    return Console(
        stderr=True, highlight=False, emoji=False, soft_wrap=True, force_terminal=force_terminal
    )


def say_error(message: str) -> None:
    """Print ``Error: message`` on stderr."""
    stderr().print(Text.assemble(("Error: ", "bold red"), message))


def exit_code(error: kaffe.KaffeError) -> int:
    """
    The exit code for a failure.

    Returns:
        :data:`EXIT_USAGE` for bad input, :data:`EXIT_UNREACHABLE` when no broker
        answered or the login failed, :data:`EXIT_UNKNOWN_TOPIC` for a missing
        topic, else :data:`EXIT_ERROR`.
    """
    if isinstance(error, (kaffe.ConfigError, kaffe.InvalidTopicError, kaffe.InvalidPartitionError)):
        return EXIT_USAGE
    if isinstance(error, kaffe.BrokerUnavailableError):
        return EXIT_UNREACHABLE
    if isinstance(error, kaffe.UnknownTopicError):
        return EXIT_UNKNOWN_TOPIC
    return EXIT_ERROR


@contextlib.contextmanager
def reported(verbose: bool) -> Iterator[None]:
    """
    Run a command's work: every failure becomes one ``Error:`` line and an exit code.

    click's own exits and usage errors pass through, and a closed stdout ends the
    command quietly. Meanwhile kaffe's and librdkafka's log lines go to stderr with
    ``verbose``, else nowhere.

    Args:
        verbose: Also show the traceback, the error's details and the client's logs.

    Raises:
        SystemExit: With the exit code of the failure.
    """
    with _client_logs(verbose):
        try:
            yield
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise
        except KeyboardInterrupt:
            say_error("interrupted")
            raise SystemExit(EXIT_INTERRUPTED) from None
        except kaffe.KaffeError as error:
            _fail(error.message, exit_code(error), verbose, error)
        except KafkaException as error:
            translated = translate_kafka_error(error.args[0])
            _fail(translated.message, exit_code(translated), verbose, error)
        except OSError as error:
            where = f": {error.filename}" if error.filename else ""
            _fail(f"{error.strerror or error}{where}", EXIT_ERROR, verbose, error)
        except Exception as error:
            _fail(
                f"unexpected {type(error).__name__}: {error} "
                "(run with --verbose for the traceback)",
                EXIT_ERROR,
                verbose,
                error,
            )


@contextlib.contextmanager
def _client_logs(verbose: bool) -> Iterator[None]:
    """Route the ``kaffe`` logger (librdkafka's lines included) to stderr, or drop it."""
    logger = logging.getLogger("kaffe")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler: logging.Handler
    if verbose:
        from rich.logging import RichHandler  # only for --verbose

        handler = RichHandler(console=stderr(), show_path=False, markup=False)
        logger.setLevel(logging.DEBUG)
    else:
        handler = logging.NullHandler()
    logger.handlers = [handler]
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers, logger.level, logger.propagate = saved


def _fail(message: str, code: int, verbose: bool, error: BaseException) -> None:
    if verbose:
        console = stderr()
        console.print_exception()
        if isinstance(error, kaffe.KaffeError):
            details = {
                "type": f"kaffe.{type(error).__name__}",
                "topic": error.topic,
                "partition": error.partition,
                "reason": error.reason,
                "retriable": error.retriable,
                "code": error.code,
            }
            for name, value in details.items():
                if value is not None:
                    console.print(Text(f"  {name}: {value}"))
    say_error(message)
    raise SystemExit(code) from None
