"""The OAuth settings, test clients, tokens and JWKS of localkafka's token server."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicNumbers

from localkafka._credentials import load_private_key, new_oauth_keys
from localkafka._layout import Layout
from localkafka._oauth import (
    AUDIENCE,
    OAuthSettings,
    issue_token,
    jwks,
    key_id,
    new_oauth_settings,
)

NOW = 1_700_000_000  # a fixed past time: tokens are checked for their claims, not the clock
SETTINGS = new_oauth_settings(29099)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[RSAPrivateKey, RSAPrivateKey]:
    layout = Layout(tmp_path_factory.mktemp("oauth"))
    new_oauth_keys(layout)
    return load_private_key(layout, "signing"), load_private_key(layout, "rogue")


def _issue(keys: tuple[RSAPrivateKey, RSAPrivateKey], role: str, **kwargs: Any) -> tuple[str, int]:
    signing, rogue = keys
    return issue_token(
        SETTINGS, SETTINGS.client(role), signing_key=signing, rogue_key=rogue, now=NOW, **kwargs
    )


def _verify(token: str, key: RSAPrivateKey) -> dict[str, Any]:
    options: Any = {"verify_exp": False, "verify_iat": False}
    claims: dict[str, Any] = jwt.decode(
        token,
        key.public_key(),
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=SETTINGS.issuer,
        options=options,
    )
    return claims


def test_settings_put_the_token_endpoint_and_jwks_on_the_port() -> None:
    assert SETTINGS.issuer == "http://127.0.0.1:29099"
    assert SETTINGS.token_endpoint == "http://127.0.0.1:29099/token"
    assert SETTINGS.jwks_url == "http://127.0.0.1:29099/jwks"


def test_every_test_client_has_its_own_id_and_random_secret() -> None:
    roles = {client.role: client for client in SETTINGS.clients}
    assert {role: client.client_id for role, client in roles.items()} == {
        "valid": "kaffe-client",
        "short_lived": "kaffe-short-lived",
        "expired": "kaffe-expired",
        "bad_signature": "kaffe-bad-signature",
        "wrong_audience": "kaffe-wrong-audience",
    }
    assert len({client.client_secret for client in SETTINGS.clients}) == len(roles)
    assert new_oauth_settings(29099).client("valid") != SETTINGS.client("valid")


def test_a_clients_repr_hides_its_secret() -> None:
    client = SETTINGS.client("valid")
    assert client.client_secret not in repr(client)


def test_settings_read_back_from_state_json() -> None:
    assert OAuthSettings.from_json(SETTINGS.to_json()) == SETTINGS
    assert SETTINGS.find_client("kaffe-expired") == SETTINGS.client("expired")
    assert SETTINGS.find_client("nobody") is None


def test_key_id_is_the_rfc_7638_thumbprint() -> None:
    # The example key of RFC 7638, section 3.1.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_B"
        "JECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_F"
        "DW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4"
        "vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    modulus = int.from_bytes(base64.urlsafe_b64decode(n + "=="), "big")
    public_key = RSAPublicNumbers(65537, modulus).public_key()
    assert key_id(public_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_the_jwks_publishes_the_signing_keys_public_half(
    keys: tuple[RSAPrivateKey, RSAPrivateKey],
) -> None:
    signing, _ = keys
    (published,) = jwks(signing)["keys"]
    assert published["kid"] == key_id(signing.public_key())
    assert (published["kty"], published["alg"], published["use"], published["e"]) == (
        "RSA",
        "RS256",
        "sig",
        "AQAB",
    )
    assert jwt.PyJWK(published).key.public_numbers() == signing.public_key().public_numbers()


def test_a_valid_token_carries_what_the_broker_checks(
    keys: tuple[RSAPrivateKey, RSAPrivateKey],
) -> None:
    token, expires_in = _issue(keys, "valid")
    claims = _verify(token, keys[0])
    assert claims["sub"] == "kaffe-client"
    assert claims["scope"] == "kafka"
    assert (claims["iat"], claims["exp"], expires_in) == (NOW, NOW + 3600, 3600)
    assert jwt.get_unverified_header(token)["kid"] == key_id(keys[0].public_key())


def test_short_lived_tokens_last_ten_seconds_and_any_lifetime_can_be_asked_for(
    keys: tuple[RSAPrivateKey, RSAPrivateKey],
) -> None:
    token, expires_in = _issue(keys, "short_lived")
    claims = _verify(token, keys[0])
    assert (claims["exp"] - claims["iat"], expires_in) == (10, 10)
    token, expires_in = _issue(keys, "valid", lifetime=42, scope="kafka other")
    claims = _verify(token, keys[0])
    assert (claims["exp"] - claims["iat"], expires_in, claims["scope"]) == (42, 42, "kafka other")


def test_an_expired_token_ran_out_an_hour_ago(keys: tuple[RSAPrivateKey, RSAPrivateKey]) -> None:
    token, expires_in = _issue(keys, "expired")
    claims = _verify(token, keys[0])
    assert (claims["iat"], claims["exp"], expires_in) == (NOW - 7200, NOW - 3600, 0)


def test_a_bad_signature_token_names_the_signing_key_but_is_signed_by_another(
    keys: tuple[RSAPrivateKey, RSAPrivateKey],
) -> None:
    signing, rogue = keys
    token, _ = _issue(keys, "bad_signature")
    assert jwt.get_unverified_header(token)["kid"] == key_id(signing.public_key())
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(token, signing)
    assert _verify(token, rogue)["sub"] == "kaffe-bad-signature"


def test_a_wrong_audience_token_is_for_another_service(
    keys: tuple[RSAPrivateKey, RSAPrivateKey],
) -> None:
    token, _ = _issue(keys, "wrong_audience")
    with pytest.raises(jwt.InvalidAudienceError):
        _verify(token, keys[0])


def test_keys_are_private_to_the_owner(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    new_oauth_keys(layout)
    assert sorted(path.name for path in layout.oauth_dir.iterdir()) == [
        "rogue-key.pem",
        "signing-key.pem",
    ]
    assert {path.stat().st_mode & 0o777 for path in layout.oauth_dir.iterdir()} == {0o600}
    assert layout.oauth_dir.stat().st_mode & 0o777 == 0o700
