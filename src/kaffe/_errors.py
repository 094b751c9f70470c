"""
The kaffe exception tree.

Every error kaffe raises on purpose is a :class:`KaffeError`. Errors that come
from a caller's own mistake also subclass the matching built-in, so both
``except kaffe.KaffeError`` and ``except TypeError`` / ``except ValueError``
work::

    KaffeError
    ├── ConfigError (ValueError)            bad option, found when config is built
    ├── BrokerUnavailableError              no broker answered in time
    │   └── AuthenticationError             TLS handshake or SASL login refused
    ├── AuthorizationError                  the broker's ACLs refused the client
    ├── UnknownTopicError                   the topic does not exist
    ├── InvalidTopicError (ValueError)      the topic name can never be valid
    ├── InvalidPartitionError (ValueError)  partition outside 0..partitions_count-1
    ├── PartitionStrategyError (ValueError) the strategy could not place a message
    ├── MessageTypeError (TypeError)        key, value or header of a wrong type
    ├── SerializationError                  a configured serializer raised
    ├── ProduceError                        the broker did not take the message
    │   ├── DeliveryTimeoutError            not acknowledged within delivery_timeout
    │   ├── MessageTooLargeError            larger than the broker or client allows
    │   └── QueueFullError                  the local queue stayed full too long
    ├── BatchProduceError                   some messages of a batch failed
    ├── UndeliveredMessagesError            close() could not deliver everything
    ├── ProducerClosedError (RuntimeError)  the producer was closed
    │   └── ProducerForkedError             a transactional producer used after fork()
    └── TransactionError                    a transactional call failed: retriable, abortable, fatal
        ├── TransactionStateError (RuntimeError)  not now: nested, outside one, not transactional
        ├── TransactionAbortedError         the transaction was aborted; none of it is visible
        ├── InvalidOffsetsError (ValueError)  offsets not as a Consumer gives them
        └── ProducerFencedError             a newer producer took over the transactional_id

librdkafka's :class:`confluent_kafka.KafkaError` codes are translated to this tree
in exactly one place: :func:`translate_kafka_error` for messages and requests, and
:func:`translate_transaction_error` for the transactional calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from confluent_kafka import KafkaError

if TYPE_CHECKING:
    from ._types import Delivery

__all__ = [
    "AuthenticationError",
    "AuthorizationError",
    "BatchProduceError",
    "BrokerUnavailableError",
    "ConfigError",
    "DeliveryTimeoutError",
    "InvalidOffsetsError",
    "InvalidPartitionError",
    "InvalidTopicError",
    "KaffeError",
    "MessageTooLargeError",
    "MessageTypeError",
    "PartitionStrategyError",
    "ProduceError",
    "ProducerClosedError",
    "ProducerFencedError",
    "ProducerForkedError",
    "QueueFullError",
    "SerializationError",
    "TransactionAbortedError",
    "TransactionError",
    "TransactionStateError",
    "UndeliveredMessagesError",
    "UnknownTopicError",
    "is_connection_failure",
    "is_fatal",
    "is_metadata_timeout",
    "is_queue_full",
    "is_unknown_topic",
    "is_worth_a_warning",
    "means_metadata_changed",
    "means_purged",
    "means_topic_settling",
    "redact",
    "translate_kafka_error",
    "translate_transaction_error",
]

_REDACTED = "***"
#: A PEM block (certificate or key), or the start of one cut off by the end of the text.
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL)


class KaffeError(Exception):
    """
    Root of every error kaffe raises, so one ``except`` catches them all.

    Attributes:
        topic: The topic involved, when there is one.
        partition: The partition involved, when known.
        reason: A short machine-friendly reason, such as ``"timed out"``.
        retriable: True when trying the same operation again may succeed.
        code: The librdkafka error code name this was translated from, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        reason: str | None = None,
        retriable: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.topic = topic
        self.partition = partition
        self.reason = reason
        self.retriable = retriable
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[KaffeError], message: str, state: dict[str, Any]) -> KaffeError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigError(KaffeError, ValueError):
    """An option is missing, malformed or not allowed; raised before any I/O happens."""


class BrokerUnavailableError(KaffeError):
    """No broker of the configured endpoints answered in time, so nothing could be done."""


