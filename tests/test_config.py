from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

import kaffe
from kaffe import ConfigError, ProducerConfig
from kaffe._config import (
    DEFAULT_DELIVERY_TIMEOUT,
    DEFAULT_START_TIMEOUT,
    read_env,
)
from tests.test_security import (
    CA_PEM,
    CERT_PEM,
    KEY_PASSWORD,
    KEY_PEM,
    SASL_PASSWORD,
    assert_nothing_secret,
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
    assert properties["reconnect.backoff.max.ms"] == 1000


@pytest.mark.parametrize(
    ("client_config", "expected"),
    [
        ({"reconnect.backoff.max.ms": 10_000}, 10_000),  # librdkafka's own default, asked for
        ({"reconnect.backoff.ms": 2_000}, 2_000),  # librdkafka refuses a max below it
        ({"reconnect.backoff.ms": "50"}, 1_000),
    ],
)
def test_reconnect_backoff_is_a_second_at_most_unless_client_config_says_otherwise(
    client_config: dict[str, object], expected: int
) -> None:
    config = ProducerConfig(endpoints="h:1", client_config=client_config)
    assert config.librdkafka_properties()["reconnect.backoff.max.ms"] == expected


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
    original = {"batch.size": 65536}
    config = ProducerConfig(endpoints="h:1", client_config=original)
    original["batch.size"] = 1
    assert config.client_config["batch.size"] == 65536
    assert config.librdkafka_properties()["batch.size"] == 65536
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

HEROKU_ENV = {
    "KAFKA_URL": "kafka+ssl://b1.example.com:9096, kafka+ssl://b2.example.com:9096",
    "KAFKA_TRUSTED_CERT": CA_PEM,
    "KAFKA_CLIENT_CERT": CERT_PEM,
    "KAFKA_CLIENT_CERT_KEY": KEY_PEM,
}


def _secure_config() -> ProducerConfig:
    return ProducerConfig(
        endpoints="b1:9096",
        ssl=kaffe.SSLConfig(ca=CA_PEM, cert=CERT_PEM, key=KEY_PEM, key_password=KEY_PASSWORD),
        sasl=kaffe.SASLConfig("SCRAM-SHA-512", "alice", SASL_PASSWORD),
        client_config={
            "ssl.keystore.password": SASL_PASSWORD,
            "socket.keepalive.enable": True,
        },
    )


def test_ssl_never_sets_file_locations_for_librdkafka() -> None:
    properties = _secure_config().librdkafka_properties()
    assert not [name for name in properties if name.endswith(".location")]


def test_ssl_mapping_with_unknown_keys_names_the_keys_only() -> None:
    with pytest.raises(ConfigError, match="unknown key\\(s\\) password") as raised:
        ProducerConfig(endpoints="b1:9096", ssl={"key": KEY_PEM, "password": KEY_PASSWORD})
    assert_nothing_secret(str(raised.value))


def test_ssl_true_means_tls_with_the_system_ca_store() -> None:
    config = ProducerConfig(endpoints="b1:9096", ssl=True)
    properties = config.librdkafka_properties()
    assert properties["security.protocol"] == "SSL"
    assert "ssl.ca.pem" not in properties
    assert properties["ssl.endpoint.identification.algorithm"] == "https"


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
        ({"mechanism": "NTLM", "username": "u", "password": SASL_PASSWORD}, "not supported"),
        (
            {"mechanism": "OAUTHBEARER", "username": "u", "password": SASL_PASSWORD},
            "sasl.username: not used with OAUTHBEARER",
        ),
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
    assert_nothing_secret(str(raised.value))


def test_security_reprs_and_strs_hide_keys_passwords_and_certificate_bodies() -> None:
    config = _secure_config()
    assert config.ssl is not None
    assert config.sasl is not None
    for shown in (config.ssl, config.sasl, config):
        assert_nothing_secret(repr(shown))
        assert_nothing_secret(str(shown))
    assert "key='***'" in repr(config.ssl)
    assert "ca=<pem>" in repr(config.ssl)
    assert "password='***'" in repr(config.sasl)
    assert "username='alice'" in repr(config.sasl)
    assert "'ssl.keystore.password': '***'" in repr(config)


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
    assert_nothing_secret(repr(config))


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
    assert_nothing_secret(str(raised.value))


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
    assert_nothing_secret(repr(config))


def test_from_env_kaffe_ssl_true_turns_on_tls_with_system_cas() -> None:
    config = ProducerConfig.from_env({"KAFFE_ENDPOINTS": "b1:9096", "KAFFE_SSL": "true"})
    assert config.ssl == kaffe.SSLConfig()


def test_from_env_bad_verify_hostname_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="KAFFE_SSL_VERIFY_HOSTNAME"):
        read_env({"KAFFE_SSL_VERIFY_HOSTNAME": "perhaps"})


