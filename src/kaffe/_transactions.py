"""
Transactions: the state of a transactional producer, and the bounded retries of its calls.

Both producer faces share one :class:`Transactions` per transactional producer.
Its methods block (the asyncio face runs them in a worker thread); every
librdkafka call goes through :meth:`Engine.transact <kaffe._engine.Engine.transact>`,
which translates its failures into the :class:`~kaffe.TransactionError` family.

A producer runs one transaction at a time::

    READY --begin()--> OPEN --commit()/abort()--> ENDING --> READY

A commit or an abort that does not finish within its bound is left *unfinished*:
librdkafka lets only the same call resume it, so the next :meth:`Transactions.begin`
finishes it first. A fenced producer is closed at once (:meth:`Engine.fence
<kaffe._engine.Engine.fence>`).
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from confluent_kafka import TopicPartition

from ._errors import (
    InvalidOffsetsError,
    KaffeError,
    ProducerFencedError,
    TransactionAbortedError,
    TransactionError,
    TransactionStateError,
)

if TYPE_CHECKING:
    from ._engine import Engine

__all__ = [
    "FIRST_BACKOFF",
    "MAX_BACKOFF",
    "Phase",
    "Transactions",
    "check_offsets",
    "require",
    "start_transactions",
]

logger = logging.getLogger("kaffe")

#: Seconds before the first retry of a retriable transactional call; each retry doubles it.
FIRST_BACKOFF = 0.1
#: Seconds between retries at most.
MAX_BACKOFF = 1.0


class Phase(enum.Enum):
    """Where a producer's transaction is."""

    READY = "ready"
    OPEN = "open"
    ENDING = "ending"


def require(transactions: Transactions | None, call: str) -> Transactions:
    """
    A producer's transaction state, for a call that needs one.

    Raises:
        TransactionStateError: The producer has no ``transactional_id``.
    """
    if transactions is None:
        raise TransactionStateError(
            f"{call}: this producer is not transactional; create it with transactional_id=...",
            reason="not transactional",
        )
    return transactions


def start_transactions(engine: Engine) -> Transactions | None:
    """
    Initialise transactions when the producer has a ``transactional_id``.

    ``init_transactions`` is retried while it fails retriably, within ``start_timeout``.

    Returns:
        The producer's transaction state, or ``None`` for a producer that is not
        transactional.

    Raises:
        TransactionError: Transactions could not be initialised.
    """
    config = engine.config
    if config.transactional_id is None:
        return None
    transactions = Transactions(engine)
    try:
        transactions.retry("init_transactions", (), config.start_timeout)
    except TransactionError as error:
        hint = (
            " (the transaction coordinator did not answer within start_timeout: the "
            "cluster's transaction.state.log.replication.factor and min.insync.replicas "
            "must fit its brokers)"
            if error.reason == "timed out"
            else ""
        )
        error.message = f"transactional_id {config.transactional_id!r}: {error.message}{hint}"
        error.args = (error.message,)
        raise
    return transactions


