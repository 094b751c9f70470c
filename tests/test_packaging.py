"""
The package's metadata stays complete, and in step with the Pythons the project tests on.

The built wheel itself (``python -m build``, ``twine check``, installed alone into a
clean virtualenv) is tested in ``tests/integration/test_wheel.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pythons import SUPPORTED, find_pythons
from tests.conftest import REPO


def _project() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the file is the same on 3.10
    project: dict[str, Any] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project


def test_there_is_a_classifier_for_each_supported_python_and_no_other() -> None:
    prefix = "Programming Language :: Python :: 3."
    classified = [
        c.removeprefix("Programming Language :: Python :: ")
        for c in _project()["classifiers"]
        if c.startswith(prefix)
    ]
    assert classified == list(SUPPORTED)


def test_requires_python_starts_at_the_oldest_supported_python() -> None:
    assert _project()["requires-python"] == f">={SUPPORTED[0]}"


def test_the_license_file_ships_with_its_expression() -> None:
    project = _project()
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (REPO / "LICENSE").read_text()


def test_the_project_urls_name_the_home_docs_source_issues_and_changes() -> None:
    assert set(_project()["urls"]) == {
        "Homepage",
        "Documentation",
        "Repository",
        "Issues",
        "Changelog",
    }


def test_the_package_is_marked_typed() -> None:
    assert (REPO / "src" / "kaffe" / "py.typed").is_file()


def test_the_running_python_is_found_when_it_is_supported() -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version not in SUPPORTED:
        pytest.skip(f"Python {version} is not supported")
    found = find_pythons()
    assert version in found
    assert list(found) == [v for v in SUPPORTED if v in found]  # oldest first
    assert all(Path(path).exists() for path in found.values())
