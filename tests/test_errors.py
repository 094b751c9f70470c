from __future__ import annotations

import pickle

import pytest
from confluent_kafka import KafkaError

import kaffe
from kaffe._errors import redact, translate_kafka_error, translate_transaction_error

EXPECTED = [
    (KafkaError._MSG_TIMED_OUT, kaffe.DeliveryTimeoutError, True),
    (KafkaError._TIMED_OUT, kaffe.DeliveryTimeoutError, True),
    (KafkaError.REQUEST_TIMED_OUT, kaffe.DeliveryTimeoutError, True),
    (KafkaError.MSG_SIZE_TOO_LARGE, kaffe.MessageTooLargeError, False),
    (KafkaError.RECORD_LIST_TOO_LARGE, kaffe.MessageTooLargeError, False),
    (KafkaError._QUEUE_FULL, kaffe.QueueFullError, True),
    (KafkaError.UNKNOWN_TOPIC_OR_PART, kaffe.UnknownTopicError, False),
    (KafkaError._UNKNOWN_TOPIC, kaffe.UnknownTopicError, False),
    (KafkaError._UNKNOWN_PARTITION, kaffe.InvalidPartitionError, False),
    (KafkaError.TOPIC_EXCEPTION, kaffe.InvalidTopicError, False),
    (KafkaError._SSL, kaffe.AuthenticationError, False),
    (KafkaError._AUTHENTICATION, kaffe.AuthenticationError, False),
    (KafkaError.SASL_AUTHENTICATION_FAILED, kaffe.AuthenticationError, False),
    (KafkaError.TOPIC_AUTHORIZATION_FAILED, kaffe.AuthorizationError, False),
    (KafkaError._TRANSPORT, kaffe.BrokerUnavailableError, True),
    (KafkaError._ALL_BROKERS_DOWN, kaffe.BrokerUnavailableError, True),
    (KafkaError._PURGE_QUEUE, kaffe.ProduceError, False),
    (KafkaError._PURGE_INFLIGHT, kaffe.ProduceError, False),
    (KafkaError._FATAL, kaffe.ProduceError, False),
    (KafkaError._INVALID_ARG, kaffe.ConfigError, False),
    (KafkaError.NOT_ENOUGH_REPLICAS, kaffe.ProduceError, True),
    (KafkaError.INVALID_RECORD, kaffe.ProduceError, False),
]


@pytest.mark.parametrize(("code", "expected", "retriable"), EXPECTED)
def test_librdkafka_codes_translate_to_the_expected_kaffe_error(
    code: int, expected: type[kaffe.KaffeError], retriable: bool
) -> None:
    error = translate_kafka_error(KafkaError(code), topic="events", partition=3)
    assert type(error) is expected
    assert error.retriable is retriable
    assert error.topic == "events"
    assert error.code == KafkaError(code).name()


def test_every_librdkafka_code_translates_to_a_kaffe_error() -> None:
    codes = [
        getattr(KafkaError, name)
        for name in dir(KafkaError)
        if name.isupper() or (name.startswith("_") and name[1:].isupper())
    ]
    codes = [code for code in codes if isinstance(code, int)]
    assert len(codes) > 100
    for code in codes:
        error = translate_kafka_error(KafkaError(code), topic="t")
        assert isinstance(error, kaffe.KaffeError), code
        assert str(error)


def test_messages_purged_at_close_say_whether_they_may_have_been_stored() -> None:
    queued = translate_kafka_error(KafkaError(KafkaError._PURGE_QUEUE), topic="t", partition=0)
    in_flight = translate_kafka_error(KafkaError(KafkaError._PURGE_INFLIGHT), topic="t")
    assert queued.reason == in_flight.reason == "purged at close"
    assert "before delivery" in str(queued)
    assert "may still have stored it" in str(in_flight)


def test_messages_given_up_on_time_out_and_say_whether_they_may_have_been_stored() -> None:
    queued, in_flight = (
        translate_kafka_error(KafkaError(code), topic="t", partition=0, purged_by="timeout")
        for code in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT)
    )
    assert type(queued) is type(in_flight) is kaffe.DeliveryTimeoutError
    assert queued.reason == in_flight.reason == "timed out"
    assert queued.retriable
    assert in_flight.retriable
    assert "still queued" in str(queued)
    assert "may still have stored it" in str(in_flight)


