"""How ``kaffe produce`` reads its input in batches of lines, and turns a line into a message."""

from __future__ import annotations

import io
import os
import threading
from typing import Any

import pytest

from kaffe import Message
from kaffe._cli._lines import READ_SIZE, LineFormat, MalformedLineError, read_batches


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
    try:
        message = form.message(raw)
    except MalformedLineError as malformed:
        return str(malformed)
    if not isinstance(message, Message):  # a plain (key, value) pair: the fast path
        assert len(message) == 2
        return Message(*message)
    return message


def batches(
    data: bytes, batch_size: int = 3, byte_limit: int = 1000
) -> list[tuple[int, list[bytes]]]:
    return [
        (first, lines) for first, lines, _ in read_batches(io.BytesIO(data), batch_size, byte_limit)
    ]


# --- reading -----------------------------------------------------------------------------


def test_lines_come_in_batches_numbered_from_1_with_their_line_ends_removed() -> None:
    assert batches(b"a\nb\nc\nd\ne\n") == [(1, [b"a", b"b", b"c"]), (4, [b"d", b"e"])]


def test_crlf_line_ends_and_a_last_line_without_one_are_read_like_lf() -> None:
    assert batches(b"a\r\nb\rc\r\n\r\nlast\r", batch_size=10) == [
        (1, [b"a", b"b\rc", b"", b"last"])
    ]


def test_empty_lines_stay_in_the_batch_so_numbers_keep_counting() -> None:
    assert batches(b"a\n\n\nb\n", batch_size=2) == [(1, [b"a", b""]), (3, [b"", b"b"])]


def test_a_batch_ends_early_at_the_line_that_reaches_the_byte_limit() -> None:
    data = b"".join(b"%d%s\n" % (number, b"x" * 9) for number in range(6))

    assert [len(lines) for _, lines in batches(data, batch_size=5, byte_limit=25)] == [3, 3]
    assert batches(b"%s\nb\n" % (b"x" * 50), byte_limit=25) == [(1, [b"x" * 50]), (2, [b"b"])]


def test_a_line_across_two_reads_is_one_line() -> None:
    first = b"k\t" + b"v" * (READ_SIZE - 3) + b"\r"  # a full read, ending inside the CR LF
    data = first + b"\nnext\n"

    assert batches(data, batch_size=5, byte_limit=10 * READ_SIZE) == [(1, [first[:-1], b"next"])]


def test_a_cr_before_a_crlf_cut_between_two_reads_stays_in_the_line() -> None:
    first = b"v" * (READ_SIZE - 2) + b"\r\r"  # the read ends between the CR LF's CR and LF
    data = first + b"\nnext\n"

    assert batches(data, batch_size=5, byte_limit=10 * READ_SIZE) == [(1, [first[:-1], b"next"])]


def test_a_full_batch_goes_out_before_the_input_ends() -> None:
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as source, open(write_end, "wb") as sink:
        sink.write(b"a\nb\nc")
        sink.flush()
        reader = read_batches(source, 2, 1000)

        assert next(reader)[:2] == (1, [b"a", b"b"])  # while the input is still open

        later = threading.Timer(0.01, sink.close)
        later.start()
        assert [batch[:2] for batch in reader] == [(3, [b"c"])]
        later.join()


def test_the_bytes_read_so_far_come_with_each_batch() -> None:
    reader = read_batches(io.BytesIO(b"ab\ncd\n"), 1, 1000)

    assert [read for _, _, read in reader] == [6, 6]


# --- parsing -----------------------------------------------------------------------------


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
