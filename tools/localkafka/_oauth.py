"""
OAuth 2.0 for the OAUTHBEARER listener: settings, test clients, tokens and the JWKS.

The token server (`_token_server`) answers the client-credentials grant as
librdkafka's built-in OIDC client calls it, and publishes the JWKS the
broker's `OAuthBearerValidatorCallbackHandler` checks tokens against. Each
test client makes the server behave in one way:

    valid           kaffe-client          a good token, valid for an hour
    short_lived     kaffe-short-lived     a good token, valid for 10 seconds
    expired         kaffe-expired         a token that expired an hour ago
    bad_signature   kaffe-bad-signature   a token signed by a key the JWKS lacks
    wrong_audience  kaffe-wrong-audience  a token for another audience

Each has its own random secret; a wrong secret gets HTTP 401. A `lifetime`
form field (seconds) asks for another lifetime, for tests that call the
endpoint themselves (librdkafka never sends it).

Everything here is pure: the clock and the keys are passed in.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import uuid
from typing import TYPE_CHECKING, Any

from localkafka._credentials import random_secret
from localkafka._ports import HOST

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

__all__ = [
    "ALLOWED_URLS_PROPERTY",
    "AUDIENCE",
    "CLIENT_ROLES",
    "DEFAULT_SCOPE",
    "MAX_LIFETIME_S",
    "OAuthClient",
    "OAuthSettings",
    "issue_token",
    "jwks",
    "key_id",
    "new_oauth_settings",
]

#: The JVM system property listing the URLs Kafka 4 may fetch keys or tokens from.
ALLOWED_URLS_PROPERTY = "org.apache.kafka.sasl.oauthbearer.allowed.urls"
#: The audience the broker expects in every token.
AUDIENCE = "kaffe-local-kafka"
#: The scope clients ask for (any scope is granted and put in the token).
DEFAULT_SCOPE = "kafka"
#: The longest lifetime the `lifetime` form field may ask for.
MAX_LIFETIME_S = 86400

#: role -> (client id, kind of token, lifetime in seconds). Short-lived tokens last 10 s,
#: not less: librdkafka fetches a new token at 80% of a token's life and logs in again
#: on open connections at 90% of the session the broker granted. With 5 s tokens those
#: come so close that it sometimes logs in again with the old token, gets a session of
#: a few hundred milliseconds, and the broker refuses the next login as too soon (it
#: allows one a second), which costs a reconnect.
CLIENT_ROLES: dict[str, tuple[str, str, int]] = {
    "valid": ("kaffe-client", "valid", 3600),
    "short_lived": ("kaffe-short-lived", "valid", 10),
    "expired": ("kaffe-expired", "expired", 3600),
    "bad_signature": ("kaffe-bad-signature", "bad_signature", 3600),
    "wrong_audience": ("kaffe-wrong-audience", "wrong_audience", 3600),
}
_TOKEN_KINDS = frozenset(kind for _, kind, _ in CLIENT_ROLES.values())


@dataclasses.dataclass(frozen=True)
class OAuthClient:
    """One client of the token server and the kind of token it receives."""

    role: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    kind: str
    lifetime: int

    def to_json(self) -> dict[str, Any]:
        """Serialise for state.json."""
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "kind": self.kind,
            "lifetime": self.lifetime,
        }


@dataclasses.dataclass(frozen=True)
class OAuthSettings:
    """The token server's address, what tokens claim, and its clients."""

    port: int
    clients: tuple[OAuthClient, ...]
    audience: str = AUDIENCE
    scope: str = DEFAULT_SCOPE

    @property
    def issuer(self) -> str:
        """The `iss` of every token: the server's base URL."""
        return f"http://{HOST}:{self.port}"

    @property
    def token_endpoint(self) -> str:
        """Where clients POST the client-credentials grant."""
        return f"{self.issuer}/token"

    @property
    def jwks_url(self) -> str:
        """Where the broker fetches the public keys."""
        return f"{self.issuer}/jwks"

    def client(self, role: str) -> OAuthClient:
        """Return the client of a role (a key of CLIENT_ROLES)."""
        return next(client for client in self.clients if client.role == role)

    def find_client(self, client_id: str) -> OAuthClient | None:
        """Return the client with this id, if any."""
        return next((client for client in self.clients if client.client_id == client_id), None)

    def to_json(self) -> dict[str, Any]:
        """Serialise for state.json, with the URLs other tools need."""
        return {
            "port": self.port,
            "issuer": self.issuer,
            "token_endpoint": self.token_endpoint,
            "jwks_url": self.jwks_url,
            "audience": self.audience,
            "scope": self.scope,
            "clients": {client.role: client.to_json() for client in self.clients},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OAuthSettings:
        """Read back what to_json wrote."""
        clients = tuple(
            OAuthClient(
                role=str(role),
                client_id=str(client["client_id"]),
                client_secret=str(client["client_secret"]),
                kind=str(client["kind"]),
                lifetime=int(client["lifetime"]),
            )
            for role, client in data["clients"].items()
        )
        return cls(int(data["port"]), clients, str(data["audience"]), str(data["scope"]))


def new_oauth_settings(port: int) -> OAuthSettings:
    """Return settings for a token server on `port`, with fresh secrets for every test client."""
    clients = tuple(
        OAuthClient(role, client_id, random_secret(), kind, lifetime)
        for role, (client_id, kind, lifetime) in CLIENT_ROLES.items()
    )
    return OAuthSettings(port, clients)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _public_numbers(public_key: RSAPublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {
        "e": _b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        "kty": "RSA",
        "n": _b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
    }


def key_id(public_key: RSAPublicKey) -> str:
    """Return the key's RFC 7638 thumbprint: its `kid` in tokens and in the JWKS."""
    canonical = json.dumps(_public_numbers(public_key), separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def jwks(signing_key: RSAPrivateKey) -> dict[str, Any]:
    """Return the JSON Web Key Set: the public half of the signing key."""
    public_key = signing_key.public_key()
    key = {**_public_numbers(public_key), "kid": key_id(public_key), "use": "sig", "alg": "RS256"}
    return {"keys": [key]}


def issue_token(
    settings: OAuthSettings,
    client: OAuthClient,
    *,
    signing_key: RSAPrivateKey,
    rogue_key: RSAPrivateKey,
    now: float,
    scope: str | None = None,
    lifetime: int | None = None,
) -> tuple[str, int]:
    """
    Return a signed RS256 JWT for `client` and its `expires_in` (seconds, 0 once expired).

    The claims are those Kafka's broker validator checks (`iss`, `aud`, `sub`,
    `iat`, `exp`, `scope`), shaped by the client's kind of token.

    Args:
        settings: Issuer and audience.
        client: Who asked.
        signing_key: The key the JWKS publishes.
        rogue_key: Signs `bad_signature` tokens (their `kid` still names the signing key).
        now: The time, in epoch seconds. `iat` is rounded down and `exp` up, so a
            token lasts at least its lifetime.
        scope: The scope asked for (default: the settings' scope).
        lifetime: Seconds the token stays valid (default: the client's).
    """
    import jwt

    if client.kind not in _TOKEN_KINDS:
        raise ValueError(f"unknown kind of token {client.kind!r}")
    seconds = client.lifetime if lifetime is None else lifetime
    start = now - 2 * seconds if client.kind == "expired" else now
    issued_at, expires_at = math.floor(start), math.ceil(start + seconds)
    claims = {
        "iss": settings.issuer,
        "aud": "another-service" if client.kind == "wrong_audience" else settings.audience,
        "sub": client.client_id,
        "client_id": client.client_id,
        "scope": settings.scope if scope is None else scope,
        "iat": issued_at,
        "exp": expires_at,
        "jti": uuid.uuid4().hex,
    }
    key = rogue_key if client.kind == "bad_signature" else signing_key
    headers = {"kid": key_id(signing_key.public_key()), "typ": "JWT"}
    token = jwt.encode(claims, key, algorithm="RS256", headers=headers)
    return token, max(0, math.floor(expires_at - now))
