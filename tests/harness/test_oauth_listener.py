"""
The OAUTHBEARER listener end to end, with plain confluent-kafka.

librdkafka's built-in OIDC client fetches tokens from the harness's token
endpoint (client credentials), and the broker checks them with Kafka's own
``OAuthBearerValidatorCallbackHandler`` against the harness's JWKS. A valid
client produces; a wrong secret, an expired token, a bad signature and a
token for another audience are refused.
"""

from __future__ import annotations

import json
import shlex
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer

from tests.conftest import Cluster, OAuthListener, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.timeout(120)]

#: How long a refused login may take to be reported.
REFUSAL_WAIT = 15.0


def _produce_one(config: dict[str, Any], topic: str) -> tuple[KafkaError | None, list[KafkaError]]:
    """
    Produce one message; return its delivery error (None when delivered) and the client errors.

    Stops at the first client error, so a refused login is seen at once.
    """
    errors: list[KafkaError] = []
    outcomes: list[KafkaError | None] = []
    producer = Producer({**config, "error_cb": errors.append, "log_level": 0})
    producer.produce(
        topic, key=b"key", value=b"over oauth", on_delivery=lambda e, _: outcomes.append(e)
    )
    deadline = time.monotonic() + REFUSAL_WAIT
    while not outcomes and not errors and time.monotonic() < deadline:
        producer.poll(0.1)
    producer.purge()
    producer.flush(1)
    return (outcomes[0] if outcomes else None), errors


def _refusal(config: dict[str, Any], topic: str) -> str:
    """Produce one message and return the authentication error librdkafka reports."""
    delivered, errors = _produce_one(config, topic)
    assert errors, f"no error reported (delivery: {delivered})"
    assert errors[0].code() == KafkaError._AUTHENTICATION, errors[0]
    return str(errors[0].str())


def test_a_valid_client_logs_in_with_librdkafkas_oidc_client_and_produces(
    oauth: OAuthListener, topic: str, bootstrap: str
) -> None:
    delivered, errors = _produce_one(oauth.librdkafka_config("valid"), topic)
    assert (delivered, errors) == (None, [])
    assert [record.value for record in read_topic(bootstrap, topic)] == [b"over oauth"]


def test_oauth_env_prints_the_fixed_variables_of_a_working_login(
    kafka: Cluster, oauth: OAuthListener
) -> None:
    tokens = [token for token in shlex.split(kafka.script("oauth-env")) if token != "export"]
    assert dict(token.split("=", 1) for token in tokens) == oauth.env("valid")
    assert oauth.env()["KAFFE_ENDPOINTS"] == oauth.bootstrap
    assert oauth.env()["KAFFE_SASL_OIDC_CLIENT_ID"] == "kaffe-client"


def test_a_wrong_client_secret_is_refused_by_the_token_endpoint(
    oauth: OAuthListener, topic: str
) -> None:
    config = oauth.librdkafka_config("valid", secret="not-the-secret")
    assert "invalid_client" in _refusal(config, topic)


def test_an_expired_token_is_refused_before_it_is_sent(oauth: OAuthListener, topic: str) -> None:
    assert "unexpired token" in _refusal(oauth.librdkafka_config("expired"), topic)


def test_an_expired_token_is_refused_by_the_broker(oauth: OAuthListener, topic: str) -> None:
    # librdkafka will not send a token it knows to be expired, so claim a later expiry.
    token = _fetch_token(oauth, "expired")
    config = {
        key: value
        for key, value in oauth.librdkafka_config().items()
        if not key.startswith("sasl.oauthbearer.")
    }
    config["oauth_cb"] = lambda _: (token, time.time() + 60)
    assert "invalid_token" in _refusal(config, topic)


@pytest.mark.parametrize("role", ["bad_signature", "wrong_audience"])
def test_a_token_the_jwks_does_not_vouch_for_is_refused_by_the_broker(
    oauth: OAuthListener, topic: str, role: str
) -> None:
    assert "invalid_token" in _refusal(oauth.librdkafka_config(role), topic)


def test_short_lived_tokens_are_refreshed_while_producing(
    oauth: OAuthListener, topic: str, kafka: Cluster
) -> None:
    log = Path(kafka.state["nodes"][0]["dir"]).parent / "oauth" / "token-server.log"
    before = log.read_text().count("kaffe-short-lived: valid token")
    errors: list[KafkaError] = []
    outcomes: list[KafkaError | None] = []
    producer = Producer(
        {**oauth.librdkafka_config("short_lived"), "error_cb": errors.append, "linger.ms": 5}
    )
    started = time.monotonic()
    # Long enough for two refreshes, each followed by a new login on the open connections.
    while time.monotonic() - started < 2 * oauth.clients["short_lived"].lifetime:
        producer.produce(topic, value=b"x", on_delivery=lambda e, _: outcomes.append(e))
        producer.poll(0.05)
    assert producer.flush(30) == 0
    assert errors == []
    assert outcomes
    assert all(outcome is None for outcome in outcomes)
    assert log.read_text().count("kaffe-short-lived: valid token") - before >= 3


def _fetch_token(oauth: OAuthListener, role: str) -> str:
    client = oauth.clients[role]
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    request = urllib.request.Request(oauth.token_endpoint, urllib.parse.urlencode(form).encode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        token: str = json.load(answer)["access_token"]
    return token
