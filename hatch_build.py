"""
Build hook: compile kaffe's per-message path, ``src/kaffe/_hot.py``, with mypyc.

Every wheel build runs it: ``python -m build``, ``pip install .`` and
``pip install -e .``. It needs a C compiler; mypyc and setuptools come with the
build requirements (``pyproject.toml``). The source is also the pure-Python
fallback, so when compiling is impossible (no compiler) the build goes on without
the compiled module and says so once; ``KAFFE_PURE_PYTHON=1`` skips compiling.

* A wheel gets the compiled module beside ``_hot.py`` and a platform tag.
* An editable install compiles in place, into ``src/kaffe/`` (git-ignored), and
  records a digest of the source it compiled, so that kaffe notices a stale
  module after ``_hot.py`` changes (see ``kaffe._mode``). The next editable
  install compiles again only if the source changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PACKAGE = Path("src") / "kaffe"
SOURCE = PACKAGE / "_hot.py"
_OFF = frozenset({"", "0", "false", "no", "off"})


def _extension_names() -> list[str]:
    """The compiled module and its native library (mypyc makes the pair)."""
    suffix = str(sysconfig.get_config_var("EXT_SUFFIX"))
    return ["_hot" + suffix, "_hot__mypyc" + suffix]


def _compile(root: Path, into: Path) -> list[Path]:
    """Compile ``_hot.py`` with mypyc into ``into``; return the extension modules' paths."""
    # Build requirements only: imported when compiling, not when hatch loads the hook.
    from mypyc.build import mypycify
    from setuptools import Distribution
    from setuptools.command.build_ext import build_ext

    with tempfile.TemporaryDirectory(prefix="kaffe-mypyc-") as work:
        previous = Path.cwd()
        os.chdir(root)  # mypy finds the package (and pyproject's settings) from here
        try:
            extensions = mypycify(
                [
                    str(SOURCE),
                    "--ignore-missing-imports",
                    "--follow-imports=silent",
                    # A cache of its own: builds for several Pythons may run at once.
                    f"--cache-dir={Path(work) / 'mypy-cache'}",
                ],
                opt_level="3",
                target_dir=str(Path(work) / "c"),
            )
            command = build_ext(Distribution({"name": "kaffe", "ext_modules": extensions}))
            command.build_lib = str(Path(work) / "lib")
            command.build_temp = str(Path(work) / "temp")
            command.ensure_finalized()
            command.run()
        finally:
            os.chdir(previous)
        into.mkdir(parents=True, exist_ok=True)
        targets = []
        for name in _extension_names():
            built = Path(work) / "lib" / "kaffe" / name
            if not built.is_file():
                raise FileNotFoundError(f"mypyc produced no {name}")
            targets.append(into / name)
            shutil.copyfile(built, targets[-1])
        return targets


class CompiledHotPath(BuildHookInterface):  # type: ignore[type-arg]
    """Compile ``kaffe._hot`` with mypyc into the wheel (or in place, for editable installs)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile before the wheel is assembled; fall back to pure Python when impossible."""
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if os.environ.get("KAFFE_PURE_PYTHON", "").strip().lower() not in _OFF:
            self.app.display_info("kaffe: KAFFE_PURE_PYTHON is set; building the pure-Python path")
            return
        try:
            if version == "editable":
                self._compile_in_place(root)
            else:
                for path in _compile(root, Path(tempfile.mkdtemp(prefix="kaffe-wheel-"))):
                    build_data["force_include"][str(path)] = f"kaffe/{path.name}"
        except Exception as error:  # no compiler, no headers: the source runs instead
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            self.app.display_warning(
                f"kaffe: the per-message path was not compiled ({reason}); this install "
                "runs its pure-Python source, which behaves the same but is slower. "
                "Install a C compiler and reinstall to compile it."
            )
            return
        # A wheel for this Python and platform only (an editable one too, so that caches
        # of built wheels keep one per Python).
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def _compile_in_place(self, root: Path) -> None:
        """Compile into ``src/kaffe/`` for an editable install, unless it is up to date."""
        in_place = [root / PACKAGE / name for name in _extension_names()]
        recorded = root / PACKAGE / _digest_name()
        digest = hashlib.sha256((root / SOURCE).read_bytes()).hexdigest()
        if all(path.is_file() for path in in_place) and _read(recorded) == digest:
            return  # compiled from this very source already
        for path in [*in_place, recorded]:  # never leave a stale module beside the source
            path.unlink(missing_ok=True)
        _compile(root, root / PACKAGE)
        recorded.write_text(digest + "\n")


def _digest_name() -> str:
    """Where an editable build records the digest of the source it compiled, per Python."""
    suffix = str(sysconfig.get_config_var("EXT_SUFFIX")).rsplit(".", 1)[0]
    return f"_hot{suffix}.source-sha256"


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