def test_a_fatal_error_tells_the_caller_to_create_a_new_producer() -> None:
    error = translate_kafka_error(
        KafkaError(KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER, "sequence broken", fatal=True),
        topic="t",
    )
    assert type(error) is kaffe.ProduceError
    assert (error.reason, error.retriable) == ("fatal error", False)
    assert "create a new producer" in str(error)


def test_timeout_reason_is_timed_out() -> None:
    error = translate_kafka_error(KafkaError(KafkaError._MSG_TIMED_OUT), topic="t", partition=0)
    assert error.reason == "timed out"
    assert isinstance(error, kaffe.ProduceError)


@pytest.mark.parametrize(
    "code",
    [KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT],
)
def test_a_delivery_timeout_says_the_message_may_have_been_stored_all_the_same(
    code: int,
) -> None:
    # confluent-kafka's Message carries no persistence status, so every timeout says so.
    error = translate_kafka_error(KafkaError(code), topic="t", partition=0)
    assert isinstance(error, kaffe.DeliveryTimeoutError)
    assert "may have stored it all the same" in str(error)
    assert "producing it again may store it twice" in str(error)


def test_translation_masks_secrets() -> None:
    error = KafkaError(KafkaError._SSL, "handshake failed for key hunter2-secret")
    translated = translate_kafka_error(error, secrets=["hunter2-secret"])
    assert "hunter2-secret" not in str(translated)
    assert "***" in str(translated)


def test_redact_ignores_empty_secrets() -> None:
    assert redact("abc", ["", "b"]) == "a***c"


def test_programmer_errors_are_also_builtin_errors() -> None:
    assert issubclass(kaffe.ConfigError, ValueError)
    assert issubclass(kaffe.InvalidPartitionError, ValueError)
    assert issubclass(kaffe.MessageTypeError, TypeError)
    assert issubclass(kaffe.ProducerClosedError, RuntimeError)
    assert issubclass(kaffe.ProducerForkedError, kaffe.ProducerClosedError)


def test_every_error_has_a_docstring_and_is_in_the_drawn_tree() -> None:
    import kaffe._errors as errors_module

    tree = errors_module.__doc__ or ""
    for name in errors_module.__all__:
        cls = getattr(errors_module, name)
        if not isinstance(cls, type):  # the translation and its code predicates
            continue
        assert cls.__doc__, name
        assert name in tree, name
        assert issubclass(cls, kaffe.KaffeError)


def test_errors_survive_pickling_with_their_context() -> None:
    error = kaffe.ProduceError("boom", topic="t", partition=1, reason="r", retriable=True)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.topic, clone.partition, clone.reason, clone.retriable) == ("t", 1, "r", True)
    assert str(clone) == "boom"


def test_batch_error_lists_delivered_and_failed_indexes() -> None:
    delivery = kaffe.Delivery("t", 0, 5)
    failure = kaffe.MessageTooLargeError("too big", topic="t")
    error = kaffe.BatchProduceError(
        "1 of 2 failed", topic="t", deliveries=[delivery, None], errors=[None, failure]
    )
    assert error.delivered == [0]
    assert error.failed == [1]
    assert error.retriable is False


def test_redact_masks_every_pem_block_even_a_cut_off_one() -> None:
    text = (
        "ssl.certificate.pem = -----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n"
        "ssl.key.pem = -----BEGIN PRIVATE KEY-----\nc2VjcmV0"
    )
    assert redact(text, []) == "ssl.certificate.pem = <pem>\nssl.key.pem = <pem>"


@pytest.mark.parametrize("alert", [42, 46, 48, 116])
def test_tls_alert_refusing_the_client_certificate_is_an_authentication_error(alert: int) -> None:
    error = KafkaError(
        KafkaError._TRANSPORT,
        "ssl://b1:9093/bootstrap: Receive failed: error:0A000412:SSL routines::"
        f"ssl/tls alert bad certificate: SSL alert number {alert} (after 0ms)",
    )
    translated = translate_kafka_error(error)
    assert type(translated) is kaffe.AuthenticationError
    assert "the broker refused the client certificate" in str(translated)


def test_other_tls_transport_failures_stay_broker_unavailable() -> None:
    error = KafkaError(KafkaError._TRANSPORT, "Receive failed: SSL alert number 80")
    assert type(translate_kafka_error(error)) is kaffe.BrokerUnavailableError


# --- errors of creating a client and of requests to the cluster ---------------------------