class Transactions:
    """
    The transaction state of one transactional producer.

    Args:
        engine: The producer's engine.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self.phase = Phase.READY
        #: The commit or abort that did not finish within its bound, to finish first.
        self.unfinished: str | None = None

    # --- the transaction block ----------------------------------------------------------

    def begin(self) -> None:
        """
        Begin a transaction, first finishing a commit or abort left unfinished.

        Raises:
            TransactionStateError: A transaction is already open on this producer.
            TransactionError: The unfinished commit or abort failed, or beginning did.
        """
        with self._lock:
            if self.phase is not Phase.READY:
                raise TransactionStateError(
                    "a transaction is already open on this producer: transactions do not "
                    "nest, and a producer runs one transaction at a time (use one producer "
                    "per concurrent transaction)",
                    reason="transaction already open",
                )
            self.phase = Phase.OPEN
        try:
            if self.unfinished is not None:
                self._finish_unfinished()
            self._call("begin_transaction", (), None)
        except BaseException:
            self.phase = Phase.READY
            raise

    def commit(self) -> None:
        """
        Commit the open transaction, delivering what is outstanding first.

        Retriable failures are retried within ``delivery_timeout`` (plus a grace). A
        failure that leaves the transaction abortable aborts it.

        Raises:
            TransactionAbortedError: The commit failed and the transaction was
                aborted; run it again.
            ProducerFencedError: A newer producer took over; this one is closed.
            TransactionError: The commit did not finish in time (it is finished by
                the next :meth:`begin`), or failed otherwise.
        """
        self._end_phase()
        try:
            try:
                self.retry("commit_transaction", (), self._engine.delivery_wait)
            except TransactionError as error:
                if not error.abortable:
                    failure = self._unfinished_or(error, "commit_transaction")
                    if failure is error:
                        raise
                    raise failure from error
                self._abort()
                raise TransactionAbortedError(
                    f"the transaction was aborted: its commit failed ({error.message}); "
                    "run it again",
                    reason="transaction aborted",
                    retriable=True,
                    code=error.code,
                ) from error
        finally:
            self.phase = Phase.READY

    def abort(self, cause: BaseException | None = None) -> KaffeError | None:
        """
        Abort the open transaction: its pending messages fail as aborted.

        Args:
            cause: The exception that ends the transaction block, when there is one.
                A failing abort is then logged, noted on ``cause`` (Python 3.11+) and
                returned rather than raised, so the block's own exception is what the
                caller sees.

        Returns:
            The abort's failure, when ``cause`` is given; else ``None``.

        Raises:
            ProducerFencedError: A newer producer took over; this one is closed.
            TransactionError: The abort did not finish in time (it is finished by
                the next :meth:`begin`), or failed otherwise.
        """
        self._end_phase()
        try:
            self._abort()
        except KaffeError as error:
            failure = (
                self._unfinished_or(error, "abort_transaction")
                if isinstance(error, TransactionError)
                else error
            )
            if cause is None:
                if failure is error:
                    raise
                raise failure from error
            if isinstance(error, ProducerFencedError):
                note = (
                    "kaffe: the producer was fenced (a newer producer with the same "
                    "transactional_id took over), so the broker aborted the transaction; "
                    "the producer is closed"
                )
            else:
                note = f"kaffe: aborting the transaction failed: {failure}"
                logger.error(
                    "aborting the transaction after %s failed: %s", type(cause).__name__, failure
                )
            if hasattr(cause, "add_note") and not isinstance(cause, ProducerFencedError):
                cause.add_note(note)  # Python 3.11+
            return failure
        finally:
            self.phase = Phase.READY
        return None

    # --- consume-transform-produce -------------------------------------------------------

    def send_offsets(self, offsets: Any, group_metadata: Any, timeout: float | None) -> None:
        """
        Add a consumer group's offsets to the open transaction.

        Args:
            offsets: ``TopicPartition`` objects naming the next offset to read.
            group_metadata: ``Consumer.consumer_group_metadata()``.
            timeout: Seconds, retries included; ``delivery_timeout`` when ``None``.

        Raises:
            TransactionStateError: No transaction is open.
            InvalidOffsetsError: The offsets or the group metadata are malformed.
            TransactionError: The call failed; see its flags.
        """
        positions = check_offsets(offsets, group_metadata)
        if self.phase is not Phase.OPEN:
            raise TransactionStateError(
                "send_offsets_to_transaction works only inside a transaction: call it "
                "within 'with producer.transaction():'",
                reason="outside a transaction",
            )
        bound = self._engine.config.delivery_timeout if timeout is None else float(timeout)
        self.retry("send_offsets_to_transaction", (positions, group_metadata), bound)

    # --- calls ------------------------------------------------------------------------------

    def retry(self, call: str, args: tuple[Any, ...], bound: float) -> None:
        """
        Make a transactional call, again while it fails retriably, for ``bound`` seconds.

        Raises:
            TransactionError: The last failure: not retriable, or out of time.
        """
        deadline = time.monotonic() + bound
        backoff = FIRST_BACKOFF
        while True:
            try:
                self._call(call, args, max(deadline - time.monotonic(), 0.001))
                return
            except TransactionError as error:
                remaining = deadline - time.monotonic()
                if not error.retriable or remaining <= backoff:
                    raise
                logger.info("%s failed retriably, trying again: %s", call, error)
            time.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _call(self, call: str, args: tuple[Any, ...], timeout: float | None) -> None:
        try:
            self._engine.transact(call, *args, timeout=timeout)
        except ProducerFencedError:
            self._engine.fence()
            raise

    def _abort(self) -> None:
        core = self._engine.core
        core.purged_by = "abort"
        try:
            self.retry("abort_transaction", (), self._engine.delivery_wait)
        finally:
            if core.purged_by == "abort":
                core.purged_by = "close"

    def _end_phase(self) -> None:
        with self._lock:
            if self.phase is not Phase.OPEN:
                raise TransactionStateError(
                    "no transaction is open on this producer", reason="no transaction"
                )
            self.phase = Phase.ENDING

    def _unfinished_or(self, error: TransactionError, call: str) -> TransactionError:
        """Remember a call that ran out of time, so the next transaction finishes it."""
        if not error.retriable or error.fatal or self._engine.fenced:
            return error
        self.unfinished = call
        verb = "commit" if call == "commit_transaction" else "abort"
        return TransactionError(
            f"the transaction's {verb} did not finish in time ({error.message}); its outcome "
            f"is open until it does: the next transaction() finishes the {verb} first",
            reason=f"{verb} unfinished",
            retriable=True,
            code=error.code,
        )

    def _finish_unfinished(self) -> None:
        call = self.unfinished
        assert call is not None
        try:
            if call == "abort_transaction":
                self._abort()
            else:
                self.retry(call, (), self._engine.delivery_wait)
        except TransactionError as error:
            if not error.retriable or error.fatal:
                self.unfinished = None  # nothing left to resume: raise this once
            raise
        self.unfinished = None
        logger.info("the previous transaction's %s finished", call.split("_")[0])


def check_offsets(offsets: Any, group_metadata: Any) -> list[TopicPartition]:
    """
    The offsets of ``send_offsets_to_transaction`` as a list, checked.

    Raises:
        InvalidOffsetsError: ``offsets`` is not an iterable of ``TopicPartition``
            with a topic and a partition, or ``group_metadata`` is not what
            ``Consumer.consumer_group_metadata()`` returns.
    """
    if isinstance(offsets, (str, bytes, TopicPartition)) or not isinstance(offsets, Iterable):
        raise InvalidOffsetsError(
            "send_offsets_to_transaction: offsets must be a list of "
            f"confluent_kafka.TopicPartition (as Consumer.position() returns), not "
            f"{type(offsets).__name__}",
            reason="invalid offsets",
        )
    positions = list(offsets)
    for index, position in enumerate(positions):
        if not isinstance(position, TopicPartition):
            raise InvalidOffsetsError(
                f"send_offsets_to_transaction: offsets[{index}] must be a "
                f"confluent_kafka.TopicPartition, not {type(position).__name__}",
                reason="invalid offsets",
            )
        if not position.topic or position.partition < 0:
            raise InvalidOffsetsError(
                f"send_offsets_to_transaction: offsets[{index}] names no topic and "
                f"partition: {position!r}",
                reason="invalid offsets",
            )
    if not isinstance(group_metadata, bytes) or not group_metadata:
        raise InvalidOffsetsError(
            "send_offsets_to_transaction: group_metadata must be what the consumer's "
            f"consumer_group_metadata() returns, not {type(group_metadata).__name__}",
            reason="invalid group metadata",
        )
    return positions
