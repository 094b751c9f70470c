"""Heroku's KAFKA_URL and certificate variables, parsed without touching os.environ."""

from __future__ import annotations

import pytest

import kaffe
from kaffe._heroku import parse_kafka_url, read_heroku_env

CA = "-----BEGIN CERTIFICATE-----\nQ0EgYm9keQ==\n-----END CERTIFICATE-----"
CERT = "-----BEGIN CERTIFICATE-----\nY2VydCBib2R5\n-----END CERTIFICATE-----"
KEY = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ib2R5\n-----END PRIVATE KEY-----"
TLS_ENV = {
    "KAFKA_URL": "kafka+ssl://b1.example.com:9096",
    "KAFKA_TRUSTED_CERT": CA,
    "KAFKA_CLIENT_CERT": CERT,
    "KAFKA_CLIENT_CERT_KEY": KEY,
}


# --- KAFKA_URL ---------------------------------------------------------------------------


def test_kafka_url_with_several_hosts_keeps_their_order() -> None:
    url = (
        "kafka+ssl://b1.example.com:9096,kafka+ssl://b2.example.com:9096,kafka+ssl://10.0.0.3:9097"
    )
    assert parse_kafka_url(url) == (
        (("b1.example.com", 9096), ("b2.example.com", 9096), ("10.0.0.3", 9097)),
        True,
    )


@pytest.mark.parametrize(
    ("url", "uses_tls"),
    [("kafka+ssl://h:9096", True), ("kafka://h:9092", False), ("KAFKA+SSL://h:9096", True)],
)
def test_kafka_url_scheme_says_whether_tls_is_used(url: str, uses_tls: bool) -> None:
    assert parse_kafka_url(url) == ((("h", 9096 if uses_tls else 9092),), uses_tls)


def test_kafka_url_ignores_spaces_around_entries_and_a_trailing_comma() -> None:
    url = "  kafka+ssl://b1:9096 ,\n kafka+ssl://b2:9096\t, "
    assert parse_kafka_url(url) == ((("b1", 9096), ("b2", 9096)), True)


def test_kafka_url_accepts_bracketed_ipv6() -> None:
    assert parse_kafka_url("kafka+ssl://[::1]:9093,kafka+ssl://[2001:db8::7]:9093") == (
        (("::1", 9093), ("2001:db8::7", 9093)),
        True,
    )


def test_ipv6_endpoints_become_bracketed_bootstrap_servers() -> None:
    config = kaffe.ProducerConfig(
        heroku_kafka_env=True, environ={**TLS_ENV, "KAFKA_URL": "kafka+ssl://[::1]:9093"}
    )
    assert config.bootstrap_servers == "[::1]:9093"


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ("b1.example.com:9096", "scheme"),
        ("http://b1.example.com:9096", "scheme 'http'"),
        ("kafka+ssl://b1.example.com", "host and port are required"),
        ("kafka+ssl://:9096", "host and port are required"),
        ("kafka+ssl:///b1:9096", "only scheme, host and port"),
        ("kafka+ssl://b1:port", "Port could not be cast"),
        ("kafka+ssl://b1:0", "1-65535"),
        ("kafka+ssl://b1:65536", "out of range"),
        ("kafka+ssl://b1:9096/path", "only scheme, host and port"),
        ("kafka+ssl://b1:9096?x=1", "only scheme, host and port"),
        ("kafka+ssl://b1 b2:9096", "whitespace"),
        ("kafka+ssl://-b1:9096", "not a host name"),
        ("kafka+ssl://b1..com:9096", "not a host name"),
        ("kafka+ssl://[::1:9093", "IPv6"),
        ("kafka+ssl://[fe80::zz]:9093", "fe80::zz"),
        ("kafka+ssl://::1:9093", "brackets"),
        ("garbage", "scheme"),
    ],
)
def test_malformed_kafka_url_entries_raise_config_error_naming_the_entry(
    entry: str, complaint: str
) -> None:
    url = f"kafka+ssl://good.example.com:9096, {entry}"
    with pytest.raises(kaffe.ConfigError) as raised:
        parse_kafka_url(url)
    message = str(raised.value)
    assert f"KAFKA_URL entry {entry!r}" in message
    assert complaint in message
    assert raised.value.reason == "malformed KAFKA_URL"


