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


_MODULES_AFTER = """
import sys
from kaffe._cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print("modules:", " ".join(sorted(sys.modules)))
"""


def _modules_after(*args: str) -> set[str]:
    """The modules a run of ``kaffe ARGS`` imported (the command's own output is dropped)."""
    completed = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER, *args],
        input=b"v\n",
        capture_output=True,
        timeout=60,
        check=True,
    )
    line = completed.stdout.decode().rpartition("modules: ")[2]
    return set(line.split())


@pytest.mark.parametrize(
    "args",
    [
        ("produce", "--help"),
        # fails to connect at once: everything a run imports before it sends
        ("produce", "events", "-e", "127.0.0.1:9", "--timeout", "0.01", "--no-progress"),
    ],
)
def test_produce_starts_without_what_it_does_not_use(args: tuple[str, ...]) -> None:
    imported = _modules_after(*args)

    assert "kaffe._cli._produce" in imported
    unused = {
        "importlib.metadata",  # kaffe.__version__ is read on first use
        "confluent_kafka.admin",  # the other commands' admin client
        "kaffe._cli._topics",
        "kaffe._cli._ping",
        "kaffe._cli._partition",
        "kaffe._cli._progress",
        "rich.progress",
        "rich.table",
        "rich.columns",
        "rich.logging",
        "prometheus_client",
        "kaffe.prometheus",
        "kaffe.otel",
        "opentelemetry",
    }
    assert imported.isdisjoint(unused), sorted(imported & unused)
