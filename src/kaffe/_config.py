"""
Producer configuration: frozen, validated value objects and the environment reader.

Defaults are the named constants below; the option reference in the README is
generated from the same names.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

import contextlib

from ._errors import ConfigError
from ._heroku import read_heroku_env
from ._types import PartitionStrategyFunction

__all__ = [
    "DEFAULT_DELIVERY_TIMEOUT",
    "DEFAULT_LINGER_MS",
    "DEFAULT_METADATA_REFRESH_INTERVAL",
    "DEFAULT_PARTITION_STRATEGY",
    "DEFAULT_QUEUE_FULL_TIMEOUT",
    "DEFAULT_REQUIRED_ACKS",
    "DEFAULT_START_TIMEOUT",
    "STRATEGY_NAMES",
    "Endpoint",
    "ProducerConfig",
    "ProducerOptions",
    "SASLConfig",
    "SSLConfig",
]

#: Kaffe's default strategy.
DEFAULT_PARTITION_STRATEGY = "md5"
#: Wait for every in-sync replica, as a producer that must not lose messages should.
DEFAULT_REQUIRED_ACKS: Literal["all"] = "all"
#: Seconds the constructor may spend connecting and reading topic metadata.
DEFAULT_START_TIMEOUT = 10.0
#: Seconds librdkafka may spend (retries included) before a message fails as timed out.
DEFAULT_DELIVERY_TIMEOUT = 30.0
#: librdkafka's ``linger.ms``, its own default: messages sent without waiting (``produce()``,
#: batches) share requests, which multiplies throughput. A synchronous caller never pays
#: for it: while one waits, kaffe serves through ``flush``, which sends at once.
DEFAULT_LINGER_MS = 5.0
#: Seconds ``produce()`` may wait for room when librdkafka's queue is full.
DEFAULT_QUEUE_FULL_TIMEOUT = 10.0
#: Seconds between partition-count refreshes; ``None`` turns refreshing off.
DEFAULT_METADATA_REFRESH_INTERVAL = 60.0
DEFAULT_CLIENT_ID = "kaffe"

#: Strategy names accepted by ``partition_strategy``.
STRATEGY_NAMES = ("md5", "murmur2", "crc32", "fnv1a", "round_robin", "random")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
_ACKS = {"all": -1, -1: -1, 0: 0, 1: 1}

#: librdkafka properties kaffe sets itself, and the option to use instead.
_MANAGED_PROPERTIES = {
    "bootstrap.servers": "endpoints",
    "metadata.broker.list": "endpoints",
    "acks": "required_acks",
    "request.required.acks": "required_acks",
    "enable.idempotence": "idempotence",
    "delivery.timeout.ms": "delivery_timeout",
    "message.timeout.ms": "delivery_timeout",
    "linger.ms": "linger_ms",
    "queue.buffering.max.ms": "linger_ms",
    "allow.auto.create.topics": "allow_topic_auto_creation",
    "client.id": "client_id",
    "security.protocol": "ssl / sasl",
    "sasl.mechanism": "sasl",
    "sasl.mechanisms": "sasl",
    "sasl.username": "sasl",
    "sasl.password": "sasl",
    "ssl.ca.pem": "ssl",
    "ssl.ca.location": "ssl",
    "ssl.certificate.pem": "ssl",
    "ssl.certificate.location": "ssl",
    "ssl.key.pem": "ssl",
    "ssl.key.location": "ssl",
    "ssl.key.password": "ssl",
    "ssl.endpoint.identification.algorithm": "ssl (verify_hostname)",
}
#: librdkafka callbacks kaffe owns; replacing them would break delivery tracking.
_FORBIDDEN_PROPERTIES = (
    "on_delivery",
    "dr_cb",
    "dr_msg_cb",
    "delivery.report.only.error",
    "error_cb",
    "logger",
    "log_cb",
)
_SECRET_MARKERS = ("password", "secret", "key", "jaas", "token", "credential")
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_PEM_MARKER = "-----BEGIN "


def _masked(value: object) -> str:
    return "None" if value is None else "'***'"


class Endpoint(tuple[str, int]):
    """
    A broker address: ``(host, port)``.

    Accepts ``"host:port"``, ``"[v6::addr]:port"`` or a ``(host, port)`` pair.
    """

    __slots__ = ()

    def __new__(cls, host: str, port: int) -> Endpoint:
        return super().__new__(cls, (host, port))

    @property
    def host(self) -> str:
        """The host name or address."""
        return self[0]

    @property
    def port(self) -> int:
        """The TCP port."""
        return self[1]

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"Endpoint({self.host!r}, {self.port!r})"

    @classmethod
    def parse(cls, spec: object) -> Endpoint:
        """
        Build an endpoint from a string or a pair.

        Args:
            spec: ``"host:port"``, ``"[::1]:9092"`` or ``(host, port)``.

        Returns:
            The endpoint.

        Raises:
            ConfigError: The spec is not a valid address.
        """
        if isinstance(spec, str):
            return cls._parse_string(spec.strip())
        if isinstance(spec, tuple) and len(spec) == 2:
            host, port = spec
            if isinstance(host, str) and host.strip():
                return cls(host.strip().strip("[]"), _port(port, spec))
        raise ConfigError(
            f"endpoints: {spec!r} is not an endpoint; expected 'host:port' or (host, port)",
            reason="invalid endpoint",
        )

    @classmethod
    def _parse_string(cls, text: str) -> Endpoint:
        problem = f"endpoints: {text!r} is not 'host:port'"
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if not rest.startswith(":"):
                raise ConfigError(problem, reason="invalid endpoint")
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                raise ConfigError(
                    f"{problem}: bad IPv6 address", reason="invalid endpoint"
                ) from None
            return cls(host, _port(rest[1:], text))
        host, sep, port = text.rpartition(":")
        if not sep or not host or ":" in host or "/" in text:
            raise ConfigError(problem, reason="invalid endpoint")
        return cls(host, _port(port, text))


def _port(port: object, spec: object) -> int:
    number = -1
    if isinstance(port, (int, str)):
        with contextlib.suppress(ValueError):
            number = int(port)
    if isinstance(port, bool) or not 0 < number < 65536:
        raise ConfigError(
            f"endpoints: {spec!r} has an invalid port; expected 1-65535", reason="invalid endpoint"
        )
    return number


def _parse_endpoints(value: object) -> tuple[Endpoint, ...]:
    items: Iterable[object]
    if isinstance(value, str):
        items = [part for part in value.split(",") if part.strip()]
    elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], int):
        items = [value]
    elif isinstance(value, Iterable):
        items = list(value)
    else:
        raise ConfigError(
            f"endpoints: expected 'host:port', a list of them or of (host, port); got {value!r}"
        )
    endpoints = tuple(Endpoint.parse(item) for item in items)
    if not endpoints:
        raise ConfigError("endpoints: at least one broker endpoint is required")
    return endpoints


def _read_pem(field: str, value: str | None) -> str | None:
    """Return PEM text: ``value`` itself, or the content of the file it names (read in memory)."""
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise ConfigError(
            f"ssl.{field}: expected PEM text or a file path, got {type(value).__name__}"
        )
    if _PEM_MARKER in value:
        return value
    try:
        with open(os.path.expanduser(value), encoding="ascii") as pem_file:
            text = pem_file.read()
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(
            f"ssl.{field}: not PEM text, and no readable file at that path "
            f"({type(error).__name__})",
            reason="unreadable PEM",
        ) from None
    if _PEM_MARKER not in text:
        raise ConfigError(
            f"ssl.{field}: the file at that path holds no PEM block", reason="bad PEM"
        )
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
        object.__setattr__(self, "ca", _read_pem("ca", self.ca))
        object.__setattr__(self, "cert", _read_pem("cert", self.cert))
        object.__setattr__(self, "key", _read_pem("key", self.key))
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


@dataclasses.dataclass(frozen=True)
class SASLConfig:
    """
    SASL login settings, used over TLS when ``ssl`` is set, else over plaintext.

    Attributes:
        mechanism: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``.
        username: The user name.
        password: The password; masked in ``repr``.
    """

    mechanism: str
    username: str
    password: str = dataclasses.field(repr=False)

    def __post_init__(self) -> None:
        mechanism = str(self.mechanism).upper()
        if mechanism not in SASL_MECHANISMS:
            raise ConfigError(
                f"sasl.mechanism: {self.mechanism!r} is not supported; allowed: "
                f"{', '.join(SASL_MECHANISMS)}"
            )
        object.__setattr__(self, "mechanism", mechanism)
        for field in ("username", "password"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"sasl.{field}: a non-empty string is required")

    def __repr__(self) -> str:
        return (
            f"SASLConfig(mechanism={self.mechanism!r}, username={self.username!r}, password='***')"
        )

    def librdkafka_properties(self) -> dict[str, str]:
        """The librdkafka properties for these settings."""
        return {
            "sasl.mechanism": self.mechanism,
            "sasl.username": self.username,
            "sasl.password": self.password,
        }


class ProducerOptions(TypedDict, total=False):
    """Keyword options of ProducerConfig, kaffe.Producer and kaffe.AsyncProducer."""

    endpoints: str | Iterable[str | tuple[str, int]] | None
    topics: str | Iterable[str]
    partition_strategy: str | PartitionStrategyFunction
    required_acks: int | Literal["all"]
    idempotence: bool | None
    delivery_timeout: float
    start_timeout: float
    linger_ms: float
    queue_full_timeout: float
    metadata_refresh_interval: float | None
    allow_topic_auto_creation: bool
    key_serializer: Callable[[Any], bytes] | None
    value_serializer: Callable[[Any], bytes] | None
    client_config: Mapping[str, Any] | None
    ssl: SSLConfig | Mapping[str, Any] | bool | None
    sasl: SASLConfig | Mapping[str, Any] | None
    heroku_kafka_env: bool
    use_heroku_prefix: bool
    client_id: str
    environ: Mapping[str, str] | None


def _number(name: str, value: object, *, minimum: float, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{name}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class ProducerConfig:
    """
    Everything a producer needs, validated when built.

    Args:
        endpoints: Brokers: ``"h1:9092,h2:9092"``, ``["h1:9092"]`` or ``[("h1", 9092)]``.
            Not needed with ``heroku_kafka_env``.
        topics: Topics to analyse at start-up; the first is the default of
            ``produce_sync(key, value)``.
        partition_strategy: ``md5`` (default), ``murmur2``, ``crc32``, ``fnv1a``,
            ``round_robin``, ``random``, or a function
            ``fn(topic, current_partition, partitions_count, key, value) -> int``.
        required_acks: ``"all"`` (default, also ``-1``), ``1`` or ``0``.
        idempotence: Idempotent delivery; on by default when ``required_acks`` is ``"all"``.
        delivery_timeout: Seconds before an unacknowledged message fails (retries included).
        start_timeout: Seconds allowed for connecting and reading topic metadata.
        linger_ms: librdkafka's ``linger.ms``.
        queue_full_timeout: Seconds ``produce()`` waits for room in a full local queue.
        metadata_refresh_interval: Seconds between partition-count refreshes, or ``None``.
        allow_topic_auto_creation: Let the broker create unknown topics on first use.
        key_serializer: Turns keys of other types into bytes.
        value_serializer: Turns values of other types into bytes.
        client_config: Extra librdkafka properties; copied, never changed.
        ssl: :class:`SSLConfig`, a mapping of its fields, or ``True`` for TLS with system CAs.
        sasl: :class:`SASLConfig` or a mapping of its fields.
        heroku_kafka_env: Take endpoints and TLS from Heroku's ``KAFKA_*`` variables.
        use_heroku_prefix: With ``heroku_kafka_env``, prepend ``KAFKA_PREFIX`` to every topic name.
        client_id: librdkafka's ``client.id``.
        environ: The environment ``heroku_kafka_env`` reads; ``os.environ`` when ``None``.

    Raises:
        ConfigError: An option is invalid; the message names it and what is allowed.
    """

    endpoints: tuple[Endpoint, ...] = ()
    topics: tuple[str, ...] = ()
    partition_strategy: str | PartitionStrategyFunction = DEFAULT_PARTITION_STRATEGY
    required_acks: int = -1  # "all" is normalised to -1
    idempotence: bool | None = None
    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT
    start_timeout: float = DEFAULT_START_TIMEOUT
    linger_ms: float = DEFAULT_LINGER_MS
    queue_full_timeout: float = DEFAULT_QUEUE_FULL_TIMEOUT
    metadata_refresh_interval: float | None = DEFAULT_METADATA_REFRESH_INTERVAL
    allow_topic_auto_creation: bool = False
    key_serializer: Callable[[Any], bytes] | None = None
    value_serializer: Callable[[Any], bytes] | None = None
    client_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    ssl: SSLConfig | None = None
    sasl: SASLConfig | None = None
    heroku_kafka_env: bool = False
    use_heroku_prefix: bool = True
    client_id: str = DEFAULT_CLIENT_ID
    environ: Mapping[str, str] | None = dataclasses.field(default=None, repr=False, compare=False)
    #: ``KAFKA_PREFIX`` when Heroku mode applies it, else ``""``. Derived, not an option.
    topic_prefix: str = dataclasses.field(default="", init=False)

    if TYPE_CHECKING:  # the constructor accepts the input shapes of ProducerOptions

        def __init__(self, **options: Unpack[ProducerOptions]) -> None: ...

    def __post_init__(self) -> None:
        set_ = self._set
        for flag in ("heroku_kafka_env", "use_heroku_prefix", "allow_topic_auto_creation"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(f"{flag}: expected True or False, got {getattr(self, flag)!r}")
        set_("ssl", self._coerce_ssl(self.ssl))
        set_("sasl", self._coerce_sasl(self.sasl))
        if self.heroku_kafka_env:
            self._apply_heroku()
        if self.endpoints is None or (not self.endpoints and not self.heroku_kafka_env):
            raise ConfigError(
                "endpoints: at least one broker endpoint is required "
                "(or heroku_kafka_env=True to read KAFKA_URL)"
            )
        set_("endpoints", _parse_endpoints(self.endpoints))
        set_("topics", self._coerce_topics(self.topics))
        set_("partition_strategy", self._coerce_strategy(self.partition_strategy))
        set_("required_acks", self._coerce_acks(self.required_acks))
        if self.idempotence is None:
            set_("idempotence", self.required_acks == -1)
        elif not isinstance(self.idempotence, bool):
            raise ConfigError(
                f"idempotence: expected True, False or None, got {self.idempotence!r}"
            )
        elif self.idempotence and self.required_acks != -1:
            raise ConfigError(
                "idempotence: requires required_acks='all'; set idempotence=False to use "
                f"required_acks={self.required_acks}"
            )
        set_("delivery_timeout", _number("delivery_timeout", self.delivery_timeout, minimum=0.001))
        set_("start_timeout", _number("start_timeout", self.start_timeout, minimum=0.001))
        set_("linger_ms", _number("linger_ms", self.linger_ms, minimum=0))
        set_(
            "queue_full_timeout", _number("queue_full_timeout", self.queue_full_timeout, minimum=0)
        )
        set_(
            "metadata_refresh_interval",
            _number(
                "metadata_refresh_interval",
                self.metadata_refresh_interval,
                minimum=0.1,
                allow_none=True,
            ),
        )
        for name in ("key_serializer", "value_serializer"):
            if getattr(self, name) is not None and not callable(getattr(self, name)):
                raise ConfigError(f"{name}: expected a callable returning bytes, or None")
        set_("client_config", self._coerce_client_config(self.client_config))
        if not isinstance(self.client_id, str) or not self.client_id:
            raise ConfigError("client_id: expected a non-empty string")

    def _set(self, name: str, value: object) -> None:
        object.__setattr__(self, name, value)

    def _apply_heroku(self) -> None:
        heroku = read_heroku_env(os.environ if self.environ is None else self.environ)
        if self.endpoints:
            raise ConfigError(
                "endpoints: do not pass endpoints with heroku_kafka_env=True; "
                "KAFKA_URL provides them"
            )
        self._set("endpoints", heroku.endpoints)
        if self.use_heroku_prefix:
            self._set("topic_prefix", heroku.prefix)
        if heroku.uses_tls:
            if self.ssl is not None:
                raise ConfigError(
                    "ssl: do not pass ssl with heroku_kafka_env=True; KAFKA_* provide it"
                )
            # Heroku's broker certificates do not name the brokers' hosts: the chain is
            # verified against KAFKA_TRUSTED_CERT, the host name cannot be.
            self._set(
                "ssl",
                SSLConfig(
                    ca=heroku.trusted_cert,
                    cert=heroku.client_cert,
                    key=heroku.client_cert_key,
                    verify_hostname=False,
                ),
            )

    @staticmethod
    def _coerce_ssl(value: object) -> SSLConfig | None:
        if value is None or value is False:
            return None
        if value is True:
            return SSLConfig()
        if isinstance(value, SSLConfig):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {field.name for field in dataclasses.fields(SSLConfig)}
            if unknown:
                raise ConfigError(
                    f"ssl: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: "
                    "ca, cert, key, key_password, verify_hostname"
                )
            return SSLConfig(**value)
        raise ConfigError("ssl: expected SSLConfig, a mapping, True or None")

    @staticmethod
    def _coerce_sasl(value: object) -> SASLConfig | None:
        if value is None:
            return None
        if isinstance(value, SASLConfig):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"mechanism", "username", "password"}
            missing = {"mechanism", "username", "password"} - set(value)
            if unknown or missing:
                raise ConfigError(
                    "sasl: expected keys mechanism, username and password"
                    + (f"; unknown: {', '.join(sorted(map(str, unknown)))}" if unknown else "")
                    + (f"; missing: {', '.join(sorted(missing))}" if missing else "")
                )
            return SASLConfig(**value)
        raise ConfigError("sasl: expected SASLConfig, a mapping or None")

    def _coerce_topics(self, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, Iterable):
            raise ConfigError(f"topics: expected a list of topic names, got {value!r}")
        topics: list[str] = []
        for topic in value:
            validate_topic_name(topic, option="topics")
            full = self.topic_prefix + topic
            if full not in topics:
                topics.append(full)
        return tuple(topics)

    @staticmethod
    def _coerce_strategy(value: object) -> str | PartitionStrategyFunction:
        if isinstance(value, str) and value.lower() in STRATEGY_NAMES:
            return value.lower()
        if callable(value) and not isinstance(value, str):
            return value
        raise ConfigError(
            f"partition_strategy: unknown strategy {value!r}; allowed: "
            f"{', '.join(STRATEGY_NAMES)}, or a function "
            "(topic, current_partition, partitions_count, key, value) -> int",
            reason="unknown strategy",
        )

    @staticmethod
    def _coerce_acks(value: object) -> int:
        key = value.lower() if isinstance(value, str) else value
        if isinstance(key, str) and key.lstrip("-").isdigit():
            key = int(key)
        if isinstance(key, bool) or key not in _ACKS:
            raise ConfigError(
                f"required_acks: {value!r} is not allowed; allowed: 'all' (or -1), 1, 0"
            )
        return _ACKS[key]

    @staticmethod
    def _coerce_client_config(value: object) -> Mapping[str, Any]:
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, Mapping):
            raise ConfigError("client_config: expected a mapping of librdkafka properties")
        copied = dict(value)
        for key in copied:
            if not isinstance(key, str):
                raise ConfigError(f"client_config: property names must be strings, got {key!r}")
            if key in _MANAGED_PROPERTIES:
                raise ConfigError(
                    f"client_config[{key!r}]: kaffe sets this property; use the "
                    f"{_MANAGED_PROPERTIES[key]} option instead"
                )
            if key in _FORBIDDEN_PROPERTIES:
                raise ConfigError(
                    f"client_config[{key!r}]: kaffe owns this callback or setting and it cannot "
                    "be replaced"
                )
        return MappingProxyType(copied)

    def __repr__(self) -> str:
        client_config = {
            key: "***" if any(marker in key.lower() for marker in _SECRET_MARKERS) else value
            for key, value in self.client_config.items()
        }
        fields = [
            f"endpoints={[str(endpoint) for endpoint in self.endpoints]!r}",
            f"topics={list(self.topics)!r}",
            f"partition_strategy={_strategy_name(self.partition_strategy)!r}",
            f"required_acks={self.required_acks!r}",
            f"idempotence={self.idempotence!r}",
            f"delivery_timeout={self.delivery_timeout!r}",
        ]
        if client_config:
            fields.append(f"client_config={client_config!r}")
        if self.ssl is not None:
            fields.append(f"ssl={self.ssl!r}")
        if self.sasl is not None:
            fields.append(f"sasl={self.sasl!r}")
        if self.heroku_kafka_env:
            fields.append(f"heroku_kafka_env=True, topic_prefix={self.topic_prefix!r}")
        return f"ProducerConfig({', '.join(fields)})"

    @property
    def bootstrap_servers(self) -> str:
        """The endpoints as librdkafka's ``bootstrap.servers``."""
        return ",".join(str(endpoint) for endpoint in self.endpoints)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret string of this config, to mask in messages."""
        found: list[str] = []
        if self.ssl is not None:
            found.extend(self.ssl.secrets)
        if self.sasl is not None:
            found.append(self.sasl.password)
        found.extend(
            str(value)
            for key, value in self.client_config.items()
            if any(marker in key.lower() for marker in _SECRET_MARKERS) and value
        )
        return tuple(found)

    def topic_name(self, topic: str) -> str:
        """
        The broker-side name of a topic given in a call: ``topic_prefix + topic``.

        Args:
            topic: The topic as the caller named it.

        Returns:
            The full name.
        """
        return self.topic_prefix + topic

    def librdkafka_properties(self) -> dict[str, Any]:
        """The complete librdkafka configuration (without kaffe's callbacks)."""
        properties: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "acks": self.required_acks,
            "enable.idempotence": self.idempotence,
            "delivery.timeout.ms": max(1, int(self.delivery_timeout * 1000)),
            "linger.ms": self.linger_ms,
            "allow.auto.create.topics": self.allow_topic_auto_creation,
        }
        if self.sasl is not None:
            properties["security.protocol"] = (
                "SASL_SSL" if self.ssl is not None else "SASL_PLAINTEXT"
            )
            properties.update(self.sasl.librdkafka_properties())
        elif self.ssl is not None:
            properties["security.protocol"] = "SSL"
        if self.ssl is not None:
            properties.update(self.ssl.librdkafka_properties())
        properties.update(self.client_config)
        return properties

    def replace(self, **changes: Any) -> ProducerConfig:
        """
        Return a copy with some options changed, validated again.

        Args:
            **changes: Options as accepted by the constructor.

        Returns:
            The new config.
        """
        current = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
            if field.init
        }
        if self.heroku_kafka_env:
            current["endpoints"] = ()
            current["ssl"] = None
            current["topics"] = tuple(topic[len(self.topic_prefix) :] for topic in self.topics)
        current.update(changes)
        return ProducerConfig(**current)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ProducerConfig:
        """
        Build a config from ``KAFFE_*`` variables (and Heroku's ``KAFKA_*`` in Heroku mode).

        Reading is pure: only ``environ`` is looked at.

        Args:
            environ: The environment; ``os.environ`` when ``None``.
            **overrides: Options that win over the environment.

        Returns:
            The validated config.

        Raises:
            ConfigError: A variable is malformed; the message names it.
        """
        env = dict(os.environ if environ is None else environ)
        options = read_env(env)
        options.update(overrides)
        options.setdefault("environ", env)
        return cls(**options)


