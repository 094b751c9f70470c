"""The exit codes of the ``kaffe`` command."""

from __future__ import annotations

from kaffe._cli import _exit


def test_exit_codes_are_distinct_and_zero_means_success() -> None:
    codes = [
        _exit.EXIT_OK,
        _exit.EXIT_NOT_PRODUCED,
        _exit.EXIT_USAGE,
        _exit.EXIT_UNREACHABLE,
        _exit.EXIT_UNKNOWN_TOPIC,
        _exit.EXIT_ERROR,
        _exit.EXIT_INTERRUPTED,
    ]

    assert len(set(codes)) == len(codes)
    assert _exit.EXIT_OK == 0


def test_help_lists_every_exit_code_with_its_meaning() -> None:
    lines = _exit.EXIT_CODES_HELP.splitlines()

    for name in _exit.__all__:
        if name != "EXIT_CODES_HELP":
            code = getattr(_exit, name)
            assert any(line.split()[:1] == [str(code)] for line in lines), name
