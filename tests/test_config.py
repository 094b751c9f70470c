from __future__ import annotations

import dataclasses

import pytest

import kaffe
from kaffe import ConfigError, ProducerConfig
from kaffe._config import (
    DEFAULT_DELIVERY_TIMEOUT,
    DEFAULT_START_TIMEOUT,
    Endpoint,
    read_env,
)


def test_endpoints_accept_a_comma_string() -> None:
    config = ProducerConfig(endpoints="h1:9092, h2:9093")
    assert config.endpoints == (("h1", 9092), ("h2", 9093))
    assert config.bootstrap_servers == "h1:9092,h2:9093"


def test_endpoints_accept_lists_of_strings_and_pairs() -> None:
    assert ProducerConfig(endpoints=["h1:9092", ("h2", 9093)]).endpoints == (
        ("h1", 9092),
        ("h2", 9093),
    )
    assert ProducerConfig(endpoints=[("h1", 9092)]).endpoints == (("h1", 9092),)


def test_endpoints_accept_bracketed_ipv6() -> None:
    config = ProducerConfig(endpoints="[::1]:9092")
    assert config.endpoints == (("::1", 9092),)
    assert config.bootstrap_servers == "[::1]:9092"


@pytest.mark.parametrize(
    "endpoints",
    ["", "nohost", "h:notaport", "h:0", "h:70000", [("h", "x")], ["h:1:2"], "[::1]9092", 42],
)
def test_bad_endpoints_raise_config_error_naming_endpoints(endpoints: object) -> None:
    with pytest.raises(ConfigError, match="endpoints"):
        ProducerConfig(endpoints=endpoints)  # type: ignore[arg-type]


def test_missing_endpoints_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="endpoints"):
        ProducerConfig(topics=["a"])


def test_endpoint_str_round_trips() -> None:
    assert str(Endpoint.parse("h:1")) == "h:1"
    assert Endpoint.parse(("h", 1)).host == "h"


def test_topics_accept_comma_string_and_drop_duplicates() -> None:
    assert ProducerConfig(endpoints="h:1", topics="a, b,a").topics == ("a", "b")


@pytest.mark.parametrize("topic", ["", "bad topic", "x" * 250, ".", "..", "ü"])
def test_invalid_topic_names_are_rejected_at_construction(topic: str) -> None:
    with pytest.raises(kaffe.InvalidTopicError, match="topics"):
        ProducerConfig(endpoints="h:1", topics=[topic])


def test_defaults_are_safe() -> None:
    config = ProducerConfig(endpoints="h:1")
    assert config.partition_strategy == "md5"
    assert config.required_acks == -1
    assert config.idempotence is True
    assert config.delivery_timeout == DEFAULT_DELIVERY_TIMEOUT
    assert config.start_timeout == DEFAULT_START_TIMEOUT <= 10
    assert config.allow_topic_auto_creation is False
    properties = config.librdkafka_properties()
    assert properties["acks"] == -1
    assert properties["enable.idempotence"] is True
    assert properties["allow.auto.create.topics"] is False
    assert properties["linger.ms"] == 0


@pytest.mark.parametrize(("given", "expected"), [("all", -1), (-1, -1), (1, 1), (0, 0), ("1", 1)])
def test_required_acks_accepts_all_and_numbers(given: object, expected: int) -> None:
    config = ProducerConfig(endpoints="h:1", required_acks=given, idempotence=False)  # type: ignore[arg-type]
    assert config.required_acks == expected


def test_required_acks_rejects_other_values_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"required_acks.*'all'"):
        ProducerConfig(endpoints="h:1", required_acks=2)


def test_idempotence_follows_acks_unless_given() -> None:
    assert ProducerConfig(endpoints="h:1", required_acks=1).idempotence is False
    with pytest.raises(ConfigError, match="idempotence"):
        ProducerConfig(endpoints="h:1", required_acks=1, idempotence=True)


def test_unknown_strategy_is_rejected_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"partition_strategy.*md5.*round_robin"):
        ProducerConfig(endpoints="h:1", partition_strategy="modulo")


@pytest.mark.parametrize("name", ["md5", "MURMUR2", "crc32", "fnv1a", "round_robin", "random"])
def test_known_strategies_are_accepted(name: str) -> None:
    assert (
        ProducerConfig(endpoints="h:1", partition_strategy=name).partition_strategy == name.lower()
    )


