"""
The Pythons kaffe supports, and where this machine has them.

:data:`SUPPORTED` is the one list of supported versions: ``pyproject.toml`` has a
classifier for each (``tests/test_packaging.py`` checks it), ``noxfile.py`` runs the
unit tests on each one found, and the wheel test installs the wheel on the oldest and
the newest found.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SUPPORTED", "find_pythons"]

#: The supported Python versions, oldest first.
SUPPORTED = ("3.10", "3.11", "3.12", "3.13")


@functools.cache
def find_pythons() -> dict[str, Path]:
    """
    One interpreter per supported version found on this machine, oldest version first.

    For each version, the candidates are pyenv's installs
    (``$PYENV_ROOT/versions/X.Y.Z``, ``~/.pyenv`` by default; the newest patch release
    first), then ``pythonX.Y`` on ``PATH``, then the running interpreter. The first
    that runs and reports that version is taken: a pyenv shim of a version that is
    not active is on ``PATH`` but does not run.

    Returns:
        ``{"3.10": Path(...), ...}`` for the versions found.
    """
    found: dict[str, Path] = {}
    for version in SUPPORTED:
        for candidate in _candidates(version):
            if _reports(candidate, version):
                found[version] = candidate
                break
    return found


def _candidates(version: str) -> Iterator[Path]:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    pattern = re.compile(rf"{re.escape(version)}\.(\d+)")
    installs = [
        (int(match.group(1)), entry)
        for entry in (root.iterdir() if root.is_dir() else ())
        if (match := pattern.fullmatch(entry.name))
    ]
    for _patch, entry in sorted(installs, reverse=True):
        yield entry / "bin" / f"python{version}"
    on_path = shutil.which(f"python{version}")
    if on_path is not None:
        yield Path(on_path)
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        yield Path(sys.executable)


def _reports(interpreter: Path, version: str) -> bool:
    if not os.access(interpreter, os.X_OK):
        return False
    try:
        result = subprocess.run(
            [str(interpreter), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and result.stdout.strip() == version
