"""
The engine: one librdkafka producer handle, the thread that serves its events, and its metadata.

The per-message hand-over lives in :class:`kaffe._hot.HotPath` (``Engine.path``),
compiled when kaffe is built: it is the only code that calls librdkafka's produce
family, and each message goes with its :class:`~kaffe._hot.Waiter` as the delivery
callback, so every outcome comes back through :meth:`Waiter.__call__
<kaffe._hot.Waiter>`. The engine owns the handle it uses, and everything that is
not per message.

Delivery reports are served by whoever holds the poll lock: a synchronous caller
waiting for its own message (so a lone caller never pays for a thread hand-off), a
thread that is producing fast (every :data:`INLINE_SERVE_EVERY` messages), or, when
nobody does, the background poller. While anyone waits synchronously, events are
served through librdkafka's ``flush``, which sends what is queued at once instead
of waiting for ``linger.ms``.

The engine also owns the logging bridge, the statistics callback, topic metadata
(start-up analysis and the periodic refresh), re-opening in a process forked after it
was made (:meth:`Engine.reopen_after_fork`), the transactional calls
(:meth:`Engine.transact`), and closing, which releases librdkafka's handle and
threads.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final

import confluent_kafka
from confluent_kafka import KafkaError, KafkaException

from ._core import Core, State
from ._errors import (
    AuthenticationError,
    BrokerUnavailableError,
    ConfigError,
    KaffeError,
    ProducerClosedError,
    ProducerFencedError,
    ProducerForkedError,
    TransactionError,
    UnknownTopicError,
    is_connection_failure,
    is_fatal,
    is_metadata_timeout,
    is_unknown_topic,
    is_worth_a_warning,
    means_topic_settling,
    redact,
    translate_kafka_error,
    translate_transaction_error,
)
from ._hot import SERVE_EVERY, HotPath
from ._log import LibrdkafkaLog
from ._security import TokenRefresher
from ._statistics import Statistics

__all__ = [
    "DELIVERY_GRACE",
    "INLINE_SERVE_EVERY",
    "Engine",
]

logger = logging.getLogger("kaffe")

#: Seconds a synchronous wait may run past ``delivery_timeout``: librdkafka checks
#: message timeouts about once a second, so its report can arrive slightly late.
DELIVERY_GRACE = 2.0
#: Producing threads serve ready delivery reports once per this many messages (a
#: power of two). Running the callbacks there, instead of on the poller, spares a GIL
#: hand-off per report while a thread is busy producing.
INLINE_SERVE_EVERY = SERVE_EVERY
_POLL_SLICE = 0.1
#: Seconds a synchronous caller serves per turn while it leads: short, so a leader whose
#: own report has come in returns soon after it.
_LEAD_SLICE = 0.001
#: Seconds a producing thread waits for the poll lock when it is due to serve: the
#: poller then finishes its turn without fighting for the GIL, and hands over.
_INLINE_WAIT = 0.001
#: Seconds the poller stays out of the way while producing threads serve inline.
_STEP_ASIDE = 0.002
#: Seconds ``close()`` serves the failure reports of purged messages, at most.
_PURGE_WAIT = 5.0
#: Seconds ``close()`` waits for other threads to leave librdkafka before releasing it.
_RELEASE_WAIT = 5.0
#: Seconds between looks for a refused TLS handshake or SASL login while waiting for
#: metadata: librdkafka retries a refused login forever, so waiting longer cannot help.
_REFUSAL_CHECK_INTERVAL = 0.5
#: Seconds to wait before asking again for metadata after a broker closed the connection.
_CLOSED_CONNECTION_PAUSE = 0.05
#: Seconds between looks, while the handle is created, for a token provider's failure.
_PROVIDER_CHECK = 0.05
#: Seconds between looks for room while librdkafka's queue is full.
_ROOM_SLICE = 0.005
#: Statistics snapshots kept for the poller to hand out, at most: each one goes to the
#: observers (a snapshot's round trips cover its interval only), unless the poller
#: falls this many intervals behind, when the oldest are dropped.
_STATISTICS_BACKLOG = 16
#: Transactional calls that deliver or purge what is outstanding, serving its reports.
_SERVING_CALLS = frozenset({"commit_transaction", "abort_transaction"})


_OPEN: Final = State.OPEN

_live_engines: weakref.WeakSet[Engine] = weakref.WeakSet()
#: librdkafka handles inherited through fork(). Their threads stayed in the parent, so
#: destroying one in the child would wait for threads that do not exist: keep them alive.
#: Nothing in the child touches them, so the delivery reports of the parent's messages in
#: flight (and the waiters they would settle) stay the parent's.
_inherited_handles: list[object] = []


def _after_fork_in_child() -> None:
    """Mark every engine as inherited: an open one re-opens on its first use in this process."""
    for engine in list(_live_engines):
        _inherited_handles.append(engine.rk)
        engine.inherited()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Handle(confluent_kafka.Producer):
    """
    librdkafka's producer handle, whose serving calls survive librdkafka's fatal error.

    confluent-kafka raises librdkafka's fatal error (a fenced transactional producer,
    a broken idempotent sequence) out of whichever ``poll()`` or ``flush()`` serves
    it, instead of handing it to ``error_cb``. Serving happens on the poller, on
    producing threads and on waiting callers, so the error would kill the poller or
    surface in an unrelated call. Here it goes to ``on_fatal`` instead: the messages
    it ruins fail through their own delivery reports, and the transactional calls
    report it.
    """

    def __init__(self, properties: dict[str, Any], on_fatal: Callable[[KafkaError], None]) -> None:
        super().__init__(properties)
        self.on_fatal = on_fatal

    def poll(self, timeout: float = -1) -> int:
        try:
            return super().poll(timeout)
        except KafkaException as failure:
            if not is_fatal(failure.args[0]):
                raise
            self.on_fatal(failure.args[0])
            return 0

    def flush(self, timeout: float = -1) -> int:
        try:
            return super().flush(timeout)
        except KafkaException as failure:
            if not is_fatal(failure.args[0]):
                raise
            self.on_fatal(failure.args[0])
            return len(self)


class _ReleasedHandle:
    """What ``Engine.rk`` becomes once librdkafka's handle is released: every use fails."""

    def __len__(self) -> int:
        return 0

    def __getattr__(self, name: str) -> Any:
        raise ProducerClosedError("the producer is closed; create a new one", reason="closed")


