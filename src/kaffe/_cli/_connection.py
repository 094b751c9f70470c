"""
Where the broker-facing commands connect, and the admin client they read metadata with.

Brokers come from ``--endpoints``, else ``KAFFE_ENDPOINTS``, else ``--heroku``
(Heroku's ``KAFKA_URL`` and certificates). Everything else, TLS and SASL included,
comes from the ``KAFFE_*`` variables through :meth:`kaffe.ProducerConfig.from_env`,
so the command line connects exactly as ``kaffe.Producer.from_env()`` would.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools
import os
import time
from collections.abc import Callable
from typing import Any

import click
from confluent_kafka import KafkaError, KafkaException

import kaffe
from kaffe._config import DEFAULT_START_TIMEOUT
from kaffe._errors import translate_kafka_error
from kaffe._log import LibrdkafkaLog

__all__ = ["Admin", "Connection", "connection_options"]

#: librdkafka properties that only matter to a producer; the admin client leaves them out.
_PRODUCER_ONLY = frozenset(
    {"acks", "enable.idempotence", "delivery.timeout.ms", "linger.ms", "allow.auto.create.topics"}
)
#: Seconds between looks for a refused TLS handshake or SASL login while reading metadata.
_REFUSAL_CHECK_INTERVAL = 0.5
#: Values of ``KAFFE_HEROKU_KAFKA_ENV`` that turn Heroku mode on (as ``from_env`` reads it).
_TRUE = ("1", "true", "yes", "on")


@dataclasses.dataclass(frozen=True)
class Connection:
    """
    Where to connect: the options every broker-facing command shares.

    Attributes:
        endpoints: ``--endpoints``, or ``None``.
        heroku: ``--heroku``: connect with Heroku's ``KAFKA_*`` variables.
        timeout: ``--timeout``: seconds for connecting and reading metadata, or ``None``
            for ``KAFFE_START_TIMEOUT`` or the default.
    """

    endpoints: str | None = None
    heroku: bool = False
    timeout: float | None = None

    def config(self, **options: Any) -> kaffe.ProducerConfig:
        """
        Build the producer config: these options and ``options`` over ``KAFFE_*`` variables.

        Args:
            **options: More :class:`kaffe.ProducerConfig` options, such as ``topics``.

        Raises:
            click.UsageError: No broker was named anywhere, or both ``--endpoints``
                and ``--heroku`` were.
            kaffe.ConfigError: An option or variable is invalid.
        """
        environ = dict(os.environ)
        if self.heroku and self.endpoints:
            raise click.UsageError("--endpoints and --heroku exclude each other; give one")
        if self.heroku:
            options.update(heroku_kafka_env=True, endpoints=())
        elif self.endpoints:
            options.update(endpoints=self.endpoints, heroku_kafka_env=False)
        elif not environ.get("KAFFE_ENDPOINTS", "").strip() and (
            environ.get("KAFFE_HEROKU_KAFKA_ENV", "").strip().lower() not in _TRUE
        ):
            raise click.UsageError(
                "no brokers given: pass --endpoints HOST:PORT, set KAFFE_ENDPOINTS, "
                "or use --heroku to read KAFKA_URL"
            )
        if self.timeout is not None:
            options["start_timeout"] = self.timeout
        return kaffe.ProducerConfig.from_env(environ, **options)


_OPTIONS = (
    click.option(
        "--endpoints",
        "-e",
        metavar="HOST:PORT[,...]",
        help="Brokers to connect to. Default: $KAFFE_ENDPOINTS.",
    ),
    click.option(
        "--heroku",
        is_flag=True,
        help="Connect with Heroku's KAFKA_URL, KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT(_KEY) "
        "and KAFKA_PREFIX.",
    ),
    click.option(
        "--timeout",
        "-t",
        type=click.FloatRange(min=0.001),
        metavar="SECONDS",
        help="How long to wait for brokers and topic metadata. "
        f"Default: $KAFFE_START_TIMEOUT or {DEFAULT_START_TIMEOUT:g}.",
    ),
    click.option("--verbose", "-v", is_flag=True, help="Show client logs and error details."),
)


def connection_options(command: Callable[..., None]) -> Callable[..., None]:
    """
    Give a command ``--endpoints``, ``--heroku``, ``--timeout`` and ``--verbose``.

    The command receives the first three as one :class:`Connection`, ``connection``,
    and ``--verbose`` as ``verbose``. Apply it below the command's own options, so
    these come last in ``--help``.
    """

    @functools.wraps(command)
    def with_connection(
        *args: Any, endpoints: str | None, heroku: bool, timeout: float | None, **kwargs: Any
    ) -> None:
        command(*args, connection=Connection(endpoints, heroku, timeout), **kwargs)

    for option in reversed(_OPTIONS):
        with_connection = option(with_connection)
    return with_connection


class Admin:
    """
    An admin client for cluster metadata.

    Its errors are translated by :func:`kaffe._errors.translate_kafka_error`, and its
    log lines go to the ``kaffe.librdkafka`` logger with secrets masked.

    Args:
        config: Where and how to connect; ``start_timeout`` bounds every request.

    Raises:
        kaffe.ConfigError: librdkafka refused the configuration.
    """

    def __init__(self, config: kaffe.ProducerConfig) -> None:
        from confluent_kafka.admin import AdminClient  # not needed by kaffe produce

        self.config = config
        self._client_error: KafkaError | None = None
        properties = {
            key: value
            for key, value in config.librdkafka_properties().items()
            if key not in _PRODUCER_ONLY
        }
        properties["error_cb"] = self._on_error
        properties["logger"] = LibrdkafkaLog(config.secrets)
        try:
            self._client = AdminClient(properties)
        except KafkaException as error:
            raise translate_kafka_error(
                error.args[0], secrets=config.secrets, operation="create"
            ) from None

    def _on_error(self, error: KafkaError) -> None:
        self._client_error = error

    def metadata(self) -> Any:
        """
        Read the cluster's metadata: brokers, controller and topics.

        Returns:
            librdkafka's ``ClusterMetadata``.

        Raises:
            kaffe.BrokerUnavailableError: No broker answered within the timeout.
            kaffe.AuthenticationError: A broker refused the TLS handshake or SASL login;
                raised as soon as that is known.
        """
        deadline = time.monotonic() + self.config.start_timeout
        while True:
            # Short waits: librdkafka retries a refused login until the timeout, so
            # look between them for a refusal, which no amount of waiting fixes.
            wait = min(max(deadline - time.monotonic(), 0.001), _REFUSAL_CHECK_INTERVAL)
            try:
                return self._client.list_topics(timeout=wait)
            except KafkaException as error:
                failure = self._failed(error.args[0])
                if (
                    isinstance(failure, kaffe.AuthenticationError)
                    or not isinstance(failure, kaffe.BrokerUnavailableError)
                    or time.monotonic() >= deadline
                ):
                    raise failure from None

    def describe_cluster(self) -> Any:
        """
        Ask the cluster to describe itself: one round trip to a broker.

        Returns:
            librdkafka's ``DescribeClusterResult`` (``controller``, ``nodes``...).

        Raises:
            kaffe.BrokerUnavailableError: No broker answered within the timeout.
        """
        timeout = self.config.start_timeout
        try:
            return self._client.describe_cluster(request_timeout=timeout).result(
                timeout=timeout + 1
            )
        except KafkaException as error:
            raise self._failed(error.args[0]) from None
        except concurrent.futures.TimeoutError:
            raise kaffe.BrokerUnavailableError(
                f"the cluster did not describe itself within {timeout:g}s",
                reason="broker unavailable",
                retriable=True,
            ) from None

    def _failed(self, error: KafkaError) -> kaffe.KaffeError:
        """Translate a failed request, explained by the connection error seen meanwhile."""
        self._client.poll(0)  # serve error_cb, so the last connection error is current
        return translate_kafka_error(
            error,
            secrets=self.config.secrets,
            operation="request",
            endpoints=self.config.bootstrap_servers,
            timeout=self.config.start_timeout,
            client_error=self._client_error,
        )
