"""
Griffe extension for the API reference: kaffe's docstrings, rendered as Markdown.

kaffe's docstrings are Google style with a few reStructuredText habits: roles such
as ``:class:`Delivery```, literal blocks introduced by ``Example::`` and
``.. versionadded::``. mkdocstrings renders Markdown, so before the docstrings are
parsed this extension rewrites:

- a role into a link to the object when the API reference documents it, and into
  code otherwise (names are resolved in the docstring owner's scope and mapped to
  their public ``kaffe.*`` path);
- ``Example::`` and its indented block into ``Example:`` and a fenced Python block;
- ``.. versionadded:: X`` (and ``versionchanged``, ``deprecated``) into a sentence.

It also expands ``**options: Unpack[SomeTypedDict]`` into keyword-only parameters
when the docstring's ``Args:`` documents those keywords one by one, so that the
signature shown and the parameters documented agree (``kaffe.ProducerConfig``).
A docstring that documents ``**options`` as a whole keeps it as it is.

Loaded from ``mkdocs.yml`` by path; it runs only while the docs are built.
"""

from __future__ import annotations

import html
import re
import textwrap
from typing import Any

import griffe

__all__ = ["KaffeDocstrings"]

_ROLE = re.compile(r":(?:class|meth|func|data|attr|exc|mod|obj):`(~?)([^`]+)`")
_CALLABLE_ROLE = re.compile(r":(?:meth|func):`")
_VERSION = re.compile(
    r"^(?P<indent>[ \t]*)\.\. (?P<kind>versionadded|versionchanged|deprecated)::[ \t]*"
    r"(?P<version>\S+)[ \t]*(?P<text>.*)$",
    re.M,
)
_VERSION_WORDS = {
    "versionadded": "Added in version",
    "versionchanged": "Changed in version",
    "deprecated": "Deprecated since version",
}
_KEYWORD_ONLY = griffe.ParameterKind("keyword-only")
_ARGS_TITLE = re.compile(r"^(?:Args|Arguments|Parameters|Keyword Args|Keyword Arguments):\s*$")


class KaffeDocstrings(griffe.Extension):
    """Rewrite reST habits into Markdown and expand documented ``Unpack`` keywords."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite every docstring of the package once it is fully loaded."""
        public = _public_paths(pkg)
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = _markdown(obj.docstring.value, obj, public)
            if isinstance(obj, griffe.Function):
                _expand_documented_unpack(obj, loader)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            found.extend(_walk(member))
    return found


def _public_paths(pkg: griffe.Module) -> dict[str, str]:
    """Map the canonical path of each public name to the path users import it from."""
    public: dict[str, str] = {}
    modules = [pkg, *(m for name, m in pkg.modules.items() if not name.startswith("_"))]
    for module in modules:
        for name, member in module.members.items():
            if name.startswith("_") or (module.exports is not None and name not in module.exports):
                continue
            try:
                canonical = (
                    member.final_target.path if isinstance(member, griffe.Alias) else member.path
                )
            except griffe.AliasResolutionError:
                continue
            public.setdefault(canonical, f"{module.path}.{name}")
    return public


def _public(path: str, public: dict[str, str]) -> str:
    head, rest = path, ""
    while head:
        if head in public:
            return public[head] + rest
        head, _, tail = head.rpartition(".")
        rest = f".{tail}{rest}"
    return path


def _resolve(target: str, scope: griffe.Object, public: dict[str, str]) -> str:
    head, dot, rest = target.partition(".")
    if head == scope.package.name:
        return _public(target, public)
    try:
        path = scope.resolve(head) + dot + rest
    except griffe.NameResolutionError:
        return target
    return _public(path, public)


def _markdown(text: str, scope: griffe.Object, public: dict[str, str]) -> str:
    def role(match: re.Match[str]) -> str:
        short, target = match.group(1) == "~", match.group(2)
        shown = target.rsplit(".", 1)[-1] if short else target
        if _CALLABLE_ROLE.match(match.group(0)):
            shown += "()"
        identifier = _resolve(target, scope, public)
        return (
            f'<autoref identifier="{html.escape(identifier)}" optional>'
            f"<code>{html.escape(shown)}</code></autoref>"
        )

    def version(match: re.Match[str]) -> str:
        words = _VERSION_WORDS[match.group("kind")]
        extra = f" {match.group('text')}" if match.group("text") else ""
        return f"{match.group('indent')}*{words} {match.group('version')}.*{extra}"

    text = _VERSION.sub(version, _ROLE.sub(role, text))
    return _fence_literal_blocks(text)


def _fence_literal_blocks(text: str) -> str:
    """Turn a paragraph ending in ``::`` and its indented block into a fenced block."""
    lines = text.split("\n")
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.rstrip().endswith("::"):
            out.append(line)
            index += 1
            continue
        indent = len(line) - len(line.lstrip())
        end = index + 1
        while end < len(lines) and not lines[end].strip():
            end += 1
        body: list[str] = []
        while end < len(lines) and (
            not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent
        ):
            body.append(lines[end])
            end += 1
        while body and not body[-1].strip():
            body.pop()
        if not body:
            out.append(line)
            index += 1
            continue
        pad = " " * indent
        out.append(line.rstrip()[:-1])
        out.append("")
        out.append(f"{pad}```python")
        out.extend(
            pad + code if code else "" for code in textwrap.dedent("\n".join(body)).split("\n")
        )
        out.append(f"{pad}```")
        out.append("")
        index = end
    return "\n".join(out)


def _documented_names(docstring: str) -> set[str]:
    """The names listed in the docstring's ``Args:`` section."""
    names: set[str] = set()
    lines = docstring.split("\n")
    for index, line in enumerate(lines):
        if not _ARGS_TITLE.match(line.strip()):
            continue
        for entry in lines[index + 1 :]:
            if entry.strip() and not entry.startswith((" ", "\t")):
                break
            match = re.match(r"^\s{2,8}(\**[A-Za-z_]\w*)\s*(?:\([^)]*\))?:", entry)
            if match:
                names.add(match.group(1))
    return names


def _expand_documented_unpack(func: griffe.Function, loader: griffe.GriffeLoader) -> None:
    """Replace ``**options: Unpack[TD]`` by TD's keywords when they are documented each."""
    docstrings = [func.docstring]
    if func.name == "__init__" and func.parent is not None:
        docstrings.append(func.parent.docstring)  # Google style documents __init__ on the class
    documented: set[str] = set()
    for docstring in docstrings:
        if docstring is not None:
            documented |= _documented_names(docstring.value)
    params = list(func.parameters)
    if not params or params[-1].kind is not griffe.ParameterKind.var_keyword:
        return
    variadic = params[-1]
    annotation = variadic.annotation
    if not isinstance(annotation, griffe.ExprSubscript) or annotation.canonical_name != "Unpack":
        return
    if f"**{variadic.name}" in documented:
        return
    typed_dict_path = getattr(annotation.slice, "canonical_path", None)
    if not isinstance(typed_dict_path, str):
        return
    try:
        typed_dict = loader.modules_collection.get_member(typed_dict_path)
    except (KeyError, ValueError):
        return
    keys = [name for name, member in typed_dict.members.items() if member.is_attribute]
    if not documented & set(keys):
        return
    keywords = [
        griffe.Parameter(
            name,
            annotation=typed_dict.members[name].annotation,
            kind=_KEYWORD_ONLY,
            default="...",
        )
        for name in keys
    ]
    func.parameters = griffe.Parameters(*params[:-1], *keywords)