def test_function_strategy_is_accepted() -> None:
    def strategy(topic: str, current: int | None, count: int, key: object, value: object) -> int:
        return 0

    assert (
        ProducerConfig(endpoints="h:1", partition_strategy=strategy).partition_strategy is strategy
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("delivery_timeout", 0),
        ("start_timeout", -1),
        ("linger_ms", "5"),
        ("queue_full_timeout", True),
        ("metadata_refresh_interval", 0),
    ],
)
def test_bad_numbers_raise_config_error_naming_the_option(option: str, value: object) -> None:
    with pytest.raises(ConfigError, match=option):
        ProducerConfig(endpoints="h:1", **{option: value})  # type: ignore[arg-type]


def test_client_config_is_copied_not_mutated() -> None:
    original = {"compression.type": "lz4"}
    config = ProducerConfig(endpoints="h:1", client_config=original)
    original["compression.type"] = "zstd"
    assert config.client_config["compression.type"] == "lz4"
    assert config.librdkafka_properties()["compression.type"] == "lz4"
    with pytest.raises(TypeError):
        config.client_config["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("key", "option"), [("acks", "required_acks"), ("bootstrap.servers", "endpoints")]
)
def test_client_config_refuses_properties_kaffe_manages(key: str, option: str) -> None:
    with pytest.raises(ConfigError, match=rf"{key}.*{option}"):
        ProducerConfig(endpoints="h:1", client_config={key: "1"})


def test_client_config_refuses_kaffe_callbacks() -> None:
    with pytest.raises(ConfigError, match="on_delivery"):
        ProducerConfig(endpoints="h:1", client_config={"on_delivery": print})


def test_config_is_frozen() -> None:
    config = ProducerConfig(endpoints="h:1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.topics = ("x",)  # type: ignore[misc]


def test_replace_validates_again() -> None:
    config = ProducerConfig(endpoints="h:1", topics=["a"])
    assert config.replace(topics=["b"]).topics == ("b",)
    with pytest.raises(ConfigError, match="partition_strategy"):
        config.replace(partition_strategy="nope")


def test_serializers_must_be_callable() -> None:
    with pytest.raises(ConfigError, match="value_serializer"):
        ProducerConfig(endpoints="h:1", value_serializer="json")  # type: ignore[arg-type]


def test_read_env_is_pure_and_reads_kaffe_variables() -> None:
    environ = {
        "KAFFE_ENDPOINTS": "h1:1,h2:2",
        "KAFFE_TOPICS": "a,b",
        "KAFFE_PARTITION_STRATEGY": "round_robin",
        "KAFFE_DELIVERY_TIMEOUT": "12.5",
        "KAFFE_ALLOW_TOPIC_AUTO_CREATION": "yes",
        "UNRELATED": "x",
    }
    snapshot = dict(environ)
    options = read_env(environ)
    assert environ == snapshot
    assert options == {
        "endpoints": "h1:1,h2:2",
        "topics": "a,b",
        "partition_strategy": "round_robin",
        "delivery_timeout": 12.5,
        "allow_topic_auto_creation": True,
    }


def test_from_env_builds_a_validated_config_and_overrides_win() -> None:
    environ = {
        "KAFFE_ENDPOINTS": "h1:1",
        "KAFFE_TOPICS": "a,b",
        "KAFFE_PARTITION_STRATEGY": "random",
    }
    config = ProducerConfig.from_env(environ, partition_strategy="crc32")
    assert config.endpoints == (("h1", 1),)
    assert config.topics == ("a", "b")
    assert config.partition_strategy == "crc32"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("KAFFE_DELIVERY_TIMEOUT", "soon"),
        ("KAFFE_HEROKU_KAFKA_ENV", "maybe"),
        ("KAFFE_ENDPOINTS", "x"),
    ],
)
def test_from_env_errors_name_the_variable_or_option(variable: str, value: str) -> None:
    environ = {"KAFFE_ENDPOINTS": "h:1", variable: value}
    with pytest.raises(ConfigError, match=variable.removeprefix("KAFFE_").lower() + "|" + variable):
        ProducerConfig.from_env(environ)


def test_from_env_without_endpoints_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="endpoints"):
        ProducerConfig.from_env({})