def test_metadata_refresh_can_be_turned_off_from_the_environment() -> None:
    config = ProducerConfig.from_env(
        {"KAFFE_ENDPOINTS": "h:1", "KAFFE_METADATA_REFRESH_INTERVAL": "off"}
    )
    assert config.metadata_refresh_interval is None


# =========================================================================================
# Options declared once: the declarations drive validation, KAFFE_* reading and the docs
# =========================================================================================

REPO = Path(__file__).resolve().parent.parent


def test_producer_options_mirror_the_declarations_for_type_checkers() -> None:
    from kaffe._config import OPTIONS, ProducerOptions

    assert list(ProducerOptions.__annotations__) == [o.name for o in OPTIONS] + ["environ"]


def test_every_declared_option_is_an_init_field_of_the_config() -> None:
    from kaffe._config import OPTIONS

    fields = {field.name for field in dataclasses.fields(ProducerConfig) if field.init}
    assert fields == {option.name for option in OPTIONS} | {"environ"}


def test_every_option_is_checked_when_the_config_is_built() -> None:
    from kaffe._config import OPTIONS

    for option in OPTIONS:
        options: dict[str, Any] = {"endpoints": "h:1", option.name: object()}
        with pytest.raises(ConfigError, match=option.name):
            ProducerConfig(**options)


def test_docs_configuration_table_is_generated_from_the_declarations() -> None:
    from kaffe._config import fill_options_tables, render_options_table

    text = (REPO / "docs" / "configuration.md").read_text()
    assert render_options_table() in text
    assert fill_options_tables(text) == text, "run scripts/config-reference"


def test_readme_table_when_present_is_generated_from_the_declarations() -> None:
    from kaffe._config import fill_options_tables

    text = (REPO / "README.md").read_text()
    assert fill_options_tables(text) == text, "run scripts/config-reference"


def _table_rows(table: str) -> dict[str, list[str]]:
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells
    return rows


def test_reference_lists_every_option_and_names_every_kaffe_variable() -> None:
    from kaffe._config import OPTIONS, render_options_table

    rows = _table_rows(render_options_table())
    assert list(rows) == [option.name for option in OPTIONS]
    for option in OPTIONS:
        for variable in option.variables:
            assert f"`{variable}`" in rows[option.name][1], variable
        assert len(rows[option.name]) == 4, f"a '|' inside the {option.name} row"


def test_compact_reference_leaves_out_the_meaning() -> None:
    from kaffe._config import fill_options_tables, render_options_table

    compact = render_options_table(compact=True)
    assert compact.splitlines()[0] == "| option | `KAFFE_*` variable | default |"
    block = "<!-- options-table compact: x -->\nold\n<!-- /options-table -->\n"
    assert fill_options_tables(block) == (
        "<!-- options-table compact: x -->\n" + compact + "<!-- /options-table -->\n"
    )


def test_an_unclosed_reference_block_is_reported() -> None:
    from kaffe._config import fill_options_tables

    with pytest.raises(ValueError, match="not closed"):
        fill_options_tables("<!-- options-table: x -->\n| old |\n")


def test_reference_shows_the_declared_defaults() -> None:
    from kaffe._config import render_options_table

    rows = _table_rows(render_options_table())
    assert rows["partition_strategy"][2] == '`"md5"`'
    assert rows["compression"][2] == '`"none"`'
    assert rows["allow_topic_auto_creation"][2] == "`False`"
    assert rows["delivery_timeout"][2] == f"`{DEFAULT_DELIVERY_TIMEOUT}` s"


