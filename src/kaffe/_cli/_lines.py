"""
How ``kaffe produce`` turns one input line into one message.

Pure: a :class:`LineFormat` reads a :class:`Line` and fills in its message, or the
reason it is malformed.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import kaffe

__all__ = ["Line", "LineFormat"]

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


@dataclasses.dataclass
class Line:
    """
    One input line: where it was, what it said, and the message it became.

    Attributes:
        number: The line number, from 1.
        raw: The line without its line end.
        message: The message it became, or ``None`` if it was malformed.
        reason: Why it was not produced, or ``None`` while nothing went wrong.
    """

    number: int
    raw: bytes
    message: kaffe.Message | tuple[str | bytes | None, str | bytes | None] | None = None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class LineFormat:
    """
    How a line becomes a message.

    Attributes:
        jsonl: Each line is a JSON document (``--format jsonl``).
        key_separator: ``lines``: the key ends at the first occurrence of these bytes.
        key_field: ``jsonl``: the field that holds the key.
        value_field: ``jsonl``: the field that holds the value; else the whole line.
        headers: Headers for every message.
        partition: The partition of every message, or ``None`` for the strategy's.
        needs_key: Refuse keyless lines (the ``md5`` strategy cannot place them).
    """

    jsonl: bool = False
    key_separator: bytes | None = None
    key_field: str | None = None
    value_field: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    partition: int | None = None
    needs_key: bool = False

    def parse(self, line: Line) -> None:
        """Fill in ``line.message``, or ``line.reason`` when the line is malformed."""
        raw = line.raw
        key: str | bytes | None = None
        value: str | bytes | None = raw
        try:
            if self.jsonl:
                key, value = self._parse_json(raw)
            elif self.key_separator is not None:
                key_part, found, value_part = raw.partition(self.key_separator)
                if not found:
                    raise ValueError(
                        f"no key separator {self.key_separator.decode()!r} in the line"
                    )
                key, value = key_part, value_part
        except ValueError as error:
            line.reason = str(error)
            return
        if key is None and self.needs_key:
            line.reason = "no key, and the md5 strategy refuses keyless messages as Kaffe does"
            return
        if self.headers or self.partition is not None:
            line.message = kaffe.Message(key, value, list(self.headers), self.partition)
        else:  # a plain pair takes the producer's fast path
            line.message = (key, value)

    def _parse_json(self, raw: bytes) -> tuple[str | None, str | bytes | None]:
        try:
            document = json.loads(raw)
        except UnicodeDecodeError:
            raise ValueError("not valid UTF-8") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
        if self.key_field is None and self.value_field is None:
            return None, raw
        if not isinstance(document, dict):
            kind = _JSON_TYPES.get(type(document), "number")
            raise ValueError(f"a JSON {kind}, not an object with the fields to read")
        key = None if self.key_field is None else _json_field(document, self.key_field)
        value = raw if self.value_field is None else _json_field(document, self.value_field)
        return key, value


def _json_field(document: dict[str, Any], field: str) -> str | None:
    """A field as text: strings as they are, ``null`` as ``None``, other JSON compacted."""
    if field not in document:
        raise ValueError(f"no field {field!r}")
    value = document[field]
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
