"""
Observer hooks: see every message kaffe hands to librdkafka, and every outcome.

An observer is any object with the three methods of :class:`Observer`. Producers
call them from the one place that hands messages to librdkafka and the one place
that receives their outcomes, so no produce path is missed: ``produce_sync``,
``produce()`` futures, batches (per message), the asyncio face and the CLI.

Subclassing :class:`Observer` is optional; it supplies methods that do nothing,
so a subclass implements only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ._config import ProducerConfig
    from ._errors import KaffeError
    from ._statistics import Statistics
    from ._types import Delivery, OutgoingMessage

__all__ = ["Observer"]


@runtime_checkable
class Observer(Protocol):
    """
    What a producer tells its observers.

    Calls arrive on whichever thread hands the message over or serves its outcome,
    so an observer must be quick and thread-safe. An observer that raises is
    logged once per observer and kind of call, and never breaks a produce.

    .. versionadded:: 0.2.0
    """

    def on_send(self, message: OutgoingMessage, config: ProducerConfig) -> Any:
        """
        Called just before ``message`` is handed to librdkafka.

        The message is validated, encoded and placed. Its ``headers`` is a list the
        observer may append to (for example to propagate a trace context).

        Args:
            message: The message as it will be sent.
            config: The producer's configuration (client id, endpoints, ...).

        Returns:
            Any per-message context, passed back to :meth:`on_outcome` as it is
            (for example a tracing span); ``None`` when there is none.
        """
        return None

    def on_outcome(
        self,
        context: Any,
        message: OutgoingMessage,
        outcome: Delivery | KaffeError,
        seconds: float,
    ) -> None:
        """
        Called once with the outcome of every message :meth:`on_send` saw.

        Args:
            context: What :meth:`on_send` returned for this message.
            message: The message, as passed to :meth:`on_send`.
            outcome: The :class:`~kaffe.Delivery` of an acknowledged message, or
                the :class:`~kaffe.KaffeError` it failed with.
            seconds: Time from the produce call to this outcome.
        """
        return

    def on_statistics(self, statistics: Statistics) -> None:
        """
        Called with each librdkafka statistics snapshot (``statistics_interval``).

        Args:
            statistics: The parsed snapshot.
        """
        return