def validate_topic_name(topic: object, *, option: str = "topic") -> str:
    """
    Check a topic name against Kafka's rules.

    Args:
        topic: The name.
        option: What to call it in the error.

    Returns:
        The name.

    Raises:
        MessageTypeError: It is not a string.
        InvalidTopicError: It can never be a valid topic.
    """
    from ._errors import InvalidTopicError, MessageTypeError

    if not isinstance(topic, str):
        raise MessageTypeError(f"{option}: a topic name must be str, not {type(topic).__name__}")
    if not _TOPIC_NAME.match(topic) or topic in (".", ".."):
        raise InvalidTopicError(
            f"{option}: {topic!r} is not a valid topic name; use 1-249 characters of "
            "a-z, A-Z, 0-9, '.', '_' and '-'",
            topic=topic,
            reason="invalid topic",
        )
    return topic


def _strategy_name(strategy: object) -> str:
    if isinstance(strategy, str):
        return strategy
    return getattr(strategy, "__qualname__", type(strategy).__name__)


_ENV_TEXT = {
    "KAFFE_ENDPOINTS": "endpoints",
    "KAFFE_TOPICS": "topics",
    "KAFFE_PARTITION_STRATEGY": "partition_strategy",
    "KAFFE_REQUIRED_ACKS": "required_acks",
    "KAFFE_CLIENT_ID": "client_id",
}
_ENV_NUMBERS = {
    "KAFFE_DELIVERY_TIMEOUT": "delivery_timeout",
    "KAFFE_START_TIMEOUT": "start_timeout",
    "KAFFE_LINGER_MS": "linger_ms",
    "KAFFE_QUEUE_FULL_TIMEOUT": "queue_full_timeout",
    "KAFFE_METADATA_REFRESH_INTERVAL": "metadata_refresh_interval",
}
_ENV_FLAGS = {
    "KAFFE_HEROKU_KAFKA_ENV": "heroku_kafka_env",
    "KAFFE_USE_HEROKU_PREFIX": "use_heroku_prefix",
    "KAFFE_IDEMPOTENCE": "idempotence",
    "KAFFE_ALLOW_TOPIC_AUTO_CREATION": "allow_topic_auto_creation",
}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """
    Read ``KAFFE_*`` variables into producer options.

    Args:
        environ: The environment mapping.

    Returns:
        Options for :class:`ProducerConfig`; absent variables are left out.

    Raises:
        ConfigError: A variable is malformed; the message names it.
    """
    options: dict[str, Any] = {}
    for variable, option in _ENV_TEXT.items():
        if environ.get(variable, "").strip():
            options[option] = environ[variable].strip()
    for variable, option in _ENV_NUMBERS.items():
        text = environ.get(variable, "").strip()
        if option == "metadata_refresh_interval" and text.lower() in ("none", "off"):
            options[option] = None
        elif text:
            try:
                options[option] = float(text)
            except ValueError:
                raise ConfigError(f"{variable}: expected a number, got {text!r}") from None
    for variable, option in _ENV_FLAGS.items():
        text = environ.get(variable, "").strip().lower()
        if text in _TRUE:
            options[option] = True
        elif text in _FALSE:
            options[option] = False
        elif text:
            raise ConfigError(f"{variable}: expected true or false, got {text!r}")
    ssl = {
        field: environ[variable]
        for field, variable in (
            ("ca", "KAFFE_SSL_CA"),
            ("cert", "KAFFE_SSL_CERT"),
            ("key", "KAFFE_SSL_KEY"),
        )
        if environ.get(variable, "").strip()
    }
    verify = environ.get("KAFFE_SSL_VERIFY_HOSTNAME", "").strip().lower()
    if verify:
        if verify not in _TRUE + _FALSE:
            raise ConfigError(f"KAFFE_SSL_VERIFY_HOSTNAME: expected true or false, got {verify!r}")
        ssl["verify_hostname"] = verify in _TRUE  # type: ignore[assignment]
    if ssl or environ.get("KAFFE_SSL", "").strip().lower() in _TRUE:
        options["ssl"] = ssl or True
    sasl = {
        field: environ[variable]
        for field, variable in (
            ("mechanism", "KAFFE_SASL_MECHANISM"),
            ("username", "KAFFE_SASL_USERNAME"),
            ("password", "KAFFE_SASL_PASSWORD"),
        )
        if environ.get(variable)
    }
    if sasl:
        options["sasl"] = sasl
    return options
