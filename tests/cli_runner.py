"""Run the ``kaffe`` command in-process for unit tests."""

from __future__ import annotations

from click.testing import CliRunner, Result

from kaffe import _cli


def run(*args: str, input: bytes | None = None) -> Result:
    """Run ``kaffe ARGS`` with ``input`` on stdin; stdout and stderr are kept apart."""
    return CliRunner().invoke(_cli.cli, list(args), input=input, prog_name="kaffe")


def error_lines(result: Result) -> list[str]:
    """The ``Error:`` lines on stderr."""
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]
