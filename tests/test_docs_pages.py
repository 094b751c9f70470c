"""
The README and the docs pages stay consistent without a broker.

The site itself is built by ``scripts/test`` (``mkdocs build --strict``), which checks
the links and anchors between docs pages; the examples run in
``tests/integration/test_docs.py``.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

from tests.docs_examples import DOCS, PAGES, README, SKIP_MARK, examples, skip_marks

CONFIGURATION = DOCS / "configuration.md"
README_MAX_LINES = 350
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6} (.+?)\s*$")


def _page_id(page: Path) -> str:
    return str(page.relative_to(README.parent))


def _slug(heading: str) -> str:
    """The anchor Python-Markdown's table of contents gives a heading."""
    text = re.sub(r"<[^>]+>|`", "", heading)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    anchors, fenced = set(), False
    for line in page.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (match := _HEADING.match(line)):
            anchors.add(_slug(match.group(1)))
    return anchors


def _table(text: str) -> dict[str, list[str]]:
    """The option rows of a Markdown table: option cell -> the following cells."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0]] = cells[1:]
    return rows


def test_readme_stays_a_front_door() -> None:
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_not_run_mark_gives_a_reason_and_sits_on_a_python_block(page: Path) -> None:
    for number, following in skip_marks(page):
        line = page.read_text().splitlines()[number - 1]
        assert re.fullmatch(re.escape(SKIP_MARK) + r": \S.* -->", line), (
            f"{_page_id(page)}:{number}: write `{SKIP_MARK}: the reason -->`"
        )
        assert following.startswith("```python"), (
            f"{_page_id(page)}:{number}: the mark must be on the line above a ```python fence"
        )


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_python_example_compiles(page: Path) -> None:
    for example in examples(page):
        example.compiled("127.0.0.1:29092")


def test_readme_links_to_files_and_headings_that_exist() -> None:
    for target in _LINK.findall(README.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        page = README.parent / path if path else README
        assert page.is_file(), f"README links to missing {path}"
        if anchor:
            assert anchor in _anchors(page), f"README links to missing heading {target}"
