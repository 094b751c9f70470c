"""
``CountingProducer``: a face that hands over batches and counts their outcomes.

``kaffe produce`` sends lines by the hundred thousand and needs, per batch, how
many messages went to each partition and which ones failed, not a
:class:`~kaffe.Delivery` per message. kaffe places every message itself, so it
knows each partition when it hands the message over. This face therefore asks
librdkafka for the delivery reports of failed messages only
(``delivery.report.only.error``): each message is counted when it is handed over,
and a failure takes it back out (:class:`kaffe._hot.Counted`). :meth:`wait` then
waits until librdkafka's queue is empty, so every outcome is in, rather than for
reports of acknowledgements that never come.

With observers, which must hear of every outcome, librdkafka reports every message
as usual; the counting stays the same.

It is internal: its operations suit a bulk sender, not an application, which gets
an outcome per message from :class:`kaffe.Producer`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from ._config import ProducerConfig, ProducerOptions
from ._core import MissingMetadata, ProducerBase, now
from ._engine import Engine
from ._errors import ConfigError, DeliveryTimeoutError, UndeliveredMessagesError
from ._hot import Counted
from ._types import Message, OutgoingMessage

if sys.version_info >= (3, 11):
    from typing import Self, Unpack
else:  # pragma: no cover - Python 3.10
    from typing_extensions import Self, Unpack

__all__ = ["CountingProducer"]


class CountingProducer(ProducerBase):
    """
    A producer that hands over batches and counts their outcomes, for bulk sending.

    Each ``produce_*`` call hands a batch over without waiting and returns its
    :class:`~kaffe._hot.Counted`; :meth:`wait` waits until every message handed over
    so far has its outcome. Use it from one thread.

    Args:
        config: A prepared :class:`~kaffe.ProducerConfig`; keyword options override it.
        **options: The options of :class:`~kaffe.ProducerConfig`.

    Raises:
        ConfigError: An option is invalid, or ``transactional_id`` is set (a counting
            producer sends outside transactions).
        BrokerUnavailableError: No broker answered within ``start_timeout``.
        UnknownTopicError: A configured topic does not exist.
    """

    _UNCLOSED_HINT = "call close() or use 'with'"
    _engine: Engine

    def __init__(
        self, config: ProducerConfig | None = None, /, **options: Unpack[ProducerOptions]
    ) -> None:
        super().__init__(config, **options)
        if self.config.transactional_id is not None:
            raise ConfigError(
                "transactional_id: a counting producer sends outside transactions; "
                "unset it (KAFFE_TRANSACTIONAL_ID) to send in bulk",
                reason="conflicting options",
            )
        # Observers hear of every outcome, so they keep every report coming.
        engine = self._engine = Engine(self._core, failure_reports_only=not self._observing)
        self._path = engine.path
        try:
            engine.analyse_configured()
        except BaseException:
            engine.abandon()
            raise
        engine.start_refresher()

    @property
    def plain(self) -> bool:
        """True when :meth:`produce_lines` can take lines (no serializer, prefix or observer)."""
        return self._path.plain

    def produce_lines(
        self, topic: str, lines: list[bytes], separator: bytes | None, partition: int | None
    ) -> tuple[Counted, list[int]] | None:
        """
        Hand over one message per line (see :meth:`kaffe._hot.HotPath.count_lines`).

        A line is ``VALUE``, or ``KEY`` + ``separator`` + ``VALUE``; empty lines are
        skipped. Each message is tagged with its line's index in ``lines``.

        Args:
            topic: The topic.
            lines: The lines, without their line ends.
            separator: What ends the key, or ``None`` when lines have no key.
            partition: The partition of every line, or ``None`` for the strategy's.

        Returns:
            The batch's counts, and the indexes of the lines without the separator
            (not sent); ``None`` when the producer is not plain (nothing was sent:
            build the messages and use :meth:`produce_counted`).

        Raises:
            PartitionStrategyError: The strategy refused a line (md5 and no key);
                nothing was sent.
        """
        path = self._path
        if not path.open:
            self._engine.check_open()
        counted = Counted()
        name = self._core.topic_name(topic)
        self._engine.analyse(name)
        place = -1 if partition is None else partition
        unsplit = path.count_lines(name, lines, separator, place, counted, self._queue_full_timeout)
        return None if unsplit is None else (counted, unsplit)

    def produce_counted(
        self,
        topic: str,
        messages: Sequence[Message | tuple[Any, Any]],
        tags: Sequence[int],
    ) -> Counted:
        """
        Hand over messages of any form, counted; each keeps its tag.

        Every message is checked before any is sent, so bad input sends nothing.

        Args:
            topic: The topic.
            messages: ``(key, value)`` pairs or :class:`~kaffe.Message` objects.
            tags: The caller's number for each message (such as its line's index).

        Returns:
            The batch's counts.

        Raises:
            KaffeError: Bad input, raised before anything is sent.
        """
        path = self._path
        if not path.open:
            self._engine.check_open()
        started = now() if self._observing else 0.0
        counted = Counted()
        built = self._built(self._core.topic_name(topic), messages)
        path.count_messages(built, tags, counted, self._queue_full_timeout, started)
        return counted

    def _built(
        self, name: str, messages: Sequence[Message | tuple[Any, Any]]
    ) -> list[OutgoingMessage]:
        """The core's messages, with the metadata they need fetched on this thread."""
        core = self._core
        engine = self._engine
        try:
            return core.batch(name, messages)
        except MissingMetadata as missing:
            refreshed = missing.partition is not None
            engine.refresh(name) if refreshed else engine.analyse(name)
        try:
            return core.batch(name, messages, refreshed=refreshed)
        except MissingMetadata:
            engine.refresh(name)
        return core.batch(name, messages, refreshed=True)

    def wait(self) -> None:
        """
        Wait until every message handed over so far has its outcome.

        Acknowledged messages report nothing, so this waits until librdkafka's queue
        is empty, serving the failure reports meanwhile. Messages still without an
        outcome after ``delivery_timeout`` (and a grace period) are dropped and fail
        as :class:`~kaffe.DeliveryTimeoutError` through their slots.

        Raises:
            DeliveryTimeoutError: Some messages had no outcome even after being
                dropped, so what they did is unknown.
        """
        engine = self._engine
        if engine.flush(engine.delivery_wait) and (left := engine.give_up_outstanding()):
            raise DeliveryTimeoutError(
                f"{left} message(s) still had no outcome after the delivery timeout",
                reason="timed out",
                retriable=True,
            )

    def partitions_count(self, topic: str) -> int:
        """
        How many partitions a topic has, analysing it first if needed.

        Args:
            topic: The topic.

        Returns:
            The partition count.
        """
        engine = self._engine
        engine.check_open()
        name = self._core.topic_name(topic)
        engine.analyse(name)
        return self._core.topics[name].partitions_count

    def close(self, timeout: float | None = None) -> None:
        """
        Deliver what is outstanding, then release the connection and its threads.

        Calling it again does nothing.

        Args:
            timeout: Seconds to wait for outstanding messages; ``delivery_timeout`` when ``None``.

        Raises:
            UndeliveredMessagesError: Messages were still unacknowledged at the timeout;
                they were dropped (and failed through their slots).
        """
        engine = self._engine
        left = engine.close(engine.delivery_wait if timeout is None else timeout)
        if left:
            raise UndeliveredMessagesError(
                f"close() timed out with {left} message(s) not acknowledged; they were dropped",
                undelivered=left,
            )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
