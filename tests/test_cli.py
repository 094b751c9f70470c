"""Unit tests of the ``kaffe`` command that need no broker: ``kaffe partition``, argument errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import kaffe
from kaffe import _cli, partitioners
from kaffe._types import Message

VECTORS = json.loads(
    (Path(__file__).resolve().parent / "data" / "partition-vectors.json").read_text()
)["vectors"]


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(_cli.cli, list(args), input=input, prog_name="kaffe")


def error_lines(result: Result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("Error:")]


def test_module_exports_only_main() -> None:
    assert _cli.__all__ == ["main"]


def test_help_lists_the_commands_and_documents_every_exit_code() -> None:
    result = run("--help")

    assert result.exit_code == 0
    for command in ("produce", "topics", "partition", "ping"):
        assert command in result.stdout
    for code in (0, 1, 2, 3, 4, 5, 130):
        assert f"\n    {code} " in result.stdout


def test_version_prints_the_package_version() -> None:
    result = run("--version")

    assert result.exit_code == 0
    assert kaffe.__version__ in result.stdout


def test_main_runs_the_command_with_the_given_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli.main(["partition", "key8", "--partitions", "32"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == "key8\t17\n"


# --- kaffe partition ---------------------------------------------------------------------


def test_partition_of_one_key_ends_with_the_md5_partition() -> None:
    result = run("partition", "key12", "--partitions", "32")

    assert result.exit_code == 0
    assert result.stdout.split()[-1] == "17"  # Kaffe's own expectation


@pytest.mark.parametrize("strategy", sorted(partitioners.HASH_FUNCTIONS))
def test_partition_uses_the_named_strategy(strategy: str) -> None:
    result = run("partition", "user-42", "--partitions", "100", "--strategy", strategy)

    expected = partitioners.HASH_FUNCTIONS[strategy]("user-42", 100)
    assert result.exit_code == 0
    assert result.stdout == f"user-42\t{expected}\n"


def test_partition_prints_one_tab_separated_line_per_key() -> None:
    keys = ["a", "user 42", "café"]

    result = run("partition", *keys, "-n", "12", "-s", "fnv1a")

    assert result.stdout.splitlines() == [f"{key}\t{partitioners.fnv1a(key, 12)}" for key in keys]


def test_partition_all_prints_a_table_across_every_strategy() -> None:
    result = run("partition", "user-42", "key8", "--partitions", "32", "--strategy", "all")

    assert result.exit_code == 0
    header = next(line for line in result.stdout.splitlines() if "murmur2" in line)
    assert all(name in header for name in ("md5", "murmur2", "crc32", "fnv1a"))
    for key in ("user-42", "key8"):
        row = next(line for line in result.stdout.splitlines() if f" {key} " in line)
        numbers = [int(cell) for cell in row.replace("│", " ").split()[1:]]
        assert numbers == [function(key, 32) for function in partitioners.HASH_FUNCTIONS.values()]


@pytest.mark.parametrize(
    ("algorithm", "partitions"),
    sorted({(row["algorithm"], row["partitions"]) for row in VECTORS}),
)
def test_partition_matches_every_reference_vector_given_as_hex(
    algorithm: str, partitions: int
) -> None:
    rows = [
        row for row in VECTORS if row["algorithm"] == algorithm and row["partitions"] == partitions
    ]

    result = run(
        "partition",
        "--hex",
        "-n",
        str(partitions),
        "-s",
        algorithm,
        "--",
        *(row["key_hex"] for row in rows),
    )

    assert result.exit_code == 0, result.output
    printed = [int(line.rsplit("\t", 1)[1]) for line in result.stdout.splitlines()]
    assert printed == [row["partition"] for row in rows]


def test_partition_follows_kaffe_partition_strategy_when_it_names_a_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFFE_PARTITION_STRATEGY", "crc32")

    result = run("partition", "user-42", "-n", "12")

    assert result.stdout == f"user-42\t{partitioners.crc32('user-42', 12)}\n"


def test_partition_falls_back_to_md5_when_the_environment_names_no_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFFE_PARTITION_STRATEGY", "round_robin")

    result = run("partition", "user-42", "-n", "12")

    assert result.stdout == f"user-42\t{partitioners.md5('user-42', 12)}\n"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["partition", "key"], "Missing option '--partitions'"),
        (["partition", "key", "-n", "0"], "0 is not in the range x>=1"),
        (["partition", "key", "-n", "x"], "'x' is not a valid integer"),
        (["partition", "-n", "8"], "Missing argument 'KEY [KEY...]'"),
        (["partition", "key", "-n", "8", "-s", "round_robin"], "'round_robin' is not one of"),
        (["partition", "--hex", "zz", "-n", "8"], "'zz' is not hex-encoded bytes"),
    ],
)
def test_partition_refuses_bad_arguments_with_exit_code_2(args: list[str], complaint: str) -> None:
    result = run(*args)

    assert result.exit_code == _cli.EXIT_USAGE
    assert complaint in result.stderr
    assert result.stdout == ""


# --- kaffe produce: errors found before connecting -------------------------------------------


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--key-field", "id"], "--key-field and --value-field need --format jsonl"),
        (["--format", "jsonl", "-K", ":"], "--key-separator is for --format lines"),
        (["-K", ""], "must not be empty"),
        (["-p", "1", "-s", "md5"], "--partition and --strategy exclude each other"),
        (["-H", "no-equals"], "'no-equals' is not NAME=VALUE"),
        (["-H", "=value"], "'=value' is not NAME=VALUE"),
        (["-s", "md5", "-e", "127.0.0.1:9"], "the md5 strategy needs keys"),
        (["-s", "sha1"], "'sha1' is not one of"),
        (["--batch-size", "0"], "0 is not in the range x>=1"),
        (["--delivery-timeout", "0"], "is not in the range x>=0.001"),
        (["--timeout", "-1"], "is not in the range x>=0.001"),
        (["--file", "/nonexistent/input.txt"], "does not exist"),
        ([], "no brokers given: pass --endpoints HOST:PORT, set KAFFE_ENDPOINTS, or use --heroku"),
        (["--heroku", "-e", "127.0.0.1:9"], "--endpoints and --heroku exclude each other"),
    ],
)
def test_produce_refuses_bad_arguments_with_exit_code_2(args: list[str], complaint: str) -> None:
    result = run("produce", "events", *args, input=b"k:v\n")

    assert result.exit_code == _cli.EXIT_USAGE, result.output
    assert complaint in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "env", "complaint"),
    [
        (["-e", "not an endpoint"], {}, "Error: endpoints: 'not an endpoint' is not 'host:port'"),
        ([], {"KAFFE_ENDPOINTS": "host:99999"}, "Error: endpoints: 'host:99999' has an invalid"),
        (["--heroku"], {"KAFKA_URL": "http://x:1"}, "Error: KAFKA_URL entry 'http://x:1'"),
        (["-e", "127.0.0.1:9"], {"KAFFE_REQUIRED_ACKS": "2"}, "Error: required_acks: '2'"),
    ],
)
def test_produce_reports_bad_configuration_in_one_line_with_exit_code_2(
    args: list[str], env: dict[str, str], complaint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = run("produce", "events", *args, input=b"value\n")

    assert result.exit_code == _cli.EXIT_USAGE, result.output
    assert complaint in result.stderr
    assert "Traceback" not in result.output


def test_configuration_errors_print_exactly_one_line() -> None:
    result = run("produce", "events", "-e", "not an endpoint", input=b"value\n")

    assert result.stderr.splitlines() == ["Error: endpoints: 'not an endpoint' is not 'host:port'"]


def test_produce_refuses_an_invalid_topic_name_with_exit_code_2() -> None:
    result = run("produce", "no spaces allowed", "-e", "127.0.0.1:9", input=b"value\n")

    assert result.exit_code == _cli.EXIT_USAGE
    assert error_lines(result) == [
        "Error: topics: 'no spaces allowed' is not a valid topic name; use 1-249 characters "
        "of a-z, A-Z, 0-9, '.', '_' and '-'"
    ]


def test_verbose_adds_the_error_details_before_the_error_line() -> None:
    result = run("produce", "events", "-e", "not an endpoint", "--verbose", input=b"value\n")

    assert result.exit_code == _cli.EXIT_USAGE
    assert "type: kaffe.ConfigError" in result.stderr
    assert "reason: invalid endpoint" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: endpoints:")


@pytest.mark.parametrize("command", ["topics", "ping"])
def test_metadata_commands_need_brokers(command: str) -> None:
    result = run(command)

    assert result.exit_code == _cli.EXIT_USAGE
    assert "no brokers given" in result.stderr


# --- parsing lines ------------------------------------------------------------------------------


def line_format(**overrides: Any) -> _cli._LineFormat:
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
    return _cli._LineFormat(**settings)


def parse(form: _cli._LineFormat, raw: bytes) -> Message | str:
    line = _cli._Line(1, raw)
    form.parse(line)
    if line.message is None:
        assert line.reason is not None
        return line.reason
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


def test_failed_lines_are_grouped_into_runs_with_the_same_reason() -> None:
    failures = [(1, "a"), (2, "a"), (3, "b"), (5, "b"), (6, "b"), (7, "a")]

    assert list(_cli._runs(failures)) == [(1, 2, "a"), (3, 3, "b"), (5, 6, "b"), (7, 7, "a")]
    assert list(_cli._runs([])) == []


def test_exit_codes_are_distinct_and_zero_means_success() -> None:
    codes = [
        _cli.EXIT_OK,
        _cli.EXIT_NOT_PRODUCED,
        _cli.EXIT_USAGE,
        _cli.EXIT_UNREACHABLE,
        _cli.EXIT_UNKNOWN_TOPIC,
        _cli.EXIT_ERROR,
        _cli.EXIT_INTERRUPTED,
    ]

    assert len(set(codes)) == len(codes)
    assert _cli.EXIT_OK == 0
