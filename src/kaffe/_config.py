"""
Producer configuration: every option declared once, frozen and validated.

Each option of :class:`ProducerConfig` is one dataclass field whose metadata says
how to check it, which ``KAFFE_*`` variable sets it and how the documentation
describes it. Validation (``ProducerConfig.__post_init__``), the environment
reader (:func:`read_env`) and the configuration reference in the docs
(:func:`render_options_table`) all read those declarations, so none of them can
forget an option. ``ProducerOptions`` mirrors the fields for type checkers, and a
test keeps the two equal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

from ._errors import ConfigError
from ._features import require_feature
from ._heroku import read_heroku_env
from ._observers import Observer
from ._security import OIDC, SASLConfig, SSLConfig, callable_name
from ._serialization import SerializerSpec, check_serializer
from ._statistics import Statistics
from ._types import PartitionStrategyFunction

__all__ = [
    "COMPRESSION_CODECS",
    "DEFAULT_CLIENT_ID",
    "DEFAULT_COMPRESSION",
    "DEFAULT_DELIVERY_TIMEOUT",
    "DEFAULT_LINGER_MS",
    "DEFAULT_METADATA_REFRESH_INTERVAL",
    "DEFAULT_PARTITION_STRATEGY",
    "DEFAULT_QUEUE_FULL_TIMEOUT",
    "DEFAULT_REQUIRED_ACKS",
    "DEFAULT_START_TIMEOUT",
    "OIDC",
    "OPTIONS",
    "STRATEGY_NAMES",
    "Endpoint",
    "Option",
    "ProducerConfig",
    "ProducerOptions",
    "SASLConfig",
    "SSLConfig",
    "fill_options_tables",
    "read_env",
    "render_options_table",
    "validate_topic_name",
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
#: librdkafka's ``client.id``.
DEFAULT_CLIENT_ID = "kaffe"
#: No compression, as librdkafka and the Java client default to.
DEFAULT_COMPRESSION = "none"

#: Strategy names accepted by ``partition_strategy``.
STRATEGY_NAMES = ("md5", "murmur2", "crc32", "fnv1a", "round_robin", "random")
#: ``compression`` values: librdkafka's ``compression.codec``.
COMPRESSION_CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
Compression = Literal["none", "gzip", "snappy", "lz4", "zstd"]
_ACKS = {"all": -1, -1: -1, 0: 0, 1: 1}
#: librdkafka's ``statistics.interval.ms`` range, in seconds (its granularity is 1 s).
_STATISTICS_INTERVAL_RANGE = (1.0, 86400.0)
#: The methods every observer has (see :class:`kaffe.Observer`).
_OBSERVER_METHODS = ("on_send", "on_outcome", "on_statistics")

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
    "compression.codec": "compression",
    "compression.type": "compression",
    "transactional.id": "transactional_id",
    "statistics.interval.ms": "statistics_interval",
    "security.protocol": "ssl / sasl",
    "enable.sasl.oauthbearer.unsecure.jwt": "sasl",
    "https.ca.pem": "sasl (oidc=kaffe.OIDC(..., ca=...))",
    "https.ca.location": "sasl (oidc=kaffe.OIDC(..., ca=...))",
    "ssl.ca.pem": "ssl",
    "ssl.ca.location": "ssl",
    "ssl.certificate.pem": "ssl",
    "ssl.certificate.location": "ssl",
    "ssl.key.pem": "ssl",
    "ssl.key.location": "ssl",
    "ssl.key.password": "ssl",
    "ssl.endpoint.identification.algorithm": "ssl (verify_hostname)",
}
#: Prefixes of librdkafka properties kaffe sets itself: every ``sasl.*`` property.
_MANAGED_PREFIXES = {"sasl.": "sasl"}
#: librdkafka callbacks kaffe owns, and what to use instead where there is something.
_FORBIDDEN_PROPERTIES = {
    "on_delivery": "",
    "dr_cb": "",
    "dr_msg_cb": "",
    "delivery.report.only.error": "",
    "error_cb": "",
    "logger": "",
    "log_cb": "",
    "stats_cb": "; use statistics_interval with on_statistics or observers",
    "oauth_cb": "; use sasl=kaffe.SASLConfig('OAUTHBEARER', token_provider=...)",
}
_SECRET_MARKERS = ("password", "secret", "key", "jaas", "token", "credential")
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
#: What a variable that is not set reads as.
_ABSENT: Any = object()


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


# --- reading KAFFE_* variables ------------------------------------------------------------


class EnvReader:
    """
    How an option is read from the environment: one ``KAFFE_<OPTION>`` variable, as text.

    Subclasses parse numbers and flags, or gather several variables into one option.
    """

    def variables(self, option: str) -> tuple[str, ...]:
        """The variables this reader looks at, for the docs."""
        return (f"KAFFE_{option.upper()}",)

    def read(self, option: str, environ: Mapping[str, str]) -> Any:
        """
        Read the option's value.

        Args:
            option: The option name.
            environ: The environment.

        Returns:
            The value to pass to :class:`ProducerConfig`, or ``_ABSENT`` when unset.

        Raises:
            ConfigError: A variable is malformed; the message names it.
        """
        (variable,) = self.variables(option)
        text = environ.get(variable, "").strip()
        return self.parse(variable, text) if text else _ABSENT

    def parse(self, variable: str, text: str) -> Any:
        """Turn a variable's (stripped, non-empty) text into the option's value."""
        return text


class _EnvNumber(EnvReader):
    """A number; with ``off``, ``off`` or ``none`` read as ``None``."""

    def __init__(self, *, off: bool = False) -> None:
        self.off = off

    def parse(self, variable: str, text: str) -> Any:
        if self.off and text.lower() in ("off", "none"):
            return None
        try:
            return float(text)
        except ValueError:
            expected = "a number" + (" or off" if self.off else "")
            raise ConfigError(f"{variable}: expected {expected}, got {text!r}") from None


class _EnvFlag(EnvReader):
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""

    def parse(self, variable: str, text: str) -> Any:
        return _flag(variable, text)


def _flag(variable: str, text: str) -> bool:
    if text.lower() in _TRUE:
        return True
    if text.lower() in _FALSE:
        return False
    raise ConfigError(f"{variable}: expected true or false, got {text!r}")


class _EnvGroup(EnvReader):
    """
    Several ``KAFFE_<OPTION>_<FIELD>`` variables that make up one option's mapping.

    Values are taken as they are (passwords may hold spaces); empty ones count as unset.
    """

    def __init__(self, prefix: str, fields: Sequence[str], *, switch: bool = False) -> None:
        self.prefix = prefix
        self.fields = tuple(fields)
        #: ``KAFFE_<OPTION>=true`` alone turns the option on with its defaults.
        self.switch = switch

    def variables(self, option: str) -> tuple[str, ...]:
        names = [f"{self.prefix}_{field.upper()}" for field in self.fields]
        return (self.prefix, *names) if self.switch else tuple(names)

    def gather(self, environ: Mapping[str, str]) -> dict[str, Any]:
        """The fields whose variables are set."""
        return {
            field: environ[f"{self.prefix}_{field.upper()}"]
            for field in self.fields
            if environ.get(f"{self.prefix}_{field.upper()}", "").strip()
        }


class _EnvSSL(_EnvGroup):
    def __init__(self) -> None:
        super().__init__("KAFFE_SSL", ("ca", "cert", "key", "verify_hostname"), switch=True)

    def read(self, option: str, environ: Mapping[str, str]) -> Any:
        ssl: dict[str, Any] = self.gather(environ)
        if "verify_hostname" in ssl:
            ssl["verify_hostname"] = _flag(
                "KAFFE_SSL_VERIFY_HOSTNAME", ssl["verify_hostname"].strip()
            )
        switch = environ.get(self.prefix, "").strip()
        if ssl:
            return ssl
        if switch and _flag(self.prefix, switch):
            return True
        return _ABSENT


#: ``KAFFE_SASL_OIDC_<FIELD>`` variables: the fields of :class:`OIDC`.
_OIDC_FIELDS = ("token_endpoint_url", "client_id", "client_secret", "scope", "extensions", "ca")
_KERBEROS_FIELDS = (
    "kerberos_principal",
    "kerberos_keytab",
    "kerberos_service_name",
    "kerberos_kinit_cmd",
)


class _EnvSASL(_EnvGroup):
    """
    The ``KAFFE_SASL_*`` variables.

    Without ``KAFFE_SASL_MECHANISM``, ``KAFFE_SASL_OIDC_*`` variables imply
    ``OAUTHBEARER`` and ``KAFFE_SASL_KERBEROS_*`` ones imply ``GSSAPI``.
    """

    def __init__(self) -> None:
        super().__init__(
            "KAFFE_SASL",
            (
                "mechanism",
                "username",
                "password",
                *[f"oidc_{field}" for field in _OIDC_FIELDS],
                *_KERBEROS_FIELDS,
            ),
        )

    def read(self, option: str, environ: Mapping[str, str]) -> Any:
        sasl = self.gather(environ)
        oidc = {
            field: sasl.pop(f"oidc_{field}") for field in _OIDC_FIELDS if f"oidc_{field}" in sasl
        }
        if oidc:
            sasl["oidc"] = oidc
            sasl.setdefault("mechanism", "OAUTHBEARER")
        if any(field in sasl for field in _KERBEROS_FIELDS):
            sasl.setdefault("mechanism", "GSSAPI")
        return sasl or _ABSENT


# --- checking one option ----------------------------------------------------------------


def _check_endpoints(name: str, value: object) -> tuple[Endpoint, ...]:
    if value is None or value == ():
        return ()  # required unless Heroku mode fills them in; checked with the others
    return _parse_endpoints(value)


def _check_topics(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise ConfigError(f"{name}: expected a list of topic names, got {value!r}")
    return tuple(validate_topic_name(topic, option=name) for topic in value)


def _check_strategy(name: str, value: object) -> str | PartitionStrategyFunction:
    if isinstance(value, str) and value.lower() in STRATEGY_NAMES:
        return value.lower()
    if callable(value) and not isinstance(value, str):
        return value
    raise ConfigError(
        f"{name}: unknown strategy {value!r}; allowed: "
        f"{', '.join(STRATEGY_NAMES)}, or a function "
        "(topic, current_partition, partitions_count, key, value) -> int",
        reason="unknown strategy",
    )


def _check_acks(name: str, value: object) -> int:
    key = value.lower() if isinstance(value, str) else value
    if isinstance(key, str) and key.lstrip("-").isdigit():
        key = int(key)
    if isinstance(key, bool) or key not in _ACKS:
        raise ConfigError(f"{name}: {value!r} is not allowed; allowed: 'all' (or -1), 1, 0")
    return _ACKS[key]


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return value


def _check_optional_flag(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True, False or None, got {value!r}")
    return value


def _number(name: str, value: object, *, minimum: float, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{name}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def _at_least(minimum: float, *, allow_none: bool = False) -> Callable[[str, object], Any]:
    def check(name: str, value: object) -> float | None:
        return _number(name, value, minimum=minimum, allow_none=allow_none)

    return check


def _check_serializer(name: str, value: object) -> SerializerSpec | None:
    return check_serializer(name, value)


def _check_client_config(name: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected a mapping of librdkafka properties")
    copied = dict(value)
    for key in copied:
        if not isinstance(key, str):
            raise ConfigError(f"{name}: property names must be strings, got {key!r}")
        option = _MANAGED_PROPERTIES.get(key) or next(
            (owner for prefix, owner in _MANAGED_PREFIXES.items() if key.startswith(prefix)),
            None,
        )
        if option is not None:
            raise ConfigError(
                f"{name}[{key!r}]: kaffe sets this property; use the {option} option instead"
            )
        if key in _FORBIDDEN_PROPERTIES:
            raise ConfigError(
                f"{name}[{key!r}]: kaffe owns this callback or setting and it cannot "
                f"be replaced{_FORBIDDEN_PROPERTIES[key]}"
            )
    return MappingProxyType(copied)


def _check_ssl(name: str, value: object) -> SSLConfig | None:
    if value is None or value is False:
        return None
    if value is True:
        return SSLConfig()
    if isinstance(value, SSLConfig):
        return value
    if isinstance(value, Mapping):
        allowed = [field.name for field in dataclasses.fields(SSLConfig)]
        unknown = set(value) - set(allowed)
        if unknown:
            raise ConfigError(
                f"{name}: unknown key(s) {', '.join(sorted(map(str, unknown)))}; allowed: "
                f"{', '.join(allowed)}"
            )
        return SSLConfig(**value)
    raise ConfigError(f"{name}: expected SSLConfig, a mapping, True or None")


def _check_sasl(name: str, value: object) -> SASLConfig | None:
    if value is None or isinstance(value, SASLConfig):
        return value
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: expected SASLConfig, a mapping or None")
    allowed = [field.name for field in dataclasses.fields(SASLConfig)]
    unknown = sorted(map(str, set(value) - set(allowed)))
    if unknown:
        raise ConfigError(
            f"{name}: unknown: {', '.join(unknown)}; allowed keys: {', '.join(allowed)}"
        )
    mechanism = str(value.get("mechanism", "")).upper()
    required = ["mechanism"]
    if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        required += ["username", "password"]
    missing = [key for key in required if key not in value]
    if missing:
        raise ConfigError(
            f"{name}: missing: {', '.join(missing)} "
            f"({mechanism or 'every mechanism'} needs {', '.join(required)})"
        )
    return SASLConfig(**value)


def _check_client_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}: expected a non-empty string")
    return value


def _check_compression(name: str, value: object) -> str:
    codec = value.lower() if isinstance(value, str) else value
    if codec not in COMPRESSION_CODECS:
        raise ConfigError(
            f"{name}: {value!r} is not a codec; allowed: {', '.join(COMPRESSION_CODECS)}",
            reason="unknown codec",
        )
    assert isinstance(codec, str)
    if codec != "none":
        require_feature(codec, name, codec)
    return codec


def _check_transactional_id(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{name}: expected a non-empty string or None, got {value!r}")
    return value


def _check_statistics_interval(name: str, value: object) -> float | None:
    low, high = _STATISTICS_INTERVAL_RANGE
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(
            f"{name}: expected seconds from {low:g} to {high:g} (librdkafka reports at most "
            f"once a second), or None to turn statistics off; got {value!r}"
        )
    return float(value)


def _check_on_statistics(name: str, value: object) -> Callable[[Statistics], object] | None:
    if value is not None and not callable(value):
        raise ConfigError(
            f"{name}: expected a function taking a kaffe.Statistics, or None; "
            f"got {type(value).__name__}"
        )
    return value


def _check_observers(name: str, value: object) -> tuple[Observer, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{name}: expected a list of observers, got {type(value).__name__}"
            + ("; wrap a single observer in a list" if _missing_methods(value) == [] else "")
        )
    observers = tuple(value)
    for index, observer in enumerate(observers):
        missing = _missing_methods(observer)
        if missing:
            raise ConfigError(
                f"{name}[{index}]: {type(observer).__name__} has no callable "
                f"{', '.join(missing)}; an observer implements {', '.join(_OBSERVER_METHODS)} "
                "(subclass kaffe.Observer for methods that do nothing)",
                reason="invalid observer",
            )
    return observers


def _missing_methods(observer: object) -> list[str]:
    return [method for method in _OBSERVER_METHODS if not callable(getattr(observer, method, None))]


# --- the declarations -------------------------------------------------------------------

#: Field metadata key that marks a field as an option.
_OPTION = "kaffe.option"


@dataclasses.dataclass(frozen=True)
class Option:
    """
    One producer option, as validation, the environment reader and the docs see it.

    Attributes:
        name: The keyword, such as ``"delivery_timeout"``.
        meaning: One line for the configuration reference (Markdown).
        default_text: The default as the reference shows it (Markdown).
        check: ``check(name, value)`` validates a value and returns it normalised.
        env: How the option is read from ``KAFFE_*`` variables, or ``None``.
    """

    name: str
    meaning: str
    default_text: str
    check: Callable[[str, Any], Any]
    env: EnvReader | None

    @property
    def variables(self) -> tuple[str, ...]:
        """The ``KAFFE_*`` variables that set this option."""
        return () if self.env is None else self.env.variables(self.name)


@dataclasses.dataclass(frozen=True)
class _Declaration:
    meaning: str
    check: Callable[[str, Any], Any]
    env: EnvReader | None
    default_text: str | None


def _option(
    default: Any = dataclasses.MISSING,
    *,
    meaning: str,
    check: Callable[[str, Any], Any],
    env: EnvReader | None = None,
    shown_default: str | None = None,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """Declare an option: a dataclass field that carries its :class:`Option` facts."""
    return dataclasses.field(
        default=default,
        default_factory=default_factory,
        metadata={_OPTION: _Declaration(meaning, check, env, shown_default)},
    )


_TEXT = EnvReader()
_NUMBER = _EnvNumber()
_NUMBER_OR_OFF = _EnvNumber(off=True)
_FLAG = _EnvFlag()


class ProducerOptions(TypedDict, total=False):
    """
    Keyword options of ProducerConfig, kaffe.Producer and kaffe.AsyncProducer.

    The input shapes each option accepts, for type checkers; a test keeps its keys
    equal to :data:`OPTIONS` (plus ``environ``).
    """

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
    key_serializer: SerializerSpec | None
    value_serializer: SerializerSpec | None
    client_config: Mapping[str, Any] | None
    ssl: SSLConfig | Mapping[str, Any] | bool | None
    sasl: SASLConfig | Mapping[str, Any] | None
    heroku_kafka_env: bool
    use_heroku_prefix: bool
    client_id: str
    compression: Compression
    transactional_id: str | None
    statistics_interval: float | None
    on_statistics: Callable[[Statistics], object] | None
    observers: Iterable[Observer] | None
    environ: Mapping[str, str] | None


@dataclasses.dataclass(frozen=True)
class ProducerConfig:
    """
    Everything a producer needs, validated when built.

    The options are listed, with their ``KAFFE_*`` variables and defaults, in the
    configuration reference (:func:`render_options_table`); each field below is
    one option's single declaration.

    Args:
        **options: See :class:`ProducerOptions` and the configuration reference.
            ``environ`` is the environment ``heroku_kafka_env`` reads
            (``os.environ`` when ``None``).

    Raises:
        ConfigError: An option is invalid; the message names it and what is allowed.
    """

    endpoints: tuple[Endpoint, ...] = _option(
        (),
        meaning='brokers: `"h1:9092,h2:9092"`, `["h1:9092"]`, `[("h1", 9092)]`, `"[::1]:9092"`',
        check=_check_endpoints,
        env=_TEXT,
        shown_default="— (required unless Heroku mode)",
    )
    topics: tuple[str, ...] = _option(
        (),
        meaning="topics analysed at start-up (a comma list in the variable); the first is "
        "the default topic",
        check=_check_topics,
        env=_TEXT,
    )
    partition_strategy: str | PartitionStrategyFunction = _option(
        DEFAULT_PARTITION_STRATEGY,
        meaning="`md5`, `murmur2`, `crc32`, `fnv1a`, `round_robin`, `random`, or a function",
        check=_check_strategy,
        env=_TEXT,
    )
    required_acks: int = _option(  # "all" is normalised to -1
        -1,
        meaning='`"all"` (= `-1`), `1` or `0`',
        check=_check_acks,
        env=_TEXT,
        shown_default='`"all"`',
    )
    idempotence: bool | None = _option(
        None,
        meaning="librdkafka's idempotent producer: no duplicates from retries, order kept",
        check=_check_optional_flag,
        env=_FLAG,
        shown_default="on when acks are `all` (required by `transactional_id`)",
    )
    delivery_timeout: float = _option(
        DEFAULT_DELIVERY_TIMEOUT,
        meaning="how long librdkafka may try (retries included) before a message fails",
        check=_at_least(0.001),
        env=_NUMBER,
        shown_default=f"`{DEFAULT_DELIVERY_TIMEOUT}` s",
    )
    start_timeout: float = _option(
        DEFAULT_START_TIMEOUT,
        meaning="how long start-up (connect + topic analysis) may take",
        check=_at_least(0.001),
        env=_NUMBER,
        shown_default=f"`{DEFAULT_START_TIMEOUT}` s",
    )
    linger_ms: float = _option(
        DEFAULT_LINGER_MS,
        meaning="librdkafka `linger.ms`; a waiting caller never waits for it",
        check=_at_least(0),
        env=_NUMBER,
        shown_default=f"`{DEFAULT_LINGER_MS:g}`",
    )
    queue_full_timeout: float = _option(
        DEFAULT_QUEUE_FULL_TIMEOUT,
        meaning="how long a call waits for room when librdkafka's local queue is full",
        check=_at_least(0),
        env=_NUMBER,
        shown_default=f"`{DEFAULT_QUEUE_FULL_TIMEOUT}` s",
    )
    metadata_refresh_interval: float | None = _option(
        DEFAULT_METADATA_REFRESH_INTERVAL,
        meaning="how often partition counts are re-read (`None`, or `off` in the variable, "
        "turns it off)",
        check=_at_least(0.1, allow_none=True),
        env=_NUMBER_OR_OFF,
        shown_default=f"`{DEFAULT_METADATA_REFRESH_INTERVAL}` s",
    )
    allow_topic_auto_creation: bool = _option(
        False,
        meaning="let the broker create unknown topics on first use",
        check=_check_flag,
        env=_FLAG,
    )
    key_serializer: SerializerSpec | None = _option(
        None,
        meaning="turns keys of other types into bytes: a function, a confluent-kafka "
        "`Serializer` (Avro, JSON Schema, Protobuf), or `{topic: serializer}`; "
        "`None` keys are never serialized",
        check=_check_serializer,
    )
    value_serializer: SerializerSpec | None = _option(
        None,
        meaning="the same for values; `None` values stay tombstones",
        check=_check_serializer,
    )
    client_config: Mapping[str, Any] = _option(
        meaning="extra librdkafka properties (copied, never changed); properties kaffe "
        "manages are refused with the option to use instead",
        check=_check_client_config,
        default_factory=dict,
        shown_default="`{}`",
    )
    ssl: SSLConfig | None = _option(
        None,
        meaning="`kaffe.SSLConfig(ca, cert, key, key_password, verify_hostname=True)`, a dict "
        "of those, or `True`",
        check=_check_ssl,
        env=_EnvSSL(),
    )
    sasl: SASLConfig | None = _option(
        None,
        meaning="`kaffe.SASLConfig(mechanism, ...)` or a dict: `PLAIN`, `SCRAM-SHA-256`, "
        "`SCRAM-SHA-512` (user name and password), `OAUTHBEARER` (`token_provider=` or "
        "`oidc=kaffe.OIDC(...)`), `GSSAPI` (Kerberos)",
        check=_check_sasl,
        env=_EnvSASL(),
    )
    heroku_kafka_env: bool = _option(
        False,
        meaning="take endpoints and TLS from `KAFKA_URL`, `KAFKA_TRUSTED_CERT`, "
        "`KAFKA_CLIENT_CERT`, `KAFKA_CLIENT_CERT_KEY`",
        check=_check_flag,
        env=_FLAG,
    )
    use_heroku_prefix: bool = _option(
        True,
        meaning="in Heroku mode, prepend `KAFKA_PREFIX` to topic names",
        check=_check_flag,
        env=_FLAG,
    )
    client_id: str = _option(
        DEFAULT_CLIENT_ID,
        meaning="librdkafka `client.id`",
        check=_check_client_id,
        env=_TEXT,
    )
    compression: Compression = _option(
        DEFAULT_COMPRESSION,
        meaning='`"none"`, `"gzip"`, `"snappy"`, `"lz4"` or `"zstd"`: librdkafka '
        "`compression.codec`, applied to each batch",
        check=_check_compression,
        env=_TEXT,
    )
    transactional_id: str | None = _option(
        None,
        meaning="librdkafka `transactional.id`: makes the producer transactional; "
        "needs idempotence",
        check=_check_transactional_id,
        env=_TEXT,
    )
    statistics_interval: float | None = _option(
        None,
        meaning="seconds between librdkafka statistics snapshots (1-86400; `None`, or `off` "
        "in the variable, turns them off)",
        check=_check_statistics_interval,
        env=_NUMBER_OR_OFF,
        shown_default="`None` (off)",
    )
    on_statistics: Callable[[Statistics], object] | None = _option(
        None,
        meaning="a function called with each `kaffe.Statistics` snapshot",
        check=_check_on_statistics,
    )
    observers: tuple[Observer, ...] = _option(
        (),
        meaning="objects with `on_send`, `on_outcome` and `on_statistics` (`kaffe.Observer`), "
        "told of every message sent and every outcome",
        check=_check_observers,
    )
    environ: Mapping[str, str] | None = dataclasses.field(default=None, repr=False, compare=False)
    #: ``KAFKA_PREFIX`` when Heroku mode applies it, else ``""``. Derived, not an option.
    topic_prefix: str = dataclasses.field(default="", init=False)

    if TYPE_CHECKING:  # the constructor accepts the input shapes of ProducerOptions

        def __init__(self, **options: Unpack[ProducerOptions]) -> None: ...

    def __post_init__(self) -> None:
        for flag in ("heroku_kafka_env", "use_heroku_prefix"):
            self._set(flag, _check_flag(flag, getattr(self, flag)))
        if self.heroku_kafka_env:
            self._apply_heroku()
        for option in OPTIONS:
            self._set(option.name, option.check(option.name, getattr(self, option.name)))
        self._check_combinations()

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
            given: object = self.ssl  # not validated yet: any input shape
            if given is not None and given is not False:
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

    def _check_combinations(self) -> None:
        """The rules that involve more than one option."""
        if not self.endpoints:
            raise ConfigError(
                "endpoints: at least one broker endpoint is required "
                "(or heroku_kafka_env=True to read KAFKA_URL)"
            )
        self._set("topics", tuple(dict.fromkeys(self.topic_prefix + t for t in self.topics)))
        transactional = self.transactional_id is not None
        if transactional and self.idempotence is False:
            raise ConfigError(
                "transactional_id: a transactional producer needs idempotence; remove "
                "idempotence=False or the transactional_id",
                reason="conflicting options",
            )
        if transactional and self.required_acks != -1:
            raise ConfigError(
                "transactional_id: a transactional producer needs required_acks='all', "
                f"not {self.required_acks}",
                reason="conflicting options",
            )
        if self.idempotence is None:
            self._set("idempotence", self.required_acks == -1)
        elif self.idempotence and self.required_acks != -1:
            raise ConfigError(
                "idempotence: requires required_acks='all'; set idempotence=False to use "
                f"required_acks={self.required_acks}"
            )
        if self.on_statistics is not None and self.statistics_interval is None:
            raise ConfigError(
                "on_statistics: is never called without statistics_interval; set it to the "
                "seconds between snapshots",
                reason="conflicting options",
            )

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
        if self.compression != DEFAULT_COMPRESSION:
            fields.append(f"compression={self.compression!r}")
        if self.transactional_id is not None:
            fields.append(f"transactional_id={self.transactional_id!r}")
        if self.statistics_interval is not None:
            fields.append(f"statistics_interval={self.statistics_interval!r}")
        if client_config:
            fields.append(f"client_config={client_config!r}")
        if self.ssl is not None:
            fields.append(f"ssl={self.ssl!r}")
        if self.sasl is not None:
            fields.append(f"sasl={self.sasl!r}")
        if self.heroku_kafka_env:
            fields.append(f"heroku_kafka_env=True, topic_prefix={self.topic_prefix!r}")
        if self.observers:
            fields.append(f"observers=[{', '.join(type(o).__name__ for o in self.observers)}]")
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
            found.extend(self.sasl.secrets)
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
        """
        The complete librdkafka configuration, without the producer's own callbacks.

        The producer adds ``error_cb``, ``logger``, ``stats_cb`` and its delivery
        callbacks itself. The one callback included is ``oauth_cb`` with an
        OAUTHBEARER ``token_provider``: a fresh :class:`~kaffe._security.TokenRefresher`
        per call, which keeps the provider's last failure.
        """
        properties: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "acks": self.required_acks,
            "enable.idempotence": self.idempotence,
            "delivery.timeout.ms": max(1, int(self.delivery_timeout * 1000)),
            "linger.ms": self.linger_ms,
            "allow.auto.create.topics": self.allow_topic_auto_creation,
            "compression.codec": self.compression,
        }
        if self.transactional_id is not None:
            properties["transactional.id"] = self.transactional_id
        if self.statistics_interval is not None:
            properties["statistics.interval.ms"] = round(self.statistics_interval * 1000)
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


def _declared_options() -> tuple[Option, ...]:
    options = []
    for field in dataclasses.fields(ProducerConfig):
        declaration = field.metadata.get(_OPTION)
        if declaration is None:
            continue
        if field.default is dataclasses.MISSING:
            assert field.default_factory is not dataclasses.MISSING
            default = field.default_factory()
        else:
            default = field.default
        options.append(
            Option(
                name=field.name,
                meaning=declaration.meaning,
                default_text=declaration.default_text or _shown(default),
                check=declaration.check,
                env=declaration.env,
            )
        )
    return tuple(options)


def _shown(default: object) -> str:
    return f'`"{default}"`' if isinstance(default, str) else f"`{default!r}`"


#: Every option of :class:`ProducerConfig`, in declaration order.
OPTIONS: tuple[Option, ...] = _declared_options()


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
    return callable_name(strategy)


def read_env(environ: Mapping[str, str]) -> dict[str, Any]:
    """
    Read ``KAFFE_*`` variables into producer options.

    Args:
        environ: The environment mapping; only read.

    Returns:
        Options for :class:`ProducerConfig`; absent variables are left out.

    Raises:
        ConfigError: A variable is malformed; the message names it.
    """
    options: dict[str, Any] = {}
    for option in OPTIONS:
        if option.env is not None:
            value = option.env.read(option.name, environ)
            if value is not _ABSENT:
                options[option.name] = value
    return options


#: Where a generated table starts (``compact`` may follow the name) and ends in Markdown.
_TABLE_START = re.compile(r"^<!-- options-table( compact)?: .*-->\n", re.MULTILINE)
_TABLE_END = "<!-- /options-table -->"


def fill_options_tables(text: str) -> str:
    """
    Put the current configuration reference into every marked block of a Markdown text.

    A block runs from a line ``<!-- options-table: ... -->`` (or
    ``<!-- options-table compact: ... -->``) to the line ``<!-- /options-table -->``.

    Args:
        text: The Markdown document.

    Returns:
        The document with each block's table regenerated; equal to ``text`` when
        the tables are current.

    Raises:
        ValueError: A block is not closed.
    """
    parts: list[str] = []
    position = 0
    for start in _TABLE_START.finditer(text):
        if start.start() < position:
            continue
        end = text.find(_TABLE_END, start.end())
        if end < 0:
            raise ValueError(f"options table opened at offset {start.start()} is not closed")
        parts += [text[position : start.end()], render_options_table(compact=bool(start[1]))]
        position = end
    return "".join(parts) + text[position:]


def render_options_table(*, compact: bool = False) -> str:
    """
    The configuration reference as a Markdown table, one row per option.

    ``docs/configuration.md`` (and the README, when it has one) hold this table
    in blocks that :func:`fill_options_tables` fills; a test keeps them current.

    Args:
        compact: Leave out the meaning column.

    Returns:
        The table, ending with a newline.
    """
    header = ["option", "`KAFFE_*` variable", "default"] + ([] if compact else ["meaning"])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for option in OPTIONS:
        cells = [
            f"`{option.name}`",
            ", ".join(f"`{variable}`" for variable in option.variables) or "—",
            option.default_text,
        ]
        if not compact:
            cells.append(option.meaning)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
