"""
How ``kaffe produce`` reads its input, and turns a line into a message.

:func:`read_batches` reads the input in large blocks and cuts them into lines with
``bytes`` operations over the whole block: a batch is a list of lines, and nothing
is made per line but the line itself. Plain lines (``VALUE`` or ``KEY<SEP>VALUE``)
go to the producer as they are, and are split there, in the compiled per-message
path; :class:`LineFormat` says how, and parses the lines that need more (JSON,
headers) into messages one at a time.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import IO, Any

import kaffe

__all__ = ["LineFormat", "MalformedLineError", "READ_SIZE", "read_batches"]  # noqa: RUF022 - sorted()

#: Bytes read from the input at a time, at most: whatever is there, up to this.
READ_SIZE = 1 << 20

_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def read_batches(
    source: IO[bytes], batch_size: int, byte_limit: int
) -> Iterator[tuple[int, list[bytes], int]]:
    """
    Read ``source`` to its end, in batches of lines.

    Each block read is split at its line ends as a whole (``LF``, or ``CR LF``, whose
    ``CR`` is dropped too). A batch has ``batch_size`` lines, empty ones included, or fewer
    once their bytes reach ``byte_limit`` (at least one line), or what is left at the
    end. A batch goes out as soon as its lines are in: a read takes what the input
    has (at most :data:`READ_SIZE` bytes) rather than waiting for a full block.

    Args:
        source: The input.
        batch_size: Lines per batch.
        byte_limit: Bytes of lines after which a batch ends early.

    Yields:
        The number of the batch's first line (from 1), its lines without their line
        ends, and how many bytes of the input were read so far.
    """
    read_some = getattr(source, "read1", source.read)
    number = 1  # the number of pending[0]
    pending: list[bytes] = []
    partial = b""  # an incomplete last line
    read = 0
    while True:
        block = read_some(READ_SIZE)
        if block:
            read += len(block)
            # A CR LF may be cut between two reads: the CR ends the partial line.
            split_crlf = partial.endswith(b"\r") and block.startswith(b"\n")
            if b"\r" in block:
                block = block.replace(b"\r\n", b"\n")
            lines = block.split(b"\n")
            if partial:  # joined here, so the block itself is never copied
                lines[0] = (partial[:-1] if split_crlf else partial) + lines[0]
            partial = lines.pop()
            if pending:
                pending += lines
            else:
                pending = lines
        elif partial:  # the last line has no line end
            pending.append(partial[:-1] if partial.endswith(b"\r") else partial)
            partial = b""
        while len(pending) >= batch_size or (pending and not block):
            batch = pending[:batch_size]
            if len(batch) > 1 and sum(map(len, batch)) > byte_limit:
                batch = batch[: _lines_within(batch, byte_limit)]
            pending = pending[len(batch) :]
            yield number, batch, read
            number += len(batch)
        if not block:
            return


def _lines_within(lines: list[bytes], byte_limit: int) -> int:
    """How many of ``lines`` a batch takes: up to the one that brings it to ``byte_limit``."""
    total = 0
    for index, line in enumerate(lines):
        total += len(line)
        if total >= byte_limit:
            return index + 1
    return len(lines)


class MalformedLineError(ValueError):
    """A line that cannot become a message; its text says why."""


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

    @property
    def plain(self) -> bool:
        """True for ``VALUE`` or ``KEY<SEP>VALUE`` lines, no headers: the producer splits them."""
        return not (self.jsonl or self.headers)

    @property
    def no_separator(self) -> str:
        """Why a line without the key separator is not sent."""
        assert self.key_separator is not None
        return f"no key separator {self.key_separator.decode()!r} in the line"

    def is_blank(self, raw: bytes) -> bool:
        """True for a line that is skipped: empty, or (``jsonl``) only white space."""
        return not raw or (self.jsonl and not raw.strip())

    def message(self, raw: bytes) -> kaffe.Message | tuple[str | bytes | None, str | bytes | None]:
        """
        The message of one line (not blank).

        Returns:
            A ``(key, value)`` pair, or a :class:`kaffe.Message` with headers or a partition.

        Raises:
            MalformedLineError: The line cannot become a message; the text says why.
        """
        key: str | bytes | None = None
        value: str | bytes | None = raw
        if self.jsonl:
            key, value = self._parse_json(raw)
        elif self.key_separator is not None:
            key_part, found, value_part = raw.partition(self.key_separator)
            if not found:
                raise MalformedLineError(self.no_separator)
            key, value = key_part, value_part
        if key is None and self.needs_key:
            raise MalformedLineError(
                "no key, and the md5 strategy refuses keyless messages as Kaffe does"
            )
        if self.headers or self.partition is not None:
            return kaffe.Message(key, value, list(self.headers), self.partition)
        return (key, value)  # a plain pair takes the producer's fast path

    def _parse_json(self, raw: bytes) -> tuple[str | None, str | bytes | None]:
        try:
            document = json.loads(raw)
        except UnicodeDecodeError:
            raise MalformedLineError("not valid UTF-8") from None
        except json.JSONDecodeError as error:
            raise MalformedLineError(
                f"not valid JSON ({error.msg} at column {error.colno})"
            ) from None
        if self.key_field is None and self.value_field is None:
            return None, raw
        if not isinstance(document, dict):
            kind = _JSON_TYPES.get(type(document), "number")
            raise MalformedLineError(f"a JSON {kind}, not an object with the fields to read")
        key = None if self.key_field is None else _json_field(document, self.key_field)
        value = raw if self.value_field is None else _json_field(document, self.value_field)
        return key, value


def _json_field(document: dict[str, Any], field: str) -> str | None:
    """A field as text: strings as they are, ``null`` as ``None``, other JSON compacted."""
    if field not in document:
        raise MalformedLineError(f"no field {field!r}")
    value = document[field]
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
