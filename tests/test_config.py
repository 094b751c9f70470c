from __future__ import annotations

import dataclasses
from pathlib import Path

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
    assert properties["linger.ms"] == 5


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


# =========================================================================================
# Security: TLS and SASL options, Heroku mode, and secrets that never show
# =========================================================================================

CA_PEM = "-----BEGIN CERTIFICATE-----\nY2EtYm9keS1saW5l\n-----END CERTIFICATE-----\n"
CERT_PEM = "-----BEGIN CERTIFICATE-----\nY2VydC1ib2R5LWxpbmU=\n-----END CERTIFICATE-----\n"
KEY_PEM = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1saW5l\n-----END PRIVATE KEY-----\n"
KEY_PASSWORD = "key-password-s3cret"
SASL_PASSWORD = "sasl-password-s3cret"
#: Strings that must never appear in a repr, str or error message.
NEVER_SHOWN = (
    "Y2EtYm9keS1saW5l",
    "Y2VydC1ib2R5LWxpbmU=",
    "c2VjcmV0LWtleS1saW5l",
    KEY_PASSWORD,
    SASL_PASSWORD,
)
HEROKU_ENV = {
    "KAFKA_URL": "kafka+ssl://b1.example.com:9096, kafka+ssl://b2.example.com:9096",
    "KAFKA_TRUSTED_CERT": CA_PEM,
    "KAFKA_CLIENT_CERT": CERT_PEM,
    "KAFKA_CLIENT_CERT_KEY": KEY_PEM,
}


def _assert_nothing_secret(text: str) -> None:
    for secret in NEVER_SHOWN:
        assert secret not in text


def _secure_config() -> ProducerConfig:
    return ProducerConfig(
        endpoints="b1:9096",
        ssl=kaffe.SSLConfig(ca=CA_PEM, cert=CERT_PEM, key=KEY_PEM, key_password=KEY_PASSWORD),
        sasl=kaffe.SASLConfig("SCRAM-SHA-512", "alice", SASL_PASSWORD),
        client_config={
            "sasl.oauthbearer.client.secret": SASL_PASSWORD,
            "socket.keepalive.enable": True,
        },
    )


def test_ssl_config_reads_files_once_and_keeps_the_pem_in_memory(tmp_path: Path) -> None:
    paths = {}
    for name, pem in (("ca", CA_PEM), ("cert", CERT_PEM), ("key", KEY_PEM)):
        paths[name] = tmp_path / f"{name}.pem"
        paths[name].write_text(pem)
    ssl = kaffe.SSLConfig(ca=str(paths["ca"]), cert=paths["cert"], key=str(paths["key"]))  # type: ignore[arg-type]
    for path in paths.values():
        path.unlink()
    assert (ssl.ca, ssl.cert, ssl.key) == (CA_PEM, CERT_PEM, KEY_PEM)
    assert ssl.librdkafka_properties()["ssl.key.pem"] == KEY_PEM
    assert list(tmp_path.iterdir()) == []


def test_ssl_config_passes_pem_text_through_unchanged() -> None:
    ssl = kaffe.SSLConfig(ca=CA_PEM, cert=CERT_PEM, key=KEY_PEM)
    assert ssl.librdkafka_properties() == {
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.pem": CA_PEM,
        "ssl.certificate.pem": CERT_PEM,
        "ssl.key.pem": KEY_PEM,
    }


def test_ssl_never_sets_file_locations_for_librdkafka() -> None:
    properties = _secure_config().librdkafka_properties()
    assert not [name for name in properties if name.endswith(".location")]


