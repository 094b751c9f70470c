"""``kaffe partition``: where each strategy puts keys, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kaffe import partitioners
from kaffe._cli._exit import EXIT_USAGE
from tests.cli_runner import run

VECTORS = json.loads(
    (Path(__file__).resolve().parent / "data" / "partition-vectors.json").read_text()
)["vectors"]


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

    assert result.exit_code == EXIT_USAGE
    assert complaint in result.stderr
    assert result.stdout == ""
