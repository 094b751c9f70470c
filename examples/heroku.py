"""
Produce one message to Heroku Kafka, configured by nothing but Heroku's variables.

kaffe reads ``KAFKA_URL``, ``KAFKA_TRUSTED_CERT``, ``KAFKA_CLIENT_CERT``,
``KAFKA_CLIENT_CERT_KEY`` and ``KAFKA_PREFIX`` from the environment. Run it on a
dyno, or locally against the test broker, which ``scripts/kafka heroku-env`` makes
look like Heroku::

    scripts/kafka up --security ssl && eval "$(scripts/kafka heroku-env)"
    .venv/bin/python examples/heroku.py [TOPIC]

TOPIC defaults to ``kaffe-heroku-example``. When it does not exist yet, the example
creates it (one partition) over the same TLS connection; on Heroku, create topics
with ``heroku kafka:topics:create`` instead.
"""

from __future__ import annotations

import sys

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

import kaffe

DEFAULT_TOPIC = "kaffe-heroku-example"


def create_topic(topic: str) -> None:
    """Create ``topic`` through the cluster's admin API, with kaffe's connection settings."""
    config = kaffe.ProducerConfig(heroku_kafka_env=True)
    connection = {
        name: value
        for name, value in config.librdkafka_properties().items()
        if name == "bootstrap.servers" or name.startswith(("security.", "ssl.", "sasl."))
    }
    name = config.topic_name(topic)  # with KAFKA_PREFIX, as kaffe will look for it
    admin = AdminClient({**connection, "log_level": 4})  # warnings and errors only
    futures = admin.create_topics([NewTopic(name, 1)], operation_timeout=30)
    futures[name].result(timeout=60)


def main() -> None:
    """Produce one message and print its :class:`kaffe.Delivery`."""
    topic = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_TOPIC
    try:
        producer = kaffe.Producer(heroku_kafka_env=True, topics=[topic])
    except kaffe.UnknownTopicError:
        print(f"topic {topic!r} does not exist; creating it")
        create_topic(topic)
        producer = kaffe.Producer(heroku_kafka_env=True, topics=[topic])
    with producer:
        delivery = producer.produce_sync("greeting", "hello from kaffe")
    print(delivery)


if __name__ == "__main__":
    main()
