"""The API reference's griffe extension turns kaffe's reST habits into Markdown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import griffe
import pytest

EXTENSION = Path(__file__).resolve().parent.parent / "tools" / "docs" / "kaffe_griffe.py"

PACKAGE = {
    "__init__.py": """
from ._things import Thing, ThingConfig

__all__ = ["Thing", "ThingConfig"]
""",
    "_things.py": '''
from typing import TypedDict, Unpack


class Options(TypedDict, total=False):
    size: int
    name: str


class ThingConfig:
    """
    Options, validated.

    Args:
        size: How big.
        name: What to call it.
    """

    def __init__(self, **options: Unpack[Options]) -> None: ...


class Thing:
    """
    A thing built from a :class:`ThingConfig`; see :meth:`make` and :class:`~pkg.Thing`.

    Example::

        thing = Thing()
        thing.make()

    .. versionadded:: 0.2.0
    """

    def __init__(self, **options: Unpack[Options]) -> None:
        """
        Build it.

        Args:
            **options: The options of :class:`ThingConfig`.
        """

    def make(self) -> None:
        """Make it, unlike :class:`confluent_kafka.Producer`."""
''',
}


@pytest.fixture(scope="module")
def package() -> Iterator[griffe.Module]:
    with griffe.temporary_visited_package(
        "pkg", PACKAGE, extensions=griffe.load_extensions(str(EXTENSION)), resolve_aliases=True
    ) as package:
        yield package


def test_roles_become_optional_links_to_the_public_path(package: griffe.Module) -> None:
    docstring = package["_things.Thing"].docstring.value
    assert '<autoref identifier="pkg.ThingConfig" optional><code>ThingConfig</code>' in docstring
    assert '<autoref identifier="pkg.Thing.make" optional><code>make()</code>' in docstring
    assert '<autoref identifier="pkg.Thing" optional><code>Thing</code>' in docstring


def test_roles_to_other_libraries_keep_their_name(package: griffe.Module) -> None:
    docstring = package["_things.Thing.make"].docstring.value
    assert 'identifier="confluent_kafka.Producer"' in docstring


def test_literal_blocks_become_fenced_python(package: griffe.Module) -> None:
    docstring = package["_things.Thing"].docstring.value
    assert "Example:\n\n```python\nthing = Thing()\nthing.make()\n```" in docstring


def test_versionadded_becomes_a_sentence(package: griffe.Module) -> None:
    assert "*Added in version 0.2.0.*" in package["_things.Thing"].docstring.value


def test_unpacked_options_documented_one_by_one_become_keywords(package: griffe.Module) -> None:
    parameters = package["_things.ThingConfig.__init__"].parameters
    assert [(p.name, p.kind) for p in parameters][1:] == [
        ("size", griffe.ParameterKind.keyword_only),
        ("name", griffe.ParameterKind.keyword_only),
    ]


def test_unpacked_options_documented_as_a_whole_stay(package: griffe.Module) -> None:
    parameters = package["_things.Thing.__init__"].parameters
    assert [p.name for p in parameters] == ["self", "options"]
