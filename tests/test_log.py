"""The bridge from librdkafka's log to Python's logging."""

from __future__ import annotations

import logging

import pytest

from kaffe._log import LibrdkafkaLog


def test_lines_reach_the_kaffe_librdkafka_logger_with_secrets_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="kaffe")
    log = LibrdkafkaLog(["hunter2-pass"])

    log.log(logging.WARNING, "FAIL [%s]: login as %s with %s", "thrd:main", "alice", "hunter2-pass")

    [record] = caplog.records
    assert record.name == "kaffe.librdkafka"
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "FAIL [thrd:main]: login as alice with ***"


def test_pem_blocks_are_masked_even_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="kaffe")

    LibrdkafkaLog().log(
        logging.DEBUG, "ssl.ca.pem = -----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"
    )

    assert caplog.records[0].getMessage() == "ssl.ca.pem = <pem>"


def test_lines_below_the_loggers_level_are_not_even_formatted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="kaffe")

    class Exploding:
        def __str__(self) -> str:
            raise AssertionError("formatted a dropped line")

    LibrdkafkaLog().log(logging.DEBUG, Exploding())

    assert caplog.records == []