#: A value for every KAFFE_* variable, and the option value it must become.
EVERY_VARIABLE = {
    "KAFFE_ENDPOINTS": ("endpoints", "h1:1,h2:2", "h1:1,h2:2"),
    "KAFFE_TOPICS": ("topics", "a,b", "a,b"),
    "KAFFE_PARTITION_STRATEGY": ("partition_strategy", "murmur2", "murmur2"),
    "KAFFE_REQUIRED_ACKS": ("required_acks", "all", "all"),
    "KAFFE_IDEMPOTENCE": ("idempotence", "on", True),
    "KAFFE_DELIVERY_TIMEOUT": ("delivery_timeout", "12.5", 12.5),
    "KAFFE_START_TIMEOUT": ("start_timeout", "3", 3.0),
    "KAFFE_LINGER_MS": ("linger_ms", "0", 0.0),
    "KAFFE_QUEUE_FULL_TIMEOUT": ("queue_full_timeout", "1", 1.0),
    "KAFFE_METADATA_REFRESH_INTERVAL": ("metadata_refresh_interval", "off", None),
    "KAFFE_ALLOW_TOPIC_AUTO_CREATION": ("allow_topic_auto_creation", "yes", True),
    "KAFFE_HEROKU_KAFKA_ENV": ("heroku_kafka_env", "0", False),
    "KAFFE_USE_HEROKU_PREFIX": ("use_heroku_prefix", "false", False),
    "KAFFE_CLIENT_ID": ("client_id", "billing", "billing"),
    "KAFFE_COMPRESSION": ("compression", "zstd", "zstd"),
    "KAFFE_TRANSACTIONAL_ID": ("transactional_id", "billing-1", "billing-1"),
    "KAFFE_STATISTICS_INTERVAL": ("statistics_interval", "15", 15.0),
}


@pytest.mark.parametrize("variable", list(EVERY_VARIABLE))
def test_each_simple_variable_sets_its_option(variable: str) -> None:
    option, text, expected = EVERY_VARIABLE[variable]
    assert read_env({variable: f" {text} "}) == {option: expected}


def test_every_declared_variable_is_read() -> None:
    from kaffe._config import OPTIONS

    declared = {variable for option in OPTIONS for variable in option.variables}
    composite = {v for v in declared if v.startswith(("KAFFE_SSL", "KAFFE_SASL"))}
    assert declared - composite == set(EVERY_VARIABLE)
    for variable in composite:
        flag = variable in ("KAFFE_SSL", "KAFFE_SSL_VERIFY_HOSTNAME")
        options = read_env({variable: "true" if flag else "x"})
        assert set(options) <= {"ssl", "sasl"}, variable
        assert options, f"{variable} is declared but not read"


def test_empty_variables_count_as_unset() -> None:
    assert (
        read_env({"KAFFE_COMPRESSION": "", "KAFFE_SASL_PASSWORD": "", "KAFFE_LINGER_MS": " "}) == {}
    )


def test_statistics_interval_can_be_turned_off_from_the_environment() -> None:
    assert read_env({"KAFFE_STATISTICS_INTERVAL": "none"}) == {"statistics_interval": None}
    with pytest.raises(ConfigError, match="KAFFE_STATISTICS_INTERVAL: expected a number or off"):
        read_env({"KAFFE_STATISTICS_INTERVAL": "often"})


# --- compression ----------------------------------------------------------------------------


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd", "ZSTD"])
def test_compression_accepts_librdkafkas_codecs(codec: str) -> None:
    config = ProducerConfig(endpoints="h:1", compression=codec)  # type: ignore[arg-type]
    assert config.compression == codec.lower()
    assert config.librdkafka_properties()["compression.codec"] == codec.lower()


def test_compression_defaults_to_none() -> None:
    config = ProducerConfig(endpoints="h:1")
    assert config.compression == "none"
    assert config.librdkafka_properties()["compression.codec"] == "none"


