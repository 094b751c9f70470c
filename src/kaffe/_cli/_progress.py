"""
The progress bar of ``kaffe produce --progress``, on stderr.

A module of its own, imported only when the bar is drawn: rich's progress machinery
is not worth importing for a run without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from ._output import stderr

__all__ = ["ProgressBar", "progress_bar"]


class _RateColumn(ProgressColumn):
    """Messages acknowledged, and per second."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        produced = task.fields.get("produced", 0)
        elapsed = task.elapsed or 0.0
        rate = produced / elapsed if elapsed > 0 else 0.0
        return Text(f"{produced:,} msgs {rate:,.0f} msg/s")


class ProgressBar:
    """
    One bar: the bytes of the input read, and the messages acknowledged with their rate.

    Args:
        progress: The rich progress display it draws on.
        description: What the bar is of (the topic).
        total: The input's size in bytes, when known.
    """

    def __init__(self, progress: Progress, description: str, total: int | None) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total, produced=0)
        self._total = total

    def update(self, read: int, produced: int) -> None:
        """Show ``read`` bytes of the input read and ``produced`` messages acknowledged."""
        self._progress.update(self._task, completed=read, produced=produced)

    def finish(self, read: int, produced: int) -> None:
        """Show the end: everything read (``read`` bytes, the total when it was unknown)."""
        self._progress.update(
            self._task, total=self._total or read, completed=read, produced=produced
        )


@contextlib.contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[ProgressBar]:
    """
    Draw a progress bar on stderr (as on a terminal) until the block ends.

    Args:
        description: What the bar is of (the topic).
        total: The input's size in bytes, when known.

    Yields:
        The bar.
    """
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", table_column=Column(no_wrap=True, ratio=1)),
        BarColumn(bar_width=24),
        TextColumn("{task.percentage:>3.0f}%"),
        _RateColumn(),
        TimeElapsedColumn(),
        console=stderr(force_terminal=True),
        transient=False,
    ) as progress:
        yield ProgressBar(progress, description, total)
