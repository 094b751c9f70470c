"""
Which per-message path runs: :mod:`kaffe._hot` compiled by mypyc, or its pure-Python source.

Building kaffe (a wheel, ``pip install .`` or ``pip install -e .``) compiles
``kaffe/_hot.py`` with mypyc when a C compiler is at hand, and Python then imports
the compiled module in place of the source. Where it is missing (no compiler at
build time, an unusual platform), kaffe imports the source: the same code,
interpreted, with the same behaviour.

``KAFFE_PURE_PYTHON=1`` makes kaffe import the source even when the compiled
module is there. It is read once, when kaffe is first imported; :data:`COMPILED`
(``kaffe.__compiled__``) and ``kaffe --version`` say which path runs.

In a development checkout (an editable install), the build also records a digest
of the source it compiled. If ``_hot.py`` changed since, the compiled module is
stale: kaffe then imports the source, logs why, and reinstalling rebuilds it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import logging
import os
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

__all__ = [
    "COMPILED",
    "MODULE",
    "PURE_PYTHON_VARIABLE",
    "SOURCE_DIGEST_FILE",
    "pure_python_requested",
]

#: The environment variable that forces the pure-Python path.
PURE_PYTHON_VARIABLE = "KAFFE_PURE_PYTHON"
#: The module that holds the per-message path.
MODULE = "kaffe._hot"
#: Written beside the compiled module by an editable build, one per Python: the digest
#: of the source it was compiled from.
SOURCE_DIGEST_FILE = (
    "_hot" + str(sysconfig.get_config_var("EXT_SUFFIX")).rsplit(".", 1)[0] + ".source-sha256"
)
_OFF = frozenset({"", "0", "false", "no", "off"})

logger = logging.getLogger("kaffe")


def pure_python_requested(environ: Mapping[str, str]) -> bool:
    """
    Whether ``KAFFE_PURE_PYTHON`` asks for the pure-Python path.

    Args:
        environ: The environment.

    Returns:
        True unless the variable is unset, empty, ``0``, ``false``, ``no`` or ``off``.
    """
    return environ.get(PURE_PYTHON_VARIABLE, "").strip().lower() not in _OFF


def _import_source() -> ModuleType:
    source = Path(__file__).with_name("_hot.py")
    loader = importlib.machinery.SourceFileLoader(MODULE, str(source))
    spec = importlib.util.spec_from_file_location(MODULE, source, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    try:
        loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE]
        raise
    return module


def _is_compiled(module: ModuleType) -> bool:
    return not str(getattr(module, "__file__", "")).endswith(".py")


def _stale(module: ModuleType) -> bool:
    """True when an editable build's compiled module no longer matches its source."""
    recorded = Path(__file__).with_name(SOURCE_DIGEST_FILE)
    if not _is_compiled(module) or not recorded.is_file():
        return False
    source = Path(__file__).with_name("_hot.py").read_bytes()
    return recorded.read_text().strip() != hashlib.sha256(source).hexdigest()


def _load() -> bool:
    """Import the per-message path the way the environment asks; return True when compiled."""
    loaded = sys.modules.get(MODULE)
    if loaded is not None:
        return _is_compiled(loaded)
    if pure_python_requested(os.environ):
        _import_source()
        return False
    module = importlib.import_module(MODULE)
    if _stale(module):
        logger.warning(
            "kaffe: the compiled per-message path is older than kaffe/_hot.py, so the "
            "source runs instead; reinstall kaffe (pip install -e .) to compile it again"
        )
        del sys.modules[MODULE]
        _import_source()
        return False
    return _is_compiled(module)


#: True when the per-message path runs compiled, False when its pure-Python source runs.
COMPILED: bool = _load()