def test_kafka_url_error_hides_a_password_in_the_entry() -> None:
    with pytest.raises(kaffe.ConfigError, match=r"only scheme, host and port") as raised:
        parse_kafka_url("kafka+ssl://user:hunter2-secret@b1:9096")
    assert "hunter2-secret" not in str(raised.value)
    assert "kafka+ssl://***@b1:9096" in str(raised.value)


@pytest.mark.parametrize("url", ["", " ", " , ,"])
def test_empty_kafka_url_is_rejected(url: str) -> None:
    with pytest.raises(kaffe.ConfigError, match="KAFKA_URL is empty"):
        parse_kafka_url(url)


def test_kafka_url_mixing_schemes_is_rejected() -> None:
    with pytest.raises(kaffe.ConfigError, match="mixes kafka:// and kafka\\+ssl://"):
        parse_kafka_url("kafka://b1:9092,kafka+ssl://b2:9096")


# --- the other variables -------------------------------------------------------------------


def test_read_heroku_env_returns_endpoints_certificates_and_prefix() -> None:
    heroku = read_heroku_env({**TLS_ENV, "KAFKA_PREFIX": " tenant-7. "})
    assert heroku.endpoints == (("b1.example.com", 9096),)
    assert heroku.uses_tls is True
    assert (heroku.trusted_cert, heroku.client_cert, heroku.client_cert_key) == (CA, CERT, KEY)
    assert heroku.prefix == "tenant-7."


def test_read_heroku_env_is_pure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_URL", "kafka://b1:9092")
    with pytest.raises(kaffe.ConfigError, match="KAFKA_URL is not set"):
        read_heroku_env({})


def test_missing_kafka_url_is_a_config_error() -> None:
    with pytest.raises(kaffe.ConfigError, match="heroku_kafka_env is on but KAFKA_URL is not set"):
        read_heroku_env({"KAFKA_TRUSTED_CERT": CA})


def test_tls_url_without_certificates_names_every_missing_variable() -> None:
    with pytest.raises(kaffe.ConfigError) as raised:
        read_heroku_env({"KAFKA_URL": TLS_ENV["KAFKA_URL"], "KAFKA_CLIENT_CERT": CERT})
    assert "KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT_KEY are not set" in str(raised.value)
    assert raised.value.reason == "missing Heroku certificate"


def test_blank_certificate_variable_counts_as_missing() -> None:
    with pytest.raises(kaffe.ConfigError, match="KAFKA_CLIENT_CERT_KEY is not set"):
        read_heroku_env({**TLS_ENV, "KAFKA_CLIENT_CERT_KEY": "  \n"})


def test_certificate_variable_without_pem_is_named_but_not_echoed() -> None:
    not_pem = "c2VjcmV0LWtleS1ib2R5-without-pem-armour"
    with pytest.raises(kaffe.ConfigError, match="KAFKA_CLIENT_CERT_KEY must hold PEM") as raised:
        read_heroku_env({**TLS_ENV, "KAFKA_CLIENT_CERT_KEY": not_pem})
    assert not_pem not in str(raised.value)


def test_plaintext_url_needs_and_keeps_no_certificates() -> None:
    heroku = read_heroku_env({"KAFKA_URL": "kafka://b1:9092", "KAFKA_CLIENT_CERT_KEY": KEY})
    assert heroku.uses_tls is False
    assert heroku.client_cert_key is None


def test_missing_prefix_is_empty() -> None:
    assert read_heroku_env(TLS_ENV).prefix == ""


def test_prefix_with_characters_topics_cannot_hold_is_rejected() -> None:
    with pytest.raises(kaffe.ConfigError, match="KAFKA_PREFIX 'tenant 7/'"):
        read_heroku_env({**TLS_ENV, "KAFKA_PREFIX": "tenant 7/"})


def test_heroku_settings_repr_hides_the_key_and_certificate_bodies() -> None:
    text = repr(read_heroku_env(TLS_ENV))
    for body in (CA, CERT, KEY):
        assert body.splitlines()[1] not in text
    assert "client_cert_key=***" in text
    assert "trusted_cert=<pem>" in text