class AuthenticationError(BrokerUnavailableError):
    """The broker refused the TLS handshake or the SASL login, so the client cannot connect."""


class AuthorizationError(KaffeError):
    """The broker's ACLs refuse this client the operation; retrying will not help."""


class UnknownTopicError(KaffeError):
    """The topic does not exist and kaffe does not create topics unless told to."""


class InvalidTopicError(KaffeError, ValueError):
    """The topic name breaks Kafka's naming rules, so no broker could ever accept it."""


class InvalidPartitionError(KaffeError, ValueError):
    """
    The partition is outside ``0..partitions_count-1`` for its topic.

    Attributes:
        partitions_count: How many partitions the topic has.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        partitions_count: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message, topic=topic, partition=partition, reason="invalid partition", code=code
        )
        self.partitions_count = partitions_count


class PartitionStrategyError(KaffeError, ValueError):
    """The partition strategy could not place the message (it raised, or got a key it refuses)."""


class MessageTypeError(KaffeError, TypeError):
    """A key, value or header has a type kaffe cannot send without a serializer."""


class SerializationError(KaffeError):
    """A configured key or value serializer raised; the message was not sent."""


class ProduceError(KaffeError):
    """The message was handed to the client but the cluster did not acknowledge it."""


class DeliveryTimeoutError(ProduceError):
    """
    No acknowledgement arrived within ``delivery_timeout``; the cluster may be down.

    Not acknowledged is not the same as not stored: a message whose acknowledgement
    was lost on the way back times out too, so the message may be in the log.
    """


class MessageTooLargeError(ProduceError):
    """The message is larger than the broker's or the client's ``message.max.bytes``."""


class QueueFullError(ProduceError):
    """The local send queue stayed full for the whole bounded wait; the cluster is too slow."""


class BatchProduceError(KaffeError):
    """
    Some messages of a batch were not acknowledged, so the batch is partial.

    Attributes:
        deliveries: One entry per input message, in input order: the
            :class:`~kaffe.Delivery` of a delivered message, or ``None``.
        errors: One entry per input message, in input order: the
            :class:`KaffeError` of a failed message, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None,
        deliveries: Sequence[Delivery | None],
        errors: Sequence[KaffeError | None],
    ) -> None:
        first = next((error for error in errors if error is not None), None)
        super().__init__(
            message,
            topic=topic,
            reason=first.reason if first is not None else None,
            retriable=all(error.retriable for error in errors if error is not None),
        )
        self.deliveries = list(deliveries)
        self.errors = list(errors)

    @property
    def delivered(self) -> list[int]:
        """Indexes of the input messages that were acknowledged."""
        return [index for index, delivery in enumerate(self.deliveries) if delivery is not None]

    @property
    def failed(self) -> list[int]:
        """Indexes of the input messages that were not acknowledged."""
        return [index for index, error in enumerate(self.errors) if error is not None]


class UndeliveredMessagesError(KaffeError):
    """
    ``close()`` ran out of time with messages still unacknowledged; they were dropped.

    Attributes:
        undelivered: How many messages were still queued or in flight.
    """

    def __init__(self, message: str, *, undelivered: int) -> None:
        super().__init__(message, reason="undelivered at close", retriable=False)
        self.undelivered = undelivered


class ProducerClosedError(KaffeError, RuntimeError):
    """The producer was closed; create a new one to produce again."""


class ProducerForkedError(ProducerClosedError):
    """
    A transactional producer was created in a parent process, so it cannot work in this one.

    A plain producer re-opens itself after ``fork()``, but a transactional one would
    fence its sibling processes, which share its ``transactional_id``: create it after
    forking, one per process, each with its own ``transactional_id``.
    """


class TransactionError(KaffeError):
    """
    A transactional call failed; its flags say what can be done about it.

    Attributes:
        abortable: True when the transaction can no longer commit but the producer
            can go on: abort it, then run the whole transaction again.
        fatal: True when the producer can do nothing more: close it and create a
            new one.
    """

    def __init__(
        self,
        message: str,
        *,
        topic: str | None = None,
        partition: int | None = None,
        reason: str | None = None,
        retriable: bool = False,
        abortable: bool = False,
        fatal: bool = False,
        code: str | None = None,
    ) -> None:
        super().__init__(
            message,
            topic=topic,
            partition=partition,
            reason=reason,
            retriable=retriable,
            code=code,
        )
        self.abortable = abortable
        self.fatal = fatal


