"""``kaffe ping`` against a real broker."""

from __future__ import annotations

import re

import pytest
from confluent_kafka.admin import AdminClient

from tests.integration.kaffe_command import kaffe, table_row

pytestmark = pytest.mark.integration


def test_ping_shows_brokers_controller_and_round_trip(bootstrap: str, admin: AdminClient) -> None:
    metadata = admin.list_topics(timeout=10)

    result = kaffe("ping", "-e", bootstrap, "--count", "2")

    assert result.returncode == 0, result.stderr
    for broker_id, broker in metadata.brokers.items():
        assert table_row(result.stdout, str(broker_id))[1:3] == [broker.host, str(broker.port)]
    assert f"controller: {metadata.controller_id}" in result.stdout
    assert re.search(r"round trip: min [\d.]+ ms, median [\d.]+ ms, max [\d.]+ ms", result.stdout)
    assert "over 2 request(s)" in result.stdout
