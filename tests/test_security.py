"""TLS and SASL value objects: SSLConfig, SASLConfig, OIDC and the token refresher."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import kaffe
from kaffe import ConfigError
from kaffe._security import TOKEN_EXPIRY_MARGIN, TokenRefresher

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


def assert_nothing_secret(text: str) -> None:
    for secret in NEVER_SHOWN:
        assert secret not in text


# --- TLS ---------------------------------------------------------------------------------


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
    assert_nothing_secret(str(raised.value))


def test_ssl_file_without_pem_is_rejected_without_quoting_it(tmp_path: Path) -> None:
    path = tmp_path / "key.der"
    path.write_text("c2VjcmV0LWtleS1saW5l")
    with pytest.raises(
        ConfigError, match=r"ssl\.key: the file at that path holds no PEM block"
    ) as raised:
        kaffe.SSLConfig(cert=CERT_PEM, key=str(path))
    assert_nothing_secret(str(raised.value))


# --- SASL: PLAIN and SCRAM -----------------------------------------------------------------


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "scram-sha-512"])
def test_sasl_mechanisms_are_accepted_and_normalised(mechanism: str) -> None:
    sasl = kaffe.SASLConfig(mechanism, "alice", SASL_PASSWORD)
    assert sasl.mechanism == mechanism.upper()
    assert sasl.librdkafka_properties() == {
        "sasl.mechanism": mechanism.upper(),
        "sasl.username": "alice",
        "sasl.password": SASL_PASSWORD,
    }


def test_sasl_config_keeps_its_positional_form() -> None:
    sasl = kaffe.SASLConfig("PLAIN", "alice", SASL_PASSWORD)
    assert (sasl.mechanism, sasl.username, sasl.password) == ("PLAIN", "alice", SASL_PASSWORD)
    assert repr(sasl) == "SASLConfig(mechanism='PLAIN', username='alice', password='***')"
    assert sasl.secrets == (SASL_PASSWORD,)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-512"])
def test_password_mechanisms_refuse_fields_of_other_mechanisms(mechanism: str) -> None:
    with pytest.raises(ConfigError, match=rf"sasl.token_provider: not used with {mechanism}"):
        kaffe.SASLConfig(mechanism, "alice", SASL_PASSWORD, token_provider=_token)


def test_unknown_mechanism_names_every_allowed_one() -> None:
    with pytest.raises(
        ConfigError,
        match="allowed: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER, GSSAPI",
    ):
        kaffe.SASLConfig("NTLM", "alice", SASL_PASSWORD)


# --- SASL: OAUTHBEARER ---------------------------------------------------------------------

OIDC_SECRET = "oidc-client-s3cret"


def _token() -> tuple[str, float]:
    return "header.payload.signature", time.time() + 600


def _oidc(**changes: Any) -> kaffe.OIDC:
    options: dict[str, Any] = {
        "token_endpoint_url": "https://idp.example.com/oauth2/token",
        "client_id": "kaffe-client",
        "client_secret": OIDC_SECRET,
        **changes,
    }
    return kaffe.OIDC(**options)


def test_oauthbearer_with_a_token_provider_hands_librdkafka_a_refresher() -> None:
    sasl = kaffe.SASLConfig("oauthbearer", token_provider=_token)
    assert sasl.mechanism == "OAUTHBEARER"
    properties = sasl.librdkafka_properties()
    assert set(properties) == {"sasl.mechanism", "oauth_cb"}
    assert isinstance(properties["oauth_cb"], TokenRefresher)
    assert properties["oauth_cb"].provider is _token
    assert repr(sasl) == "SASLConfig(mechanism='OAUTHBEARER', token_provider=_token)"
    assert sasl.secrets == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "OAUTHBEARER needs exactly one of token_provider"),
        ({"token_provider": _token, "oidc": None}, None),
        ({"token_provider": "token"}, "sasl.token_provider: expected a function"),
        (
            {"username": "alice", "token_provider": _token},
            "sasl.username: not used with OAUTHBEARER",
        ),
        ({"password": SASL_PASSWORD, "token_provider": _token}, "sasl.password: not used"),
        ({"kerberos_principal": "k", "token_provider": _token}, "sasl.kerberos_principal"),
        ({"oidc": 5}, "sasl.oidc: expected kaffe.OIDC or a mapping"),
    ],
)
def test_oauthbearer_fields_are_checked(options: dict[str, Any], message: str | None) -> None:
    if message is None:
        assert kaffe.SASLConfig("OAUTHBEARER", **options).token_provider is _token
        return
    with pytest.raises(ConfigError, match=message) as raised:
        kaffe.SASLConfig("OAUTHBEARER", **options)
    assert_nothing_secret(str(raised.value))


def test_oauthbearer_refuses_a_token_provider_and_oidc_together() -> None:
    with pytest.raises(ConfigError, match="exactly one of token_provider"):
        kaffe.SASLConfig("OAUTHBEARER", token_provider=_token, oidc=_oidc())


def test_oidc_becomes_librdkafkas_client_credentials_login() -> None:
    oidc = _oidc(scope="kafka", extensions={"logicalCluster": "lkc-1"}, ca=CA_PEM)
    sasl = kaffe.SASLConfig("OAUTHBEARER", oidc=oidc)
    assert sasl.librdkafka_properties() == {
        "sasl.mechanism": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc",
        "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/oauth2/token",
        "sasl.oauthbearer.client.id": "kaffe-client",
        "sasl.oauthbearer.client.secret": OIDC_SECRET,
        "sasl.oauthbearer.scope": "kafka",
        "sasl.oauthbearer.extensions": "logicalCluster=lkc-1",
        "https.ca.pem": CA_PEM,
    }
    assert sasl.secrets == (OIDC_SECRET,)


def test_oidc_is_a_frozen_value_that_hides_its_secret() -> None:
    oidc = _oidc(extensions="logicalCluster=lkc-1,identityPoolId=pool-2", ca=CA_PEM)
    assert oidc == _oidc(
        extensions=[("logicalCluster", "lkc-1"), ("identityPoolId", "pool-2")], ca=CA_PEM
    )
    assert oidc.extensions == (("logicalCluster", "lkc-1"), ("identityPoolId", "pool-2"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        oidc.client_secret = "x"  # type: ignore[misc]
    sasl = kaffe.SASLConfig("OAUTHBEARER", oidc=oidc)
    for shown in (oidc, sasl):
        assert OIDC_SECRET not in repr(shown)
        assert OIDC_SECRET not in str(shown)
        assert "Y2EtYm9keS1saW5l" not in repr(shown)
    assert "client_secret='***'" in repr(oidc)
    assert "ca=<pem>" in repr(oidc)


def test_oidc_may_be_given_as_a_mapping() -> None:
    sasl = kaffe.SASLConfig(
        "OAUTHBEARER",
        oidc={
            "token_endpoint_url": "https://idp.example.com/oauth2/token",
            "client_id": "kaffe-client",
            "client_secret": OIDC_SECRET,
        },
    )
    assert sasl.oidc == _oidc()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"token_endpoint_url": "https://idp/t", "client_id": "c"},
            "sasl.oidc: missing client_secret",
        ),
        (
            {
                "token_endpoint_url": "https://i/t",
                "client_id": "c",
                "client_secret": OIDC_SECRET,
                "secret": 1,
            },
            r"sasl.oidc: unknown key\(s\) secret; allowed: token_endpoint_url",
        ),
    ],
)
def test_oidc_mapping_errors_name_the_keys(mapping: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        kaffe.SASLConfig("OAUTHBEARER", oidc=mapping)
    assert OIDC_SECRET not in str(raised.value)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"token_endpoint_url": ""}, "token_endpoint_url: a non-empty URL is required"),
        ({"token_endpoint_url": "ftp://idp/token"}, "is not an https:// \\(or http://\\) URL"),
        ({"token_endpoint_url": "idp.example.com/token"}, "is not an https://"),
        ({"token_endpoint_url": "https://idp:99999/token"}, "is not a valid URL"),
        (
            {"token_endpoint_url": f"https://kaffe:{OIDC_SECRET}@idp/token"},
            "must not hold credentials",
        ),
        ({"client_id": ""}, "sasl.oidc.client_id: a non-empty string is required"),
        ({"client_secret": None}, "sasl.oidc.client_secret: a non-empty string is required"),
        ({"scope": " "}, "sasl.oidc.scope: expected a non-empty string or None"),
        ({"extensions": "logicalCluster"}, "'logicalCluster' is not 'name=value'"),
        ({"extensions": {"auth": "x"}}, "extension name 'auth' is not allowed"),
        ({"extensions": {"pool-id": "x"}}, "extension name 'pool-id' is not allowed"),
        ({"extensions": {"pool": "a b"}}, "the value of 'pool' must be printable ASCII"),
        ({"extensions": 5}, "expected a mapping of name to value"),
        ({"ca": "/no/such/ca.pem"}, "sasl.oidc.ca: not PEM text, and no readable file"),
    ],
)
def test_bad_oidc_settings_name_the_field_without_the_secret(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        _oidc(**changes)
    assert OIDC_SECRET not in str(raised.value)


def test_http_token_endpoints_are_allowed_for_local_identity_providers() -> None:
    assert _oidc(token_endpoint_url=" http://127.0.0.1:8080/token ").token_endpoint_url == (
        "http://127.0.0.1:8080/token"
    )


# --- the token refresher (librdkafka's oauth_cb) ---------------------------------------------


class TokenCache:
    def __call__(self) -> tuple[str, float]:
        return _token()


def test_token_refresher_returns_the_token_and_its_expiry_a_little_early() -> None:
    expiry = int(time.time() + 60)
    refresher = TokenRefresher(lambda: ("abc", expiry))
    assert refresher("principal=ignored") == ("abc", expiry - TOKEN_EXPIRY_MARGIN)
    assert refresher.failure is None


def test_token_refresher_names_the_provider_by_its_qualified_name() -> None:
    assert TokenRefresher(_token).name == "_token"
    assert TokenRefresher(TokenCache()).name == "TokenCache.__call__"
    assert TokenRefresher(functools.partial(_token)).name == "_token"
    assert TokenRefresher(TokenCache().__call__).name == "TokenCache.__call__"


def test_a_provider_that_raises_becomes_an_authentication_error_naming_it() -> None:
    def fetch_from_vault() -> tuple[str, float]:
        raise OSError("vault sealed")

    refresher = TokenRefresher(fetch_from_vault)
    with pytest.raises(kaffe.AuthenticationError) as raised:
        refresher("")
    error = raised.value
    assert str(error) == (
        "sasl.token_provider test_a_provider_that_raises_becomes_an_authentication_error_naming_it"
        ".<locals>.fetch_from_vault raised OSError: vault sealed"
    )
    assert isinstance(error.__cause__, OSError)
    assert error.reason == "token provider failed"
    assert error.retriable is False
    assert refresher.failure is error


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        ("token", "returned str; expected a \\(token, expires_at_epoch_seconds\\) tuple"),
        (("token", 1, 2), "returned tuple; expected"),
        ((b"token", 2e9), "returned a token of type bytes; expected a str"),
        (("", 2e9), "returned a token of type str"),
        (("token", "soon"), "returned an expiry of type str"),
        (("token", True), "returned an expiry of type bool"),
        (("token", float("nan")), "returned an expiry of type float"),
        (("token", 1.8e12), "looks like milliseconds; return seconds since the epoch"),
        (("token", 1000.0), "returned a token that expired"),
    ],
)
def test_a_provider_returning_something_unusable_is_an_authentication_error(
    returned: object, message: str
) -> None:
    refresher = TokenRefresher(lambda: returned)  # type: ignore[arg-type, return-value]
    with pytest.raises(kaffe.AuthenticationError, match=message):
        refresher("")
    assert refresher.failure is not None


def test_a_token_about_to_expire_is_refused() -> None:
    refresher = TokenRefresher(lambda: ("token", time.time() + 0.5))
    with pytest.raises(kaffe.AuthenticationError, match=r"expires in 0\.\ds, too soon to use"):
        refresher("")


def test_a_working_call_clears_the_last_failure() -> None:
    answers: list[Any] = [ValueError("down"), _token()]

    def flaky() -> tuple[str, float]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    refresher = TokenRefresher(flaky)
    with pytest.raises(kaffe.AuthenticationError):
        refresher("")
    refresher("")
    assert refresher.failure is None


def test_startup_error_keeps_the_failure_and_masks_secrets() -> None:
    def leaky() -> tuple[str, float]:
        raise PermissionError(f"bad client secret {OIDC_SECRET}")

    refresher = TokenRefresher(leaky)
    with pytest.raises(kaffe.AuthenticationError):
        refresher("")
    error = refresher.startup_error([OIDC_SECRET])
    assert "leaky raised PermissionError: bad client secret ***" in str(error)
    assert OIDC_SECRET not in str(error)
    assert isinstance(error.__cause__, PermissionError)
    silent = TokenRefresher(_token).startup_error([])
    assert str(silent) == "sasl.token_provider _token returned no token in time"


def test_confluent_kafka_calls_the_provider_off_the_callers_thread() -> None:
    import confluent_kafka

    calls: list[int] = []

    def provider() -> tuple[str, float]:
        calls.append(threading.get_ident())
        return _token()

    sasl = kaffe.SASLConfig("OAUTHBEARER", token_provider=provider)
    properties: dict[str, Any] = {
        "bootstrap.servers": "127.0.0.1:9",
        "security.protocol": "SASL_PLAINTEXT",
    }
    properties.update(sasl.librdkafka_properties())
    properties["log_level"] = 0
    # confluent-kafka waits in the constructor until the first token is set.
    confluent_kafka.Producer(properties).flush(0)
    assert calls
    assert threading.get_ident() not in calls


def test_librdkafka_refreshes_a_short_lived_token_before_it_expires() -> None:
    import confluent_kafka

    issued: list[tuple[float, float]] = []  # (when, expires_at)

    def provider() -> tuple[str, float]:
        now = time.time()
        issued.append((now, now + 4))
        return "header.payload.signature", now + 4

    sasl = kaffe.SASLConfig("OAUTHBEARER", token_provider=provider)
    properties: dict[str, Any] = {
        "bootstrap.servers": "127.0.0.1:9",
        "security.protocol": "SASL_PLAINTEXT",
        "log_level": 0,
    }
    properties.update(sasl.librdkafka_properties())
    producer = confluent_kafka.Producer(properties)
    deadline = time.monotonic() + 10
    while len(issued) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    producer.flush(0)
    assert len(issued) >= 2
    (first_at, first_expiry), (second_at, _) = issued[:2]
    assert first_at + 2 < second_at < first_expiry


def test_a_failing_provider_fails_the_producer_with_an_error_naming_it() -> None:
    def broken_provider() -> tuple[str, float]:
        raise RuntimeError("identity provider down")

    started = time.monotonic()
    with pytest.raises(
        kaffe.AuthenticationError, match="broken_provider raised RuntimeError"
    ) as raised:
        kaffe.Producer(
            endpoints="127.0.0.1:9",
            sasl=kaffe.SASLConfig("OAUTHBEARER", token_provider=broken_provider),
            client_config={"log_level": 0},
        )
    # At once: not after the fixed 10 s confluent-kafka's constructor gives the first token.
    assert time.monotonic() - started < 3
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_start_timeout_shorter_than_confluent_kafkas_first_look_still_gets_the_token() -> None:
    # confluent-kafka looks for the first token once a second: a working provider must
    # not fail start-up because start_timeout ran out before that first look.
    with pytest.raises(kaffe.BrokerUnavailableError) as raised:
        kaffe.Producer(
            endpoints="127.0.0.1:9",
            sasl=kaffe.SASLConfig("OAUTHBEARER", token_provider=_token),
            start_timeout=0.3,
            client_config={"log_level": 0},
        )
    assert not isinstance(raised.value, kaffe.AuthenticationError), raised.value


def test_a_failed_refresh_is_logged_naming_the_provider_and_the_time_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[Any] = [("token", time.time() + 60), PermissionError(f"vault said {OIDC_SECRET}")]

    def fetch_from_vault() -> tuple[str, float]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    refresher = TokenRefresher(fetch_from_vault)
    refresher.secrets = (OIDC_SECRET,)
    refresher("")
    with caplog.at_level(logging.DEBUG, logger="kaffe"), pytest.raises(kaffe.AuthenticationError):
        refresher("")

    [record] = caplog.records
    assert (record.name, record.levelno) == ("kaffe", logging.ERROR)
    assert record.getMessage() == (
        "sasl.token_provider test_a_failed_refresh_is_logged_naming_the_provider_and_the_time_left"
        ".<locals>.fetch_from_vault raised PermissionError: vault said ***; the current token "
        "expires in 60s; librdkafka keeps using it and asks again in 10s"
    )


def test_a_failed_refresh_after_the_token_expired_says_what_that_means(
    caplog: pytest.LogCaptureFixture,
) -> None:
    refresher = TokenRefresher(lambda: ("token", 1000.0))
    refresher.expires_at = time.time() - 30

    with caplog.at_level(logging.ERROR, logger="kaffe"), pytest.raises(kaffe.AuthenticationError):
        refresher("")

    assert (
        caplog.records[0]
        .getMessage()
        .endswith(
            "; the current token expired 30s ago, so the brokers refuse new sessions and messages "
            "fail after delivery_timeout; librdkafka asks again in 10s"
        )
    )


def test_a_failed_first_call_is_raised_at_start_up_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def down() -> tuple[str, float]:
        raise OSError("down")

    refresher = TokenRefresher(down)
    with caplog.at_level(logging.DEBUG, logger="kaffe"), pytest.raises(kaffe.AuthenticationError):
        refresher("")

    assert caplog.records == []


def test_the_expiry_of_the_last_token_is_kept_through_a_failure() -> None:
    answers: list[Any] = [("token", time.time() + 60), OSError("down")]

    def flaky() -> tuple[str, float]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    refresher = TokenRefresher(flaky)
    refresher("")
    first = refresher.expires_at
    assert first is not None
    with pytest.raises(kaffe.AuthenticationError):
        refresher("")
    assert refresher.expires_at == first


# --- SASL: GSSAPI (Kerberos) ------------------------------------------------------------------


@pytest.fixture
def with_gssapi(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend librdkafka was built with GSSAPI (the prebuilt wheels are not)."""
    from kaffe import _features

    real = _features.missing_feature
    monkeypatch.setattr(
        _features,
        "missing_feature",
        lambda feature: None if feature == "sasl_gssapi" else real(feature),
    )