def test_any_error_creating_a_client_is_a_config_error() -> None:
    error = KafkaError(KafkaError._INVALID_ARG, "Failed to create admin client: key hunter2-pass")

    translated = translate_kafka_error(error, secrets=["hunter2-pass"], operation="create")

    assert type(translated) is kaffe.ConfigError
    assert str(translated) == (
        "librdkafka rejected the configuration: Failed to create admin client: key ***"
    )
    assert (translated.reason, translated.code) == ("invalid option", "_INVALID_ARG")


@pytest.mark.parametrize(
    "code", [KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TRANSPORT]
)
def test_an_unanswered_request_means_no_broker_answered(code: int) -> None:
    error = KafkaError(code, "Local: Timed out")

    translated = translate_kafka_error(
        error, operation="request", endpoints="h1:9092,h2:9092", timeout=2.5
    )

    assert type(translated) is kaffe.BrokerUnavailableError
    assert str(translated) == "no broker of h1:9092,h2:9092 answered within 2.5s (Local: Timed out)"
    assert (translated.reason, translated.retriable) == ("broker unavailable", True)
    assert translated.code == KafkaError(code).name()


def test_an_unanswered_request_is_explained_by_the_clients_connection_error() -> None:
    refused = KafkaError(
        KafkaError._TRANSPORT, "h1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed"
    )

    translated = translate_kafka_error(
        KafkaError(KafkaError._TIMED_OUT),
        operation="request",
        endpoints="h1:9092",
        timeout=1,
        client_error=refused,
    )

    assert type(translated) is kaffe.BrokerUnavailableError
    assert str(translated) == (
        "broker unavailable: h1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed"
    )
    assert translated.code == "_TRANSPORT"


def test_an_unanswered_request_is_explained_by_a_refused_login() -> None:
    refused = KafkaError(KafkaError._AUTHENTICATION, "SASL authentication error: hunter2-pass")

    translated = translate_kafka_error(
        KafkaError(KafkaError._TIMED_OUT),
        secrets=["hunter2-pass"],
        operation="request",
        client_error=refused,
    )

    assert type(translated) is kaffe.AuthenticationError
    assert "hunter2-pass" not in str(translated)


def test_a_client_error_that_does_not_explain_the_silence_is_not_used() -> None:
    unrelated = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)

    translated = translate_kafka_error(
        KafkaError(KafkaError._TIMED_OUT, "Local: Timed out"),
        operation="request",
        client_error=unrelated,
    )

    assert type(translated) is kaffe.BrokerUnavailableError
    assert str(translated) == "no broker answered in time (Local: Timed out)"


def test_a_request_refused_for_a_certificate_is_an_authentication_error() -> None:
    error = KafkaError(KafkaError._TRANSPORT, "SSL alert number 48: unknown ca")

    translated = translate_kafka_error(error, operation="request", endpoints="h:1", timeout=1)

    assert type(translated) is kaffe.AuthenticationError


def test_other_request_errors_translate_as_usual() -> None:
    error = KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)

    translated = translate_kafka_error(error, topic="t", operation="request", timeout=1)

    assert type(translated) is kaffe.AuthorizationError
    assert translated.topic == "t"


def test_request_timeouts_name_the_topic_they_were_about() -> None:
    translated = translate_kafka_error(
        KafkaError(KafkaError._TIMED_OUT, "Local: Timed out"),
        topic="events",
        operation="request",
        endpoints="h:1",
        timeout=10,
    )

    assert str(translated) == (
        "no broker of h:1 answered within 10s for topic 'events' (Local: Timed out)"
    )
    assert translated.topic == "events"


# --- transactions ------------------------------------------------------------------------


def _every_code() -> list[int]:
    names = [name for name in dir(KafkaError) if name.isupper() or name[1:].isupper()]
    return [code for name in names if isinstance(code := getattr(KafkaError, name), int)]


def test_every_librdkafka_code_of_a_transactional_call_is_a_transaction_error() -> None:
    codes = _every_code()
    assert len(codes) > 100
    for code in codes:
        for fatal, retriable, abortable in ((0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1)):
            failure = KafkaError(
                code,
                fatal=bool(fatal),
                retriable=bool(retriable),
                txn_requires_abort=bool(abortable),
            )
            error = translate_transaction_error(failure, "commit_transaction")
            assert isinstance(error, kaffe.TransactionError), code
            assert str(error).startswith("commit_transaction") or "fenced" in str(error)
            assert error.code == KafkaError(code).name()


