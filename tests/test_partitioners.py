"""Unit tests of kaffe.partitioners: reference vectors, properties, keyless placement."""

from __future__ import annotations

import collections
import hashlib
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaffe import partitioners
from kaffe.partitioners import HASH_FUNCTIONS, RoundRobin, StickyRandom

#: Recorded from librdkafka's own partitioners and from Kaffe's md5 rule (see its "about").
VECTORS_FILE = Path(__file__).resolve().parent / "data" / "partition-vectors.json"


def _load_vectors() -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text())["vectors"]
    return vectors


VECTORS = _load_vectors()
HASHES = sorted(HASH_FUNCTIONS)
KEYS = st.binary(max_size=300)
COUNTS = st.integers(min_value=1, max_value=100_000)


def _vector_id(row: dict[str, Any]) -> str:
    return f"{row['algorithm']}-{row['partitions']}-{row['key_hex'][:16] or 'empty'}"


def test_reference_vectors_cover_every_hash_function() -> None:
    assert {row["algorithm"] for row in VECTORS} == set(HASHES)
    assert len(VECTORS) == 1442


@pytest.mark.parametrize("row", VECTORS, ids=_vector_id)
def test_hash_functions_match_every_reference_vector(row: dict[str, Any]) -> None:
    key = bytes.fromhex(row["key_hex"])
    function = HASH_FUNCTIONS[row["algorithm"]]

    assert function(key, row["partitions"]) == row["partition"]


def test_md5_matches_kaffe_for_reference_keys() -> None:
    # The two expectations of Kaffe's own producer test, with 32 partitions.
    assert partitioners.md5("key8", 32) == 17
    assert partitioners.md5("key12", 32) == 17


def test_md5_is_the_digest_byte_sum_modulo_the_partition_count() -> None:
    digest = hashlib.md5(b"user-42").digest()

    assert partitioners.md5(b"user-42", 1000) == sum(digest) % 1000


@pytest.mark.parametrize(
    ("name", "implementation"),
    [
        ("murmur2", confluent_kafka.murmur2),
        ("crc32", confluent_kafka.consistent),
        ("fnv1a", confluent_kafka.fnv1a),
    ],
)
def test_librdkafka_hashes_are_confluent_kafkas_c_implementations(
    name: str, implementation: Callable[[bytes, int], int]
) -> None:
    for key in (b"", b"a", b"user-42", bytes(range(256))):
        for count in (1, 7, 12, 1000):
            assert HASH_FUNCTIONS[name](key, count) == implementation(key, count)


def test_hash_functions_are_registered_under_their_names() -> None:
    expected = {
        "md5": partitioners.md5,
        "murmur2": partitioners.murmur2,
        "crc32": partitioners.crc32,
        "fnv1a": partitioners.fnv1a,
    }
    assert dict(HASH_FUNCTIONS) == expected
    for name, function in HASH_FUNCTIONS.items():
        assert function.__name__ == name
        assert function.__doc__


def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions, each alphabetically: ruff's RUF022 order."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_names_every_public_object() -> None:
    assert partitioners.__all__ == sorted(partitioners.__all__, key=_isort_key)
    for name in partitioners.__all__:
        assert hasattr(partitioners, name)


# --- properties ------------------------------------------------------------------------


@pytest.mark.parametrize("name", HASHES)
@given(key=KEYS, partitions_count=COUNTS)
def test_hash_result_is_always_a_partition_in_range(
    name: str, key: bytes, partitions_count: int
) -> None:
    partition = HASH_FUNCTIONS[name](key, partitions_count)

    assert type(partition) is int
    assert 0 <= partition < partitions_count


@pytest.mark.parametrize("name", HASHES)
@given(key=KEYS, partitions_count=COUNTS)
def test_hash_is_deterministic(name: str, key: bytes, partitions_count: int) -> None:
    function = HASH_FUNCTIONS[name]

    assert function(key, partitions_count) == function(bytes(key), partitions_count)


@pytest.mark.parametrize("name", HASHES)
@given(key=st.text(max_size=100), partitions_count=COUNTS)
def test_str_key_places_like_its_utf8_bytes(name: str, key: str, partitions_count: int) -> None:
    function = HASH_FUNCTIONS[name]

    assert function(key, partitions_count) == function(key.encode("utf-8"), partitions_count)


@pytest.mark.parametrize("name", HASHES)
@given(key=KEYS, partitions_count=COUNTS)
def test_bytearray_and_memoryview_keys_place_like_bytes(
    name: str, key: bytes, partitions_count: int
) -> None:
    function = HASH_FUNCTIONS[name]
    expected = function(key, partitions_count)

    assert function(bytearray(key), partitions_count) == expected
    assert function(memoryview(key), partitions_count) == expected


@pytest.mark.parametrize("name", HASHES)
@given(key=KEYS)
def test_a_single_partition_takes_every_key(name: str, key: bytes) -> None:
    assert HASH_FUNCTIONS[name](key, 1) == 0


# --- bad input ---------------------------------------------------------------------------


def test_md5_refuses_a_none_key_as_kaffe_does() -> None:
    with pytest.raises(ValueError, match=r"md5: the key is None.*refuses keyless messages"):
        partitioners.md5(None, 8)


