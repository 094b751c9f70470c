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
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Unpack

from ._errors import ConfigError
from ._heroku import read_heroku_env
from ._observers import Observer
from ._options import (
    ABSENT,
    COMPRESSION_CODECS,
    FLAG,
    NUMBER,
    NUMBER_OR_OFF,
    OPTION_METADATA,
    SASL_VARIABLES,
    SSL_VARIABLES,
    STRATEGY_NAMES,
    TEXT,
    Compression,
    Endpoint,
    Option,
    at_least,
    check_acks,
    check_client_config,
    check_client_id,
    check_compression,
    check_endpoints,
    check_flag,
    check_observers,
    check_on_statistics,
    check_optional_flag,
    check_sasl,
    check_serializers,
    check_ssl,
    check_statistics_interval,
    check_strategy,
    check_topics,
    check_transactional_id,
    option_field,
    validate_topic_name,
)
from ._security import OIDC, SASLConfig, SSLConfig, callable_name
from ._serialization import SerializerSpec
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
    "DEFAULT_RECONNECT_BACKOFF_MAX",
    "DEFAULT_REQUIRED_ACKS",
    "DEFAULT_START_TIMEOUT",
    "DEFAULT_TRANSACTION_TIMEOUT",
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
#: Seconds a transaction may stay open before the broker aborts it: librdkafka's
#: ``transaction.timeout.ms`` default, raised to ``delivery_timeout`` when that is longer
#: (librdkafka requires a transaction to outlast the delivery of its messages).
DEFAULT_TRANSACTION_TIMEOUT = 60.0
#: Seconds librdkafka waits at most before connecting again to a broker whose connection
#: failed (``reconnect.backoff.max.ms``), as the Java client does. librdkafka's own 10 s
#: (plus up to 50 % jitter) kept a broker unused for up to 15 s after a network fault
#: healed; a short wait costs a refused connection a second while a broker is down.
DEFAULT_RECONNECT_BACKOFF_MAX = 1.0