class Engine:
    """
    One librdkafka producer handle, its poller thread, and its metadata.

    Constructing it creates the handle; nothing is sent until :meth:`analyse`. In a
    process forked after that, the engine re-opens itself on first use (see
    :meth:`reopen_after_fork`).

    Args:
        core: The producer's core (config, topics, observers).
        failure_reports_only: Ask librdkafka for the delivery reports of failed
            messages only (``delivery.report.only.error``): an acknowledged message
            then settles nothing. For a face that counts what it sent instead of
            waiting per message (see :class:`kaffe._hot.Counted`).
    """

    #: Serialises re-opening in a forked child; made there by :meth:`inherited`.
    _reopening: threading.Lock

    def __init__(self, core: Core, *, failure_reports_only: bool = False) -> None:
        config = core.config
        self.core = core
        self.config = config
        self.secrets = core.secrets
        self.failure_reports_only = failure_reports_only
        #: The per-message path; it holds librdkafka's handle (``rk``).
        self.path = HotPath(core, self, None)
        self._state = State.OPEN
        self.last_error: KafkaError | None = None
        #: The last error that means a broker refused the TLS handshake or SASL login.
        self.last_refusal: KafkaError | None = None
        #: The latest statistics snapshot, parsed.
        self.statistics: Statistics | None = None
        self._statistics_texts: collections.deque[str] = collections.deque(
            maxlen=_STATISTICS_BACKLOG
        )
        self._on_statistics: Callable[[Statistics], None] | None = getattr(
            config, "on_statistics", None
        )
        #: True once the broker fenced this transactional producer (see :meth:`fence`).
        self.fenced = False
        self.rk = self._new_handle()
        self.delivery_wait = config.delivery_timeout + DELIVERY_GRACE
        self.poll_lock = threading.Lock()
        #: One entry per caller waiting synchronously (a thread or an awaiting task).
        #: While any waits, events are served through ``flush``, so librdkafka sends
        #: what is queued at once instead of waiting for ``linger.ms``.
        self.sync_waiters: collections.deque[None] = collections.deque()
        #: One entry per thread inside a call on the handle outside the poll lock; the
        #: handle is released only once none is (``append``/``pop`` are atomic).
        self._users = self.path.users
        self._wake = threading.Event()
        self._stopping = False
        self._refresh_wake = threading.Event()
        self._analysing = threading.Lock()
        self._poller = threading.Thread(target=self._run_poller, name="kaffe-poller", daemon=True)
        self._poller.start()
        self._refresher: threading.Thread | None = None
        _live_engines.add(self)
        core.on_unknown_partition = self._refresh_wake.set

    def _new_handle(self) -> Any:
        """
        Create a librdkafka handle from the configuration, with kaffe's callbacks.

        Raises:
            ConfigError: librdkafka rejected the configuration.
            AuthenticationError: A ``token_provider`` failed, or gave no token in time.
        """
        config = self.config
        properties = config.librdkafka_properties()
        if self.failure_reports_only:
            properties["delivery.report.only.error"] = True
        properties["error_cb"] = self._on_error
        properties["logger"] = LibrdkafkaLog(self.secrets)
        if properties.get("statistics.interval.ms"):
            properties["stats_cb"] = self._on_statistics_json
        refresher = properties.get("oauth_cb")
        try:
            if isinstance(refresher, TokenRefresher):
                refresher.secrets = self.secrets
                return _create_with_token_provider(
                    properties, refresher, config.start_timeout, self.secrets, self._on_fatal
                )
            return _Handle(properties, self._on_fatal)
        except KafkaException as error:
            if isinstance(refresher, TokenRefresher) and (
                refresher.failure is not None
                or isinstance(translate_kafka_error(error.args[0]), AuthenticationError)
            ):
                failure = refresher.startup_error(self.secrets)
                raise failure from failure.__cause__
            detail = redact(error.args[0].str(), self.secrets)
            raise ConfigError(
                f"librdkafka rejected the configuration: {detail}",
                reason="invalid option",
            ) from None
        except (TypeError, ValueError) as error:
            raise ConfigError(
                f"client_config: {redact(str(error), self.secrets)}", reason="invalid option"
            ) from None

    # --- state -----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """The engine's lifecycle state; the per-message path follows it."""
        return self._state

    @state.setter
    def state(self, state: State) -> None:
        self._state = state
        self.path.open = state is _OPEN

    @property
    def rk(self) -> Any:
        """The librdkafka producer handle (held by the per-message path)."""
        return self.path.rk

    @rk.setter
    def rk(self, handle: Any) -> None:
        self.path.rk = handle

    def check_open(self) -> None:
        """
        Raise unless the engine can produce; re-open it first if it was inherited through fork().

        Raises:
            ProducerForkedError: A transactional producer was created in another process.
            ProducerClosedError: The producer is closed.
            KaffeError: Re-opening in a forked child failed (see :meth:`_new_handle`).
        """
        if self.state is _OPEN:
            return
        if self.state is State.FORKED:
            self.reopen_after_fork()
            return
        if self.fenced:
            raise ProducerFencedError(
                "this producer was fenced and closed: a newer producer with transactional_id "
                f"{self.config.transactional_id!r} took over; create a new producer",
                reason="fenced",
                fatal=True,
            )
        raise ProducerClosedError("the producer is closed; create a new one", reason="closed")

    def is_closed(self) -> bool:
        """True once the engine can never produce again in this process."""
        if self.state is State.FORKED:
            return self.config.transactional_id is not None
        return self.state is not _OPEN

    def inherited(self) -> None:
        """
        Forget the parent's threads: called in a forked child's only thread, right after fork().

        No thread of the child is inside a call yet, so the bookkeeping of the parent's
        threads (callers inside librdkafka, callers waiting) starts afresh here, and the
        lock made for the re-opening is free, whatever the parent's threads held.
        """
        self._reopening = threading.Lock()
        self._users.clear()  # the per-message path's own record: cleared, not replaced
        self.sync_waiters.clear()
        if self.state is _OPEN:
            self.state = State.FORKED

    def reopen_after_fork(self) -> None:
        """
        Give an engine inherited through ``fork()`` its own handle, threads and locks, once.

        librdkafka's threads, and kaffe's poller and refresher, stayed in the parent, and
        a lock one of the parent's threads held at the fork stays held here forever. So
        the first call in the child creates a new handle from the same configuration,
        with new locks and new threads; the topics analysed in the parent are kept. The
        inherited handle is never used nor destroyed: the parent's messages in flight
        are the parent's to deliver, and their waiters are never settled nor dropped
        here. Threads of the child that call at once wait for one re-opening.

        Raises:
            ProducerForkedError: The producer is transactional: a second process with its
                ``transactional_id`` would fence the first, so it cannot re-open.
            KaffeError: Creating the new handle failed; the next call tries again.
        """
        transactional_id = self.config.transactional_id
        if transactional_id is not None:
            raise ProducerForkedError(
                f"this transactional producer (transactional_id {transactional_id!r}) was "
                "created in another process, and it cannot re-open itself after fork(): two "
                "processes with one transactional_id fence each other. Create the producer "
                "after forking, in each process, with a transactional_id of its own: in "
                "gunicorn's post_fork hook, a multiprocessing Pool initializer, Celery's "
                "worker_process_init signal, or lazily on first use",
                reason="forked",
            )
        with self._reopening:
            if self.state is not State.FORKED:
                self.check_open()  # another thread re-opened it, or it was closed meanwhile
                return
            self.rk = self._new_handle()
            self.poll_lock = threading.Lock()
            self._analysing = threading.Lock()
            path = self.path
            path.produced = 0
            self._wake = threading.Event()
            path.wake_pending = False
            path.poller_busy = False
            self._stopping = False
            self._refresh_wake = threading.Event()
            self.core.on_unknown_partition = self._refresh_wake.set
            self.last_error = self.last_refusal = None
            self.statistics = None
            self._statistics_texts.clear()
            self._poller = threading.Thread(
                target=self._run_poller, name="kaffe-poller", daemon=True
            )
            self._poller.start()
            refreshing = self._refresher is not None
            self._refresher = None
            self.state = _OPEN
            if refreshing:
                self.start_refresher()
        logger.debug("re-opened a producer inherited through fork() in process %d", os.getpid())

    def wait_for_room_until(self, deadline: float) -> bool:
        """
        Serve reports a slice at a time while librdkafka's queue is full.

        Returns:
            False once the deadline has passed or the producer is closing.
        """
        remaining = deadline - time.monotonic()
        if remaining <= 0 or self.state is not _OPEN:
            return False
        self.wait_for_room(min(remaining, _ROOM_SLICE))
        return True

    # --- serving events ----------------------------------------------------------------

    def _on_error(self, error: KafkaError) -> None:
        self.last_error = error
        if isinstance(translate_kafka_error(error), AuthenticationError):
            self.last_refusal = error
        if is_worth_a_warning(error):
            logger.warning("kafka: %s", redact(error.str(), self.secrets))
        else:
            logger.debug("kafka: %s", redact(error.str(), self.secrets))

    def _on_fatal(self, error: KafkaError) -> None:
        """Keep and log the fatal error confluent-kafka raised out of a serving call."""
        self.last_error = error
        if isinstance(translate_kafka_error(error), ProducerFencedError):
            self.core.purged_by = "fenced"  # librdkafka purges what is queued
        logger.warning("kafka: fatal error: %s", redact(error.str(), self.secrets))

    def _on_statistics_json(self, text: str) -> None:
        # Served by whoever polls, maybe a producing thread: keep only the text here,
        # the poller parses it. One poll may serve several snapshots; each is kept.
        self._statistics_texts.append(text)
        self._wake.set()

    def _publish_statistics(self) -> None:
        """Parse the waiting snapshots (once, on the poller) and hand each out, in order."""
        texts = self._statistics_texts
        while texts:
            text = texts.popleft()
            try:
                statistics = Statistics.from_json(text)
            except KaffeError as error:
                logger.debug("librdkafka statistics skipped: %s", error)
                continue
            self.statistics = statistics
            callback = self._on_statistics
            if callback is not None:
                try:
                    callback(statistics)
                except Exception as error:
                    logger.error(
                        "on_statistics raised %s: %s", type(error).__name__, error, exc_info=error
                    )
            observers = self.core.observers
            if observers:
                observers.statistics(statistics)

    def poll(self, timeout: float) -> None:
        """
        Serve librdkafka events for up to ``timeout`` seconds; call with ``poll_lock`` held.

        While a synchronous caller waits, this serves through ``flush``: librdkafka
        ignores ``linger.ms`` while flushing, so a waiting caller never pays for it.
        """
        if self.sync_waiters:
            self.rk.flush(timeout)
        else:
            self.rk.poll(timeout)

    def serve_inline(self) -> None:
        """
        Serve the delivery reports that are ready, from a thread that is producing.

        If the poller is serving, this waits briefly (without the GIL) so the poller
        finishes its turn, then serves; it never waits for new reports.
        """
        if self.poll_lock.acquire(timeout=_INLINE_WAIT):
            try:
                self.rk.poll(0)
            finally:
                self.poll_lock.release()

    def serve_ready(self) -> bool:
        """
        Serve the delivery reports that are ready, without ever waiting.

        Returns:
            False when another thread is serving (nothing was done).
        """
        if not self.poll_lock.acquire(blocking=False):
            return False
        try:
            if self.state is _OPEN:
                self.rk.poll(0)
        finally:
            self.poll_lock.release()
        return True

    def wait_for_room(self, timeout: float) -> None:
        """
        Serve delivery reports for up to ``timeout`` seconds while librdkafka's queue is full.

        Reports free room in the queue. This blocks without holding the GIL: in the
        lock wait or inside librdkafka, never in a busy loop.
        """
        if self.poll_lock.acquire(timeout=timeout):
            try:
                if self.state is _OPEN:
                    self.poll(timeout)
            finally:
                self.poll_lock.release()
        else:
            self.wake_poller()

    def wake_poller(self) -> None:
        """Make sure the background poller serves what is outstanding."""
        path = self.path
        if not path.poller_busy and not path.wake_pending:
            path.wake_pending = True
            self._wake.set()

    def _run_poller(self) -> None:
        path = self.path
        rk = self.rk
        seen = path.produced
        # librdkafka emits statistics only while someone polls: with statistics on, an
        # idle poller looks in once per interval.
        idle_wait = self.config.statistics_interval
        while True:
            if not self._wake.wait(idle_wait) and self.poll_lock.acquire(blocking=False):
                try:
                    if self.state is _OPEN:
                        rk.poll(0)
                finally:
                    self.poll_lock.release()
            self._wake.clear()
            path.wake_pending = False
            if self._stopping:
                return
            if self._statistics_texts:
                self._publish_statistics()
            path.poller_busy = True
            while True:
                while len(rk) > 0 and not self._stopping:
                    produced = path.produced
                    if produced - seen >= INLINE_SERVE_EVERY:
                        # Producing threads are busy and serve reports themselves;
                        # serving here too would fight them for the GIL per report.
                        seen = produced
                        time.sleep(_STEP_ASIDE)
                        continue
                    seen = produced
                    if self.poll_lock.acquire(timeout=_POLL_SLICE):
                        try:
                            self.poll(_POLL_SLICE)
                        finally:
                            self.poll_lock.release()
                    if self._statistics_texts:
                        self._publish_statistics()
                path.poller_busy = False
                # A message produced while we were busy skipped wake(); look once more.
                if len(rk) == 0 or self._stopping:
                    break
                path.poller_busy = True

    def serve_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """
        Serve events as the polling leader until ``done()`` or the deadline.

        The caller must be counted in :attr:`sync_waiters`, so serving flushes.

        Returns:
            False when another thread is already serving (the caller must wait
            on its own signal instead), True when this thread served.
        """
        if not self.poll_lock.acquire(blocking=False):
            return False
        try:
            rk = self.rk
            while not done() and self.state is _OPEN:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                # Alone in librdkafka's queue, the caller's own message is all flush()
                # waits for, so one long wait returns with its report; with others
                # queued it would wait for them too, so the leader looks a slice at a time.
                self.poll(min(remaining, _POLL_SLICE if len(rk) <= 1 else _LEAD_SLICE))
            outstanding = self.state is _OPEN and len(self.rk) > 0
        finally:
            self.poll_lock.release()
        if outstanding:
            self.wake_poller()
        return True

    def flush(self, timeout: float) -> int:
        """
        Deliver everything outstanding; return how many messages are left.

        A synchronous caller may hold ``poll_lock`` for its whole wait (up to
        ``delivery_timeout``), so this takes the lock only a slice at a time and
        never waits for it past ``timeout``; meanwhile that caller serves the events.
        """
        users = self._users
        users.append(None)
        try:
            self.check_open()
            deadline = time.monotonic() + timeout
            if not self._serve_while(self._outstanding, deadline, self.rk.flush):
                return 0
            return self._left() if self.state is _OPEN else 0
        finally:
            users.pop()

    def _left(self) -> int:
        """
        The length of librdkafka's queue once the events already queued are served.

        The length counts unserved events (logs, errors, statistics) besides the
        messages; serving what is queued first leaves, at most, an event that came in
        since. Events are served only if no other thread is serving them now.
        """
        if self.poll_lock.acquire(blocking=False):
            try:
                self.rk.poll(0)
            finally:
                self.poll_lock.release()
        return len(self.rk)

    def _outstanding(self) -> bool:
        return self.state is not State.FORKED and len(self.rk) > 0

    def _serve_while(
        self, busy: Callable[[], bool], deadline: float, serve: Callable[[float], object]
    ) -> bool:
        """
        Serve events with ``serve`` while ``busy()``, a slice at a time, until the deadline.

        Returns:
            Whether it was still busy at the deadline.
        """
        while busy():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self.poll_lock.acquire(timeout=min(remaining, _POLL_SLICE)):
                try:
                    serve(max(min(deadline - time.monotonic(), _POLL_SLICE), 0))
                finally:
                    self.poll_lock.release()
        return False

    # --- transactions ------------------------------------------------------------------

    def transact(self, call: str, *args: Any, timeout: float | None = None) -> None:
        """
        Make one of librdkafka's transactional calls: the only code that does.

        ``commit_transaction`` and ``abort_transaction`` deliver or purge what is
        outstanding and serve the delivery reports on this thread. They hold the poll
        lock meanwhile (waiting for it counts against ``timeout``), so when they
        return every message of the transaction has its outcome, and no other thread
        served one at the same time.

        Args:
            call: ``init_transactions``, ``begin_transaction``,
                ``send_offsets_to_transaction``, ``commit_transaction`` or
                ``abort_transaction``.
            *args: The call's arguments before its timeout.
            timeout: Seconds the call may take; ``None`` for calls without one.

        Raises:
            TransactionError: librdkafka refused or failed the call, translated.
            ProducerClosedError: The producer is closed.
        """
        users = self._users
        users.append(None)
        try:
            self.check_open()
            method = getattr(self.rk, call)
            if timeout is None:
                serving = False
            else:
                serving = call in _SERVING_CALLS
                deadline = time.monotonic() + timeout
                if serving and not self.poll_lock.acquire(timeout=timeout):
                    raise TransactionError(
                        f"{call} could not start within {timeout:g}s: another thread kept "
                        "serving delivery reports",
                        reason="timed out",
                        retriable=True,
                    )
                args = (*args, max(deadline - time.monotonic(), 0.001))
            try:
                method(*args)
            except KafkaException as failure:
                raise translate_transaction_error(
                    failure.args[0], call, secrets=self.secrets
                ) from failure
            finally:
                if serving:
                    self.poll_lock.release()
        finally:
            users.pop()

    def fence(self) -> None:
        """
        Close at once: the broker fenced this transactional producer.

        A newer producer with the same ``transactional_id`` took over, so this one
        can do nothing more. What is outstanding is dropped, and every later call
        raises :class:`~kaffe.ProducerFencedError`.
        """
        self.fenced = True
        self.core.purged_by = "fenced"
        self.abandon()

    # --- closing -----------------------------------------------------------------------

    def close(self, timeout: float) -> int:
        """
        Deliver what is outstanding within ``timeout``, drop the rest, and release everything.

        When this returns, the poller and the refresher have stopped and librdkafka's
        handle is destroyed, with its threads. Calls racing with it get
        :class:`~kaffe.ProducerClosedError`. Calling it again does nothing.

        Args:
            timeout: Seconds to wait for outstanding messages.

        Returns:
            How many messages were still unacknowledged and were dropped.
        """
        if self.state is State.FORKED:
            with self._reopening:
                if self.state is State.FORKED:  # the parent's handle: nothing here to release
                    self.state = State.CLOSED
        if self.state is not _OPEN:
            return 0
        self.state = State.CLOSED  # from here on, new calls are refused
        self._refresh_wake.set()
        self._serve_while(self._outstanding, time.monotonic() + timeout, self.rk.flush)
        purged = self.core.purged
        unreported = self._drop_outstanding()
        self._release()
        # Counted from the reports, not from librdkafka's queue length: that counts
        # unserved events too, and a log line is not an undelivered message.
        return self.core.purged - purged + unreported

    def give_up_outstanding(self) -> int:
        """
        Drop what is outstanding, each message failing as timed out, and stay open.

        For a face that counts what it sent and hears of failures only: a message
        still without an outcome when its wait is over would otherwise pass for
        acknowledged. Purged, it fails through its own report, as a
        :class:`~kaffe.DeliveryTimeoutError`.

        Returns:
            How many messages still had no outcome after their reports were served
            for :data:`_PURGE_WAIT` (0 unless librdkafka held on to them).
        """
        core = self.core
        core.purged_by = "timeout"
        try:
            unreported = self._drop_outstanding()
        finally:
            core.purged_by = "close"
        return unreported if self.state is _OPEN else 0

    def _drop_outstanding(self) -> int:
        """
        Drop what is left and fail its waiters.

        librdkafka fails purged in-flight messages from its broker threads a little
        after ``purge()`` returns, so reports are served until none is outstanding
        (for at most :data:`_PURGE_WAIT`); otherwise their waiters would never resolve.

        Returns:
            0 once librdkafka's queue is empty, every report served; otherwise its
            length after :data:`_PURGE_WAIT`.
        """
        with contextlib.suppress(KafkaException):  # purge fails only on bad arguments
            self.rk.purge()
        # len() counts queued reports too, so nothing is left to serve once it is 0.
        deadline = time.monotonic() + _PURGE_WAIT
        if self._serve_while(lambda: len(self.rk) > 0, deadline, self.rk.poll):
            return len(self.rk)
        return 0

    def _release(self) -> None:
        """Stop the threads, then destroy librdkafka's handle once no thread uses it."""
        self._stop_poller()
        refresher = self._refresher
        if refresher is not None and refresher is not threading.current_thread():
            refresher.join(timeout=_RELEASE_WAIT)
        deadline = time.monotonic() + _RELEASE_WAIT
        while self._users and time.monotonic() < deadline:
            time.sleep(0.001)
        if self._users or not self.poll_lock.acquire(timeout=_RELEASE_WAIT):
            logger.debug("closing: librdkafka's handle is still in use; left to the collector")
            return
        try:
            rk, self.rk = self.rk, _ReleasedHandle()
            rk.close()
        except Exception as error:  # destroying may only warn; never let close() crash
            logger.debug("closing librdkafka's handle: %s", error)
        finally:
            self.poll_lock.release()

    def abandon(self) -> None:
        """Release everything at once, dropping what is outstanding: for a failed start."""
        if self.state is not _OPEN:
            return
        self.state = State.CLOSED
        self._refresh_wake.set()
        self._drop_outstanding()
        self._release()

    def close_unclosed(self) -> None:
        """Close a producer nobody closed, from the garbage collector: briefly, never raising."""
        if self.state is not _OPEN:
            return
        try:
            self.close(min(self.delivery_wait, 5.0))
        except Exception as error:
            logger.debug("closing an unclosed producer: %s", error)

    def _stop_poller(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._poller is not threading.current_thread():
            self._poller.join(timeout=_RELEASE_WAIT)

    # --- metadata ----------------------------------------------------------------------

    def analyse(self, topic: str) -> None:
        """
        Learn a topic's partitions (once, however many threads ask) into the core.

        Raises:
            BrokerUnavailableError: No broker answered within ``start_timeout``.
            AuthenticationError: The TLS handshake or SASL login failed.
            UnknownTopicError: The topic does not exist.
        """
        if topic in self.core.topics:
            return
        with self._analysing:
            if topic in self.core.topics:
                return
            count, available = self.topic_metadata(topic, self.config.start_timeout)
            self.core.learn(topic, count, available)

    def refresh(self, topic: str) -> None:
        """Re-read one topic's partition count into the core; failures are only logged."""
        try:
            count, available = self.topic_metadata(topic, self.config.start_timeout)
        except KaffeError as error:
            logger.debug("metadata refresh of %r failed: %s", topic, error)
            return
        self.core.learn(topic, count, available)

    def refresh_all(self) -> None:
        """Re-read the partition count of every known topic."""
        for topic in list(self.core.topics):
            if self.state is not _OPEN:
                return
            self.refresh(topic)

    def analyse_configured(self) -> None:
        """
        Start-up analysis, like Kaffe's ``start_link``: connect and learn every configured topic.

        Raises:
            BrokerUnavailableError: No broker answered within ``start_timeout``.
            AuthenticationError: The TLS handshake or SASL login failed.
            UnknownTopicError: A configured topic does not exist.
        """
        for topic in self.config.topics:
            self.analyse(topic)
        if not self.config.topics:
            try:
                self.list_topics(None, self.config.start_timeout)
            except KafkaException as error:
                raise self._unreachable(error.args[0], "") from None

    def start_refresher(self) -> None:
        """Start the thread that re-reads partition counts every ``metadata_refresh_interval``."""
        interval = self.config.metadata_refresh_interval
        if interval is None:
            return
        self._refresher = threading.Thread(
            target=self._run_refresher, args=(interval,), name="kaffe-metadata", daemon=True
        )
        self._refresher.start()

    def _run_refresher(self, interval: float) -> None:
        wake = self._refresh_wake
        while True:
            wake.wait(interval)
            wake.clear()
            if self.state is not _OPEN:
                return
            self.refresh_all()

    def topic_metadata(self, topic: str, timeout: float) -> tuple[int, tuple[int, ...]]:
        """
        Ask the cluster about one topic, retrying while it is still being set up.

        Returns:
            The partition count, and the partitions that have a leader.

        Raises:
            BrokerUnavailableError: No broker answered within ``timeout``.
            AuthenticationError: The TLS handshake or SASL login failed.
            UnknownTopicError: The topic does not exist.
            ProducerClosedError: The producer was closed meanwhile.
        """
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                metadata = self.list_topics(topic, max(remaining, 0.001))
            except KafkaException as error:
                raise self._unreachable(error.args[0], topic) from None
            found = metadata.topics.get(topic)
            topic_error: KafkaError | None = None if found is None else found.error
            if found is not None and topic_error is None and found.partitions:
                available = tuple(
                    sorted(pid for pid, info in found.partitions.items() if info.leader >= 0)
                )
                return len(found.partitions), available
            creating = self.config.allow_topic_auto_creation and time.monotonic() < deadline
            # An auto-created topic is unknown until the broker made it.
            if topic_error is not None and is_unknown_topic(topic_error) and not creating:
                raise UnknownTopicError(
                    f"topic {topic!r} does not exist (kaffe does not create topics unless "
                    "allow_topic_auto_creation=True)",
                    topic=topic,
                    reason="unknown topic",
                    code=topic_error.name(),
                )
            if topic_error is not None and not means_topic_settling(topic_error):
                raise translate_kafka_error(topic_error, topic=topic, secrets=self.secrets)
            if time.monotonic() >= deadline:
                raise BrokerUnavailableError(
                    f"topic {topic!r} has no partition leaders yet after {timeout:g}s",
                    topic=topic,
                    reason="leader not available",
                    retriable=True,
                )
            time.sleep(0.1)

    def list_topics(self, topic: str | None, timeout: float) -> Any:
        """
        Read cluster metadata like ``rk.list_topics``, but stop early once a broker refused us.

        A refused TLS handshake or SASL login is reported through ``error_cb`` while
        ``list_topics`` keeps waiting; checking between short waits turns a wrong
        password or an untrusted certificate into an error within about a second
        instead of after the whole ``timeout``.

        Raises:
            AuthenticationError: A broker refused the TLS handshake or SASL login meanwhile.
            ProducerClosedError: The producer was closed meanwhile.
            KafkaException: Metadata did not arrive (``_unreachable`` explains why).
        """
        deadline = time.monotonic() + timeout
        seen = self.last_refusal
        users = self._users
        while True:
            self.check_open()
            remaining = deadline - time.monotonic()
            wait = max(min(remaining, _REFUSAL_CHECK_INTERVAL), 0.001)
            users.append(None)
            try:
                return self.rk.list_topics(topic, timeout=wait)
            except KafkaException as error:
                self.drain_errors()
                refusal = self.last_refusal
                if refusal is not None and refusal is not seen:
                    raise translate_kafka_error(
                        refusal, topic=topic or None, secrets=self.secrets
                    ) from None
                # A timeout, or a connection the broker closed (as it does when it refuses
                # a login, sometimes before the refusal reaches error_cb): look again, until
                # the deadline.
                if wait >= remaining or not is_connection_failure(error.args[0]):
                    raise
                if not is_metadata_timeout(error.args[0]):
                    time.sleep(min(_CLOSED_CONNECTION_PAUSE, remaining))
            finally:
                users.pop()

    def _unreachable(self, error: KafkaError, topic: str) -> KaffeError:
        self.drain_errors()
        last = self.last_error
        if last is not None and is_connection_failure(error):
            translated = translate_kafka_error(last, topic=topic, secrets=self.secrets)
            if isinstance(translated, BrokerUnavailableError):
                return translated
        endpoints = self.config.bootstrap_servers
        return BrokerUnavailableError(
            f"no broker of {endpoints} answered within the start timeout "
            f"({redact((last or error).str(), self.secrets)})",
            topic=topic,
            reason="broker unavailable",
            retriable=True,
            code=error.name(),
        )

    def drain_errors(self) -> None:
        """Serve queued error events so ``last_error`` is current."""
        if self.poll_lock.acquire(timeout=_POLL_SLICE):
            try:
                if self.state is _OPEN:
                    self.poll(0)
            finally:
                self.poll_lock.release()


def _create_with_token_provider(
    properties: dict[str, Any],
    refresher: TokenRefresher,
    timeout: float,
    secrets: Sequence[str],
    on_fatal: Callable[[KafkaError], None],
) -> Any:
    """
    Create the librdkafka handle of a producer whose tokens come from a ``token_provider``.

    confluent-kafka's constructor waits for the first token, looking once a second for
    a fixed 10 s, and nothing interrupts that wait: a provider that raises would hold
    start-up for the whole 10 s, whatever ``start_timeout`` says. So the handle is
    created on a helper thread, and start-up ends as soon as the provider fails, or
    once ``timeout`` has passed without a token. The helper thread then finishes on
    its own, and closes a handle created after all.

    Raises:
        AuthenticationError: The provider failed, or returned no token within ``timeout``.
        KafkaException: confluent-kafka refused the configuration.
    """
    lock = threading.Lock()
    created = threading.Event()
    outcome: list[Any] = []  # the handle, or the exception the constructor raised
    abandoned = False

    def create() -> None:
        try:
            handle: Any = _Handle(properties, on_fatal)
        except BaseException as error:
            handle = error
        with lock:
            outcome.append(handle)
            created.set()
            if not abandoned or isinstance(handle, BaseException):
                return
        with contextlib.suppress(Exception):  # nobody waits for it any more
            handle.close()

    helper = threading.Thread(target=create, name="kaffe-start", daemon=True)
    helper.start()
    deadline = time.monotonic() + timeout
    while not created.wait(_PROVIDER_CHECK):
        # Once a token is set, the constructor returns at its next look: wait for it.
        no_token = refresher.expires_at is None and time.monotonic() >= deadline
        if refresher.failure is not None or no_token:
            with lock:
                if not created.is_set():
                    abandoned = True
                    failure = refresher.startup_error(secrets, waited=timeout)
                    raise failure from failure.__cause__
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result