def test_gssapi_passes_principal_keytab_service_and_kinit_to_librdkafka(
    with_gssapi: None, tmp_path: Path
) -> None:
    keytab = tmp_path / "kaffe.keytab"
    keytab.write_bytes(b"\x05\x02keytab")
    sasl = kaffe.SASLConfig(
        "gssapi",
        kerberos_principal="kaffe/host@EXAMPLE.COM",
        kerberos_keytab=str(keytab),
        kerberos_service_name="kafka",
        kerberos_kinit_cmd="kinit -k -t %{sasl.kerberos.keytab} %{sasl.kerberos.principal}",
    )
    assert sasl.librdkafka_properties() == {
        "sasl.mechanism": "GSSAPI",
        "sasl.kerberos.principal": "kaffe/host@EXAMPLE.COM",
        "sasl.kerberos.keytab": str(keytab),
        "sasl.kerberos.service.name": "kafka",
        "sasl.kerberos.kinit.cmd": "kinit -k -t %{sasl.kerberos.keytab} %{sasl.kerberos.principal}",
    }
    assert repr(sasl) == (
        "SASLConfig(mechanism='GSSAPI', kerberos_principal='kaffe/host@EXAMPLE.COM', "
        f"kerberos_keytab={str(keytab)!r}, kerberos_service_name='kafka', "
        "kerberos_kinit_cmd=<command>)"
    )
    assert kaffe.SASLConfig("GSSAPI").librdkafka_properties() == {"sasl.mechanism": "GSSAPI"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"username": "alice"}, "sasl.username: not used with GSSAPI"),
        ({"password": SASL_PASSWORD}, "sasl.password: not used with GSSAPI"),
        ({"oidc": {"client_id": "x"}}, "sasl.oidc"),
        ({"kerberos_keytab": "/no/such/kaffe.keytab"}, "sasl.kerberos_keytab: no keytab file at"),
        ({"kerberos_principal": ""}, "sasl.kerberos_principal: expected a non-empty string"),
    ],
)
def test_gssapi_fields_are_checked(
    with_gssapi: None, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        kaffe.SASLConfig("GSSAPI", **options)
    assert_nothing_secret(str(raised.value))


def test_gssapi_without_librdkafka_support_is_a_config_error_naming_the_feature() -> None:
    from kaffe._features import missing_feature

    if missing_feature("sasl_gssapi") is None:
        pytest.skip("this librdkafka has GSSAPI")
    with pytest.raises(
        ConfigError, match="GSSAPI needs librdkafka's 'sasl_gssapi' feature"
    ) as raised:
        kaffe.SASLConfig("GSSAPI", kerberos_principal="kaffe@EXAMPLE.COM")
    assert "cyrus-sasl/libsasl2 not available at build time" in str(raised.value)
    assert raised.value.reason == "librdkafka feature missing"


def test_librdkafka_without_gssapi_only_says_so_when_the_client_is_created() -> None:
    """What kaffe's check spares users: librdkafka's own, later and vaguer message."""
    import confluent_kafka

    from kaffe._features import missing_feature

    if missing_feature("sasl_gssapi") is None:
        pytest.skip("this librdkafka has GSSAPI")
    properties = {
        "bootstrap.servers": "127.0.0.1:9",
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "GSSAPI",
    }
    with pytest.raises(
        confluent_kafka.KafkaException, match="No provider for SASL mechanism GSSAPI"
    ):
        confluent_kafka.Producer(properties)
