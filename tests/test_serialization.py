"""Serializer forms and the encoders the producer calls for every key and value."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from confluent_kafka.serialization import (
    MessageField,
    SerializationContext,
    Serializer,
    StringSerializer,
)

import kaffe
from kaffe._serialization import build_encoder, check_serializer


class RecordingSerializer(Serializer):
    """A confluent-kafka serializer that records its contexts and adds a header."""

    def __init__(self) -> None:
        self.contexts: list[SerializationContext] = []

    def __call__(self, obj: Any, ctx: SerializationContext | None = None) -> bytes:
        assert ctx is not None
        self.contexts.append(ctx)
        assert isinstance(ctx.headers, list)
        ctx.headers.append(("schema-id", b"\x01"))
        return json.dumps(obj).encode()


class BrokenSerializer(Serializer):
    def __call__(self, obj: Any, ctx: SerializationContext | None = None) -> bytes:
        raise ValueError("schema says no")


# --- no serializer -----------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"bytes", "text", None])
def test_without_a_serializer_bytes_str_and_none_pass_unchanged(data: Any) -> None:
    encoder = build_encoder(None, "value")
    assert encoder(data, "orders", None) is data
    assert encoder.serializes is False
    assert encoder.needs_headers is False


def test_without_a_serializer_bytearray_and_memoryview_become_bytes() -> None:
    encoder = build_encoder(None, "key")
    assert encoder(bytearray(b"k"), "orders", None) == b"k"
    assert encoder(memoryview(b"k"), "orders", None) == b"k"


def test_without_a_serializer_other_types_name_the_field_and_the_option() -> None:
    with pytest.raises(
        kaffe.MessageTypeError,
        match="value must be bytes, str or None, not dict; configure a value_serializer",
    ) as raised:
        build_encoder(None, "value")({"id": 1}, "orders", None)
    assert raised.value.topic == "orders"


# --- a plain function ---------------------------------------------------------------------


def test_a_function_is_called_with_the_data_alone() -> None:
    encoder = build_encoder(lambda value: json.dumps(value).encode(), "value")
    assert encoder({"id": 1}, "orders", None) == b'{"id": 1}'
    assert encoder.serializes is True
    assert encoder.needs_headers is False


def test_none_is_never_serialized() -> None:
    def explode(value: Any) -> bytes:
        raise AssertionError("called")

    assert build_encoder(explode, "value")(None, "orders", None) is None
    assert build_encoder(RecordingSerializer(), "key")(None, "orders", []) is None


def test_a_function_returning_none_sends_no_key_or_a_tombstone() -> None:
    assert build_encoder(lambda value: None, "value")("x", "orders", None) is None


def test_a_serializer_that_raises_becomes_a_serialization_error_naming_topic_and_field() -> None:
    def serialize(value: Any) -> bytes:
        raise ValueError("cannot serialize this")

    with pytest.raises(kaffe.SerializationError) as raised:
        build_encoder(serialize, "value")("bad", "orders", None)
    error = raised.value
    assert str(error) == (
        "value_serializer raised ValueError: cannot serialize this (topic 'orders', value)"
    )
    assert error.topic == "orders"
    assert error.reason == "serializer failed"
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize("returned", [5, bytearray(b"x"), ["x"]])
def test_a_serializer_returning_another_type_is_a_message_type_error(returned: Any) -> None:
    with pytest.raises(
        kaffe.MessageTypeError,
        match=rf"key_serializer must return bytes, str or None, not {type(returned).__name__} "
        r"\(topic 'orders'\)",
    ):
        build_encoder(lambda key: returned, "key")("k", "orders", None)


def test_a_serializer_returning_a_coroutine_is_refused_without_a_warning() -> None:
    async def serialize(value: Any) -> bytes:
        return b""

    encoder = build_encoder(lambda value: serialize(value), "value")  # type: ignore[arg-type]
    with pytest.raises(kaffe.MessageTypeError, match="asynchronous serializers are not supported"):
        encoder("v", "orders", None)


# --- confluent-kafka serializers ----------------------------------------------------------


def test_a_confluent_serializer_gets_topic_field_and_the_messages_own_header_list() -> None:
    serializer = RecordingSerializer()
    encoder = build_encoder(serializer, "value")
    assert encoder.needs_headers is True
    headers: list[tuple[str, Any]] = [("trace", b"1")]
    assert encoder({"id": 1}, "tenant.orders", headers) == b'{"id": 1}'
    (context,) = serializer.contexts
    assert (context.topic, context.field) == ("tenant.orders", MessageField.VALUE)
    assert context.headers is headers
    assert headers == [("trace", b"1"), ("schema-id", b"\x01")]


def test_a_key_serializer_is_told_it_serializes_the_key() -> None:
    serializer = RecordingSerializer()
    build_encoder(serializer, "key")("k", "orders", [])
    assert serializer.contexts[0].field == MessageField.KEY


def test_confluents_string_serializer_works_as_it_is() -> None:
    assert build_encoder(StringSerializer("utf_8"), "key")("café", "orders", []) == "café".encode()


def test_a_confluent_serializer_error_names_topic_and_field() -> None:
    with pytest.raises(
        kaffe.SerializationError,
        match=r"key_serializer raised ValueError: schema says no \(topic 'orders', key\)",
    ):
        build_encoder(BrokenSerializer(), "key")("k", "orders", [])


# --- per-topic mappings -------------------------------------------------------------------


def test_a_mapping_picks_the_serializer_of_the_messages_topic() -> None:
    recording = RecordingSerializer()
    encoder = build_encoder(
        check_serializer("value_serializer", {"orders": recording, "audit": str.upper}), "value"
    )
    assert encoder.needs_headers is True
    assert encoder({"id": 1}, "orders", []) == b'{"id": 1}'
    assert encoder("login", "audit", None) == "LOGIN"


def test_a_topic_missing_from_the_mapping_gets_no_serializer() -> None:
    encoder = build_encoder({"orders": RecordingSerializer()}, "value")
    assert encoder(b"raw", "audit", []) == b"raw"
    with pytest.raises(
        kaffe.MessageTypeError,
        match=r"value_serializer maps no serializer to topic 'audit' \(only to 'orders'\)",
    ):
        encoder({"id": 1}, "audit", [])


def test_a_mapping_of_plain_functions_needs_no_headers() -> None:
    encoder = build_encoder({"orders": str.encode, "raw": None}, "value")
    assert encoder.needs_headers is False
    assert encoder("x", "orders", None) == b"x"
    assert encoder("x", "raw", None) == "x"


def test_mapping_topics_are_named_without_the_heroku_prefix() -> None:
    encoder = build_encoder({"orders": str.encode}, "value", topic_prefix="tenant-7.")
    assert encoder("x", "tenant-7.orders", None) == b"x"
    with pytest.raises(kaffe.MessageTypeError, match="topic 'orders'"):
        encoder(1, "orders", None)


def test_check_serializer_copies_a_mapping_read_only() -> None:
    given: dict[str, Any] = {"orders": str.encode}
    checked = check_serializer("value_serializer", given)
    given["audit"] = str.encode
    assert dict(checked) == {"orders": str.encode}  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        checked["audit"] = str.encode  # type: ignore[index]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("json", "value_serializer: expected a function returning bytes or str"),
        (bytes, "value_serializer: expected a function"),
        ({"orders": 5}, r"value_serializer\['orders'\]: expected a function"),
        ({7: str.encode}, "value_serializer topic: a topic name must be str"),
        ({"": str.encode}, "value_serializer topic: '' is not a valid topic name"),
    ],
)
def test_check_serializer_refuses_what_is_not_a_serializer(spec: Any, message: str) -> None:
    with pytest.raises(kaffe.ConfigError, match=message):
        check_serializer("value_serializer", spec)


def test_an_asynchronous_confluent_serializer_is_refused_when_it_returns() -> None:
    from confluent_kafka.schema_registry import AsyncSchemaRegistryClient
    from confluent_kafka.schema_registry._async.avro import AsyncAvroSerializer

    async def make() -> Any:
        registry = AsyncSchemaRegistryClient({"url": "mock://kaffe-async"})
        return await AsyncAvroSerializer(registry, '{"type": "string"}')

    encoder = build_encoder(asyncio.run(make()), "value")
    with pytest.raises(
        kaffe.MessageTypeError,
        match=r"not coroutine \(topic 'orders'\); asynchronous serializers are not supported",
    ):
        encoder("text", "orders", [])


def test_check_serializer_refuses_asynchronous_functions() -> None:
    async def serialize(value: Any) -> bytes:
        return b""

    with pytest.raises(kaffe.ConfigError, match=r"asynchronous serializers \(.*serialize\)"):
        check_serializer("value_serializer", {"orders": serialize})
