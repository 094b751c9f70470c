"""The token server's HTTP answers, served in-process on a free port."""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from localkafka._credentials import load_private_key, new_oauth_keys
from localkafka._layout import Layout
from localkafka._oauth import OAuthSettings, new_oauth_settings
from localkafka._token_server import TokenServer

LOG = io.StringIO()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OAuthSettings]:
    layout = Layout(tmp_path_factory.mktemp("oauth"))
    new_oauth_keys(layout)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = new_oauth_settings(port)
    token_server = TokenServer(
        settings, load_private_key(layout, "signing"), load_private_key(layout, "rogue"), LOG
    )
    thread = threading.Thread(target=token_server.serve_forever, args=(0.1,), daemon=True)
    thread.start()
    yield settings
    token_server.shutdown()
    token_server.server_close()


def _post(
    url: str, form: dict[str, str], basic: tuple[str, str] | None = None
) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode())
    if basic is not None:
        encoded = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {encoded}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error), dict(error.headers)


def _get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _grant(settings: OAuthSettings, role: str, **form: str) -> tuple[int, dict[str, Any]]:
    client = settings.client(role)
    status, body, _ = _post(
        settings.token_endpoint,
        {"grant_type": "client_credentials", **form},
        (client.client_id, client.client_secret),
    )
    return status, body


def test_client_credentials_in_basic_auth_get_a_bearer_token(server: OAuthSettings) -> None:
    status, body = _grant(server, "valid", scope="kafka")
    assert status == 200
    assert (body["token_type"], body["expires_in"], body["scope"]) == ("Bearer", 3600, "kafka")
    _, keys = _get(server.jwks_url)
    key = jwt.PyJWKSet.from_dict(keys).keys[0].key
    claims = jwt.decode(
        body["access_token"], key, algorithms=["RS256"], audience="kaffe-local-kafka"
    )
    assert (claims["sub"], claims["iss"]) == ("kaffe-client", server.issuer)


def test_client_credentials_in_the_form_work_too(server: OAuthSettings) -> None:
    client = server.client("valid")
    status, body, _ = _post(
        server.token_endpoint,
        {
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.client_secret,
        },
    )
    assert status == 200
    assert body["scope"] == "kafka"


@pytest.mark.parametrize(
    "basic", [("kaffe-client", "wrong-secret"), ("nobody", "x"), ("kaffe-client", "")]
)
def test_a_wrong_secret_or_unknown_client_gets_401(
    server: OAuthSettings, basic: tuple[str, str]
) -> None:
    status, body, headers = _post(
        server.token_endpoint, {"grant_type": "client_credentials"}, basic
    )
    assert (status, body) == (401, {"error": "invalid_client"})
    assert headers["WWW-Authenticate"].startswith("Basic ")


def test_no_credentials_get_401(server: OAuthSettings) -> None:
    status, body, _ = _post(server.token_endpoint, {"grant_type": "client_credentials"})
    assert (status, body) == (401, {"error": "invalid_client"})


def test_another_grant_type_gets_400(server: OAuthSettings) -> None:
    status, body = _grant(server, "valid", grant_type="password")
    assert (status, body) == (400, {"error": "unsupported_grant_type"})


def test_a_lifetime_field_sets_the_tokens_lifetime(server: OAuthSettings) -> None:
    status, body = _grant(server, "valid", lifetime="7")
    assert (status, body["expires_in"]) == (200, 7)
    status, body = _grant(server, "valid", lifetime="0")
    assert (status, body) == (400, {"error": "invalid_request"})


def test_the_expired_client_gets_a_token_that_expires_in_0(server: OAuthSettings) -> None:
    status, body = _grant(server, "expired")
    assert (status, body["expires_in"]) == (200, 0)


def test_discovery_names_the_token_endpoint_and_jwks(server: OAuthSettings) -> None:
    status, body = _get(f"{server.issuer}/.well-known/openid-configuration")
    assert status == 200
    assert (body["issuer"], body["token_endpoint"], body["jwks_uri"]) == (
        server.issuer,
        server.token_endpoint,
        server.jwks_url,
    )


def test_unknown_paths_get_404(server: OAuthSettings) -> None:
    assert _get(f"{server.issuer}/nothing") == (404, {"error": "not_found"})
    status, _, _ = _post(f"{server.issuer}/jwks", {})
    assert status == 404


def test_health_answers_200(server: OAuthSettings) -> None:
    assert _get(f"{server.issuer}/health") == (200, {"status": "ok"})


def test_the_request_log_names_clients_but_never_secrets_or_tokens(server: OAuthSettings) -> None:
    _, body = _grant(server, "short_lived")
    _post(server.token_endpoint, {"grant_type": "client_credentials"}, ("kaffe-client", "guess"))
    lines = LOG.getvalue().splitlines()
    assert any(
        line.endswith("POST /token 200 kaffe-short-lived: valid token, 10s") for line in lines
    )
    assert any(line.endswith("POST /token 401 kaffe-client: refused") for line in lines)
    shown = LOG.getvalue()
    assert [client.role for client in server.clients if client.client_secret in shown] == []
    assert body["access_token"] not in shown
    assert "guess" not in shown