class TransactionStateError(TransactionError, RuntimeError):
    """The call does not fit the producer's transaction state, so it was not attempted."""


class TransactionAbortedError(TransactionError):
    """The transaction was aborted, so nothing produced in it will ever be visible to readers."""


class InvalidOffsetsError(TransactionError, ValueError):
    """The offsets or group metadata are not what confluent-kafka's ``Consumer`` gives."""


class ProducerFencedError(TransactionError):
    """
    A newer producer with the same ``transactional_id`` took over, so this one can do nothing more.

    The broker accepts transactions from the newest producer of a ``transactional_id``
    only. kaffe closes a fenced producer; every later call raises this error again.
    """


# --- translation of librdkafka errors: the one place --------------------------------

_TIMEOUT_CODES = frozenset(
    {
        KafkaError._MSG_TIMED_OUT,
        KafkaError._TIMED_OUT,
        KafkaError._TIMED_OUT_QUEUE,
        KafkaError.REQUEST_TIMED_OUT,
    }
)
_TOO_LARGE_CODES = frozenset(
    {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.INVALID_MSG_SIZE}
)
_UNREACHABLE_CODES = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._RESOLVE,
        KafkaError.BROKER_NOT_AVAILABLE,
        KafkaError.NETWORK_EXCEPTION,
    }
)
_AUTHENTICATION_CODES = frozenset(
    {
        KafkaError._SSL,
        KafkaError._AUTHENTICATION,
        KafkaError.SASL_AUTHENTICATION_FAILED,
        KafkaError.ILLEGAL_SASL_STATE,
        KafkaError.UNSUPPORTED_SASL_MECHANISM,
    }
)
_AUTHORIZATION_CODES = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
#: Failures of a request to the cluster (metadata, a description) that mean no broker
#: answered it.
_UNANSWERED_CODES = _TIMEOUT_CODES | {KafkaError._TRANSPORT}
_UNKNOWN_TOPIC_CODES = frozenset({KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART})
_PURGED_CODES = frozenset({KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT})
#: TLS alerts (RFC 8446 section 6.2) a broker sends when it refuses the client's
#: certificate: bad_certificate, unsupported_certificate, certificate_revoked,
#: certificate_expired, certificate_unknown, unknown_ca, access_denied,
#: certificate_required. With TLS 1.3 the client learns of the refusal only on its
#: first read, so librdkafka reports it as a _TRANSPORT error that quotes the alert.
_TLS_REFUSAL = re.compile(r"SSL alert number (?:4[2-689]|116)\b")
#: Broker errors that go away by themselves (leader moves, replicas catching up).
_RETRIABLE_CODES = frozenset(
    {
        KafkaError.NOT_ENOUGH_REPLICAS,
        KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
        KafkaError.KAFKA_STORAGE_ERROR,
        KafkaError.FENCED_LEADER_EPOCH,
        KafkaError.UNKNOWN_LEADER_EPOCH,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.THROTTLING_QUOTA_EXCEEDED,
    }
)


