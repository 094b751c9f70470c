"""
OAUTHBEARER logins through kaffe's public API, against the broker's OAUTHBEARER listener.

The listener checks JWTs with Kafka's own JWKS-validating handler; the harness
serves the token endpoint and the JWKS (``scripts/kafka up --security oauthbearer``,
the ``oauth`` fixture). Logins come from ``kaffe.OIDC`` (librdkafka's own
client-credentials flow) or from a ``token_provider`` that fetches tokens from the
same endpoint, with the lifetime the test wants.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shlex
import subprocess
import sys
import textwrap
import time
import traceback
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import kaffe
from kaffe._engine import DELIVERY_GRACE
from tests.conftest import SCRIPT, Cluster, OAuthListener, Record

pytestmark = [pytest.mark.integration, pytest.mark.security, pytest.mark.timeout(180)]

FACES = ["sync", "async"]
#: The start timeout of the tests that expect a refused login.
START_TIMEOUT = 10.0
#: A refused login must be reported well inside ``START_TIMEOUT``: kaffe stops waiting
#: once a broker or the token endpoint refuses. Generous for a busy machine; an idle
#: one reports within about 0.5 s.
REFUSAL_BOUND = 5.0
#: Seconds the short-lived tokens of the refresh tests live.
SHORT_LIFETIME = 6


# --- helpers ------------------------------------------------------------------------------


@pytest.fixture(params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    """The face under test: ``sync`` (``kaffe.Producer``) or ``async`` (``kaffe.AsyncProducer``)."""
    return str(request.param)


def fetch_token(
    oauth: OAuthListener, role: str = "valid", *, lifetime: int | None = None
) -> tuple[str, float]:
    """Ask the harness's token endpoint for a token, as a ``token_provider`` would."""
    client = oauth.clients[role]
    form = {
        "grant_type": "client_credentials",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "scope": oauth.scope,
    }
    if lifetime is not None:
        form["lifetime"] = str(lifetime)
    request = urllib.request.Request(oauth.token_endpoint, urllib.parse.urlencode(form).encode())
    asked = time.time()
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = json.load(answer)
    return body["access_token"], asked + body["expires_in"]


def oidc_login(oauth: OAuthListener, role: str = "valid", *, secret: str | None = None) -> Any:
    """A ``kaffe.SASLConfig`` logging in with librdkafka's OIDC client as a test client."""
    client = oauth.clients[role]
    return kaffe.SASLConfig(
        "OAUTHBEARER",
        oidc=kaffe.OIDC(
            token_endpoint_url=oauth.token_endpoint,
            client_id=client.client_id,
            client_secret=client.client_secret if secret is None else secret,
            scope=oauth.scope,
        ),
    )


def provider_login(provider: Callable[[], tuple[str, float]]) -> Any:
    """A ``kaffe.SASLConfig`` logging in with a token provider."""
    return kaffe.SASLConfig("OAUTHBEARER", token_provider=provider)


def options(oauth: OAuthListener, sasl: Any, **more: Any) -> dict[str, Any]:
    """Producer options for the OAUTHBEARER listener (its CA, the login, ``more``)."""
    return {
        "endpoints": oauth.bootstrap,
        "ssl": kaffe.SSLConfig(ca=oauth.ca),
        "sasl": sasl,
        **more,
    }


def start(face: str, settings: dict[str, Any]) -> tuple[float, BaseException | None]:
    """Start and close a producer of ``face``; return the seconds it took and its error."""

    async def start_async() -> None:
        async with kaffe.AsyncProducer(**settings):
            pass

    began = time.monotonic()
    try:
        if face == "sync":
            with kaffe.Producer(**settings):
                pass
        else:
            asyncio.run(start_async())
    except Exception as error:
        return time.monotonic() - began, error
    return time.monotonic() - began, None


def shown(error: BaseException) -> str:
    """Everything an error shows: message, repr and the formatted traceback with its causes."""
    return "\n".join([str(error), repr(error), *traceback.format_exception(error)])


@pytest.fixture
def kaffe_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of the ``kaffe`` loggers, librdkafka's included, from DEBUG up."""
    with caplog.at_level(logging.DEBUG, logger="kaffe"):
        yield caplog


# --- client credentials (kaffe.OIDC) ------------------------------------------------------


