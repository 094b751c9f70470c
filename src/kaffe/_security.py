"""
TLS and SASL settings: frozen, validated value objects that never show a secret.

``SSLConfig`` holds certificates and keys (PEM, read into memory, never written
anywhere). ``SASLConfig`` holds one SASL login: PLAIN and SCRAM with a user name
and password, OAUTHBEARER with a ``token_provider`` function or librdkafka's
built-in OIDC client-credentials flow (:class:`OIDC`), or GSSAPI (Kerberos).
Each turns itself into librdkafka properties.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ._errors import AuthenticationError, ConfigError, redact
from ._features import require_feature

__all__ = [
    "OIDC",
    "SASL_MECHANISMS",
    "TOKEN_EXPIRY_MARGIN",
    "TOKEN_RETRY_INTERVAL",
    "SASLConfig",
    "SSLConfig",
    "TokenProvider",
    "TokenRefresher",
    "callable_name",
    "read_pem",
]

#: ``SASLConfig.mechanism`` values.
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI")
#: The mechanisms that log in with a user name and password.
_PASSWORD_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
#: The librdkafka ``builtin.features`` flag each mechanism needs.
_MECHANISM_FEATURES = {
    "PLAIN": "sasl_plain",
    "SCRAM-SHA-256": "sasl_scram",
    "SCRAM-SHA-512": "sasl_scram",
    "OAUTHBEARER": "sasl_oauthbearer",
    "GSSAPI": "sasl_gssapi",
}
_PEM_MARKER = "-----BEGIN "
#: SASL extension names (RFC 7628): letters only; ``auth`` is reserved.
_EXTENSION_NAME = re.compile(r"^[A-Za-z]+$")
#: SASL extension values: printable ASCII without the ``,`` and ``=`` librdkafka splits on.
_EXTENSION_VALUE = re.compile(r"^[\x21-\x2b\x2d-\x3c\x3e-\x7e]+$")
#: Epoch seconds beyond this are milliseconds by mistake (the year 5138).
_LATEST_EPOCH_SECONDS = 1e11
#: librdkafka checks once a second whether 80% of a token's lifetime has passed. Telling it
#: the token expires this much earlier makes even a short-lived token refresh before expiry.
TOKEN_EXPIRY_MARGIN = 1.0

#: Seconds after a failed token refresh before librdkafka calls the provider again.
TOKEN_RETRY_INTERVAL = 10.0

#: A function returning ``(token, expires_at_epoch_seconds)`` for OAUTHBEARER.
TokenProvider = Callable[[], "tuple[str, float]"]

logger = logging.getLogger("kaffe")


def _masked(value: object) -> str:
    return "None" if value is None else "'***'"


def callable_name(function: object) -> str:
    """
    The name to show for a user's function: its qualified name, never its repr.

    Args:
        function: A function, bound method, ``functools.partial`` or callable object.

    Returns:
        For example ``"tokens.fetch"`` or ``"TokenCache.__call__"``.
    """
    inner = getattr(function, "func", None)  # functools.partial
    if inner is not None and callable(inner):
        return callable_name(inner)
    name = getattr(function, "__qualname__", None)
    if isinstance(name, str):
        return name
    return f"{type(function).__qualname__}.__call__"


def read_pem(option: str, value: object) -> str | None:
    """
    Return PEM text: ``value`` itself, or the content of the file it names (read in memory).

    Args:
        option: The option to name in errors, such as ``"ssl.ca"``.
        value: PEM text, a path to a PEM file, or ``None``.

    Returns:
        The PEM text, or ``None``.

    Raises:
        ConfigError: Not PEM text and no readable PEM file; the value is never quoted.
    """
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(f"{option}: expected PEM text or a file path, got {type(value).__name__}")
    if _PEM_MARKER in value:
        return value
    try:
        with open(os.path.expanduser(value), encoding="ascii") as pem_file:
            text = pem_file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"{option}: not PEM text, and no readable file at that path ({type(error).__name__})",
            reason="unreadable PEM",
        ) from None
    if _PEM_MARKER not in text:
        raise ConfigError(f"{option}: the file at that path holds no PEM block", reason="bad PEM")
    return text


@dataclasses.dataclass(frozen=True)
class SSLConfig:
    """
    TLS settings. Each of ``ca``, ``cert`` and ``key`` is PEM text or a path to a PEM file.

    Files are read once, when the config is built; the PEM text is handed to
    librdkafka in memory and never written anywhere.

    Attributes:
        ca: CA certificate(s) that signed the brokers' certificates; ``None`` uses the system store.
        cert: Client certificate, for clusters that require client authentication.
        key: Client private key; masked in ``repr``.
        key_password: Password of an encrypted ``key``; masked in ``repr``.
        verify_hostname: Check that the broker certificate names the host connected to.
    """

    ca: str | None = None
    cert: str | None = None
    key: str | None = dataclasses.field(default=None, repr=False)
    key_password: str | None = dataclasses.field(default=None, repr=False)
    verify_hostname: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "ca", read_pem("ssl.ca", self.ca))
        object.__setattr__(self, "cert", read_pem("ssl.cert", self.cert))
        object.__setattr__(self, "key", read_pem("ssl.key", self.key))
        if (self.cert is None) != (self.key is None):
            raise ConfigError("ssl: cert and key must be given together", reason="incomplete TLS")
        if self.key_password is not None and not isinstance(self.key_password, str):
            raise ConfigError("ssl.key_password: expected a string or None")
        if not isinstance(self.verify_hostname, bool):
            raise ConfigError("ssl.verify_hostname: expected True or False")

    def __repr__(self) -> str:
        return (
            f"SSLConfig(ca={'<pem>' if self.ca else None}, cert={'<pem>' if self.cert else None}, "
            f"key={_masked(self.key)}, key_password={_masked(self.key_password)}, "
            f"verify_hostname={self.verify_hostname!r})"
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never be shown."""
        return tuple(value for value in (self.key, self.key_password) if value)

    def librdkafka_properties(self) -> dict[str, str]:
        """The librdkafka properties for these settings."""
        properties = {
            "ssl.endpoint.identification.algorithm": "https" if self.verify_hostname else "none",
        }
        if self.ca is not None:
            properties["ssl.ca.pem"] = self.ca
        if self.cert is not None:
            properties["ssl.certificate.pem"] = self.cert
        if self.key is not None:
            properties["ssl.key.pem"] = self.key
        if self.key_password is not None:
            properties["ssl.key.password"] = self.key_password
        return properties


