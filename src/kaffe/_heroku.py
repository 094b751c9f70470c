"""
Heroku Kafka: turn ``KAFKA_URL`` and friends into endpoints and TLS settings.

Everything here is pure: it reads only the mapping it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._errors import ConfigError

__all__ = ["HerokuKafka", "parse_kafka_url", "read_heroku_env"]

_SCHEMES = {"kafka": False, "kafka+ssl": True}


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
        key = "***" if self.client_cert_key else None
        return (
            f"HerokuKafka(endpoints={self.endpoints!r}, uses_tls={self.uses_tls!r}, "
            f"trusted_cert={'<pem>' if self.trusted_cert else None}, "
            f"client_cert={'<pem>' if self.client_cert else None}, "
            f"client_cert_key={key}, prefix={self.prefix!r})"
        )


def parse_kafka_url(url: str) -> tuple[tuple[tuple[str, int], ...], bool]:
    """
    Parse Heroku's ``KAFKA_URL``: comma-separated ``kafka+ssl://host:port`` or ``kafka://host:port``.

    Args:
        url: The variable's value.

    Returns:
        The ``(host, port)`` pairs and whether they use TLS.

    Raises:
        ConfigError: An entry is malformed, or the entries mix TLS and plaintext.
    """
    endpoints: list[tuple[str, int]] = []
    tls_flags: set[bool] = set()
    entries = [entry.strip() for entry in url.split(",")]
    if not any(entries):
        raise ConfigError("KAFKA_URL is empty; expected kafka+ssl://host:port[,...]")
    for entry in entries:
        if not entry:
            continue
        endpoints.append(_parse_entry(entry, tls_flags))
    if len(tls_flags) > 1:
        raise ConfigError("KAFKA_URL mixes kafka:// and kafka+ssl:// entries; use one scheme")
    return tuple(endpoints), tls_flags.pop()


def _parse_entry(entry: str, tls_flags: set[bool]) -> tuple[str, int]:
    problem = f"KAFKA_URL entry {entry!r} is malformed; expected kafka+ssl://host:port"
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError as error:
        raise ConfigError(f"{problem} ({error})", reason="malformed KAFKA_URL") from None
    if parts.scheme not in _SCHEMES:
        raise ConfigError(
            f"{problem}: scheme {parts.scheme!r} is not one of kafka, kafka+ssl",
            reason="malformed KAFKA_URL",
        )
    if not parts.hostname or port is None:
        raise ConfigError(f"{problem}: host and port are required", reason="malformed KAFKA_URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError(
            f"{problem}: only scheme, host and port are allowed", reason="malformed KAFKA_URL"
        )
    tls_flags.add(_SCHEMES[parts.scheme])
    return parts.hostname, port


def read_heroku_env(environ: Mapping[str, str]) -> HerokuKafka:
    """
    Read the Heroku Kafka variables from ``environ``.

    Args:
        environ: The environment, such as ``os.environ``.

    Returns:
        The parsed settings.

    Raises:
        ConfigError: ``KAFKA_URL`` is missing or malformed, or a TLS URL lacks its certificates.
    """
    url = environ.get("KAFKA_URL")
    if not url:
        raise ConfigError(
            "heroku_kafka_env is on but KAFKA_URL is not set", reason="missing KAFKA_URL"
        )
    endpoints, uses_tls = parse_kafka_url(url)
    material = {
        name: (environ.get(name) or "").strip() or None
        for name in ("KAFKA_TRUSTED_CERT", "KAFKA_CLIENT_CERT", "KAFKA_CLIENT_CERT_KEY")
    }
    if uses_tls:
        missing = [name for name, value in material.items() if value is None]
        if missing:
            raise ConfigError(
                f"KAFKA_URL uses kafka+ssl:// but {', '.join(missing)} is not set",
                reason="missing Heroku certificate",
            )
    return HerokuKafka(
        endpoints=endpoints,
        uses_tls=uses_tls,
        trusted_cert=material["KAFKA_TRUSTED_CERT"],
        client_cert=material["KAFKA_CLIENT_CERT"],
        client_cert_key=material["KAFKA_CLIENT_CERT_KEY"],
        prefix=environ.get("KAFKA_PREFIX", "").strip(),
    )