def test_hostname_verification_is_on_by_default_and_can_be_turned_off() -> None:
    assert kaffe.SSLConfig().verify_hostname is True
    properties = kaffe.SSLConfig(verify_hostname=False).librdkafka_properties()
    assert properties["ssl.endpoint.identification.algorithm"] == "none"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cert": CERT_PEM}, "cert and key must be given together"),
        ({"key": KEY_PEM}, "cert and key must be given together"),
        ({"ca": 42}, "ssl.ca: expected PEM text or a file path"),
        ({"verify_hostname": "yes"}, "ssl.verify_hostname"),
        ({"cert": CERT_PEM, "key": KEY_PEM, "key_password": 1234}, "ssl.key_password"),
    ],
)
def test_bad_ssl_options_raise_config_error_naming_the_field(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        kaffe.SSLConfig(**options)  # type: ignore[arg-type]


def test_ssl_key_that_is_neither_pem_nor_a_file_is_not_echoed() -> None:
    with pytest.raises(
        ConfigError, match=r"ssl\.key: not PEM text, and no readable file"
    ) as raised:
        kaffe.SSLConfig(cert=CERT_PEM, key="c2VjcmV0LWtleS1saW5l")
    _assert_nothing_secret(str(raised.value))


def test_ssl_file_without_pem_is_rejected_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "key.der"
    path.write_text("c2VjcmV0LWtleS1saW5l")
    with pytest.raises(
        ConfigError, match=r"ssl\.key: the file at that path holds no PEM block"
    ) as raised:
        kaffe.SSLConfig(cert=CERT_PEM, key=str(path))
    _assert_nothing_secret(str(raised.value))


def test_ssl_mapping_with_unknown_keys_names_the_keys_only() -> None:
    with pytest.raises(ConfigError, match="unknown key\\(s\\) password") as raised:
        ProducerConfig(endpoints="b1:9096", ssl={"key": KEY_PEM, "password": KEY_PASSWORD})
    _assert_nothing_secret(str(raised.value))


def test_ssl_true_means_tls_with_the_system_ca_store() -> None:
    config = ProducerConfig(endpoints="b1:9096", ssl=True)
    properties = config.librdkafka_properties()
    assert properties["security.protocol"] == "SSL"
    assert "ssl.ca.pem" not in properties
    assert properties["ssl.endpoint.identification.algorithm"] == "https"


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_sasl_mechanisms_are_accepted_and_normalised(mechanism: str) -> None:
    sasl = kaffe.SASLConfig(mechanism, "alice", SASL_PASSWORD)
    assert sasl.mechanism == mechanism.upper()
    assert sasl.librdkafka_properties() == {
        "sasl.mechanism": mechanism.upper(),
        "sasl.username": "alice",
        "sasl.password": SASL_PASSWORD,
    }


def test_sasl_without_ssl_runs_over_plaintext_and_with_ssl_over_tls() -> None:
    sasl = {"mechanism": "PLAIN", "username": "alice", "password": SASL_PASSWORD}
    plain = ProducerConfig(endpoints="b1:9092", sasl=sasl).librdkafka_properties()
    assert plain["security.protocol"] == "SASL_PLAINTEXT"
    secured = ProducerConfig(endpoints="b1:9096", sasl=sasl, ssl={"ca": CA_PEM})
    properties = secured.librdkafka_properties()
    assert properties["security.protocol"] == "SASL_SSL"
    assert properties["ssl.ca.pem"] == CA_PEM


@pytest.mark.parametrize(
    ("sasl", "message"),
    [
        ({"mechanism": "GSSAPI", "username": "u", "password": SASL_PASSWORD}, "not supported"),
        ({"mechanism": "PLAIN", "username": "", "password": SASL_PASSWORD}, "sasl.username"),
        ({"mechanism": "PLAIN", "username": "u", "password": ""}, "sasl.password"),
        ({"mechanism": "PLAIN", "username": "u", "password": 7}, "sasl.password"),
        ({"mechanism": "PLAIN", "username": "u"}, "missing: password"),
        (
            {"mechanism": "PLAIN", "username": "u", "password": SASL_PASSWORD, "pw": "x"},
            "unknown: pw",
        ),
    ],
)
def test_bad_sasl_options_raise_config_error_without_the_password(
    sasl: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        ProducerConfig(endpoints="b1:9096", sasl=sasl)
    _assert_nothing_secret(str(raised.value))


def test_security_reprs_and_strs_hide_keys_passwords_and_certificate_bodies() -> None:
    config = _secure_config()
    assert config.ssl is not None
    assert config.sasl is not None
    for shown in (config.ssl, config.sasl, config):
        _assert_nothing_secret(repr(shown))
        _assert_nothing_secret(str(shown))
    assert "key='***'" in repr(config.ssl)
    assert "ca=<pem>" in repr(config.ssl)
    assert "password='***'" in repr(config.sasl)
    assert "username='alice'" in repr(config.sasl)
    assert "'sasl.oauthbearer.client.secret': '***'" in repr(config)


def test_config_secrets_list_everything_to_mask() -> None:
    secrets = _secure_config().secrets
    for secret in (KEY_PEM, KEY_PASSWORD, SASL_PASSWORD):
        assert secret in secrets


def test_heroku_mode_takes_endpoints_and_tls_from_kafka_variables() -> None:
    config = ProducerConfig(heroku_kafka_env=True, environ=HEROKU_ENV, topics=["events"])
    assert config.endpoints == (("b1.example.com", 9096), ("b2.example.com", 9096))
    assert config.ssl == kaffe.SSLConfig(
        ca=CA_PEM.strip(), cert=CERT_PEM.strip(), key=KEY_PEM.strip(), verify_hostname=False
    )
    properties = config.librdkafka_properties()
    assert properties["security.protocol"] == "SSL"
    assert properties["ssl.endpoint.identification.algorithm"] == "none"
    assert properties["ssl.key.pem"] == KEY_PEM.strip()
    _assert_nothing_secret(repr(config))


def test_heroku_mode_reads_os_environ_when_no_environ_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in HEROKU_ENV.items():
        monkeypatch.setenv(name, value)
    config = ProducerConfig(heroku_kafka_env=True)
    assert config.bootstrap_servers == "b1.example.com:9096,b2.example.com:9096"


def test_heroku_plaintext_url_means_no_tls() -> None:
    config = ProducerConfig(heroku_kafka_env=True, environ={"KAFKA_URL": "kafka://b1:9092"})
    assert config.ssl is None
    assert "security.protocol" not in config.librdkafka_properties()


def test_heroku_prefix_is_prepended_to_configured_topics() -> None:
    environ = {**HEROKU_ENV, "KAFKA_PREFIX": "tenant-7."}
    config = ProducerConfig(heroku_kafka_env=True, environ=environ, topics=["events", "audit"])
    assert config.topics == ("tenant-7.events", "tenant-7.audit")
    assert config.topic_name("orders") == "tenant-7.orders"
    assert config.topic_prefix == "tenant-7."


def test_use_heroku_prefix_false_leaves_topic_names_alone() -> None:
    environ = {**HEROKU_ENV, "KAFKA_PREFIX": "tenant-7."}
    config = ProducerConfig(
        heroku_kafka_env=True, environ=environ, topics=["events"], use_heroku_prefix=False
    )
    assert config.topics == ("events",)
    assert config.topic_name("orders") == "orders"


def test_heroku_replace_keeps_the_prefix_single() -> None:
    environ = {**HEROKU_ENV, "KAFKA_PREFIX": "tenant-7."}
    config = ProducerConfig(heroku_kafka_env=True, environ=environ, topics=["events"])
    changed = config.replace(linger_ms=5)
    assert changed.topics == ("tenant-7.events",)
    assert changed.ssl == config.ssl


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"endpoints": "b1:9092"}, "do not pass endpoints with heroku_kafka_env"),
        ({"ssl": {"ca": CA_PEM}}, "do not pass ssl with heroku_kafka_env"),
    ],
)
def test_heroku_mode_refuses_settings_that_kafka_variables_provide(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        ProducerConfig(heroku_kafka_env=True, environ=HEROKU_ENV, **options)  # type: ignore[arg-type]


def test_heroku_mode_errors_do_not_echo_certificates() -> None:
    environ = {**HEROKU_ENV, "KAFKA_URL": "kafka+ssl://b1:96000"}
    with pytest.raises(ConfigError, match="KAFKA_URL entry 'kafka\\+ssl://b1:96000'") as raised:
        ProducerConfig(heroku_kafka_env=True, environ=environ)
    _assert_nothing_secret(str(raised.value))


def test_from_env_heroku_mode_uses_the_kafka_variables() -> None:
    environ = {
        **HEROKU_ENV,
        "KAFKA_PREFIX": "tenant-7.",
        "KAFFE_HEROKU_KAFKA_ENV": "true",
        "KAFFE_TOPICS": "events",
    }
    config = ProducerConfig.from_env(environ)
    assert config.heroku_kafka_env is True
    assert config.topics == ("tenant-7.events",)
    assert config.ssl is not None
    assert config.ssl.verify_hostname is False
    unprefixed = ProducerConfig.from_env({**environ, "KAFFE_USE_HEROKU_PREFIX": "false"})
    assert unprefixed.topics == ("events",)


def test_from_env_reads_tls_and_sasl_variables() -> None:
    environ = {
        "KAFFE_ENDPOINTS": "b1:9096",
        "KAFFE_SSL_CA": CA_PEM,
        "KAFFE_SSL_CERT": CERT_PEM,
        "KAFFE_SSL_KEY": KEY_PEM,
        "KAFFE_SSL_VERIFY_HOSTNAME": "false",
        "KAFFE_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFFE_SASL_USERNAME": "alice",
        "KAFFE_SASL_PASSWORD": SASL_PASSWORD,
    }
    config = ProducerConfig.from_env(environ)
    assert config.ssl == kaffe.SSLConfig(
        ca=CA_PEM, cert=CERT_PEM, key=KEY_PEM, verify_hostname=False
    )
    assert config.sasl == kaffe.SASLConfig("SCRAM-SHA-512", "alice", SASL_PASSWORD)
    assert config.librdkafka_properties()["security.protocol"] == "SASL_SSL"
    _assert_nothing_secret(repr(config))


def test_from_env_kaffe_ssl_true_turns_on_tls_with_system_cas() -> None:
    config = ProducerConfig.from_env({"KAFFE_ENDPOINTS": "b1:9096", "KAFFE_SSL": "true"})
    assert config.ssl == kaffe.SSLConfig()


def test_from_env_bad_verify_hostname_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="KAFFE_SSL_VERIFY_HOSTNAME"):
        read_env({"KAFFE_SSL_VERIFY_HOSTNAME": "perhaps"})


# --- the README's configuration reference stays true ---------------------------------------


def _readme_reference_rows() -> dict[str, str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text[text.index("## Configuration reference") :]
    section = section[: section.index("\n## ", 1)]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)`(?: / `(\w+)`)? \|(.*)", line)
        if match:
            for name in match.group(1, 2):
                if name:
                    rows[name] = match.group(3)
    return rows


def test_readme_reference_lists_every_option() -> None:
    from kaffe._config import ProducerOptions

    options = set(ProducerOptions.__annotations__) - {"environ"}
    assert set(_readme_reference_rows()) == options


def test_readme_reference_names_every_kaffe_variable() -> None:
    from kaffe._config import _ENV_FLAGS, _ENV_NUMBERS, _ENV_TEXT

    rows = " ".join(_readme_reference_rows().values())
    for variable in [*_ENV_TEXT, *_ENV_NUMBERS, *_ENV_FLAGS]:
        assert f"`{variable}`" in rows, variable


def test_metadata_refresh_can_be_turned_off_from_the_environment() -> None:
    config = ProducerConfig.from_env(
        {"KAFFE_ENDPOINTS": "h:1", "KAFFE_METADATA_REFRESH_INTERVAL": "off"}
    )
    assert config.metadata_refresh_interval is None