def test_unknown_compression_names_the_allowed_codecs() -> None:
    with pytest.raises(
        ConfigError, match=r"compression: 'brotli' is not a codec; allowed: none, gzip"
    ):
        ProducerConfig(endpoints="h:1", compression="brotli")  # type: ignore[arg-type]


def test_compression_the_librdkafka_build_lacks_names_the_missing_feature(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from kaffe import _features

    monkeypatch.setattr(_features, "missing_feature", lambda feature: "libzstd not available")
    with pytest.raises(ConfigError, match=r"compression: zstd needs librdkafka's 'zstd' feature"):
        ProducerConfig(endpoints="h:1", compression="zstd")


@pytest.mark.parametrize("key", ["compression.codec", "compression.type"])
def test_client_config_refuses_compression_properties_naming_the_option(key: str) -> None:
    with pytest.raises(ConfigError, match=rf"client_config\['{key}'\].*use the compression option"):
        ProducerConfig(endpoints="h:1", client_config={key: "lz4"})


# --- transactional_id -------------------------------------------------------------------------


def test_transactional_id_sets_librdkafkas_and_turns_idempotence_on() -> None:
    config = ProducerConfig(endpoints="h:1", transactional_id="billing-1")
    assert config.idempotence is True
    properties = config.librdkafka_properties()
    assert properties["transactional.id"] == "billing-1"
    assert properties["enable.idempotence"] is True
    assert "transactional.id" not in ProducerConfig(endpoints="h:1").librdkafka_properties()


def test_a_transaction_outlasts_the_delivery_of_its_messages() -> None:
    default = ProducerConfig(endpoints="h:1", transactional_id="billing-1")
    slow = ProducerConfig(endpoints="h:1", transactional_id="billing-1", delivery_timeout=90)
    own = ProducerConfig(
        endpoints="h:1", transactional_id="billing-1", client_config={"transaction.timeout.ms": 5}
    )
    assert default.librdkafka_properties()["transaction.timeout.ms"] == 60_000
    assert slow.librdkafka_properties()["transaction.timeout.ms"] == 90_000
    assert own.librdkafka_properties()["transaction.timeout.ms"] == 5
    assert "transaction.timeout.ms" not in ProducerConfig(endpoints="h:1").librdkafka_properties()


def test_transactional_id_with_idempotence_off_names_both_options() -> None:
    with pytest.raises(ConfigError, match=r"transactional_id.*idempotence=False") as raised:
        ProducerConfig(endpoints="h:1", transactional_id="billing-1", idempotence=False)
    assert raised.value.reason == "conflicting options"


def test_transactional_id_needs_acks_from_all_replicas() -> None:
    with pytest.raises(ConfigError, match=r"transactional_id.*required_acks='all', not 1"):
        ProducerConfig(endpoints="h:1", transactional_id="billing-1", required_acks=1)


@pytest.mark.parametrize("value", ["", "  ", 7])
def test_transactional_id_must_be_a_non_empty_string(value: object) -> None:
    with pytest.raises(ConfigError, match="transactional_id: expected a non-empty string"):
        ProducerConfig(endpoints="h:1", transactional_id=value)  # type: ignore[arg-type]


def test_client_config_refuses_transactional_id() -> None:
    with pytest.raises(ConfigError, match="use the transactional_id option"):
        ProducerConfig(endpoints="h:1", client_config={"transactional.id": "x"})


def test_replace_keeps_a_transactional_producer_transactional() -> None:
    config = ProducerConfig(endpoints="h:1", transactional_id="billing-1")
    assert config.replace(linger_ms=1).transactional_id == "billing-1"
    assert "transactional_id='billing-1'" in repr(config)


# --- statistics and observers ---------------------------------------------------------------


class _Observer:
    def on_send(self, message: object, config: object) -> None:
        return None

    def on_outcome(self, context: object, message: object, outcome: object, seconds: float) -> None:
        return None

    def on_statistics(self, statistics: object) -> None:
        return None


def test_statistics_interval_becomes_librdkafkas_interval_in_milliseconds() -> None:
    config = ProducerConfig(endpoints="h:1", statistics_interval=2.5)
    assert config.librdkafka_properties()["statistics.interval.ms"] == 2500
    assert "statistics.interval.ms" not in ProducerConfig(endpoints="h:1").librdkafka_properties()


@pytest.mark.parametrize("value", [0, 0.5, 86401, True, "5"])
def test_statistics_interval_outside_librdkafkas_range_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match=r"statistics_interval: expected seconds from 1 to 86400"):
        ProducerConfig(endpoints="h:1", statistics_interval=value)  # type: ignore[arg-type]