def _parse_extensions(value: object) -> tuple[tuple[str, str], ...]:
    """``{"k": "v"}``, ``[("k", "v")]`` or ``"k=v,k2=v2"`` -> validated ``(name, value)`` pairs."""
    option = "sasl.oidc.extensions"
    pairs: Iterable[object]
    if value is None:
        return ()
    if isinstance(value, str):
        pairs = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            name, sep, text = item.partition("=")
            if not sep:
                raise ConfigError(
                    f"{option}: {item.partition('=')[0]!r} is not 'name=value'; expected "
                    "comma-separated name=value pairs",
                    reason="invalid extensions",
                )
            pairs.append((name.strip(), text.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, Iterable):
        pairs = list(value)
    else:
        raise ConfigError(
            f"{option}: expected a mapping of name to value or 'name=value,...', "
            f"got {type(value).__name__}"
        )
    checked: list[tuple[str, str]] = []
    for pair in pairs:
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise ConfigError(f"{option}: expected (name, value) pairs")
        name, text = pair
        if not isinstance(name, str) or not _EXTENSION_NAME.match(name) or name == "auth":
            raise ConfigError(
                f"{option}: extension name {name!r} is not allowed; use letters only "
                "('auth' is reserved)",
                reason="invalid extensions",
            )
        if not isinstance(text, str) or not _EXTENSION_VALUE.match(text):
            raise ConfigError(
                f"{option}: the value of {name!r} must be printable ASCII without spaces, "
                "',' or '='",
                reason="invalid extensions",
            )
        checked.append((name, text))
    return tuple(checked)


def _url_shown(url: str) -> str:
    """A URL with any ``user:password@`` part replaced by ``***@``."""
    return re.sub(r"(?<=//)[^/@]*@", "***@", url)


@dataclasses.dataclass(frozen=True)
class OIDC:
    """
    librdkafka's built-in OAuth 2.0 client-credentials login (``sasl.oauthbearer.method=oidc``).

    librdkafka itself asks the token endpoint for a token, on its own background
    thread, and asks again before the token expires. Use it with
    ``SASLConfig(mechanism="OAUTHBEARER", oidc=OIDC(...))``.

    Attributes:
        token_endpoint_url: The identity provider's token endpoint (``https://`` or ``http://``).
        client_id: The OAuth client id.
        client_secret: The OAuth client secret; masked in ``repr``, never in messages.
        scope: The scope to request, or ``None``.
        extensions: SASL extensions sent to the broker, as a mapping, ``(name, value)``
            pairs, or ``"name=value,..."`` (Confluent Cloud wants
            ``logicalCluster`` and ``identityPoolId``). Stored as pairs.
        ca: CA certificate(s) (PEM text or a path) that signed the token endpoint's
            certificate; ``None`` uses the system store. Independent of ``ssl.ca``,
            which verifies the brokers.

    .. versionadded:: 0.2.0
    """

    token_endpoint_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scope: str | None = None
    extensions: tuple[tuple[str, str], ...] | Mapping[str, str] | str | None = None
    ca: str | None = None

    def __post_init__(self) -> None:
        url = self.token_endpoint_url
        if not isinstance(url, str) or not url.strip():
            raise ConfigError("sasl.oidc.token_endpoint_url: a non-empty URL is required")
        url = url.strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a malformed port
        except ValueError:
            raise ConfigError(
                f"sasl.oidc.token_endpoint_url: {_url_shown(url)!r} is not a valid URL"
            ) from None
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(
                f"sasl.oidc.token_endpoint_url: {_url_shown(url)!r} is not an https:// "
                "(or http://) URL"
            )
        if "@" in parts.netloc:
            raise ConfigError(
                "sasl.oidc.token_endpoint_url: the URL must not hold credentials; "
                "use client_id and client_secret"
            )
        object.__setattr__(self, "token_endpoint_url", url)
        for field in ("client_id", "client_secret"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"sasl.oidc.{field}: a non-empty string is required")
        if self.scope is not None and (not isinstance(self.scope, str) or not self.scope.strip()):
            raise ConfigError("sasl.oidc.scope: expected a non-empty string or None")
        object.__setattr__(self, "extensions", _parse_extensions(self.extensions))
        object.__setattr__(self, "ca", read_pem("sasl.oidc.ca", self.ca))
        require_feature("oidc", "sasl.oidc", "the OIDC login")

    def __repr__(self) -> str:
        return (
            f"OIDC(token_endpoint_url={self.token_endpoint_url!r}, client_id={self.client_id!r}, "
            f"client_secret='***', scope={self.scope!r}, extensions={self.extensions!r}, "
            f"ca={'<pem>' if self.ca else None})"
        )

    def librdkafka_properties(self) -> dict[str, str]:
        """The librdkafka properties of this login."""
        properties = {
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": self.token_endpoint_url,
            "sasl.oauthbearer.client.id": self.client_id,
            "sasl.oauthbearer.client.secret": self.client_secret,
        }
        if self.scope is not None:
            properties["sasl.oauthbearer.scope"] = self.scope
        if self.extensions:
            assert isinstance(self.extensions, tuple)
            properties["sasl.oauthbearer.extensions"] = ",".join(
                f"{name}={value}" for name, value in self.extensions
            )
        if self.ca is not None:
            properties["https.ca.pem"] = self.ca
        return properties


class TokenRefresher:
    """
    librdkafka's ``oauth_cb`` for a ``token_provider``.

    confluent-kafka calls it on librdkafka's background thread (never on a thread
    that produces), once while the client is created and again when 80% of the
    token's lifetime has passed. It checks what the provider returns and turns a
    failure into an :class:`~kaffe.AuthenticationError` naming the provider, kept
    in :attr:`failure` for the producer to raise: confluent-kafka itself only logs
    that "the OAuth callback raised an exception".

    A failed refresh (a failure after a token was set) is also logged as an error on
    the ``kaffe`` logger, naming the provider and saying how long the current token
    still lasts: librdkafka keeps using it and asks again
    :data:`TOKEN_RETRY_INTERVAL` seconds later.

    Attributes:
        provider: The user's function.
        name: The provider's qualified name, used in errors.
        failure: The error of the last call, or ``None`` after a call that worked.
        expires_at: When the last token the provider returned expires (epoch
            seconds, as the provider said), or ``None`` before the first.
        secrets: Strings to mask in the log line of a failed refresh.
    """

    __slots__ = ("expires_at", "failure", "name", "provider", "secrets")

    def __init__(self, provider: TokenProvider) -> None:
        self.provider = provider
        self.name = callable_name(provider)
        self.failure: AuthenticationError | None = None
        self.expires_at: float | None = None
        self.secrets: Iterable[str] = ()

    def __repr__(self) -> str:
        return f"TokenRefresher({self.name})"

    def __call__(self, oauthbearer_config: str) -> tuple[str, float]:
        """
        Call the provider and return ``(token, expires_at)`` as confluent-kafka wants.

        Args:
            oauthbearer_config: librdkafka's ``sasl.oauthbearer.config`` (unused).

        Returns:
            The token and its expiry in seconds since the epoch, told
            :data:`TOKEN_EXPIRY_MARGIN` early so librdkafka refreshes it in time.

        Raises:
            AuthenticationError: The provider raised or returned something unusable.
        """
        try:
            token, expires_at = self._ask()
        except AuthenticationError as failure:
            self.failure = failure
            if self.expires_at is not None:
                self._log_failed_refresh(failure)
            raise
        self.failure = None
        self.expires_at = expires_at
        return token, expires_at - TOKEN_EXPIRY_MARGIN

    def _ask(self) -> tuple[str, float]:
        """Call the provider and check its answer."""
        try:
            result = self.provider()
        except Exception as error:
            raise self._fail(f"raised {type(error).__name__}: {error}", error) from error
        if not isinstance(result, tuple) or len(result) != 2:
            raise self._fail(
                f"returned {type(result).__name__}; expected a (token, "
                "expires_at_epoch_seconds) tuple"
            )
        token, expires_at = result
        if not isinstance(token, str) or not token:
            raise self._fail(f"returned a token of type {type(token).__name__}; expected a str")
        if (
            isinstance(expires_at, bool)
            or not isinstance(expires_at, (int, float))
            or not math.isfinite(expires_at)
        ):
            raise self._fail(
                f"returned an expiry of type {type(expires_at).__name__}; expected seconds "
                "since the epoch (int or float)"
            )
        if expires_at > _LATEST_EPOCH_SECONDS:
            raise self._fail(
                f"returned the expiry {expires_at!r}, which looks like milliseconds; "
                "return seconds since the epoch"
            )
        left = expires_at - time.time()
        if left <= 0:
            raise self._fail(f"returned a token that expired {-left:.0f}s ago")
        if left <= TOKEN_EXPIRY_MARGIN:
            raise self._fail(f"returned a token that expires in {left:.1f}s, too soon to use")
        return token, float(expires_at)

    def _log_failed_refresh(self, failure: AuthenticationError) -> None:
        assert self.expires_at is not None
        left = self.expires_at - time.time()
        if left > 0:
            outlook = (
                f"the current token expires in {left:.0f}s; librdkafka keeps using it and "
                f"asks again in {TOKEN_RETRY_INTERVAL:g}s"
            )
        else:
            outlook = (
                f"the current token expired {-left:.0f}s ago, so the brokers refuse new "
                "sessions and messages fail after delivery_timeout; librdkafka asks again "
                f"in {TOKEN_RETRY_INTERVAL:g}s"
            )
        logger.error("%s; %s", redact(failure.message, self.secrets), outlook)

    def startup_error(
        self, secrets: Iterable[str], waited: float | None = None
    ) -> AuthenticationError:
        """
        The error to raise when the client could not start for want of a first token.

        confluent-kafka waits (10 s) for the first token while it creates the client,
        then fails with a message that does not say why; this one does.

        Args:
            secrets: Strings to mask in the message.
            waited: The seconds start-up waited for the first token, when known.

        Returns:
            The provider's failure (its cause kept), or a timeout naming the provider.
        """
        if self.failure is not None:
            message, cause = self.failure.message, self.failure.__cause__
        else:
            within = "in time" if waited is None else f"within {waited:g}s"
            message = f"sasl.token_provider {self.name} returned no token {within}"
            cause = None
        error = AuthenticationError(
            redact(message, secrets), reason="token provider failed", retriable=False
        )
        error.__cause__ = cause
        return error

    def _fail(self, problem: str, cause: BaseException | None = None) -> AuthenticationError:
        failure = AuthenticationError(
            f"sasl.token_provider {self.name} {problem}",
            reason="token provider failed",
            retriable=False,
        )
        failure.__cause__ = cause
        return failure


#: Fields of SASLConfig that only some mechanisms take.
_MECHANISM_FIELDS = {
    "username": _PASSWORD_MECHANISMS,
    "password": _PASSWORD_MECHANISMS,
    "token_provider": ("OAUTHBEARER",),
    "oidc": ("OAUTHBEARER",),
    "kerberos_principal": ("GSSAPI",),
    "kerberos_keytab": ("GSSAPI",),
    "kerberos_service_name": ("GSSAPI",),
    "kerberos_kinit_cmd": ("GSSAPI",),
}


@dataclasses.dataclass(frozen=True)
class SASLConfig:
    """
    One SASL login, run over TLS when ``ssl`` is set, else over plaintext.

    Each mechanism takes its own fields; a field another mechanism needs is refused
    (``ConfigError`` naming it) rather than ignored, so a misplaced secret is noticed:

    - ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512``: ``username`` and ``password``
      (both required): ``SASLConfig("PLAIN", user, password)``.
    - ``OAUTHBEARER``: exactly one of ``token_provider`` (a function returning
      ``(token, expires_at_epoch_seconds)``) or ``oidc`` (:class:`OIDC`).
    - ``GSSAPI`` (Kerberos): optional ``kerberos_principal``, ``kerberos_keytab``,
      ``kerberos_service_name`` and ``kerberos_kinit_cmd``; librdkafka's defaults
      apply to those left out. Needs a librdkafka built with GSSAPI, which
      confluent-kafka's prebuilt wheels are not.

    Attributes:
        mechanism: One of :data:`SASL_MECHANISMS`, case-insensitive.
        username: The user name (PLAIN, SCRAM).
        password: The password (PLAIN, SCRAM); masked in ``repr``.
        token_provider: OAUTHBEARER: called without arguments on librdkafka's
            background thread; returns ``(token, expires_at_epoch_seconds)``.
            librdkafka calls it again when 80% of the token's lifetime has passed.
        oidc: OAUTHBEARER: librdkafka's own client-credentials login; a mapping of
            :class:`OIDC`'s fields also works.
        kerberos_principal: GSSAPI: this client's principal (librdkafka's
            ``sasl.kerberos.principal``).
        kerberos_keytab: GSSAPI: path to the keytab file ``kinit`` reads.
        kerberos_service_name: GSSAPI: the brokers' Kerberos service name (``kafka``).
        kerberos_kinit_cmd: GSSAPI: the command that gets and renews the ticket.

    .. versionchanged:: 0.2.0
       ``OAUTHBEARER`` and ``GSSAPI``; ``username`` and ``password`` became optional
       fields, still the second and third positional arguments.
    """

    mechanism: str
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    token_provider: TokenProvider | None = None
    oidc: OIDC | Mapping[str, Any] | None = None
    kerberos_principal: str | None = None
    kerberos_keytab: str | None = None
    kerberos_service_name: str | None = None
    kerberos_kinit_cmd: str | None = None

    def __post_init__(self) -> None:
        mechanism = str(self.mechanism).upper()
        if mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"sasl.mechanism: {self.mechanism!r} is not supported; allowed: "
                f"{', '.join(SASL_MECHANISMS)}"
            )
        object.__setattr__(self, "mechanism", mechanism)
        if isinstance(self.oidc, Mapping):
            object.__setattr__(self, "oidc", _coerce_oidc(self.oidc))
        for field, mechanisms in _MECHANISM_FIELDS.items():
            if getattr(self, field) is not None and mechanism not in mechanisms:
                raise ConfigError(
                    f"sasl.{field}: not used with {mechanism}; it belongs to "
                    f"{' and '.join(mechanisms)}",
                    reason="option not used",
                )
        if mechanism in _PASSWORD_MECHANISMS:
            for field in ("username", "password"):
                value = getattr(self, field)
                if not isinstance(value, str) or not value:
                    raise ConfigError(f"sasl.{field}: a non-empty string is required")
        elif mechanism == "OAUTHBEARER":
            self._check_oauthbearer()
        else:
            self._check_kerberos()
        require_feature(_MECHANISM_FEATURES[mechanism], "sasl.mechanism", mechanism)

    def _check_oauthbearer(self) -> None:
        if (self.token_provider is None) == (self.oidc is None):
            raise ConfigError(
                "sasl: OAUTHBEARER needs exactly one of token_provider (a function returning "
                "(token, expires_at_epoch_seconds)) or oidc (kaffe.OIDC)",
                reason="incomplete SASL",
            )
        if self.token_provider is not None and not callable(self.token_provider):
            raise ConfigError(
                "sasl.token_provider: expected a function returning "
                "(token, expires_at_epoch_seconds)"
            )
        if self.oidc is not None and not isinstance(self.oidc, OIDC):
            raise ConfigError("sasl.oidc: expected kaffe.OIDC or a mapping of its fields")

    def _check_kerberos(self) -> None:
        for field in ("kerberos_principal", "kerberos_service_name", "kerberos_kinit_cmd"):
            value = getattr(self, field)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise ConfigError(f"sasl.{field}: expected a non-empty string or None")
        keytab = self.kerberos_keytab
        if keytab is not None:
            if isinstance(keytab, os.PathLike):
                keytab = os.fspath(keytab)
            if not isinstance(keytab, str) or not os.path.isfile(os.path.expanduser(keytab)):
                raise ConfigError(
                    f"sasl.kerberos_keytab: no keytab file at {keytab!r}",
                    reason="missing keytab",
                )
            object.__setattr__(self, "kerberos_keytab", os.path.expanduser(keytab))

    def __repr__(self) -> str:
        shown = [f"mechanism={self.mechanism!r}"]
        if self.mechanism in _PASSWORD_MECHANISMS:
            shown += [f"username={self.username!r}", "password='***'"]
        if self.token_provider is not None:
            shown.append(f"token_provider={callable_name(self.token_provider)}")
        if self.oidc is not None:
            shown.append(f"oidc={self.oidc!r}")
        for field in ("kerberos_principal", "kerberos_keytab", "kerberos_service_name"):
            if getattr(self, field) is not None:
                shown.append(f"{field}={getattr(self, field)!r}")
        if self.kerberos_kinit_cmd is not None:
            shown.append("kerberos_kinit_cmd=<command>")
        return f"SASLConfig({', '.join(shown)})"

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never be shown."""
        found = [self.password]
        if isinstance(self.oidc, OIDC):
            found.append(self.oidc.client_secret)
        return tuple(secret for secret in found if secret)

    def librdkafka_properties(self) -> dict[str, Any]:
        """
        The librdkafka properties of this login.

        With a ``token_provider`` this includes ``oauth_cb``, a fresh
        :class:`TokenRefresher` per call.
        """
        properties: dict[str, Any] = {"sasl.mechanism": self.mechanism}
        if self.mechanism in _PASSWORD_MECHANISMS:
            properties["sasl.username"] = self.username
            properties["sasl.password"] = self.password
        elif self.token_provider is not None:
            properties["oauth_cb"] = TokenRefresher(self.token_provider)
        elif isinstance(self.oidc, OIDC):
            properties.update(self.oidc.librdkafka_properties())
        for field, name in (
            ("kerberos_principal", "sasl.kerberos.principal"),
            ("kerberos_keytab", "sasl.kerberos.keytab"),
            ("kerberos_service_name", "sasl.kerberos.service.name"),
            ("kerberos_kinit_cmd", "sasl.kerberos.kinit.cmd"),
        ):
            if getattr(self, field) is not None:
                properties[name] = getattr(self, field)
        return properties


def _coerce_oidc(value: Mapping[str, Any]) -> OIDC:
    allowed = [field.name for field in dataclasses.fields(OIDC)]
    unknown = set(value) - set(allowed)
    if unknown:
        raise ConfigError(
            f"sasl.oidc: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: "
            f"{', '.join(allowed)}"
        )
    missing = [name for name in allowed[:3] if name not in value]
    if missing:
        raise ConfigError(f"sasl.oidc: missing {', '.join(missing)}", reason="incomplete SASL")
    return OIDC(**value)
