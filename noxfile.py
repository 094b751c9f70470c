"""
The version matrix: the unit tests on every supported Python found here, the rest on the newest.

``nox`` (or ``nox -s unit``) runs the unit tests on each Python of 3.10 to 3.13 this
machine has (``tools/pythons.py`` finds them, pyenv's included), installing only the
``test`` extra. ``nox -s integration`` runs the broker tests on the newest. Sessions
are named by version: ``nox -s unit-3.12``; ``nox -l`` lists them. ``scripts/test`` runs
the unit sessions of the Pythons other than its own venv's, whose Python runs
everything.

Virtualenvs live in ``.nox/`` and are reused from run to run; ``pip`` brings them up to
date each time.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))

from pythons import find_pythons

#: Each supported Python found here, by version.
PYTHONS = find_pythons()
VERSIONS = list(PYTHONS)
#: Where the unit tests are: everything under tests/ but the broker and harness tests.
UNIT_TESTS = ["tests", "--ignore=tests/integration", "--ignore=tests/harness"]

# nox finds "3.12" as python3.12 on PATH: put the interpreters found there first (a pyenv
# shim of a version that is not active would be found otherwise, and fail).
os.environ["PATH"] = os.pathsep.join(
    [*(str(path.parent) for path in PYTHONS.values()), os.environ.get("PATH", "")]
)

#: Fails unless the session's kaffe runs its per-message path compiled, as its wheel does.
_REQUIRE_COMPILED = (
    "import kaffe, sys; "
    "sys.exit(0 if kaffe.__compiled__ else 'kaffe was installed without its compiled path')"
)

nox.options.sessions = ["unit"]
nox.options.default_venv_backend = "uv|venv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


@nox.session(python=VERSIONS)
def unit(session: nox.Session) -> None:
    """The unit tests (no broker), with only what they need installed."""
    # Installed as a wheel, built for this Python: its compiled per-message path is the
    # one a user installs. (Editable builds would share one cached build among Pythons.)
    again = ["--reinstall-package", "kaffe"] if session.venv_backend == "uv" else []
    session.install("--quiet", *again, ".[test]")
    session.run("python", "-c", _REQUIRE_COMPILED)
    session.run("pytest", "--quiet", "-p", "no:cacheprovider", *UNIT_TESTS, *session.posargs)


@nox.session(python=VERSIONS[-1:])
def integration(session: nox.Session) -> None:
    """The broker tests, and the harness's, on the newest Python (they start brokers)."""
    session.install("--quiet", "--editable", ".[dev]")
    session.run(
        "pytest", "-p", "no:cacheprovider", "tests/integration", "tests/harness", *session.posargs
    )