def test_client_credentials_log_in_and_produce(
    face: str, oauth: OAuthListener, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    settings = options(oauth, oidc_login(oauth), topics=[topic])

    async def run_async() -> list[kaffe.Delivery]:
        async with kaffe.AsyncProducer(**settings) as producer:
            first = await producer.produce_sync("k1", "over oidc")
            second = await (await producer.produce("k2", "over oidc"))
            rest = await producer.produce_batch_sync(topic, [("k3", "batch"), ("k4", "batch")])
            return [first, second, *rest]

    if face == "sync":
        with kaffe.Producer(**settings) as producer:
            deliveries = [
                producer.produce_sync("k1", "over oidc"),
                producer.produce("k2", "over oidc").result(timeout=30),
                *producer.produce_batch_sync(topic, [("k3", "batch"), ("k4", "batch")]),
            ]
    else:
        deliveries = asyncio.run(run_async())

    records = read_back(topic)
    assert sorted((r.key, r.value) for r in records) == [
        (b"k1", b"over oidc"),
        (b"k2", b"over oidc"),
        (b"k3", b"batch"),
        (b"k4", b"batch"),
    ]
    assert sorted((d.partition, d.offset) for d in deliveries) == sorted(
        (r.partition, r.offset) for r in records
    )


# --- refused logins -----------------------------------------------------------------------

#: Logins that are refused: by the token endpoint (a wrong client secret, an expired
#: token librdkafka will not send), or by the broker (an expired token that claims a
#: later expiry, a signature the JWKS does not vouch for).
REFUSALS = [
    "oidc-wrong-secret",
    "oidc-expired-token",
    "oidc-bad-signature",
    "provider-expired-token",
    "provider-bad-signature",
]


def refused_login(oauth: OAuthListener, kind: str) -> tuple[Any, list[str]]:
    """A login the broker or the token endpoint refuses, and the secrets it involves."""
    if kind == "oidc-wrong-secret":
        wrong = f"not-the-secret-{uuid.uuid4().hex}"
        return oidc_login(oauth, secret=wrong), [wrong, oauth.clients["valid"].client_secret]
    if kind.startswith("oidc-"):
        role = "expired" if kind == "oidc-expired-token" else "bad_signature"
        return oidc_login(oauth, role), [oauth.clients[role].client_secret]
    role = "expired" if kind == "provider-expired-token" else "bad_signature"
    token, _ = fetch_token(oauth, role)

    def refused_token() -> tuple[str, float]:
        # An expired token claims a later expiry, so only the broker can refuse it.
        return token, time.time() + 300

    return provider_login(refused_token), [token, oauth.clients[role].client_secret]


@pytest.mark.parametrize("kind", REFUSALS)
def test_a_refused_login_raises_authentication_error_well_within_the_start_timeout(
    face: str, kind: str, oauth: OAuthListener, topic: str, kaffe_logs: pytest.LogCaptureFixture
) -> None:
    sasl, secrets = refused_login(oauth, kind)

    elapsed, error = start(face, options(oauth, sasl, topics=[topic], start_timeout=START_TIMEOUT))

    assert isinstance(error, kaffe.AuthenticationError), repr(error)
    assert error.reason == "authentication failed"
    assert error.retriable is False
    assert elapsed < REFUSAL_BOUND, f"refused after {elapsed:.2f}s"
    for secret in secrets:
        assert secret not in shown(error)
        assert secret not in repr(sasl)
        assert all(secret not in record.getMessage() for record in kaffe_logs.records)


def test_the_refusal_says_what_was_refused(oauth: OAuthListener, topic: str) -> None:
    wrong, _ = refused_login(oauth, "oidc-wrong-secret")
    expired, _ = refused_login(oauth, "oidc-expired-token")
    forged, _ = refused_login(oauth, "oidc-bad-signature")

    errors = [
        start("sync", options(oauth, sasl, topics=[topic]))[1] for sasl in (wrong, expired, forged)
    ]

    assert "invalid_client" in str(errors[0])
    assert "unexpired token" in str(errors[1])
    assert "invalid_token" in str(errors[2])


# --- token providers ----------------------------------------------------------------------


class TokenLog:
    """A token provider that fetches short-lived tokens, and records each call."""

    def __init__(
        self, oauth: OAuthListener, lifetime: int, *, fail_after: int | None = None
    ) -> None:
        self.oauth = oauth
        self.lifetime = lifetime
        self.fail_after = fail_after
        #: (wall-clock time of the call, expiry of the token it returned or None)
        self.calls: list[tuple[float, float | None]] = []

    def fetch(self) -> tuple[str, float]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            self.calls.append((time.time(), None))
            raise ConnectionError("identity provider unreachable")
        token, expires_at = fetch_token(self.oauth, lifetime=self.lifetime)
        self.calls.append((time.time(), expires_at))
        return token, expires_at


def _produce_for(face: str, settings: dict[str, Any], seconds: float) -> list[Any]:
    """Produce every 20 ms for ``seconds`` (a sync call every 25th); return the outcomes."""

    def outcome(future: Any) -> Any:
        try:
            return future.result()
        except kaffe.KaffeError as error:
            return error

    async def run_async() -> list[Any]:
        async with kaffe.AsyncProducer(**settings) as producer:
            futures: list[Any] = []
            began = time.monotonic()
            number = 0
            while time.monotonic() - began < seconds:
                number += 1
                if number % 25:
                    futures.append(await producer.produce(str(number), "refreshed"))
                else:
                    futures.append(asyncio.ensure_future(producer.produce_sync(str(number), "x")))
                await asyncio.sleep(0.02)
            return [await _settled(future) for future in futures]

    if face == "async":
        return asyncio.run(run_async())
    with kaffe.Producer(**settings) as producer:
        outcomes: list[Any] = []
        began = time.monotonic()
        number = 0
        while time.monotonic() - began < seconds:
            number += 1
            if number % 25:
                outcomes.append(producer.produce(str(number), "refreshed"))
            else:
                try:
                    outcomes.append(producer.produce_sync(str(number), "x"))
                except kaffe.KaffeError as error:
                    outcomes.append(error)
            time.sleep(0.02)
        producer.flush()
    return [outcome(item) if hasattr(item, "result") else item for item in outcomes]


async def _settled(future: Any) -> Any:
    try:
        return await future
    except kaffe.KaffeError as error:
        return error


def test_token_provider_tokens_are_refreshed_before_expiry_while_producing(
    face: str,
    oauth: OAuthListener,
    topic: str,
    read_back: Callable[[str], list[Record]],
    kaffe_logs: pytest.LogCaptureFixture,
) -> None:
    tokens = TokenLog(oauth, SHORT_LIFETIME)
    settings = options(oauth, provider_login(tokens.fetch), topics=[topic])

    outcomes = _produce_for(face, settings, 2 * SHORT_LIFETIME + 2)

    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    assert failures == []
    assert all(isinstance(outcome, kaffe.Delivery) for outcome in outcomes)
    assert len(read_back(topic)) == len(outcomes)
    # The first token at start-up, then a new one before each expired: the broker ends
    # a session when its token expires, so producing on needs every refresh.
    assert len(tokens.calls) >= 3, tokens.calls
    for (_, expires_at), (called, _) in zip(tokens.calls, tokens.calls[1:], strict=False):
        assert expires_at is not None
        assert called < expires_at, f"refreshed {called - expires_at:.2f}s after expiry"
    refusals = [
        record.getMessage()
        for record in kaffe_logs.records
        if record.levelno >= logging.WARNING or "authentication" in record.getMessage().lower()
    ]
    assert refusals == []


def test_a_token_provider_that_raises_at_start_up_is_named_in_the_error(
    face: str, oauth: OAuthListener, topic: str
) -> None:
    def fetch_from_vault() -> tuple[str, float]:
        raise ConnectionError("vault unreachable")

    elapsed, error = start(
        face, options(oauth, provider_login(fetch_from_vault), topics=[topic], start_timeout=5)
    )

    assert isinstance(error, kaffe.AuthenticationError), repr(error)
    assert str(error) == (
        "sasl.token_provider test_a_token_provider_that_raises_at_start_up_is_named_in_the_error"
        ".<locals>.fetch_from_vault raised ConnectionError: vault unreachable"
    )
    assert error.reason == "token provider failed"
    assert isinstance(error.__cause__, ConnectionError)
    assert elapsed < 3.0, f"failed after {elapsed:.2f}s"


def test_a_token_provider_that_never_answers_fails_start_up_within_the_start_timeout(
    oauth: OAuthListener, topic: str
) -> None:
    def stuck() -> tuple[str, float]:
        time.sleep(12)
        raise TimeoutError("gave up")

    elapsed, error = start(
        "sync", options(oauth, provider_login(stuck), topics=[topic], start_timeout=2)
    )

    assert isinstance(error, kaffe.AuthenticationError), repr(error)
    assert "stuck returned no token within 2s" in str(error)
    assert elapsed < 2 + 1.5, f"failed after {elapsed:.2f}s"


def _failed_refreshes(logs: pytest.LogCaptureFixture) -> list[str]:
    """kaffe's own error lines (not librdkafka's)."""
    return [
        record.getMessage()
        for record in list(logs.records)
        if record.name == "kaffe" and record.levelno >= logging.ERROR
    ]


def _wait_until_the_session_ends(tokens: TokenLog, logs: pytest.LogCaptureFixture) -> None:
    """Wait until the refresh failed and the only token expired: the broker ends the session."""
    expiry = tokens.calls[0][1]
    assert expiry is not None
    deadline = time.monotonic() + 4 * SHORT_LIFETIME
    while not _failed_refreshes(logs) or time.time() < expiry + 1.0:
        assert time.monotonic() < deadline, f"no failed refresh logged: {tokens.calls}"
        time.sleep(0.1)


def test_a_token_provider_that_fails_while_running_is_logged_and_produce_fails_typed(
    face: str, oauth: OAuthListener, topic: str, kaffe_logs: pytest.LogCaptureFixture
) -> None:
    tokens = TokenLog(oauth, SHORT_LIFETIME, fail_after=1)
    delivery_timeout = 3.0
    settings = options(
        oauth, provider_login(tokens.fetch), topics=[topic], delivery_timeout=delivery_timeout
    )
    bound = delivery_timeout + DELIVERY_GRACE + 1.0

    async def run_async() -> tuple[Any, float, Any, Any]:
        async with kaffe.AsyncProducer(**settings) as producer:
            first = await producer.produce_sync("k", "before")
            await asyncio.to_thread(_wait_until_the_session_ends, tokens, kaffe_logs)
            began = time.monotonic()
            future = await producer.produce("k", "future")
            after = await asyncio.gather(
                producer.produce_sync("k", "after"), return_exceptions=True
            )
            elapsed = time.monotonic() - began
            failed = await asyncio.gather(future, return_exceptions=True)
            return first, elapsed, after[0], failed[0]

    if face == "sync":
        with kaffe.Producer(**settings) as producer:
            first = producer.produce_sync("k", "before")
            _wait_until_the_session_ends(tokens, kaffe_logs)
            began = time.monotonic()
            future = producer.produce("k", "future")
            try:
                after: Any = producer.produce_sync("k", "after")
            except kaffe.KaffeError as error:
                after = error
            elapsed = time.monotonic() - began
            failed = future.exception(timeout=bound)
    else:
        first, elapsed, after, failed = asyncio.run(run_async())

    assert isinstance(first, kaffe.Delivery)
    assert isinstance(after, kaffe.DeliveryTimeoutError), repr(after)
    assert isinstance(failed, kaffe.DeliveryTimeoutError), repr(failed)
    assert elapsed < bound, f"failed after {elapsed:.2f}s"
    logged = _failed_refreshes(kaffe_logs)[0]
    assert logged.startswith(
        "sasl.token_provider TokenLog.fetch raised ConnectionError: identity provider unreachable; "
    ), logged


# --- the shell: scripts/kafka oauth-env ---------------------------------------------------


def test_oauth_env_lets_from_env_produce_from_a_clean_shell(
    kafka: Cluster, oauth: OAuthListener, topic: str, read_back: Callable[[str], list[Record]]
) -> None:
    program = textwrap.dedent(
        f"""
        import kaffe
        with kaffe.Producer.from_env(topics=[{topic!r}]) as producer:
            print(producer.produce_sync("from-env", "clean shell").topic)
        """
    )
    script = (
        f'eval "$({shlex.quote(sys.executable)} {shlex.quote(str(SCRIPT))} oauth-env)" && '
        f"{shlex.quote(sys.executable)} -c {shlex.quote(program)}"
    )
    environment = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/tmp"),
    }
    if "KAFFE_KAFKA_DIR" in kafka.env:  # where the harness keeps the running cluster's state
        environment["KAFFE_KAFKA_DIR"] = kafka.env["KAFFE_KAFKA_DIR"]

    result = subprocess.run(
        ["bash", "-c", script], env=environment, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == topic
    assert [(r.key, r.value) for r in read_back(topic)] == [(b"from-env", b"clean shell")]
