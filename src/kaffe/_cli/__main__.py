"""``python -m kaffe._cli``: the ``kaffe`` command without its console script."""

from __future__ import annotations

from . import main

__all__: list[str] = []

main()
