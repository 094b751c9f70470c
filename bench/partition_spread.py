"""
How evenly each hash strategy spreads keys over partitions.

Kaffe's md5 strategy sums the 16 bytes of the MD5 digest. That sum only spans
0..4080 and clusters around 2040 (a bell curve, standard deviation about 296), so
with many partitions some take far more keys than others, and a topic with more
than 4081 partitions has partitions md5 can never choose. murmur2, crc32 and fnv1a
take the hash modulo the partition count and spread like a random choice would.

For each strategy and partition count this prints, for ``--keys`` random UUID keys,
the fewest and most keys on one partition, the hottest partition's load as a
multiple of the mean (1.00 is perfectly even), the standard deviation of the counts
as a multiple of what a uniform random choice gives (1.00 is as even as random),
partitions that got no key, and partitions the strategy can never choose. For md5 it
also prints the exact least and most loaded partition's share as a multiple of the
mean, from the byte-sum distribution itself, free of sampling noise.

Run: python bench/partition_spread.py [--keys 100000] [--partitions 12,100,1000]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import uuid
from collections.abc import Sequence

from kaffe import partitioners

#: The largest byte sum of a 16-byte MD5 digest: 16 * 255.
MD5_MAX_SUM = 16 * 255


def md5_sum_distribution() -> list[int]:
    """How many of the 256**16 digests have each byte sum 0..4080 (exact integers)."""
    single = [1] * 256
    distribution = single
    for _ in range(4):  # 1 -> 2 -> 4 -> 8 -> 16 bytes
        distribution = _convolve(distribution, distribution)
    assert len(distribution) == MD5_MAX_SUM + 1
    return distribution


def _convolve(left: Sequence[int], right: Sequence[int]) -> list[int]:
    result = [0] * (len(left) + len(right) - 1)
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            result[i + j] += a * b
    return result


def md5_exact_shares(distribution: Sequence[int], partitions_count: int) -> list[float]:
    """The probability that md5 picks each partition, for a uniformly random digest."""
    total = sum(distribution)
    counts = [0] * partitions_count
    for byte_sum, ways in enumerate(distribution):
        counts[byte_sum % partitions_count] += ways
    return [count / total for count in counts]


def random_keys(count: int, seed: int) -> list[bytes]:
    generator = random.Random(seed)
    return [
        str(uuid.UUID(int=generator.getrandbits(128), version=4)).encode() for _ in range(count)
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--keys", type=int, default=100_000, help="random keys to place")
    parser.add_argument("--seed", type=int, default=1, help="seed of the key generator")
    parser.add_argument(
        "--partitions",
        default="12,100,1000",
        help="comma-separated partition counts (default: 12,100,1000)",
    )
    args = parser.parse_args(argv)
    counts = [int(part) for part in args.partitions.split(",") if part.strip()]
    keys = random_keys(args.keys, args.seed)
    distribution = md5_sum_distribution()

    print(f"Spread of {args.keys:,} random UUID keys (seed {args.seed}) over partitions.")
    print("max/mean: the hottest partition's load as a multiple of the mean (1.00 = even).")
    print("stddev/random: spread of the counts relative to a uniform random choice.")
    print()
    print(
        "| partitions | strategy | min | max | max/mean | stddev/random | empty "
        "| never chosen | md5 exact min-max/mean |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for partitions_count in counts:
        mean = args.keys / partitions_count
        ideal_stddev = math.sqrt(args.keys * (1 / partitions_count) * (1 - 1 / partitions_count))
        for name, function in partitioners.HASH_FUNCTIONS.items():
            placed = [0] * partitions_count
            for key in keys:
                placed[function(key, partitions_count)] += 1
            stddev = statistics.pstdev(placed)
            spread = stddev / ideal_stddev if ideal_stddev else 0.0
            if name == "md5":
                never = max(0, partitions_count - (MD5_MAX_SUM + 1))
                shares = md5_exact_shares(distribution, partitions_count)
                exact = f"{min(shares) * partitions_count:.2f}-{max(shares) * partitions_count:.2f}"
            else:
                never, exact = 0, ""
            print(
                f"| {partitions_count:,} | {name} | {min(placed):,} | {max(placed):,} "
                f"| {max(placed) / mean:.2f} | {spread:.2f} | {placed.count(0):,} "
                f"| {never:,} | {exact} |"
            )


if __name__ == "__main__":
    main()
