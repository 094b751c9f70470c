"""The building blocks of option declarations: readers, checks, endpoints, topic names."""

from __future__ import annotations

import dataclasses

import pytest

import kaffe
from kaffe import ConfigError
from kaffe._options import (
    ABSENT,
    FLAG,
    NUMBER_OR_OFF,
    SASL_VARIABLES,
    SSL_VARIABLES,
    TEXT,
    Endpoint,
    Option,
    at_least,
    check_client_config,
    check_compression,
    check_observers,
    option_field,
    validate_topic_name,
)


def test_endpoint_str_round_trips() -> None:
    assert str(Endpoint.parse("h:1")) == "h:1"
    assert Endpoint.parse(("h", 1)).host == "h"
    assert str(Endpoint.parse("[::1]:9092")) == "[::1]:9092"
    assert repr(Endpoint.parse("h:1")) == "Endpoint('h', 1)"


def test_a_reader_reads_the_variable_named_after_its_option() -> None:
    assert TEXT.variables("client_id") == ("KAFFE_CLIENT_ID",)
    assert TEXT.read("client_id", {"KAFFE_CLIENT_ID": " billing "}) == "billing"
    assert TEXT.read("client_id", {}) is ABSENT
    assert FLAG.read("idempotence", {"KAFFE_IDEMPOTENCE": "No"}) is False
    assert NUMBER_OR_OFF.read("statistics_interval", {"KAFFE_STATISTICS_INTERVAL": "OFF"}) is None


def test_group_readers_name_every_variable_they_read() -> None:
    assert SSL_VARIABLES.variables("ssl") == (
        "KAFFE_SSL",
        "KAFFE_SSL_CA",
        "KAFFE_SSL_CERT",
        "KAFFE_SSL_KEY",
        "KAFFE_SSL_VERIFY_HOSTNAME",
    )
    assert "KAFFE_SASL_OIDC_TOKEN_ENDPOINT_URL" in SASL_VARIABLES.variables("sasl")
    assert SASL_VARIABLES.read("sasl", {"KAFFE_SASL_OIDC_CLIENT_ID": "c"}) == {
        "oidc": {"client_id": "c"},
        "mechanism": "OAUTHBEARER",
    }
    assert SASL_VARIABLES.read("sasl", {"KAFFE_SASL_KERBEROS_PRINCIPAL": "p@R"}) == {
        "kerberos_principal": "p@R",
        "mechanism": "GSSAPI",
    }
    assert SSL_VARIABLES.read("ssl", {"KAFFE_SSL": "false"}) is ABSENT


def test_checks_name_the_option_they_are_given() -> None:
    with pytest.raises(ConfigError, match=r"^linger_ms: expected a number >= 0"):
        at_least(0)("linger_ms", -1)
    with pytest.raises(ConfigError, match=r"^compression: 'brotli' is not a codec"):
        check_compression("compression", "brotli")
    with pytest.raises(ConfigError, match=r"^observers\[0\]: int has no callable on_send"):
        check_observers("observers", [1])


def test_client_config_check_copies_into_a_read_only_mapping() -> None:
    given = {"batch.size": 1}
    checked = check_client_config("client_config", given)
    given["batch.size"] = 2
    assert checked == {"batch.size": 1}
    with pytest.raises(TypeError):
        checked["x"] = 1  # type: ignore[index]


def test_option_field_carries_the_declaration_in_its_metadata() -> None:
    @dataclasses.dataclass(frozen=True)
    class Example:
        level: int = option_field(3, meaning="how loud", check=at_least(0), env=TEXT)

    (field,) = dataclasses.fields(Example)
    assert Example().level == 3
    declaration = next(iter(field.metadata.values()))
    option = Option("level", declaration.meaning, "`3`", declaration.check, declaration.env)
    assert option.variables == ("KAFFE_LEVEL",)


@pytest.mark.parametrize("topic", ["a", "a.b_c-1", "x" * 249])
def test_valid_topic_names_pass(topic: str) -> None:
    assert validate_topic_name(topic) == topic


def test_invalid_topic_names_name_the_rule() -> None:
    with pytest.raises(kaffe.InvalidTopicError, match="use 1-249 characters"):
        validate_topic_name("no spaces", option="topics")
    with pytest.raises(kaffe.MessageTypeError, match="a topic name must be str, not bytes"):
        validate_topic_name(b"events")
