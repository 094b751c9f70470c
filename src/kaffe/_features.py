"""
What the librdkafka in use was built with (its ``builtin.features``).

Options that need an optional part of librdkafka (a compression codec, a SASL
mechanism) are checked here when the config is built, so a missing feature is a
``ConfigError`` that says what is missing instead of a librdkafka message at
connect time.
"""

from __future__ import annotations

import functools

import confluent_kafka
from confluent_kafka import KafkaException

from ._errors import ConfigError

__all__ = ["missing_feature", "require_feature"]

#: A property no librdkafka knows: setting it after ``builtin.features`` makes the
#: client constructor stop before it creates a handle, whatever the features say.
_STOP = "kaffe.feature.probe"


@functools.cache
def missing_feature(feature: str) -> str | None:
    """
    Ask librdkafka whether it was built with ``feature``.

    librdkafka checks a value written to ``builtin.features`` against its build and
    refuses unknown features. The probe writes the feature, then a property that
    does not exist, so no client handle (and no thread) is ever created.

    Args:
        feature: A ``builtin.features`` flag, such as ``"zstd"`` or ``"sasl_gssapi"``.

    Returns:
        ``None`` when the feature is built in; otherwise librdkafka's reason.
    """
    try:
        confluent_kafka.Producer({"builtin.features": feature, _STOP: "1"})
    except KafkaException as error:
        text = str(error.args[0].str())
        if "builtin.features" in text:
            reason = text.rpartition(": ")[2]
            return reason or "not built in"
        return None
    return None  # pragma: no cover - a librdkafka that accepts unknown properties


def require_feature(feature: str, option: str, needed_for: str) -> None:
    """
    Raise a :class:`ConfigError` unless librdkafka was built with ``feature``.

    Args:
        feature: The ``builtin.features`` flag.
        option: The option to name in the error, such as ``"sasl.mechanism"``.
        needed_for: What the feature is needed for, such as ``"GSSAPI"``.

    Raises:
        ConfigError: The feature is missing; the message names it and the versions.
    """
    reason = missing_feature(feature)
    if reason is None:
        return
    librdkafka = confluent_kafka.libversion()[0]
    raise ConfigError(
        f"{option}: {needed_for} needs librdkafka's {feature!r} feature, and librdkafka "
        f"{librdkafka} (confluent-kafka {confluent_kafka.version()[0]}) was built without it "
        f"({reason}). confluent-kafka's prebuilt wheels lack some features; install "
        "confluent-kafka built from source against a librdkafka that has it",
        reason="librdkafka feature missing",
    )
