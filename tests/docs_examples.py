"""
The Python examples of the README and of the docs pages, as the tests read them.

A ```` ```python ```` block is an example that runs against the test broker. A block
that cannot run there carries a comment on the line just above its fence::

    <!-- not run by the tests: the reason -->

Examples name the broker ``127.0.0.1:29092``; the tests put the test broker's address
in its place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

__all__ = [
    "DOCS",
    "EXAMPLE_ENDPOINT",
    "PAGES",
    "README",
    "SKIP_MARK",
    "Example",
    "examples",
    "skip_marks",
]

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = REPO / "docs"
#: The README first, then every page of the docs site.
PAGES = (README, *sorted(DOCS.rglob("*.md")))
EXAMPLE_ENDPOINT = "127.0.0.1:29092"
SKIP_MARK = "<!-- not run by the tests"

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Example:
    """One Python block of a page."""

    page: Path
    line: int  # the line of the block's first line of code
    code: str
    skip_reason: str | None

    def compiled(self, endpoint: str) -> CodeType:
        """The code with the test broker's address, compiled so tracebacks show page lines."""
        code = "\n" * (self.line - 1) + self.code.replace(EXAMPLE_ENDPOINT, endpoint)
        return compile(code, str(self.page), "exec")


def examples(page: Path) -> list[Example]:
    """Every ```` ```python ```` block of ``page``, in order."""
    text = page.read_text()
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().splitlines()[-1:]
        reason = None
        if before and before[0].startswith(SKIP_MARK):
            reason = before[0][len(SKIP_MARK) :].removesuffix("-->").strip(" :")
        line = text.count("\n", 0, match.start(1)) + 1
        found.append(Example(page, line, match.group(1), reason))
    return found


def skip_marks(page: Path) -> list[tuple[int, str]]:
    """Every not-run mark of ``page`` with its line number and the line after it."""
    lines = page.read_text().splitlines()
    return [
        (number, lines[number] if number < len(lines) else "")
        for number, line in enumerate(lines, start=1)
        if line.startswith(SKIP_MARK)
    ]