@pytest.mark.parametrize("name", ["murmur2", "crc32", "fnv1a"])
def test_pure_librdkafka_hashes_refuse_a_none_key_and_name_sticky_placement(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: the key is None.*StickyRandom"):
        HASH_FUNCTIONS[name](None, 8)


@pytest.mark.parametrize("name", HASHES)
@pytest.mark.parametrize("key", [42, 4.2, ["a"], object()])
def test_hash_refuses_keys_that_are_not_bytes_or_str(name: str, key: Any) -> None:
    with pytest.raises(TypeError, match=f"{name}: the key must be bytes or str, not"):
        HASH_FUNCTIONS[name](key, 8)


@pytest.mark.parametrize("name", HASHES)
def test_hash_refuses_a_str_key_that_is_not_valid_unicode(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: the key is not valid Unicode text"):
        HASH_FUNCTIONS[name]("bad \ud800 surrogate", 8)


@pytest.mark.parametrize("name", HASHES)
@pytest.mark.parametrize("count", [0, -1])
def test_hash_refuses_a_partition_count_below_one(name: str, count: int) -> None:
    with pytest.raises(ValueError, match=f"{name}: partitions_count must be at least 1"):
        HASH_FUNCTIONS[name](b"key", count)


@pytest.mark.parametrize("name", HASHES)
@pytest.mark.parametrize("count", [True, 8.0, "8", None])
def test_hash_refuses_a_partition_count_that_is_not_int(name: str, count: Any) -> None:
    with pytest.raises(TypeError, match=f"{name}: partitions_count must be int"):
        HASH_FUNCTIONS[name](b"key", count)


# --- random and round robin ----------------------------------------------------------------


@given(partitions_count=st.integers(min_value=1, max_value=1000))
def test_random_returns_a_partition_in_range_whatever_the_key(partitions_count: int) -> None:
    assert 0 <= partitioners.random(None, partitions_count) < partitions_count


def test_random_reaches_every_partition() -> None:
    seen = {partitioners.random(b"same key", 4) for _ in range(400)}

    assert seen == {0, 1, 2, 3}


def test_round_robin_cycles_through_every_partition_in_order() -> None:
    cycle = RoundRobin()

    assert [cycle(None, 3) for _ in range(7)] == [0, 1, 2, 0, 1, 2, 0]


def test_round_robin_follows_a_shrinking_partition_count() -> None:
    cycle = RoundRobin()
    for _ in range(5):
        cycle(b"k", 8)

    assert cycle(b"k", 4) == 1
    assert repr(cycle) == "RoundRobin(next=2)"


def test_round_robin_refuses_a_partition_count_below_one() -> None:
    with pytest.raises(ValueError, match="round_robin: partitions_count must be at least 1"):
        RoundRobin()(None, 0)


# --- sticky placement of keyless messages -----------------------------------------------------


def test_sticky_random_stays_on_one_partition_until_a_batch_is_full() -> None:
    sticky = StickyRandom(batch_bytes=1000)
    available = tuple(range(8))

    # 100-byte messages: a fresh partition is drawn before messages 0, 10, 20, ...
    placed = [sticky(100, available) for _ in range(1000)]

    blocks = [placed[start : start + 10] for start in range(0, len(placed), 10)]
    assert all(len(set(block)) == 1 for block in blocks)
    assert len({block[0] for block in blocks}) > 1  # 100 draws from 8 partitions


def test_sticky_random_draws_again_after_the_message_that_fills_the_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws = iter([3, 1, 2])
    offered: list[tuple[int, ...]] = []

    def choice(available: tuple[int, ...]) -> int:
        offered.append(available)
        return next(draws)

    monkeypatch.setattr(random, "choice", choice)
    sticky = StickyRandom(batch_bytes=1000)

    placed = [sticky(size, (0, 1, 2, 3)) for size in (600, 600, 10, 990, 1)]

    # 600 + 600 fills the first batch; 10 + 990 fills the second.
    assert placed == [3, 3, 1, 1, 2]
    assert offered == [(0, 1, 2, 3)] * 3


def test_sticky_random_uses_the_java_clients_batch_size_by_default() -> None:
    sticky = StickyRandom()
    available = tuple(range(16))
    placed = [sticky(1024, available) for _ in range(160)]

    assert partitioners.DEFAULT_STICKY_BATCH_BYTES == 16384
    assert all(len(set(placed[start : start + 16])) == 1 for start in range(0, 160, 16))


def test_sticky_random_only_uses_available_partitions() -> None:
    sticky = StickyRandom(batch_bytes=1)
    placed = collections.Counter(sticky(10, (2, 5)) for _ in range(500))

    assert set(placed) == {2, 5}


def test_sticky_random_leaves_a_partition_that_became_unavailable() -> None:
    sticky = StickyRandom(batch_bytes=10_000)
    current = sticky(10, (0, 1, 2, 3))

    remaining = tuple(partition for partition in range(4) if partition != current)
    moved = sticky(10, remaining)

    assert moved in remaining
    assert sticky(10, remaining) == moved


def test_sticky_random_refuses_an_empty_partition_list() -> None:
    with pytest.raises(ValueError, match="no partition is available"):
        StickyRandom()(10, ())


@pytest.mark.parametrize("batch_bytes", [0, -5, 1.5, True])
def test_sticky_random_refuses_a_batch_size_below_one_byte(batch_bytes: Any) -> None:
    with pytest.raises(ValueError, match="batch_bytes must be an int >= 1"):
        StickyRandom(batch_bytes=batch_bytes)


def test_sticky_random_spreads_keyless_messages_over_many_batches() -> None:
    sticky = StickyRandom(batch_bytes=100)
    placed = collections.Counter(sticky(100, tuple(range(4))) for _ in range(4000))

    assert set(placed) == {0, 1, 2, 3}
    assert min(placed.values()) > 700  # about 1000 each
