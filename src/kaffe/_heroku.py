"""
Heroku Kafka: turn ``KAFKA_URL`` and friends into endpoints and TLS settings.

Everything here is pure: it reads only the mapping it is given. Error messages
name the variable and, for ``KAFKA_URL``, the bad entry; they never quote a
certificate or key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._errors import ConfigError

__all__ = ["HerokuKafka", "parse_kafka_url", "read_heroku_env"]

#: ``KAFKA_URL`` schemes, and whether they mean TLS.
_SCHEMES = {"kafka": False, "kafka+ssl": True}
#: Host names (and IPv4 addresses): dot-separated labels of letters, digits, ``_`` and ``-``.
_HOST_NAME = re.compile(
    r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$"
)
#: What a ``KAFKA_PREFIX`` may hold: the characters Kafka allows in topic names.
_PREFIX = re.compile(r"^[A-Za-z0-9._-]*$")
_PEM_MARKER = "-----BEGIN "
_MALFORMED = "malformed KAFKA_URL"
_CERT_VARIABLES = ("KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT", "KAFKA_CLIENT_CERT_KEY")


@dataclass(frozen=True)
class HerokuKafka:
    """
    The connection settings a Heroku Kafka add-on puts in the environment.

    Attributes:
        endpoints: ``(host, port)`` pairs from ``KAFKA_URL``.
        uses_tls: True when ``KAFKA_URL`` uses ``kafka+ssl://``.
        trusted_cert: ``KAFKA_TRUSTED_CERT``, the CA that signed the brokers' certificates.
        client_cert: ``KAFKA_CLIENT_CERT``.
        client_cert_key: ``KAFKA_CLIENT_CERT_KEY``; never shown in ``repr``.
        prefix: ``KAFKA_PREFIX`` of multi-tenant plans, or ``""``.
    """

    endpoints: tuple[tuple[str, int], ...]
    uses_tls: bool
    trusted_cert: str | None
    client_cert: str | None
    client_cert_key: str | None
    prefix: str

    def __repr__(self) -> str:
        return (
            f"HerokuKafka(endpoints={self.endpoints!r}, uses_tls={self.uses_tls!r}, "
            f"trusted_cert={'<pem>' if self.trusted_cert else None}, "
            f"client_cert={'<pem>' if self.client_cert else None}, "
            f"client_cert_key={'***' if self.client_cert_key else None}, "
            f"prefix={self.prefix!r})"
        )


def parse_kafka_url(url: str) -> tuple[tuple[tuple[str, int], ...], bool]:
    """
    Parse Heroku's ``KAFKA_URL``: comma-separated ``kafka+ssl://host:port`` or ``kafka://host:port``.

    Whitespace around entries and empty entries (a trailing comma) are ignored.
    IPv6 addresses are written in brackets: ``kafka+ssl://[::1]:9093``.

    Args:
        url: The variable's value.

    Returns:
        The ``(host, port)`` pairs, in order, and whether they use TLS.

    Raises:
        ConfigError: The value is empty, an entry is malformed (the message names
            it), or the entries mix TLS and plaintext.
    """
    entries = [entry.strip() for entry in url.split(",")]
    endpoints: list[tuple[str, int]] = []
    tls_flags: set[bool] = set()
    for entry in entries:
        if entry:
            host, port, uses_tls = _parse_entry(entry)
            endpoints.append((host, port))
            tls_flags.add(uses_tls)
    if not endpoints:
        raise ConfigError(
            "KAFKA_URL is empty; expected kafka+ssl://host:port[,...]", reason=_MALFORMED
        )
    if len(tls_flags) > 1:
        raise ConfigError(
            "KAFKA_URL mixes kafka:// and kafka+ssl:// entries; use one scheme", reason=_MALFORMED
        )
    return tuple(endpoints), tls_flags.pop()


def _parse_entry(entry: str) -> tuple[str, int, bool]:
    """Parse one ``scheme://host:port`` entry into ``(host, port, uses_tls)``."""
    problem = f"KAFKA_URL entry {_shown(entry)!r} is malformed; expected kafka+ssl://host:port"
    if any(character.isspace() for character in entry):
        raise ConfigError(f"{problem}: it contains whitespace", reason=_MALFORMED)
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError as error:
        hint = _shown(str(error))
        if entry.count(":") > 2 and "[" not in entry:
            hint = "write IPv6 addresses in brackets: kafka+ssl://[::1]:9093"
        raise ConfigError(f"{problem} ({hint})", reason=_MALFORMED) from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"{problem}: scheme {parts.scheme!r} is not one of kafka, kafka+ssl", reason=_MALFORMED
        )
    if "@" in parts.netloc or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{problem}: only scheme, host and port are allowed", reason=_MALFORMED)
    host = parts.hostname
    if not host or port is None:
        raise ConfigError(f"{problem}: host and port are required", reason=_MALFORMED)
    if not 0 < port < 65536:
        raise ConfigError(f"{problem}: the port must be 1-65535", reason=_MALFORMED)
    if parts.netloc.startswith("["):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ConfigError(
                f"{problem}: {host!r} in brackets is not an IPv6 address", reason=_MALFORMED
            ) from None
    elif not _HOST_NAME.match(host):
        raise ConfigError(f"{problem}: {host!r} is not a host name", reason=_MALFORMED)
    return host, port, _SCHEMES[parts.scheme]


