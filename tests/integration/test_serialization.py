"""
Schema Registry serializers through a real broker: Avro, JSON Schema and Protobuf.

Messages are produced with confluent-kafka's serializers on its ``mock://``
registry client, read back raw from the broker, and decoded with confluent-kafka's
deserializers sharing the same registry.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient, header_schema_id_serializer
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message as ProtobufMessage

import kaffe
from tests.conftest import Record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ORDER_AVRO = """
{
  "type": "record",
  "name": "Order",
  "namespace": "kaffe.test",
  "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "total", "type": "double"}
  ]
}
"""
ORDER_JSON_SCHEMA = """
{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "Order",
  "type": "object",
  "properties": {
    "id": {"type": "integer"},
    "customer": {"type": "string"},
    "total": {"type": "number"}
  },
  "required": ["id", "customer", "total"],
  "additionalProperties": false
}
"""
ORDERS = [
    {"id": 1, "customer": "ada", "total": 12.5},
    {"id": 2, "customer": "grace", "total": 0.0},
    {"id": 3, "customer": "zoë", "total": 1e6},
]


def _order_message_class() -> type[ProtobufMessage]:
    """
    The Protobuf message ``kaffe.test.Order``, built at run time from its descriptor.

    Equivalent to this ``order.proto``, without generated code to keep in step with
    the protobuf runtime::

        syntax = "proto3";
        package kaffe.test;
        message Order { int64 id = 1; string customer = 2; double total = 3; }
    """
    name = "kaffe/test/order.proto"
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(name)
    except KeyError:
        proto = descriptor_pb2.FileDescriptorProto(name=name, package="kaffe.test", syntax="proto3")
        message = proto.message_type.add(name="Order")
        field = descriptor_pb2.FieldDescriptorProto
        for number, (field_name, kind) in enumerate(
            [
                ("id", field.TYPE_INT64),
                ("customer", field.TYPE_STRING),
                ("total", field.TYPE_DOUBLE),
            ],
            start=1,
        ):
            message.field.add(name=field_name, number=number, type=kind, label=field.LABEL_OPTIONAL)
        pool.Add(proto)
    order: type[ProtobufMessage] = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("kaffe.test.Order")
    )
    return order


Order = _order_message_class()


@pytest.fixture
def registry() -> SchemaRegistryClient:
    """A fresh in-memory registry, shared by the serializers and deserializers of a test."""
    return SchemaRegistryClient.new_client({"url": f"mock://kaffe-{uuid.uuid4().hex}"})


@pytest.fixture
def producer_for(bootstrap: str) -> Iterator[Callable[..., kaffe.Producer]]:
    """Producers with the given options, closed after the test."""
    made: list[kaffe.Producer] = []

    def make(topics: list[str], **options: Any) -> kaffe.Producer:
        producer = kaffe.Producer(endpoints=bootstrap, topics=topics, **options)
        made.append(producer)
        return producer

    yield make
    for producer in made:
        producer.close()


def _decode(
    records: list[Record], topic: str, deserialize: Callable[[bytes, SerializationContext], Any]
) -> list[Any]:
    """Deserialize the values read back, in key order, as a consumer would."""
    decoded = []
    for record in sorted(records, key=lambda record: int(record.key or b"0")):
        headers: list[tuple[str, Any]] = list(record.headers)
        context = SerializationContext(topic, MessageField.VALUE, headers)
        decoded.append(None if record.value is None else deserialize(record.value, context))
    return decoded


def test_avro_round_trip_through_the_broker(
    topic: str,
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    producer = producer_for(
        [topic], value_serializer=AvroSerializer(registry, ORDER_AVRO), partition_strategy="murmur2"
    )
    for order in ORDERS:
        producer.produce_sync(topic, str(order["id"]), order)
    producer.produce_sync(topic, "4", None)  # a tombstone stays a tombstone
    records = read_back(topic)
    assert [record.value[:1] for record in records if record.value] == [b"\x00"] * 3
    assert _decode(records, topic, AvroDeserializer(registry)) == [*ORDERS, None]
    assert registry.get_subjects() == [f"{topic}-value"]


def test_avro_schema_id_in_a_header_reaches_the_broker(
    topic: str,
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    serializer = AvroSerializer(
        registry, ORDER_AVRO, conf={"schema.id.serializer": header_schema_id_serializer}
    )
    producer = producer_for([topic], value_serializer=serializer)
    producer.produce_sync(topic, 0, "1", ORDERS[0], headers={"trace": "abc"})
    producer.produce_sync(topic, 0, "2", ORDERS[1])
    records = read_back(topic)
    assert [[name for name, _ in record.headers] for record in records] == [
        ["trace", "__value_schema_id"],
        ["__value_schema_id"],
    ]
    assert _decode(records, topic, AvroDeserializer(registry)) == ORDERS[:2]


def test_json_schema_round_trip_through_the_broker(
    topic: str,
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    producer = producer_for(
        [topic],
        key_serializer=StringSerializer(),
        value_serializer=JSONSerializer(ORDER_JSON_SCHEMA, registry),
    )
    for order in ORDERS:
        producer.produce_sync(topic, str(order["id"]), order)
    records = read_back(topic)
    assert _decode(records, topic, JSONDeserializer(ORDER_JSON_SCHEMA)) == ORDERS
    assert registry.get_subjects() == [f"{topic}-value"]


def test_protobuf_round_trip_through_the_broker(
    topic: str,
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    producer = producer_for([topic], value_serializer=ProtobufSerializer(Order, registry))
    sent = [Order(**order) for order in ORDERS]
    for message in sent:
        producer.produce_sync(topic, str(message.id), message)
    records = read_back(topic)
    assert _decode(records, topic, ProtobufDeserializer(Order)) == sent
    assert registry.get_subjects() == [f"{topic}-value"]


def test_a_serializer_error_names_topic_and_field_sends_nothing_and_the_producer_goes_on(
    topic: str,
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    producer = producer_for([topic], value_serializer=AvroSerializer(registry, ORDER_AVRO))
    with pytest.raises(kaffe.SerializationError) as raised:
        producer.produce_sync(topic, "1", {"id": "not a number", "customer": "ada", "total": 1.0})
    error = raised.value
    assert error.topic == topic
    assert f"(topic {topic!r}, value)" in str(error)
    assert str(error).startswith("value_serializer raised ")
    assert error.__cause__ is not None
    with pytest.raises(kaffe.SerializationError):
        producer.produce(topic, "1", {"customer": "ada"})
    producer.produce_sync(topic, "2", ORDERS[1])
    records = read_back(topic)
    assert _decode(records, topic, AvroDeserializer(registry)) == [ORDERS[1]]


def test_a_key_serializer_error_names_the_key_field(
    topic: str, registry: SchemaRegistryClient, producer_for: Callable[..., kaffe.Producer]
) -> None:
    producer = producer_for([topic], key_serializer=AvroSerializer(registry, '"long"'))
    with pytest.raises(kaffe.SerializationError, match=rf"\(topic '{topic}', key\)"):
        producer.produce_sync(topic, "not a long", b"v")


def test_per_topic_serializers_pick_by_topic_and_leave_other_topics_alone(
    topic_factory: Callable[..., str],
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    avro_topic, json_topic, raw_topic = topic_factory(1), topic_factory(1), topic_factory(1)
    producer = producer_for(
        [avro_topic, json_topic, raw_topic],
        value_serializer={
            avro_topic: AvroSerializer(registry, ORDER_AVRO),
            json_topic: JSONSerializer(ORDER_JSON_SCHEMA, registry),
        },
    )
    producer.produce_sync(avro_topic, "1", ORDERS[0])
    producer.produce_sync(json_topic, "2", ORDERS[1])
    producer.produce_sync(raw_topic, "3", b"raw bytes")
    with pytest.raises(kaffe.MessageTypeError, match=f"maps no serializer to topic '{raw_topic}'"):
        producer.produce_sync(raw_topic, "4", ORDERS[2])
    assert _decode(read_back(avro_topic), avro_topic, AvroDeserializer(registry)) == [ORDERS[0]]
    json_records = read_back(json_topic)
    assert _decode(json_records, json_topic, JSONDeserializer(ORDER_JSON_SCHEMA)) == [ORDERS[1]]
    assert [record.value for record in read_back(raw_topic)] == [b"raw bytes"]
    assert sorted(registry.get_subjects()) == sorted([f"{avro_topic}-value", f"{json_topic}-value"])


def test_batches_and_futures_serialize_each_message(
    topic: str,
    registry: SchemaRegistryClient,
    producer_for: Callable[..., kaffe.Producer],
    read_back: Callable[[str], list[Record]],
) -> None:
    producer = producer_for([topic], value_serializer=ProtobufSerializer(Order, registry))
    producer.produce_batch_sync(topic, [kaffe.Message("1", Order(**ORDERS[0]))])
    producer.produce(topic, "2", Order(**ORDERS[1])).result(timeout=30)
    decoded = _decode(read_back(topic), topic, ProtobufDeserializer(Order))
    assert decoded == [Order(**ORDERS[0]), Order(**ORDERS[1])]


def test_async_producer_uses_the_same_serializers(
    bootstrap: str,
    topic: str,
    registry: SchemaRegistryClient,
    read_back: Callable[[str], list[Record]],
) -> None:
    async def produce() -> None:
        async with kaffe.AsyncProducer(
            endpoints=bootstrap,
            topics=[topic],
            value_serializer=AvroSerializer(
                registry, ORDER_AVRO, conf={"schema.id.serializer": header_schema_id_serializer}
            ),
        ) as producer:
            for order in ORDERS:
                await producer.produce_sync(topic, str(order["id"]), order)
            with pytest.raises(kaffe.SerializationError, match=rf"\(topic '{topic}', value\)"):
                await producer.produce_sync(topic, "9", {"id": 9})

    asyncio.run(produce())
    assert _decode(read_back(topic), topic, AvroDeserializer(registry)) == ORDERS