#: Metadata errors of a topic that is still being created or is electing leaders.
_SETTLING_CODES = frozenset(
    {KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC}
)
#: Delivery errors that mean kaffe's partition counts are out of date.
_METADATA_CHANGED_CODES = frozenset(
    {KafkaError._UNKNOWN_PARTITION, KafkaError.UNKNOWN_TOPIC_OR_PART}
)
_CONNECTION_FAILURE_CODES = frozenset({KafkaError._TIMED_OUT, KafkaError._TRANSPORT})
#: A newer producer with the same transactional.id took over: librdkafka reports
#: _FENCED to the transactional calls, the broker's codes to the delivery reports.
_FENCED_CODES = frozenset(
    {KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
)
#: Another transactional call is under way on the same producer.
_CALL_CONFLICT_CODES = frozenset({KafkaError._CONFLICT, KafkaError._PREV_IN_PROGRESS})


def is_unknown_topic(error: KafkaError) -> bool:
    """True when ``error`` says the topic does not exist."""
    return error.code() in _UNKNOWN_TOPIC_CODES


def means_topic_settling(error: KafkaError) -> bool:
    """True when a topic's metadata error goes away by itself (creation, leader election)."""
    return error.code() in _SETTLING_CODES


def means_metadata_changed(error: KafkaError) -> bool:
    """True when a delivery error means the topic's partition count changed."""
    return error.code() in _METADATA_CHANGED_CODES


def means_purged(error: KafkaError) -> bool:
    """True when a delivery error means the message was purged (dropped undelivered)."""
    return error.code() in _PURGED_CODES


def is_metadata_timeout(error: KafkaError) -> bool:
    """True when a metadata request merely ran out of time."""
    return error.code() == KafkaError._TIMED_OUT


def is_connection_failure(error: KafkaError) -> bool:
    """True when ``error`` says no broker could be reached (timeout or transport failure)."""
    return error.code() in _CONNECTION_FAILURE_CODES


def is_queue_full(error: KafkaError) -> bool:
    """True when librdkafka refused a message because its local queue is full."""
    return error.code() == KafkaError._QUEUE_FULL


def is_fatal(error: KafkaError) -> bool:
    """True when ``error`` is librdkafka's fatal error: the producer can do nothing more."""
    return bool(error.fatal())


def is_worth_a_warning(error: KafkaError) -> bool:
    """True for client errors an application should hear of: all brokers down, or fatal."""
    return error.code() == KafkaError._ALL_BROKERS_DOWN or bool(error.fatal())


def redact(text: str, secrets: Iterable[str]) -> str:
    """
    Mask each secret in ``text`` with ``***``, and every PEM block with ``<pem>``.

    PEM blocks go whatever they hold: librdkafka's configuration dump (``debug``)
    prints ``ssl.certificate.pem`` in full, and certificate bodies are not shown either.

    Args:
        text: A message that may quote configuration.
        secrets: Secret strings (passwords, key bodies) that must never be shown.

    Returns:
        The text with secrets masked.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    if "-----BEGIN " in text:
        text = _PEM_BLOCK.sub("<pem>", text)
    return text


def translate_kafka_error(
    error: KafkaError,
    *,
    topic: str | None = None,
    partition: int | None = None,
    secrets: Iterable[str] = (),
    operation: Literal["produce", "create", "request"] = "produce",
    endpoints: str | None = None,
    timeout: float | None = None,
    client_error: KafkaError | None = None,
    purged_by: Literal["close", "abort", "fenced", "timeout"] = "close",
) -> KaffeError:
    """
    Translate a librdkafka error into the matching :class:`KaffeError`.

    This is the only place librdkafka error codes are interpreted.

    Args:
        error: The error librdkafka reported.
        topic: The topic the operation was about, if any.
        partition: The partition the operation was about, if any.
        secrets: Strings to mask in the message.
        operation: What failed. ``"produce"``: producing or delivering a message.
            ``"create"``: creating a librdkafka client, which fails only on its
            configuration (:class:`ConfigError`). ``"request"``: a request to the
            cluster, such as reading metadata; a timeout then means no broker answered
            (:class:`BrokerUnavailableError`), not that a message went unacknowledged.
        endpoints: ``"request"``: the brokers asked, for the message.
        timeout: ``"request"``: the seconds the request was given, for the message.
        client_error: ``"request"``: the last error the client reported through its
            ``error_cb``. When the request timed out or lost its connection and this
            error explains why no broker answered (a refused connection, a failed
            login), its translation is returned instead.
        purged_by: What purges messages now: ``"close"`` (closing the producer),
            ``"abort"`` (aborting its transaction: a purged message fails with
            :class:`TransactionAbortedError`) or ``"fenced"`` (a newer producer took
            over: :class:`ProducerFencedError`) or ``"timeout"`` (the producer gave up
            waiting for the outcome: :class:`DeliveryTimeoutError`).

    Returns:
        A :class:`KaffeError` subclass instance, not raised.
    """
    code = error.code()
    code_name = error.name()
    detail = redact(error.str(), secrets)
    where = _where(topic, partition)
    common: dict[str, Any] = {"topic": topic, "partition": partition, "code": code_name}
    if operation == "create":
        return ConfigError(
            f"librdkafka rejected the configuration: {detail}", reason="invalid option", **common
        )
    if (
        operation == "request"
        and code in _UNANSWERED_CODES
        and not (code == KafkaError._TRANSPORT and _TLS_REFUSAL.search(detail))
    ):
        if client_error is not None:
            explained = translate_kafka_error(
                client_error, topic=topic, partition=partition, secrets=secrets
            )
            if isinstance(explained, BrokerUnavailableError):
                return explained
        brokers = f" of {endpoints}" if endpoints else ""
        within = f"within {timeout:g}s" if timeout is not None else "in time"
        return BrokerUnavailableError(
            f"no broker{brokers} answered {within}{where} ({detail})",
            reason="broker unavailable",
            retriable=True,
            **common,
        )
    if code in _TIMEOUT_CODES:
        # confluent-kafka does not pass on librdkafka's persistence status, and a message
        # sent before its acknowledgement was lost times out like one never sent.
        return DeliveryTimeoutError(
            f"not acknowledged in time{where}: {detail}; the cluster may have stored it all "
            "the same (its acknowledgement may be what was lost), so producing it again may "
            "store it twice",
            reason="timed out",
            retriable=True,
            **common,
        )
    if code in _TOO_LARGE_CODES:
        return MessageTooLargeError(
            f"message too large{where}: {detail} (see the broker's message.max.bytes)",
            reason="message too large",
            **common,
        )
    if code == KafkaError._QUEUE_FULL:
        return QueueFullError(
            f"local queue full{where}: {detail}", reason="queue full", retriable=True, **common
        )
    if code in _UNKNOWN_TOPIC_CODES:
        return UnknownTopicError(
            f"unknown topic {topic!r}: {detail}", reason="unknown topic", **common
        )
    if code == KafkaError._UNKNOWN_PARTITION:
        return InvalidPartitionError(
            f"unknown partition{where}: {detail}", topic=topic, partition=partition, code=code_name
        )
    if code == KafkaError.TOPIC_EXCEPTION:
        return InvalidTopicError(
            f"invalid topic {topic!r}: {detail}", reason="invalid topic", **common
        )
    if code in _AUTHENTICATION_CODES:
        return AuthenticationError(
            f"authentication failed: {detail}", reason="authentication failed", **common
        )
    if code == KafkaError._TRANSPORT and _TLS_REFUSAL.search(detail):
        return AuthenticationError(
            f"authentication failed: the broker refused the client certificate: {detail}",
            reason="authentication failed",
            **common,
        )
    if code in _AUTHORIZATION_CODES:
        return AuthorizationError(
            f"not authorized{where}: {detail}", reason="not authorized", **common
        )
    if code in _UNREACHABLE_CODES:
        return BrokerUnavailableError(
            f"broker unavailable{where}: {detail}",
            reason="broker unavailable",
            retriable=True,
            **common,
        )
    if code in _FENCED_CODES:
        return _fenced(detail, common)
    if code == KafkaError._STATE:
        return TransactionStateError(
            "a transactional producer sends only inside a transaction: produce within "
            f"'with producer.transaction():'{where} (librdkafka: {detail})",
            reason="outside a transaction",
            **common,
        )
    if code in _PURGED_CODES and purged_by == "fenced":
        return _fenced(f"message dropped before delivery{where}", common)
    if code in _PURGED_CODES and purged_by == "abort":
        return TransactionAbortedError(
            f"the transaction was aborted before the broker acknowledged the message{where}; "
            "it will never be visible to read_committed consumers",
            reason="transaction aborted",
            **common,
        )
    if code in _PURGED_CODES and purged_by == "timeout":
        stored = (
            ", so the broker may still have stored it"
            if code == KafkaError._PURGE_INFLIGHT
            else "; it was still queued"
        )
        return DeliveryTimeoutError(
            f"no outcome within the delivery timeout{where}: the producer gave up on the "
            f"message{stored}",
            reason="timed out",
            retriable=True,
            **common,
        )
    if code == KafkaError._PURGE_INFLIGHT:
        return ProduceError(
            f"not acknowledged{where}: the producer was closed while the message was in "
            "flight, so the broker may still have stored it",
            reason="purged at close",
            **common,
        )
    if code in _PURGED_CODES:
        return ProduceError(
            f"message dropped before delivery{where}: the producer was closed",
            reason="purged at close",
            **common,
        )
    if code == KafkaError._FATAL or error.fatal():
        return ProduceError(
            f"the producer hit a fatal error and can deliver nothing more{where}: {detail}; "
            "close it and create a new producer",
            reason="fatal error",
            **common,
        )
    if code == KafkaError._INVALID_ARG:
        return ConfigError(
            f"invalid argument{where}: {detail}", reason="invalid argument", **common
        )
    reason = detail.lower() if detail else code_name.lower()
    return ProduceError(
        f"produce failed{where}: {code_name}: {detail}",
        reason=reason,
        retriable=bool(error.retriable()) or code in _RETRIABLE_CODES,
        **common,
    )


def _where(topic: str | None, partition: int | None) -> str:
    if topic is None:
        return ""
    if partition is None:
        return f" for topic {topic!r}"
    return f" for topic {topic!r} partition {partition}"


def translate_transaction_error(
    error: KafkaError, call: str, *, secrets: Iterable[str] = ()
) -> TransactionError:
    """
    Translate the failure of one of librdkafka's transactional calls.

    The flags are librdkafka's own: ``retriable`` (the same call may succeed when
    made again), ``abortable`` (``txn_requires_abort()``: the transaction can only
    be aborted, then run again) and ``fatal`` (the producer can do nothing more).

    Args:
        error: The error librdkafka reported.
        call: The call that failed, such as ``"commit_transaction"``, for the message.
        secrets: Strings to mask in the message.

    Returns:
        A :class:`TransactionError` subclass instance, not raised.
    """
    code = error.code()
    detail = redact(error.str(), secrets)
    common: dict[str, Any] = {"code": error.name()}
    if code in _FENCED_CODES:
        return _fenced(detail, common)
    if code in _CALL_CONFLICT_CODES:
        return TransactionStateError(
            f"{call}: another transactional call is under way on this producer ({detail})",
            reason="call in progress",
            retriable=True,
            **common,
        )
    if code == KafkaError._STATE:
        return TransactionStateError(
            f"{call} is not allowed in the producer's transaction state ({detail})",
            reason="wrong transaction state",
            **common,
        )
    if code == KafkaError._NOT_CONFIGURED:
        return TransactionStateError(
            f"{call}: the producer is not transactional; create it with transactional_id=...",
            reason="not transactional",
            **common,
        )
    if code == KafkaError._INVALID_ARG:
        return InvalidOffsetsError(
            f"{call}: librdkafka refused the arguments: {detail}",
            reason="invalid argument",
            **common,
        )
    fatal = bool(error.fatal())
    abortable = not fatal and bool(error.txn_requires_abort())
    retriable = not fatal and not abortable and bool(error.retriable())
    if fatal:
        reason, advice = "fatal error", "the producer can do nothing more: create a new one"
    elif abortable:
        reason, advice = "abortable error", "the transaction can only be aborted and run again"
    elif code in _TIMEOUT_CODES:
        reason, advice = "timed out", "the call may finish when made again"
    elif code in _AUTHORIZATION_CODES:
        reason, advice = "not authorized", "the broker's ACLs refuse it"
    else:
        reason = detail.lower() if detail else error.name().lower()
        advice = "the call may succeed when made again" if retriable else ""
    return TransactionError(
        f"{call} failed: {detail}" + (f"; {advice}" if advice else ""),
        reason=reason,
        retriable=retriable or code in _TIMEOUT_CODES,
        abortable=abortable,
        fatal=fatal,
        **common,
    )


def _fenced(detail: str, common: dict[str, Any]) -> ProducerFencedError:
    return ProducerFencedError(
        "the producer was fenced: a newer producer with the same transactional_id started, "
        "and the broker accepts transactions from the newest only; this one can do nothing "
        f"more, so create a new producer ({detail})",
        reason="fenced",
        fatal=True,
        **common,
    )
