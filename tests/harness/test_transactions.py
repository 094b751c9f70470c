"""
The harness's brokers run transactions: the transaction state log fits the cluster size.

A single broker keeps one copy of ``__transaction_state`` (min ISR 1); the
3-node cluster keeps three with two in sync. A transactional confluent-kafka
producer initialises, commits and aborts on both.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]

from tests.conftest import create_topic, read_topic
from tests.integration.conftest import ReplicatedCluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

TRANSACTION_TIMEOUT = 60.0


def _produce_in_transactions(bootstrap: str, topic: str) -> None:
    """Commit two messages in one transaction, then abort a third."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"harness-{uuid.uuid4().hex}",
            "log_level": 3,
        }
    )
    producer.init_transactions(TRANSACTION_TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"committed-1", partition=0)
    producer.produce(topic, key=b"k", value=b"committed-2", partition=0)
    producer.commit_transaction(TRANSACTION_TIMEOUT)
    producer.begin_transaction()
    producer.produce(topic, key=b"k", value=b"aborted", partition=0)
    producer.flush(TRANSACTION_TIMEOUT)
    producer.abort_transaction(TRANSACTION_TIMEOUT)


def _transaction_log(admin: AdminClient) -> tuple[int, str]:
    """Return the replica count and min.insync.replicas of ``__transaction_state``."""
    topic = "__transaction_state"
    metadata = admin.list_topics(topic, timeout=30).topics[topic]
    replicas = {len(partition.replicas) for partition in metadata.partitions.values()}
    assert len(replicas) == 1, replicas
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    configs: Any = admin.describe_configs([resource])[resource].result(timeout=30)
    return replicas.pop(), configs["min.insync.replicas"].value


def _committed_values(bootstrap: str, topic: str) -> list[bytes | None]:
    committed_only: dict[str, Any] = {"isolation.level": "read_committed"}
    records = read_topic(bootstrap, topic, **committed_only)
    return [record.value for record in records]


def test_a_transactional_producer_commits_and_aborts_on_the_single_broker(
    bootstrap: str, admin: AdminClient
) -> None:
    topic = create_topic(admin, 1)
    _produce_in_transactions(bootstrap, topic)
    assert _committed_values(bootstrap, topic) == [b"committed-1", b"committed-2"]
    assert _transaction_log(admin) == (1, "1")


@pytest.mark.cluster
def test_a_transactional_producer_commits_and_aborts_on_the_three_node_cluster(
    healthy_cluster: ReplicatedCluster,
) -> None:
    topic = healthy_cluster.create_topic(partitions=1)
    _produce_in_transactions(healthy_cluster.bootstrap, topic)
    assert _committed_values(healthy_cluster.bootstrap, topic) == [b"committed-1", b"committed-2"]
    assert _transaction_log(healthy_cluster.admin) == (3, "2")
