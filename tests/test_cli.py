"""The ``kaffe`` command group and its entry point."""

from __future__ import annotations

import subprocess
import sys

import pytest

import kaffe
from kaffe import _cli
from tests.cli_runner import run


def test_module_exports_only_main() -> None:
    assert _cli.__all__ == ["main"]


def test_help_lists_the_commands_and_documents_every_exit_code() -> None:
    result = run("--help")

    assert result.exit_code == 0
    for command in ("produce", "topics", "partition", "ping"):
        assert command in result.stdout
    for code in (0, 1, 2, 3, 4, 5, 130):
        assert f"\n    {code} " in result.stdout


def test_version_prints_the_package_version() -> None:
    result = run("--version")

    assert result.exit_code == 0
    assert kaffe.__version__ in result.stdout


def test_main_runs_the_command_with_the_given_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["partition", "key8", "--partitions", "32"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "key8\t17\n"


def test_the_package_runs_as_a_module() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "kaffe._cli", "partition", "key8", "-n", "32"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert (completed.returncode, completed.stdout) == (0, "key8\t17\n"), completed.stderr


def test_every_module_of_the_command_declares_all() -> None:
    import importlib
    import pkgutil

    names = [info.name for info in pkgutil.iter_modules(_cli.__path__) if info.name != "__main__"]

    assert sorted(names) == [
        "_connection",
        "_exit",
        "_lines",
        "_output",
        "_partition",
        "_ping",
        "_produce",
        "_progress",
        "_topics",
    ]
    for name in names:
        module = importlib.import_module(f"kaffe._cli.{name}")
        assert module.__all__ == sorted(module.__all__), name
        assert all(hasattr(module, public) for public in module.__all__), name


def test_the_command_imports_no_private_name_from_other_kaffe_modules() -> None:
    import ast
    from pathlib import Path

    for path in Path(_cli.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("kaffe", "_")):
                for alias in node.names:
                    assert not alias.name.startswith("_"), f"{path.name} imports {alias.name}"
