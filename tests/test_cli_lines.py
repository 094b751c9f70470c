"""How ``kaffe produce`` turns a line into a message."""

from __future__ import annotations

from typing import Any

import pytest

from kaffe import Message
from kaffe._cli._lines import Line, LineFormat


def line_format(**overrides: Any) -> LineFormat:
    settings: dict[str, Any] = {
        "jsonl": False,
        "key_separator": None,
        "key_field": None,
        "value_field": None,
        "headers": (),
        "partition": None,
        "needs_key": False,
    }
    settings.update(overrides)
    return LineFormat(**settings)


def parse(form: LineFormat, raw: bytes) -> Message | str:
    line = Line(1, raw)
    form.parse(line)
    if line.message is None:
        assert line.reason is not None
        return line.reason
    if not isinstance(line.message, Message):  # a plain (key, value) pair: the fast path
        assert len(line.message) == 2
        return Message(*line.message)
    return line.message


def test_a_plain_line_is_the_value_of_a_keyless_message() -> None:
    assert parse(line_format(), b"hello: world") == Message(None, b"hello: world")


def test_the_key_separator_splits_at_its_first_occurrence() -> None:
    form = line_format(key_separator=b"::")

    assert parse(form, b"user-42::a::b") == Message(b"user-42", b"a::b")
    assert parse(form, b"::empty key") == Message(b"", b"empty key")
    assert parse(form, b"no separator") == "no key separator '::' in the line"


def test_headers_and_partition_go_on_every_message() -> None:
    form = line_format(headers=(("source", "cli"), ("trace", "1")), partition=3)

    assert parse(form, b"v") == Message(None, b"v", [("source", "cli"), ("trace", "1")], 3)


def test_jsonl_fields_become_key_and_value() -> None:
    form = line_format(jsonl=True, key_field="id", value_field="body")

    assert parse(form, b'{"id": "u-1", "body": "hi"}') == Message("u-1", "hi")
    assert parse(form, b'{"id": 42, "body": {"a": [1, 2]}}') == Message("42", '{"a":[1,2]}')
    assert parse(form, '{"id": "é", "body": null}'.encode()) == Message("é", None)
    assert parse(form, b'{"id": null, "body": true}') == Message(None, "true")


def test_jsonl_without_a_value_field_sends_the_whole_line() -> None:
    raw = b'{"id": "u-1", "n": 1}'

    assert parse(line_format(jsonl=True, key_field="id"), raw) == Message("u-1", raw)
    assert parse(line_format(jsonl=True), raw) == Message(None, raw)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not valid JSON (Expecting property name enclosed in double quotes"),
        (b"\xff\xfe{}", "not valid"),
        (b"[1, 2]", "a JSON array, not an object with the fields to read"),
        (b'"text"', "a JSON string, not an object"),
        (b"12", "a JSON number, not an object"),
        (b'{"body": "x"}', "no field 'id'"),
    ],
)
def test_malformed_jsonl_lines_get_a_reason(raw: bytes, reason: str) -> None:
    result = parse(line_format(jsonl=True, key_field="id", value_field="body"), raw)

    assert isinstance(result, str)
    assert result.startswith(reason)


def test_jsonl_without_fields_still_checks_the_json() -> None:
    assert parse(line_format(jsonl=True), b"{oops") == (
        "not valid JSON (Expecting property name enclosed in double quotes at column 2)"
    )


def test_a_keyless_line_is_refused_when_the_strategy_needs_keys() -> None:
    form = line_format(jsonl=True, key_field="id", needs_key=True)

    assert parse(form, b'{"id": null}') == (
        "no key, and the md5 strategy refuses keyless messages as Kaffe does"
    )
