"""
kaffe: produce messages to Apache Kafka, the way Elixir's Kaffe does, on librdkafka.

Example::

    import kaffe

    with kaffe.Producer(endpoints="127.0.0.1:9092", topics=["events"]) as producer:
        delivery = producer.produce_sync("user-42", "signed up")
        print(delivery.topic, delivery.partition, delivery.offset)
"""

from __future__ import annotations

import logging as _logging

# First: decides whether the per-message path runs compiled or as its source.
from ._mode import COMPILED as _COMPILED  # isort: skip

from ._async_producer import AsyncProducer
from ._config import OIDC, ProducerConfig, SASLConfig, SSLConfig
from ._errors import (
    AuthenticationError,
    AuthorizationError,
    BatchProduceError,
    BrokerUnavailableError,
    ConfigError,
    DeliveryTimeoutError,
    InvalidOffsetsError,
    InvalidPartitionError,
    InvalidTopicError,
    KaffeError,
    MessageTooLargeError,
    MessageTypeError,
    PartitionStrategyError,
    ProduceError,
    ProducerClosedError,
    ProducerFencedError,
    ProducerForkedError,
    QueueFullError,
    SerializationError,
    TransactionAbortedError,
    TransactionError,
    TransactionStateError,
    UndeliveredMessagesError,
    UnknownTopicError,
)
from ._hot import DeliveryFuture
from ._observers import Observer
from ._producer import Producer
from ._statistics import BrokerStatistics, PartitionStatistics, Statistics
from ._types import Delivery, Message, OutgoingMessage

#: True when the per-message path (placing, handing over, settling) runs compiled by
#: mypyc; False when its pure-Python source runs (no compiler at build time, or
#: ``KAFFE_PURE_PYTHON=1``). Both behave the same.
__compiled__: bool = _COMPILED

__all__ = [  # noqa: RUF022 - plain sorted() order, which tests/test_init.py checks
    "AsyncProducer",
    "AuthenticationError",
    "AuthorizationError",
    "BatchProduceError",
    "BrokerStatistics",
    "BrokerUnavailableError",
    "ConfigError",
    "Delivery",
    "DeliveryFuture",
    "DeliveryTimeoutError",
    "InvalidOffsetsError",
    "InvalidPartitionError",
    "InvalidTopicError",
    "KaffeError",
    "Message",
    "MessageTooLargeError",
    "MessageTypeError",
    "OIDC",
    "Observer",
    "OutgoingMessage",
    "PartitionStatistics",
    "PartitionStrategyError",
    "ProduceError",
    "Producer",
    "ProducerClosedError",
    "ProducerConfig",
    "ProducerFencedError",
    "ProducerForkedError",
    "QueueFullError",
    "SASLConfig",
    "SSLConfig",
    "SerializationError",
    "Statistics",
    "TransactionAbortedError",
    "TransactionError",
    "TransactionStateError",
    "UndeliveredMessagesError",
    "UnknownTopicError",
]

# A library logs, the application decides where to: nothing reaches stderr unless
# logging is configured.
_logging.getLogger("kaffe").addHandler(_logging.NullHandler())

for _name in __all__:
    globals()[_name].__module__ = "kaffe"
del _name

__version__: str


def __getattr__(name: str) -> object:
    """
    ``__version__``, read from the installed package's metadata on first use.

    Reading it at import would cost every ``import kaffe`` the import of
    ``importlib.metadata`` (tens of milliseconds, a lot for the ``kaffe`` command).
    """
    if name != "__version__":
        raise AttributeError(f"module 'kaffe' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    global __version__
    try:
        __version__ = version("kaffe")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        __version__ = "0.0.0"
    return __version__