def test_on_statistics_without_an_interval_is_refused() -> None:
    with pytest.raises(
        ConfigError, match="on_statistics: is never called without statistics_interval"
    ):
        ProducerConfig(endpoints="h:1", on_statistics=print)
    config = ProducerConfig(endpoints="h:1", on_statistics=print, statistics_interval=5)
    assert config.on_statistics is print


def test_on_statistics_must_be_callable() -> None:
    with pytest.raises(
        ConfigError, match=r"on_statistics: expected a function taking a kaffe\.Statistics"
    ):
        ProducerConfig(endpoints="h:1", on_statistics="print", statistics_interval=5)  # type: ignore[arg-type]


def test_observers_are_checked_and_kept_as_a_tuple() -> None:
    first, second = _Observer(), _Observer()
    given = [first, second]
    config = ProducerConfig(endpoints="h:1", observers=given)
    given.clear()
    assert config.observers == (first, second)
    assert ProducerConfig(endpoints="h:1").observers == ()
    assert "observers=[_Observer, _Observer]" in repr(config)


def test_an_observer_missing_a_method_is_named_with_its_position() -> None:
    class HalfObserver:
        def on_send(self, message: object, config: object) -> None:
            return None

        on_outcome = "not callable"

    with pytest.raises(
        ConfigError, match=r"observers\[1\]: HalfObserver has no callable on_outcome, on_statistics"
    ):
        ProducerConfig(endpoints="h:1", observers=[_Observer(), HalfObserver()])  # type: ignore[list-item]


def test_a_single_observer_not_in_a_list_gets_a_hint() -> None:
    with pytest.raises(ConfigError, match="wrap a single observer in a list"):
        ProducerConfig(endpoints="h:1", observers=_Observer())  # type: ignore[arg-type]


def test_kaffe_observer_subclasses_are_observers() -> None:
    from kaffe._observers import Observer

    class Counting(Observer):
        pass

    counting = Counting()
    assert ProducerConfig(endpoints="h:1", observers=[counting]).observers == (counting,)


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("stats_cb", "use statistics_interval with on_statistics or observers"),
        ("statistics.interval.ms", "use the statistics_interval option"),
        ("oauth_cb", "token_provider"),
        ("error_cb", "cannot be replaced"),
    ],
)
def test_client_config_refuses_callbacks_and_intervals_the_producer_owns(
    key: str, hint: str
) -> None:
    with pytest.raises(ConfigError, match=hint):
        ProducerConfig(endpoints="h:1", client_config={key: print})


def test_librdkafka_properties_hold_no_callback_the_producer_sets() -> None:
    config = ProducerConfig(
        endpoints="h:1",
        statistics_interval=5,
        on_statistics=print,
        observers=[_Observer()],
        value_serializer=str.encode,
    )
    properties = config.librdkafka_properties()
    for callback in ("stats_cb", "error_cb", "logger", "on_delivery", "dr_cb", "dr_msg_cb"):
        assert callback not in properties
    assert not [value for value in properties.values() if callable(value)]


# --- serializers ----------------------------------------------------------------------------


def test_serializers_accept_functions_confluent_serializers_and_topic_mappings() -> None:
    from confluent_kafka.serialization import StringSerializer

    string = StringSerializer()
    mapping: dict[str, Any] = {"orders": string, "audit": str.encode, "raw": None}
    config = ProducerConfig(endpoints="h:1", key_serializer=string, value_serializer=mapping)
    assert config.key_serializer is string
    mapping["orders"] = None
    assert config.value_serializer == {"orders": string, "audit": str.encode, "raw": None}
    with pytest.raises(TypeError):
        config.value_serializer["x"] = None  # type: ignore[index]


