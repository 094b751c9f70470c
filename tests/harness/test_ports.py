"""The port layout of localkafka: which port each node and listener gets."""

from __future__ import annotations

import socket

import pytest

from localkafka._ports import (
    DEFAULT_PORT,
    HOST,
    default_port,
    last_port,
    node_ports,
    port_is_free,
    service_port,
)
from localkafka._report import HarnessError


def test_node_one_uses_the_base_port_and_the_next_six() -> None:
    assert node_ports(29092, 1) == {
        "plaintext": 29092,
        "ssl": 29093,
        "sasl_ssl": 29094,
        "controller": 29095,
        "oauthbearer": 29096,
        "upstream": 29097,
        "direct": 29098,
    }


def test_each_further_node_moves_ten_ports_up() -> None:
    assert node_ports(29192, 3) == {
        "plaintext": 29212,
        "ssl": 29213,
        "sasl_ssl": 29214,
        "controller": 29215,
        "oauthbearer": 29216,
        "upstream": 29217,
        "direct": 29218,
    }


def test_the_token_server_takes_a_spare_port_of_node_ones_block() -> None:
    assert service_port(29092, "token_server") == 29099
    every_node_port = {port for node in (1, 2, 3) for port in node_ports(29092, node).values()}
    assert service_port(29092, "token_server") not in every_node_port


def test_toxiproxys_api_takes_the_next_spare_port_of_node_ones_block() -> None:
    assert service_port(29092, "toxiproxy") == 29100
    every_node_port = {port for node in (1, 2, 3) for port in node_ports(29092, node).values()}
    assert service_port(29092, "toxiproxy") not in every_node_port
    assert service_port(29092, "toxiproxy") < node_ports(29092, 2)["plaintext"]


def test_a_cluster_ends_at_its_last_node_port_or_toxiproxys_api() -> None:
    assert last_port(29192, 3) == 29218
    assert last_port(29092, 1) == 29100


def test_default_port_reads_kaffe_kafka_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFFE_KAFKA_PORT", "31092")
    assert default_port() == 31092


def test_default_port_without_the_variable_is_29092(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFFE_KAFKA_PORT", raising=False)
    assert default_port() == DEFAULT_PORT == 29092


def test_a_kaffe_kafka_port_that_is_no_number_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFFE_KAFKA_PORT", "high")
    with pytest.raises(HarnessError, match="KAFFE_KAFKA_PORT must be a port number") as caught:
        default_port()
    assert caught.value.exit_code == 2


def test_a_port_with_a_listener_is_not_free() -> None:
    with socket.socket() as server:
        server.bind((HOST, 0))
        server.listen()
        port = server.getsockname()[1]
        assert not port_is_free(port)
    assert port_is_free(port)