@pytest.mark.parametrize(
    "code", [KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH]
)
def test_fencing_is_a_fatal_producer_fenced_error_from_a_call_or_a_delivery(code: int) -> None:
    from_call = translate_transaction_error(
        KafkaError(code, "old epoch", fatal=True), "commit_transaction"
    )
    from_delivery = translate_kafka_error(KafkaError(code, "old epoch"), topic="t", partition=0)
    for error in (from_call, from_delivery):
        assert type(error) is kaffe.ProducerFencedError
        assert (error.reason, error.fatal, error.retriable, error.abortable) == (
            "fenced",
            True,
            False,
            False,
        )
        assert "newer producer with the same transactional_id" in str(error)
    assert (from_delivery.topic, from_delivery.partition) == ("t", 0)


def test_librdkafkas_flags_of_a_transactional_failure_become_the_errors_flags() -> None:
    abortable = translate_transaction_error(
        KafkaError(KafkaError._INCONSISTENT, "1 message(s) failed", txn_requires_abort=True),
        "commit_transaction",
    )
    retriable = translate_transaction_error(
        KafkaError(KafkaError.COORDINATOR_NOT_AVAILABLE, "no coordinator", retriable=True),
        "commit_transaction",
    )
    fatal = translate_transaction_error(
        KafkaError(KafkaError.INVALID_TRANSACTION_TIMEOUT, "too long", fatal=True),
        "init_transactions",
    )
    assert (abortable.abortable, abortable.retriable, abortable.fatal) == (True, False, False)
    assert "aborted and run again" in str(abortable)
    assert (retriable.abortable, retriable.retriable, retriable.fatal) == (False, True, False)
    assert (fatal.abortable, fatal.retriable, fatal.fatal) == (False, False, True)
    assert fatal.reason == "fatal error"
    assert "create a new one" in str(fatal)


def test_a_timed_out_transactional_call_may_be_made_again() -> None:
    error = translate_transaction_error(
        KafkaError(KafkaError._TIMED_OUT, "timed out", retriable=True), "commit_transaction"
    )
    assert type(error) is kaffe.TransactionError
    assert (error.reason, error.retriable) == ("timed out", True)


@pytest.mark.parametrize(
    ("code", "expected", "reason", "retriable"),
    [
        (KafkaError._STATE, kaffe.TransactionStateError, "wrong transaction state", False),
        (KafkaError._CONFLICT, kaffe.TransactionStateError, "call in progress", True),
        (KafkaError._PREV_IN_PROGRESS, kaffe.TransactionStateError, "call in progress", True),
        (KafkaError._NOT_CONFIGURED, kaffe.TransactionStateError, "not transactional", False),
        (KafkaError._INVALID_ARG, kaffe.InvalidOffsetsError, "invalid argument", False),
        (KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED, kaffe.TransactionError,
         "not authorized", False),
    ],
)  # fmt: skip
def test_transactional_call_failures_translate_to_the_expected_error(
    code: int, expected: type[kaffe.TransactionError], reason: str, retriable: bool
) -> None:
    error = translate_transaction_error(KafkaError(code), "send_offsets_to_transaction")
    assert type(error) is expected
    assert (error.reason, error.retriable) == (reason, retriable)
    assert str(error).startswith("send_offsets_to_transaction")


def test_producing_outside_a_transaction_says_to_produce_inside_one() -> None:
    error = translate_kafka_error(
        KafkaError(KafkaError._STATE, "Unable to produce message: Local: Erroneous state"),
        topic="t",
    )
    assert type(error) is kaffe.TransactionStateError
    assert error.reason == "outside a transaction"
    assert "with producer.transaction():" in str(error)


@pytest.mark.parametrize("code", [KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT])
def test_messages_purged_by_an_abort_fail_as_aborted(code: int) -> None:
    error = translate_kafka_error(KafkaError(code), topic="t", partition=1, purged_by="abort")
    assert type(error) is kaffe.TransactionAbortedError
    assert error.reason == "transaction aborted"
    assert "never be visible to read_committed consumers" in str(error)


def test_transaction_errors_are_typed_as_the_tree_draws_them() -> None:
    assert issubclass(kaffe.TransactionStateError, RuntimeError)
    assert issubclass(kaffe.InvalidOffsetsError, ValueError)
    for cls in (
        kaffe.TransactionStateError,
        kaffe.TransactionAbortedError,
        kaffe.InvalidOffsetsError,
        kaffe.ProducerFencedError,
    ):
        assert issubclass(cls, kaffe.TransactionError)


def test_transaction_errors_survive_pickling_with_their_flags() -> None:
    error = kaffe.TransactionError("boom", reason="r", retriable=False, abortable=True, fatal=False)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.reason, clone.abortable, clone.fatal) == ("r", True, False)
