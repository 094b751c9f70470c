"""
The building blocks of producer options: how each is read, checked and documented.

:mod:`kaffe._config` declares every option once, as a field of ``ProducerConfig``
made with :func:`option_field`. This module supplies what those declarations name: the
``KAFFE_*`` readers (:class:`EnvReader` and friends), the checks
(``check_*(name, value)``, which validate a value and return it normalised, naming
the option in every error), broker endpoints, and topic-name rules.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal

from ._errors import ConfigError
from ._features import require_feature
from ._observers import Observer
from ._security import SASLConfig, SSLConfig
from ._serialization import SerializerSpec, check_serializer
from ._statistics import Statistics
from ._types import PartitionStrategyFunction

__all__ = [
    "ABSENT",
    "COMPRESSION_CODECS",
    "FLAG",
    "NUMBER",
    "NUMBER_OR_OFF",
    "OPTION_METADATA",
    "SASL_VARIABLES",
    "SSL_VARIABLES",
    "STRATEGY_NAMES",
    "TEXT",
    "Compression",
    "Declaration",
    "Endpoint",
    "EnvReader",
    "Option",
    "at_least",
    "check_acks",
    "check_client_config",
    "check_client_id",
    "check_compression",
    "check_endpoints",
    "check_flag",
    "check_observers",
    "check_on_statistics",
    "check_optional_flag",
    "check_sasl",
    "check_serializers",
    "check_ssl",
    "check_statistics_interval",
    "check_strategy",
    "check_topics",
    "check_transactional_id",
    "option_field",
    "validate_topic_name",
]

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
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")
#: What a variable that is not set reads as.
ABSENT: Any = object()


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
            The value to pass to :class:`ProducerConfig`, or ``ABSENT`` when unset.

        Raises:
            ConfigError: A variable is malformed; the message names it.
        """
        (variable,) = self.variables(option)
        text = environ.get(variable, "").strip()
        return self.parse(variable, text) if text else ABSENT

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
        return ABSENT


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
        return sasl or ABSENT


# --- checking one option ----------------------------------------------------------------


def check_endpoints(name: str, value: object) -> tuple[Endpoint, ...]:
    if value is None or value == ():
        return ()  # required unless Heroku mode fills them in; checked with the others
    return _parse_endpoints(value)


def check_topics(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, Iterable):
        raise ConfigError(f"{name}: expected a list of topic names, got {value!r}")
    return tuple(validate_topic_name(topic, option=name) for topic in value)


def check_strategy(name: str, value: object) -> str | PartitionStrategyFunction:
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


def check_acks(name: str, value: object) -> int:
    key = value.lower() if isinstance(value, str) else value
    if isinstance(key, str) and key.lstrip("-").isdigit():
        key = int(key)
    if isinstance(key, bool) or key not in _ACKS:
        raise ConfigError(f"{name}: {value!r} is not allowed; allowed: 'all' (or -1), 1, 0")
    return _ACKS[key]


def check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True or False, got {value!r}")
    return value


def check_optional_flag(name: str, value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected True, False or None, got {value!r}")
    return value


def _number(name: str, value: object, *, minimum: float, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ConfigError(f"{name}: expected a number >= {minimum:g}, got {value!r}")
    return float(value)


def at_least(minimum: float, *, allow_none: bool = False) -> Callable[[str, object], Any]:
    def check(name: str, value: object) -> float | None:
        return _number(name, value, minimum=minimum, allow_none=allow_none)

    return check


def check_serializers(name: str, value: object) -> SerializerSpec | None:
    return check_serializer(name, value)


def check_client_config(name: str, value: object) -> Mapping[str, Any]:
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


def check_ssl(name: str, value: object) -> SSLConfig | None:
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


def check_sasl(name: str, value: object) -> SASLConfig | None:
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


def check_client_id(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name}: expected a non-empty string")
    return value


def check_compression(name: str, value: object) -> str:
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


def check_transactional_id(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{name}: expected a non-empty string or None, got {value!r}")
    return value


def check_statistics_interval(name: str, value: object) -> float | None:
    low, high = _STATISTICS_INTERVAL_RANGE
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ConfigError(
            f"{name}: expected seconds from {low:g} to {high:g} (librdkafka reports at most "
            f"once a second), or None to turn statistics off; got {value!r}"
        )
    return float(value)


def check_on_statistics(name: str, value: object) -> Callable[[Statistics], object] | None:
    if value is not None and not callable(value):
        raise ConfigError(
            f"{name}: expected a function taking a kaffe.Statistics, or None; "
            f"got {type(value).__name__}"
        )
    return value


def check_observers(name: str, value: object) -> tuple[Observer, ...]:
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
OPTION_METADATA = "kaffe.option"


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
class Declaration:
    """What :func:`option_field` stores in a field's metadata; :class:`Option` adds the name."""

    meaning: str
    check: Callable[[str, Any], Any]
    env: EnvReader | None
    default_text: str | None


def option_field(
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
        metadata={OPTION_METADATA: Declaration(meaning, check, env, shown_default)},
    )


TEXT = EnvReader()
SSL_VARIABLES = _EnvSSL()
SASL_VARIABLES = _EnvSASL()
NUMBER = _EnvNumber()
NUMBER_OR_OFF = _EnvNumber(off=True)
FLAG = _EnvFlag()


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