def test_a_serializer_mapping_with_a_bad_topic_name_is_refused() -> None:
    with pytest.raises(
        ConfigError, match=r"value_serializer topic: 'no spaces' is not a valid topic"
    ):
        ProducerConfig(endpoints="h:1", value_serializer={"no spaces": str.encode})


def test_a_serializer_mapping_with_a_non_serializer_names_the_topic() -> None:
    with pytest.raises(ConfigError, match=r"value_serializer\['orders'\]: expected a function"):
        ProducerConfig(endpoints="h:1", value_serializer={"orders": "json"})  # type: ignore[dict-item]


def test_asynchronous_serializers_are_refused() -> None:
    async def serialize(value: object) -> bytes:
        return b""

    with pytest.raises(
        ConfigError, match=r"value_serializer: asynchronous serializers \(.*serialize\)"
    ):
        ProducerConfig(endpoints="h:1", value_serializer=serialize)  # type: ignore[arg-type]


# --- SASL beyond PLAIN and SCRAM, through the config and the environment -----------------------

OIDC_ENV = {
    "KAFFE_ENDPOINTS": "b1:9096",
    "KAFFE_SSL_CA": CA_PEM,
    "KAFFE_SASL_MECHANISM": "OAUTHBEARER",
    "KAFFE_SASL_OIDC_TOKEN_ENDPOINT_URL": "https://idp.example.com/oauth2/token",
    "KAFFE_SASL_OIDC_CLIENT_ID": "kaffe-client",
    "KAFFE_SASL_OIDC_CLIENT_SECRET": SASL_PASSWORD,
    "KAFFE_SASL_OIDC_SCOPE": "kafka",
    "KAFFE_SASL_OIDC_EXTENSIONS": "logicalCluster=lkc-1, identityPoolId=pool-2",
}


def test_from_env_reads_the_oidc_variables() -> None:
    config = ProducerConfig.from_env(OIDC_ENV)
    assert config.sasl == kaffe.SASLConfig(
        "OAUTHBEARER",
        oidc=kaffe.OIDC(
            "https://idp.example.com/oauth2/token",
            "kaffe-client",
            SASL_PASSWORD,
            scope="kafka",
            extensions={"logicalCluster": "lkc-1", "identityPoolId": "pool-2"},
        ),
    )
    properties = config.librdkafka_properties()
    assert properties["security.protocol"] == "SASL_SSL"
    assert properties["sasl.mechanism"] == "OAUTHBEARER"
    assert properties["sasl.oauthbearer.method"] == "oidc"
    assert properties["sasl.oauthbearer.client.secret"] == SASL_PASSWORD
    assert properties["sasl.oauthbearer.extensions"] == "logicalCluster=lkc-1,identityPoolId=pool-2"
    assert SASL_PASSWORD in config.secrets
    assert_nothing_secret(repr(config))


def test_oidc_variables_alone_mean_oauthbearer() -> None:
    environ = {k: v for k, v in OIDC_ENV.items() if k != "KAFFE_SASL_MECHANISM"}
    config = ProducerConfig.from_env(environ)
    assert config.sasl is not None
    assert config.sasl.mechanism == "OAUTHBEARER"


def test_a_bad_oidc_variable_is_named_without_its_secret() -> None:
    environ = {**OIDC_ENV, "KAFFE_SASL_OIDC_EXTENSIONS": "auth=x"}
    with pytest.raises(ConfigError, match=r"sasl.oidc.extensions: extension name 'auth'") as raised:
        ProducerConfig.from_env(environ)
    assert_nothing_secret(str(raised.value))