_SECRET_MARKERS = ("password", "secret", "key", "jaas", "token", "credential")


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

    endpoints: tuple[Endpoint, ...] = option_field(
        (),
        meaning='brokers: `"h1:9092,h2:9092"`, `["h1:9092"]`, `[("h1", 9092)]`, `"[::1]:9092"`',
        check=check_endpoints,
        env=TEXT,
        shown_default="— (required unless Heroku mode)",
    )
    topics: tuple[str, ...] = option_field(
        (),
        meaning="topics analysed at start-up (a comma list in the variable); the first is "
        "the default topic",
        check=check_topics,
        env=TEXT,
    )
    partition_strategy: str | PartitionStrategyFunction = option_field(
        DEFAULT_PARTITION_STRATEGY,
        meaning="`md5`, `murmur2`, `crc32`, `fnv1a`, `round_robin`, `random`, or a function",
        check=check_strategy,
        env=TEXT,
    )
    required_acks: int = option_field(  # "all" is normalised to -1
        -1,
        meaning='`"all"` (= `-1`), `1` or `0`',
        check=check_acks,
        env=TEXT,
        shown_default='`"all"`',
    )
    idempotence: bool | None = option_field(
        None,
        meaning="librdkafka's idempotent producer: no duplicates from retries, order kept",
        check=check_optional_flag,
        env=FLAG,
        shown_default="on when acks are `all` (required by `transactional_id`)",
    )
    delivery_timeout: float = option_field(
        DEFAULT_DELIVERY_TIMEOUT,
        meaning="how long librdkafka may try (retries included) before a message fails",
        check=at_least(0.001),
        env=NUMBER,
        shown_default=f"`{DEFAULT_DELIVERY_TIMEOUT}` s",
    )
    start_timeout: float = option_field(
        DEFAULT_START_TIMEOUT,
        meaning="how long start-up (connect + topic analysis) may take",
        check=at_least(0.001),
        env=NUMBER,
        shown_default=f"`{DEFAULT_START_TIMEOUT}` s",
    )
    linger_ms: float = option_field(
        DEFAULT_LINGER_MS,
        meaning="librdkafka `linger.ms`; a waiting caller never waits for it",
        check=at_least(0),
        env=NUMBER,
        shown_default=f"`{DEFAULT_LINGER_MS:g}`",
    )
    queue_full_timeout: float = option_field(
        DEFAULT_QUEUE_FULL_TIMEOUT,
        meaning="how long a call waits for room when librdkafka's local queue is full",
        check=at_least(0),
        env=NUMBER,
        shown_default=f"`{DEFAULT_QUEUE_FULL_TIMEOUT}` s",
    )
    metadata_refresh_interval: float | None = option_field(
        DEFAULT_METADATA_REFRESH_INTERVAL,
        meaning="how often partition counts are re-read (`None`, or `off` in the variable, "
        "turns it off)",
        check=at_least(0.1, allow_none=True),
        env=NUMBER_OR_OFF,
        shown_default=f"`{DEFAULT_METADATA_REFRESH_INTERVAL}` s",
    )
    allow_topic_auto_creation: bool = option_field(
        False,
        meaning="let the broker create unknown topics on first use",
        check=check_flag,
        env=FLAG,
    )
    key_serializer: SerializerSpec | None = option_field(
        None,
        meaning="turns keys of other types into bytes: a function, a confluent-kafka "
        "`Serializer` (Avro, JSON Schema, Protobuf), or `{topic: serializer}`; "
        "`None` keys are never serialized",
        check=check_serializers,
    )
    value_serializer: SerializerSpec | None = option_field(
        None,
        meaning="the same for values; `None` values stay tombstones",
        check=check_serializers,
    )
    client_config: Mapping[str, Any] = option_field(
        meaning="extra librdkafka properties (copied, never changed); properties kaffe "
        "manages are refused with the option to use instead",
        check=check_client_config,
        default_factory=dict,
        shown_default="`{}`",
    )
    ssl: SSLConfig | None = option_field(
        None,
        meaning="`kaffe.SSLConfig(ca, cert, key, key_password, verify_hostname=True)`, a dict "
        "of those, or `True`",
        check=check_ssl,
        env=SSL_VARIABLES,
    )
    sasl: SASLConfig | None = option_field(
        None,
        meaning="`kaffe.SASLConfig(mechanism, ...)` or a dict: `PLAIN`, `SCRAM-SHA-256`, "
        "`SCRAM-SHA-512` (user name and password), `OAUTHBEARER` (`token_provider=` or "
        "`oidc=kaffe.OIDC(...)`), `GSSAPI` (Kerberos)",
        check=check_sasl,
        env=SASL_VARIABLES,
    )
    heroku_kafka_env: bool = option_field(
        False,
        meaning="take endpoints and TLS from `KAFKA_URL`, `KAFKA_TRUSTED_CERT`, "
        "`KAFKA_CLIENT_CERT`, `KAFKA_CLIENT_CERT_KEY`",
        check=check_flag,
        env=FLAG,
    )
    use_heroku_prefix: bool = option_field(
        True,
        meaning="in Heroku mode, prepend `KAFKA_PREFIX` to topic names",
        check=check_flag,
        env=FLAG,
    )
    client_id: str = option_field(
        DEFAULT_CLIENT_ID,
        meaning="librdkafka `client.id`",
        check=check_client_id,
        env=TEXT,
    )
    compression: Compression = option_field(
        DEFAULT_COMPRESSION,
        meaning='`"none"`, `"gzip"`, `"snappy"`, `"lz4"` or `"zstd"`: librdkafka '
        "`compression.codec`, applied to each batch",
        check=check_compression,
        env=TEXT,
    )
    transactional_id: str | None = option_field(
        None,
        meaning="librdkafka `transactional.id`: makes the producer transactional "
        "(initialised at start-up); needs idempotence",
        check=check_transactional_id,
        env=TEXT,
    )
    statistics_interval: float | None = option_field(
        None,
        meaning="seconds between librdkafka statistics snapshots (1-86400; `None`, or `off` "
        "in the variable, turns them off)",
        check=check_statistics_interval,
        env=NUMBER_OR_OFF,
        shown_default="`None` (off)",
    )
    on_statistics: Callable[[Statistics], object] | None = option_field(
        None,
        meaning="a function called with each `kaffe.Statistics` snapshot",
        check=check_on_statistics,
    )
    observers: tuple[Observer, ...] = option_field(
        (),
        meaning="objects with `on_send`, `on_outcome` and `on_statistics` (`kaffe.Observer`), "
        "told of every message sent and every outcome",
        check=check_observers,
    )
    environ: Mapping[str, str] | None = dataclasses.field(default=None, repr=False, compare=False)
    #: ``KAFKA_PREFIX`` when Heroku mode applies it, else ``""``. Derived, not an option.
    topic_prefix: str = dataclasses.field(default="", init=False)

    if TYPE_CHECKING:  # the constructor accepts the input shapes of ProducerOptions

        def __init__(self, **options: Unpack[ProducerOptions]) -> None: ...

    def __post_init__(self) -> None:
        for flag in ("heroku_kafka_env", "use_heroku_prefix"):
            self._set(flag, check_flag(flag, getattr(self, flag)))
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
            "reconnect.backoff.max.ms": self._reconnect_backoff_max_ms(),
        }
        if self.transactional_id is not None:
            properties["transactional.id"] = self.transactional_id
            properties["transaction.timeout.ms"] = max(
                int(DEFAULT_TRANSACTION_TIMEOUT * 1000), properties["delivery.timeout.ms"]
            )
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

    def _reconnect_backoff_max_ms(self) -> int:
        """Kaffe's ``reconnect.backoff.max.ms``: at least any ``reconnect.backoff.ms`` given."""
        longest = round(DEFAULT_RECONNECT_BACKOFF_MAX * 1000)
        with contextlib.suppress(TypeError, ValueError):
            longest = max(longest, int(self.client_config.get("reconnect.backoff.ms", 0)))
        return longest

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
        declaration = field.metadata.get(OPTION_METADATA)
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
            if value is not ABSENT:
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
