"""
Key-to-partition functions, pure and free of I/O.

Each hashing function takes ``(key, partitions_count)`` and returns a partition in
``0..partitions_count-1``. A ``str`` key is hashed as its UTF-8 bytes.

Each places keys where these producers do:

* ``md5``: Kaffe (Elixir) ``:md5``, the sum of the 16 MD5 digest bytes, mod count.
* ``murmur2``: the Java client's default for keyed records, librdkafka ``murmur2``,
  franz-go, aiokafka, kafka-python.
* ``crc32``: librdkafka's default ``consistent`` / ``consistent_random``, Sarama's
  ``NewConsistentCRCHashPartitioner``.
* ``fnv1a``: Sarama's default ``NewHashPartitioner``, librdkafka ``fnv1a``.

``murmur2``, ``crc32`` and ``fnv1a`` are librdkafka's own C implementations, as
exposed by confluent-kafka, so they cannot drift from what librdkafka does.

Keys that are ``None`` cannot be hashed, so these functions refuse them. The
producer's strategies treat keyless messages the way each reference client does:

* ``md5`` refuses them, as Kaffe does (:class:`kaffe.PartitionStrategyError`).
* ``murmur2``, ``crc32`` and ``fnv1a`` use sticky random placement (:class:`StickyRandom`):
  one random partition that has a leader takes keyless messages until about a batch
  (16 KiB) has gone there, then another is drawn. This is the Java client's built-in
  partitioner (KIP-794). librdkafka's ``*_random`` partitioners are sticky too, but
  switch on a timer (``sticky.partitioning.linger.ms``), and Sarama draws a random
  partition per message; every one of them spreads keyless messages at random, so
  no consumer can rely on where one lands. kaffe draws the partition itself, rather
  than leaving it to librdkafka, so both producer faces place keyless messages the
  same way and a :class:`kaffe.Delivery` always names the partition chosen.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

import confluent_kafka

from ._hot import (
    DEFAULT_STICKY_BATCH_BYTES,
    CursorPlacer,
    FunctionPlacer,
    HashPlacer,
    Placer,
    RandomPlacer,
    StickyRandom,
    md5_of_bytes,
)

__all__ = [
    "DEFAULT_STICKY_BATCH_BYTES",
    "HASH_FUNCTIONS",
    "STRATEGY_NAMES",
    "Placer",
    "RoundRobin",
    "StickyRandom",
    "Strategy",
    "crc32",
    "fnv1a",
    "md5",
    "md5_of_bytes",
    "murmur2",
    "random",
    "strategy",
]

KeyLike = bytes | str | bytearray | memoryview | None

# librdkafka's own C partitioners, as confluent-kafka exposes them: (key bytes, count).
_librdkafka_murmur2: Callable[[bytes, int], int] = confluent_kafka.murmur2
_librdkafka_consistent: Callable[[bytes, int], int] = confluent_kafka.consistent
_librdkafka_fnv1a: Callable[[bytes, int], int] = confluent_kafka.fnv1a


def _key_bytes(key: KeyLike, name: str) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str):
        try:
            return key.encode()
        except UnicodeEncodeError as error:
            raise ValueError(
                f"{name}: the key is not valid Unicode text ({error.reason} at position "
                f"{error.start}); pass the key as bytes"
            ) from None
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key)
    if key is None:
        if name == "md5":
            raise ValueError(
                "md5: the key is None; Kaffe's md5 strategy refuses keyless messages, so give "
                "the message a key, name a partition, or choose another strategy"
            )
        raise ValueError(
            f"{name}: the key is None and a None key has no hash; the producer's {name} "
            "strategy places keyless messages with StickyRandom instead"
        )
    raise TypeError(f"{name}: the key must be bytes or str, not {type(key).__name__}")


def _check_count(partitions_count: int, name: str) -> None:
    if isinstance(partitions_count, bool) or not isinstance(partitions_count, int):
        raise TypeError(
            f"{name}: partitions_count must be int, not {type(partitions_count).__name__}"
        )
    if partitions_count < 1:
        raise ValueError(f"{name}: partitions_count must be at least 1, got {partitions_count}")


def md5(key: KeyLike, partitions_count: int) -> int:
    """
    Kaffe's ``:md5`` strategy: the sum of the 16 MD5 digest bytes, modulo the partition count.

    Args:
        key: The message key; ``None`` is refused.
        partitions_count: How many partitions the topic has.

    Returns:
        The partition.

    Raises:
        ValueError: The key is ``None`` or ``partitions_count`` is below 1.
        TypeError: The key is not bytes or str.
    """
    _check_count(partitions_count, "md5")
    return md5_of_bytes(_key_bytes(key, "md5"), partitions_count)


def murmur2(key: KeyLike, partitions_count: int) -> int:
    """
    The Java client's keyed partitioner: ``toPositive(murmur2(key)) % partitions_count``.

    Args:
        key: The message key; ``None`` is refused.
        partitions_count: How many partitions the topic has.

    Returns:
        The partition, where Java, librdkafka ``murmur2`` and franz-go put the key.
    """
    _check_count(partitions_count, "murmur2")
    return _librdkafka_murmur2(_key_bytes(key, "murmur2"), partitions_count)


def crc32(key: KeyLike, partitions_count: int) -> int:
    """
    The default ``consistent`` partitioner of librdkafka: ``crc32(key) % partitions_count``.

    Args:
        key: The message key; ``None`` is refused.
        partitions_count: How many partitions the topic has.

    Returns:
        The partition, where librdkafka's default and Sarama's
        ``NewConsistentCRCHashPartitioner`` put the key.
    """
    _check_count(partitions_count, "crc32")
    return _librdkafka_consistent(_key_bytes(key, "crc32"), partitions_count)


def fnv1a(key: KeyLike, partitions_count: int) -> int:
    """
    The FNV-1a partitioner of Sarama (Go) and librdkafka ``fnv1a``.

    Args:
        key: The message key; ``None`` is refused.
        partitions_count: How many partitions the topic has.

    Returns:
        The partition, where Sarama's default hash partitioner puts the key.
    """
    _check_count(partitions_count, "fnv1a")
    return _librdkafka_fnv1a(_key_bytes(key, "fnv1a"), partitions_count)


#: The hashing functions by strategy name.
HASH_FUNCTIONS: dict[str, Callable[[KeyLike, int], int]] = {
    "md5": md5,
    "murmur2": murmur2,
    "crc32": crc32,
    "fnv1a": fnv1a,
}


def random(key: object, partitions_count: int) -> int:
    """
    A uniformly random partition; the key is ignored.

    Args:
        key: Ignored.
        partitions_count: How many partitions the topic has.

    Returns:
        The partition.
    """
    _check_count(partitions_count, "random")
    return _random.randrange(partitions_count)


class RoundRobin:
    """
    Cycle through the partitions: 0, 1, 2, ... and back to 0.

    Call it like the hashing functions; each call moves on by one partition. One
    instance keeps one cursor, so use one per topic.
    """

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def __call__(self, key: object, partitions_count: int) -> int:
        """
        Return the next partition.

        Args:
            key: Ignored.
            partitions_count: How many partitions the topic has.

        Returns:
            The partition.

        Raises:
            ValueError: ``partitions_count`` is below 1.
        """
        _check_count(partitions_count, "round_robin")
        partition = self._next % partitions_count
        self._next = partition + 1
        return partition

    def __repr__(self) -> str:
        return f"RoundRobin(next={self._next})"


# --- the producer's strategies ---------------------------------------------------------

#: Strategy names a producer accepts for ``partition_strategy``.
STRATEGY_NAMES = ("md5", "murmur2", "crc32", "fnv1a", "round_robin", "random")

#: The key hashes on ``bytes``, without argument checks: the producer's hot path.
_KEY_HASHES: dict[str, Callable[[bytes, int], int]] = {
    "md5": md5_of_bytes,
    "murmur2": confluent_kafka.murmur2,
    "crc32": confluent_kafka.consistent,
    "fnv1a": confluent_kafka.fnv1a,
}


class Strategy:
    """
    A producer's partition strategy: makes one :class:`Placer` per topic.

    Build one with :func:`strategy`. ``key_hash`` is set for the hashing strategies:
    a keyed message is then placed by ``key_hash(key_bytes, partitions_count)`` alone.

    Attributes:
        name: The strategy's name, or the function's qualified name.
        key_hash: The key hash of a hashing strategy, else ``None``.
    """

    __slots__ = ("_make_placer", "key_hash", "name")

    def __init__(
        self,
        name: str,
        make_placer: Callable[[str], Placer],
        key_hash: Callable[[bytes, int], int] | None = None,
    ) -> None:
        self.name = name
        self.key_hash = key_hash
        self._make_placer = make_placer

    def placer(self, topic: str) -> Placer:
        """
        A new placer for ``topic``, with fresh memory (cursor, sticky partition).

        Args:
            topic: The topic's broker-side name.

        Returns:
            The placer.
        """
        return self._make_placer(topic)

    def __repr__(self) -> str:
        return f"Strategy({self.name!r})"


def strategy(spec: str | Callable[..., int]) -> Strategy:
    """
    The producer strategy for a name of :data:`STRATEGY_NAMES`, or for a function.

    A function is called as ``fn(topic, current_partition, partitions_count, key, value)``,
    where ``current_partition`` is the partition it chose last for that topic (``None``
    at first) and key and value are exactly as the caller gave them.

    Args:
        spec: A strategy name, or a function.

    Returns:
        The strategy.

    Raises:
        ValueError: ``spec`` names no strategy.
    """
    if not isinstance(spec, str):
        name = getattr(spec, "__qualname__", type(spec).__name__)
        return Strategy(name, lambda topic: FunctionPlacer(name, spec, topic))
    key_hash = _KEY_HASHES.get(spec)
    if key_hash is not None:
        return Strategy(spec, lambda topic: HashPlacer(spec, key_hash, topic), key_hash)
    if spec == "round_robin":
        return Strategy(spec, lambda topic: CursorPlacer())
    if spec == "random":
        return Strategy(spec, lambda topic: RandomPlacer())
    raise ValueError(f"unknown strategy {spec!r}; allowed: {', '.join(STRATEGY_NAMES)}")
