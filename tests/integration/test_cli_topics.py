"""``kaffe topics`` against a real broker."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.kaffe_command import EXIT_UNKNOWN_TOPIC, kaffe, table_row

pytestmark = pytest.mark.integration


def test_topics_lists_partitions_leaders_and_in_sync_replicas(
    bootstrap: str, admin: AdminClient, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(3)
    brokers = admin.list_topics(topic, timeout=10).topics[topic].partitions
    leaders = ", ".join(str(leader) for leader in sorted({p.leader for p in brokers.values()}))

    result = kaffe("topics", topic, env={"KAFFE_ENDPOINTS": bootstrap})

    assert result.returncode == 0, result.stderr
    # topic, partitions, leaders, replicas, in sync, under-replicated, no leader
    assert table_row(result.stdout, topic) == [topic, "3", leaders, "1", "1", "0", "0"]


def test_topics_without_arguments_lists_every_user_topic(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(2)

    result = kaffe("topics", "-e", bootstrap)

    assert result.returncode == 0, result.stderr
    assert table_row(result.stdout, topic)[1] == "2"
    assert "__consumer_offsets" not in result.stdout


def test_topics_with_partitions_shows_one_row_per_partition(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(3)

    result = kaffe("topics", topic, "--partitions", "-e", bootstrap)

    assert result.returncode == 0, result.stderr
    rows = [line for line in result.stdout.splitlines() if f" {topic} " in line]
    assert len(rows) == 3


def test_topics_with_an_unknown_topic_exits_4(bootstrap: str) -> None:
    result = kaffe("topics", "no-such-topic-here", "-e", bootstrap)

    assert result.returncode == EXIT_UNKNOWN_TOPIC
    assert result.stderr.splitlines() == ["Error: topic 'no-such-topic-here' does not exist"]
