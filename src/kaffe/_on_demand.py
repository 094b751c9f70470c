"""
The hook that sets up a :class:`kaffe.DeliveryFuture`'s machinery when first needed.

``concurrent.futures.wait()``, ``as_completed()`` and ``Future``'s own methods read
a future's condition variable and waiter lists directly. A delivery future creates
them only when something needs them (most futures are only checked once settled):
this mixin's ``__getattr__`` runs for an attribute the future does not have yet,
sets the machinery up through ``Future``'s public constructor, and looks again.

It lives apart from :mod:`kaffe._hot`, which may be compiled: ``__getattr__`` must
stay interpreted Python.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MachineryOnDemand"]


class MachineryOnDemand:
    """Sets up a future's ``concurrent.futures`` machinery on first use (see the module)."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        # Called only for an attribute the future does not have: the machinery's own,
        # before it exists. Dunder lookups (copy, pickle) never set it up.
        if name.startswith("__"):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        # Another thread may have set the machinery up since the attribute was missed:
        # set-up is then a no-op, and the second look finds it (or raises as usual).
        object.__getattribute__(self, "set_up_machinery")()
        return object.__getattribute__(self, name)