def _shown(text: str) -> str:
    """Hide a ``user:password@`` part, which a ``KAFKA_URL`` must not hold anyway."""
    return re.sub(r"(?<=//)[^/@\[\]]*@", "***@", text)


def read_heroku_env(environ: Mapping[str, str]) -> HerokuKafka:
    """
    Read the Heroku Kafka variables from ``environ``.

    With ``kafka+ssl://`` all three of ``KAFKA_TRUSTED_CERT``, ``KAFKA_CLIENT_CERT``
    and ``KAFKA_CLIENT_CERT_KEY`` are required and must hold PEM text; with
    ``kafka://`` they are ignored.

    Args:
        environ: The environment, such as ``os.environ``.

    Returns:
        The parsed settings.

    Raises:
        ConfigError: ``KAFKA_URL`` is missing or malformed, a TLS URL lacks its
            certificates, or ``KAFKA_PREFIX`` holds characters no topic name may.
    """
    url = environ.get("KAFKA_URL")
    if not url:
        raise ConfigError(
            "heroku_kafka_env is on but KAFKA_URL is not set", reason="missing KAFKA_URL"
        )
    endpoints, uses_tls = parse_kafka_url(url)
    material = {name: (environ.get(name) or "").strip() or None for name in _CERT_VARIABLES}
    if uses_tls:
        missing = [name for name, value in material.items() if value is None]
        if missing:
            raise ConfigError(
                f"KAFKA_URL uses kafka+ssl:// but {', '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set",
                reason="missing Heroku certificate",
            )
        not_pem = [name for name, value in material.items() if _PEM_MARKER not in (value or "")]
        if not_pem:
            raise ConfigError(
                f"{', '.join(not_pem)} must hold PEM text (-----BEGIN ...); "
                f"{'it does' if len(not_pem) == 1 else 'they do'} not",
                reason="bad Heroku certificate",
            )
    prefix = environ.get("KAFKA_PREFIX", "").strip()
    if not _PREFIX.match(prefix):
        raise ConfigError(
            f"KAFKA_PREFIX {prefix!r} holds characters topic names cannot; "
            "allowed: a-z, A-Z, 0-9, '.', '_' and '-'",
            reason="invalid KAFKA_PREFIX",
        )
    return HerokuKafka(
        endpoints=endpoints,
        uses_tls=uses_tls,
        trusted_cert=material["KAFKA_TRUSTED_CERT"] if uses_tls else None,
        client_cert=material["KAFKA_CLIENT_CERT"] if uses_tls else None,
        client_cert_key=material["KAFKA_CLIENT_CERT_KEY"] if uses_tls else None,
        prefix=prefix,
    )