def test_kerberos_variables_mean_gssapi(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from kaffe import _features

    monkeypatch.setattr(_features, "missing_feature", lambda feature: None)
    keytab = tmp_path / "client.keytab"
    keytab.write_bytes(b"\x05\x02")
    config = ProducerConfig.from_env(
        {
            "KAFFE_ENDPOINTS": "b1:9092",
            "KAFFE_SASL_KERBEROS_PRINCIPAL": "kaffe@EXAMPLE.COM",
            "KAFFE_SASL_KERBEROS_KEYTAB": str(keytab),
            "KAFFE_SASL_KERBEROS_SERVICE_NAME": "kafka",
        }
    )
    properties = config.librdkafka_properties()
    assert properties["sasl.mechanism"] == "GSSAPI"
    assert properties["security.protocol"] == "SASL_PLAINTEXT"
    assert properties["sasl.kerberos.principal"] == "kaffe@EXAMPLE.COM"
    assert properties["sasl.kerberos.keytab"] == str(keytab)
    assert properties["sasl.kerberos.service.name"] == "kafka"


def test_gssapi_from_the_environment_fails_clearly_without_librdkafka_support() -> None:
    from kaffe._features import missing_feature

    if missing_feature("sasl_gssapi") is None:
        pytest.skip("this librdkafka has GSSAPI")
    environ = {"KAFFE_ENDPOINTS": "b1:9092", "KAFFE_SASL_MECHANISM": "GSSAPI"}
    with pytest.raises(
        ConfigError, match=r"sasl.mechanism: GSSAPI needs librdkafka's 'sasl_gssapi'"
    ):
        ProducerConfig.from_env(environ)


def test_token_provider_config_gives_librdkafka_a_token_callback() -> None:
    from kaffe._security import TokenRefresher

    def fetch_token() -> tuple[str, float]:
        return "token", 0.0

    config = ProducerConfig(
        endpoints="b1:9096",
        ssl=True,
        sasl=kaffe.SASLConfig("OAUTHBEARER", token_provider=fetch_token),
    )
    properties = config.librdkafka_properties()
    assert properties["sasl.mechanism"] == "OAUTHBEARER"
    assert isinstance(properties["oauth_cb"], TokenRefresher)
    assert properties["oauth_cb"] is not config.librdkafka_properties()["oauth_cb"]
    assert (
        "token_provider=test_token_provider_config_gives_librdkafka_a_token_callback.<locals>.fetch_token"
        in repr(config)
    )


@pytest.mark.parametrize(
    "key",
    [
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.method",
        "sasl.kerberos.keytab",
        "sasl.kerberos.kinit.cmd",
        "enable.sasl.oauthbearer.unsecure.jwt",
        "security.protocol",
    ],
)
def test_client_config_refuses_every_sasl_property_naming_the_sasl_option(key: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"client_config\['{key}'\].*use the (sasl|ssl / sasl) option"
    ):
        ProducerConfig(endpoints="h:1", client_config={key: "x"})


def test_client_config_refuses_the_token_endpoints_ca_naming_oidc() -> None:
    with pytest.raises(ConfigError, match=r"https.ca.pem.*oidc=kaffe.OIDC\(\.\.\., ca=\.\.\.\)"):
        ProducerConfig(endpoints="h:1", client_config={"https.ca.pem": CA_PEM})


# --- librdkafka accepts what the config produces --------------------------------------------


def _librdkafka_accepts(config: ProducerConfig) -> None:
    """Build a real librdkafka client from the properties (no broker needed)."""
    import confluent_kafka

    properties = config.librdkafka_properties()
    properties["log_level"] = 0  # no broker listens: keep its connection errors quiet
    producer = confluent_kafka.Producer(properties)
    producer.flush(0)


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_librdkafka_accepts_every_compression_codec(codec: str) -> None:
    _librdkafka_accepts(ProducerConfig(endpoints="127.0.0.1:9", compression=codec))  # type: ignore[arg-type]


def test_librdkafka_accepts_transactions_and_statistics() -> None:
    _librdkafka_accepts(
        ProducerConfig(endpoints="127.0.0.1:9", transactional_id="kaffe-1", statistics_interval=1)
    )


def test_librdkafka_accepts_the_oidc_login() -> None:
    oidc = kaffe.OIDC(
        "https://idp.example.com/oauth2/token",
        "kaffe-client",
        SASL_PASSWORD,
        scope="kafka",
        extensions="logicalCluster=lkc-1",
        ca=CA_PEM,
    )
    _librdkafka_accepts(
        ProducerConfig(
            endpoints="127.0.0.1:9", ssl=True, sasl=kaffe.SASLConfig("OAUTHBEARER", oidc=oidc)
        )
    )
