"""
Key and value serializers: the forms ``key_serializer`` / ``value_serializer`` take.

A serializer is one of:

- a function ``fn(obj) -> bytes | str | None``;
- a ``confluent_kafka.serialization.Serializer`` (``AvroSerializer``,
  ``JSONSerializer``, ``ProtobufSerializer``, ``StringSerializer``, ...), called with
  a ``SerializationContext(topic, field, headers)`` whose ``headers`` is the
  message's own header list, so a serializer may add headers (a schema id);
- a mapping ``{topic: serializer}`` of either form (or ``None``), per topic.

:func:`check_serializer` validates the option when the config is built;
:func:`build_encoder` turns it into the :class:`Encoder` the producer calls for
every message. A ``None`` key or value is never serialized: it stays ``None`` (a
tombstone value, or no key).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Literal, Protocol, Union

from confluent_kafka.serialization import MessageField, SerializationContext, Serializer

from ._errors import ConfigError, MessageTypeError, SerializationError
from ._security import callable_name

__all__ = [
    "Encoder",
    "SerializeFunction",
    "SerializerSpec",
    "build_encoder",
    "check_serializer",
]

#: A plain serializer: the key or value in, ``bytes`` or ``str`` (sent as UTF-8) out.
SerializeFunction = Callable[[Any], Union[bytes, str, None]]  # noqa: UP007 - run-time alias
#: What ``key_serializer`` / ``value_serializer`` accept: a function, a
#: ``confluent_kafka.serialization.Serializer``, or a mapping of topic to either.
SerializerSpec = Union[  # noqa: UP007 - an alias evaluated at run time on Python 3.10
    SerializeFunction,
    Serializer,
    Mapping[str, Union[SerializeFunction, Serializer, None]],  # noqa: UP007
]
Field = Literal["key", "value"]

_FIELDS: dict[str, Any] = {"key": MessageField.KEY, "value": MessageField.VALUE}


class Encoder(Protocol):
    """
    Turns one key or value into what librdkafka sends.

    Attributes:
        needs_headers: True when a serializer receives the message's header list (and
            may add to it). The producer then always passes a list, empty when the
            message has no headers, and sends what the list holds afterwards.
        serializes: False when no serializer is configured, so bytes, str and
            ``None`` pass through unchanged and a producer may skip the call.
    """

    needs_headers: bool
    serializes: bool

    def __call__(
        self, data: Any, topic: str, headers: list[tuple[str, Any]] | None
    ) -> bytes | str | None:
        """
        Encode ``data`` for ``topic``.

        Args:
            data: The key or value as the caller gave it.
            topic: The broker-side topic name (with any Heroku prefix).
            headers: The message's header list; a list whenever ``needs_headers``.

        Returns:
            ``bytes``, ``str`` (sent as UTF-8) or ``None``.

        Raises:
            SerializationError: The serializer raised; ``__cause__`` is its exception.
            MessageTypeError: The data (without a serializer), or what the serializer
                returned, is not bytes, str or None.
        """
        ...


def check_serializer(option: str, spec: object) -> SerializerSpec | None:
    """
    Validate a ``key_serializer`` / ``value_serializer`` option.

    Args:
        option: ``"key_serializer"`` or ``"value_serializer"``, for errors.
        spec: The option's value.

    Returns:
        The option, with a mapping copied into a read-only mapping.

    Raises:
        ConfigError: Not a serializer, or a mapping with a bad topic or serializer.
    """
    from ._config import validate_topic_name  # the config module imports this one

    _refuse_asynchronous(option, spec)
    if spec is None or _is_single(spec):
        return spec  # type: ignore[return-value]
    if isinstance(spec, Mapping):
        copied: dict[str, Any] = {}
        for topic, serializer in spec.items():
            try:
                validate_topic_name(topic, option=f"{option} topic")
            except (TypeError, ValueError) as error:
                raise ConfigError(str(error), reason="invalid topic") from None
            _refuse_asynchronous(f"{option}[{topic!r}]", serializer)
            if serializer is not None and not _is_single(serializer):
                raise ConfigError(
                    f"{option}[{topic!r}]: expected a function returning bytes or str, a "
                    f"confluent_kafka.serialization.Serializer or None, got "
                    f"{type(serializer).__name__}"
                )
            copied[topic] = serializer
        return MappingProxyType(copied)
    raise ConfigError(
        f"{option}: expected a function returning bytes or str, a "
        "confluent_kafka.serialization.Serializer, a mapping of topic to either, or None; "
        f"got {type(spec).__name__}"
    )


def _refuse_asynchronous(option: str, spec: object) -> None:
    call = None if inspect.isfunction(spec) else vars(type(spec)).get("__call__")
    for cls in type(spec).__mro__ if call is None and not inspect.isfunction(spec) else ():
        call = vars(cls).get("__call__")
        if call is not None:
            break
    if inspect.iscoroutinefunction(spec) or inspect.iscoroutinefunction(call):
        raise ConfigError(
            f"{option}: asynchronous serializers ({callable_name(spec)}) are not supported; "
            "use the synchronous one (AvroSerializer rather than AsyncAvroSerializer)"
        )


def _is_single(spec: object) -> bool:
    return isinstance(spec, Serializer) or (callable(spec) and not isinstance(spec, type))


def build_encoder(spec: SerializerSpec | None, field: Field, topic_prefix: str = "") -> Encoder:
    """
    Build the encoder the producer calls for every key (or value).

    Args:
        spec: The validated ``key_serializer`` / ``value_serializer`` option.
        field: ``"key"`` or ``"value"``.
        topic_prefix: Prepended to the topics of a mapping, which users name without
            it (Heroku's ``KAFKA_PREFIX``), to match the broker-side topic names
            the encoder is called with.

    Returns:
        The encoder.
    """
    if spec is None:
        return _Plain(field)
    if isinstance(spec, Mapping):
        return _PerTopic(
            {topic_prefix + topic: build_encoder(each, field) for topic, each in spec.items()},
            field,
        )
    if isinstance(spec, Serializer):
        return _ConfluentSerializer(spec, field)
    return _Function(spec, field)


class _Plain:
    """No serializer: bytes, str and None as they are; bytearray and memoryview copied."""

    __slots__ = ("field", "hint")
    needs_headers = False
    serializes = False

    def __init__(self, field: Field, hint: str | None = None) -> None:
        self.field = field
        self.hint = hint or f"configure a {field}_serializer to send other types"

    def __call__(
        self, data: Any, topic: str, headers: list[tuple[str, Any]] | None
    ) -> bytes | str | None:
        kind = type(data)
        if kind is bytes or kind is str or data is None:
            return data  # type: ignore[no-any-return]
        if kind is bytearray or kind is memoryview:
            return bytes(data)
        raise MessageTypeError(
            f"{self.field} must be bytes, str or None, not {kind.__name__}; "
            + self.hint.replace("{topic}", repr(topic)),
            topic=topic,
        )


class _Serializing:
    """What the two serializer forms share: tombstones, errors, result checks."""

    __slots__ = ("field", "serializer")
    needs_headers = False
    serializes = True

    def __init__(self, serializer: Any, field: Field) -> None:
        self.serializer = serializer
        self.field = field

    def __call__(
        self, data: Any, topic: str, headers: list[tuple[str, Any]] | None
    ) -> bytes | str | None:
        if data is None:
            return None
        try:
            result = self._serialize(data, topic, headers)
        except Exception as error:
            raise SerializationError(
                f"{self.field}_serializer raised {type(error).__name__}: {error} "
                f"(topic {topic!r}, {self.field})",
                topic=topic,
                reason="serializer failed",
            ) from error
        kind = type(result)
        if kind is bytes or kind is str or result is None:
            return result  # type: ignore[no-any-return]
        hint = ""
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited; closing it keeps Python from warning
            hint = "; asynchronous serializers are not supported, use the synchronous one"
        raise MessageTypeError(
            f"{self.field}_serializer must return bytes, str or None, not {kind.__name__} "
            f"(topic {topic!r}){hint}",
            topic=topic,
        )

    def _serialize(self, data: Any, topic: str, headers: list[tuple[str, Any]] | None) -> Any:
        raise NotImplementedError


class _Function(_Serializing):
    """A plain function: ``fn(data)``."""

    __slots__ = ()

    def _serialize(self, data: Any, topic: str, headers: list[tuple[str, Any]] | None) -> Any:
        return self.serializer(data)


class _ConfluentSerializer(_Serializing):
    """A confluent-kafka ``Serializer``: ``serializer(data, SerializationContext(...))``."""

    __slots__ = ()
    needs_headers = True

    def _serialize(self, data: Any, topic: str, headers: list[tuple[str, Any]] | None) -> Any:
        return self.serializer(data, SerializationContext(topic, _FIELDS[self.field], headers))


class _PerTopic:
    """
    A serializer per topic; topics not in the mapping get no serializer.

    Bytes, str and ``None`` therefore pass unchanged to unmapped topics, and other
    types raise :class:`~kaffe.MessageTypeError` as with no serializer at all.
    """

    __slots__ = ("encoders", "field", "needs_headers", "plain")
    serializes = True

    def __init__(self, encoders: dict[str, Encoder], field: Field) -> None:
        self.encoders = encoders
        self.field = field
        self.plain = _Plain(
            field,
            f"{field}_serializer maps no serializer to topic {{topic}} (only to "
            f"{', '.join(map(repr, encoders))})",
        )
        self.needs_headers = any(encoder.needs_headers for encoder in encoders.values())

    def __call__(
        self, data: Any, topic: str, headers: list[tuple[str, Any]] | None
    ) -> bytes | str | None:
        return self.encoders.get(topic, self.plain)(data, topic, headers)
