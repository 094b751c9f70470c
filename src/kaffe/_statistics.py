"""
librdkafka statistics, typed: what ``statistics_interval`` delivers.

librdkafka emits one JSON document per interval (its ``STATISTICS.md`` describes every
field). :class:`Statistics` parses it once and lifts the fields a producer's operator
needs into typed attributes; everything else stays reachable through ``.raw``.
:class:`LatestStatistics` keeps the newest snapshot of each producer for the
observers' gauges.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from ._errors import KaffeError

__all__ = [
    "BrokerStatistics",
    "LatestStatistics",
    "PartitionStatistics",
    "RoundTrip",
    "Statistics",
]

#: librdkafka reports times in microseconds; kaffe reports seconds.
_MICROSECONDS = 1_000_000
#: Broker sources that name no real broker: the internal pseudo-broker and logical
#: ones such as ``GroupCoordinator`` and ``TxnCoordinator``.
_PSEUDO_SOURCES = frozenset({"internal", "logical"})
#: A producer's snapshot counts as gone after this many of its intervals without a new one.
_STALE_INTERVALS = 3.0
#: ... but never sooner than this many seconds, so a late snapshot does not blink out.
_MIN_STALE_SECONDS = 1.0


def _int(document: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = document.get(name, default)
    return value if type(value) is int else default


def _str(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name, "")
    return value if type(value) is str else ""


def _object(document: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = document.get(name)
    return value if isinstance(value, Mapping) else {}


class BrokerStatistics(NamedTuple):
    """
    One broker as a producer sees it, from a statistics snapshot's ``brokers``.

    Only brokers of the cluster (node id 0 or more) are listed. librdkafka also
    reports bootstrap brokers (node id -1: the configured endpoints, until the
    cluster's own brokers are learned and again when all of them are lost), its
    internal pseudo-broker and logical ones such as ``GroupCoordinator``; those stay
    in :attr:`Statistics.raw`.

    Attributes:
        node_id: The broker id (``nodeid``).
        name: librdkafka's name for it, ``"host:port/id"`` as in its log lines (``name``).
        address: ``"host:port"`` (``nodename``).
        state: The connection state: ``UP`` when connected; ``INIT``, ``DOWN``,
            ``CONNECT``, ``AUTH``, ``APIVERSION_QUERY``, ``AUTH_HANDSHAKE`` or ``UPDATE``
            otherwise (``state``).
        rtt_p50: Median round-trip time in seconds over the interval, or ``None`` when
            no request completed in it (``rtt.p50``).
        rtt_p99: 99th-percentile round-trip time in seconds, or ``None`` likewise
            (``rtt.p99``).
        rtt_samples: How many round trips the interval measured (``rtt.cnt``).
        waiting_messages: Messages in requests waiting to be written to the socket
            (``outbuf_msg_cnt``).
        in_flight_messages: Messages in requests sent and awaiting a response
            (``waitresp_msg_cnt``).
        request_timeouts: Requests timed out since the client started (``req_timeouts``).
        disconnects: Disconnections since the client started (``disconnects``).

    .. versionadded:: 0.2.0
    """

    node_id: int
    name: str
    address: str
    state: str
    rtt_p50: float | None
    rtt_p99: float | None
    rtt_samples: int
    waiting_messages: int
    in_flight_messages: int
    request_timeouts: int
    disconnects: int

    @property
    def up(self) -> bool:
        """Whether the producer is connected to this broker (``state`` is ``UP``)."""
        return self.state == "UP"

    @classmethod
    def from_raw(cls, broker: Mapping[str, Any]) -> BrokerStatistics:
        """
        Build from one entry of a snapshot's ``brokers`` object.

        Args:
            broker: The entry, as parsed from the JSON document.

        Returns:
            The typed broker.
        """
        rtt = _object(broker, "rtt")
        samples = _int(rtt, "cnt")
        return cls(
            node_id=_int(broker, "nodeid", -1),
            name=_str(broker, "name"),
            address=_str(broker, "nodename"),
            state=_str(broker, "state"),
            rtt_p50=_int(rtt, "p50") / _MICROSECONDS if samples else None,
            rtt_p99=_int(rtt, "p99") / _MICROSECONDS if samples else None,
            rtt_samples=samples,
            waiting_messages=_int(broker, "outbuf_msg_cnt"),
            in_flight_messages=_int(broker, "waitresp_msg_cnt"),
            request_timeouts=_int(broker, "req_timeouts"),
            disconnects=_int(broker, "disconnects"),
        )


class PartitionStatistics(NamedTuple):
    """
    One topic partition's queues, from a snapshot's ``topics.*.partitions``.

    librdkafka's internal "unassigned" partition (id -1) is left out: kaffe always
    names the partition of a message, so nothing waits there.

    Attributes:
        topic: The topic.
        partition: The partition id.
        leader: The leader's broker id, -1 when it has none (``leader``).
        waiting_messages: Messages waiting in the partition's first-level queue
            (``msgq_cnt``).
        waiting_bytes: Their size in bytes (``msgq_bytes``).
        ready_messages: Messages ready to be sent, in the transmit queue
            (``xmit_msgq_cnt``).
        ready_bytes: Their size in bytes (``xmit_msgq_bytes``).
        in_flight_messages: Messages sent and not yet acknowledged (``msgs_inflight``).
        sent_messages: Messages sent since the client started (``txmsgs``).
        sent_bytes: Their size in bytes (``txbytes``).

    .. versionadded:: 0.2.0
    """

    topic: str
    partition: int
    leader: int
    waiting_messages: int
    waiting_bytes: int
    ready_messages: int
    ready_bytes: int
    in_flight_messages: int
    sent_messages: int
    sent_bytes: int

    @property
    def queue_depth(self) -> int:
        """Messages not yet sent: waiting plus ready (in-flight ones are not counted)."""
        return self.waiting_messages + self.ready_messages

    @classmethod
    def from_raw(cls, topic: str, partition: Mapping[str, Any]) -> PartitionStatistics:
        """
        Build from one entry of a topic's ``partitions`` object.

        Args:
            topic: The topic the partition belongs to.
            partition: The entry, as parsed from the JSON document.

        Returns:
            The typed partition.
        """
        return cls(
            topic=topic,
            partition=_int(partition, "partition", -1),
            leader=_int(partition, "leader", -1),
            waiting_messages=_int(partition, "msgq_cnt"),
            waiting_bytes=_int(partition, "msgq_bytes"),
            ready_messages=_int(partition, "xmit_msgq_cnt"),
            ready_bytes=_int(partition, "xmit_msgq_bytes"),
            in_flight_messages=_int(partition, "msgs_inflight"),
            sent_messages=_int(partition, "txmsgs"),
            sent_bytes=_int(partition, "txbytes"),
        )


class Statistics:
    """
    One librdkafka statistics snapshot of a producer, typed and immutable.

    Built from the JSON document librdkafka emits every ``statistics_interval``
    (:meth:`from_json` parses it once). Counters (``sent_*``, ``received_*``) count
    since the client started; gauges (``queue_*``, the brokers' round trips) describe
    the moment or the last interval. A field missing from the document reads as 0.

    Attributes:
        raw: The parsed JSON document, as librdkafka emitted it. Treat it as read-only.
        name: The librdkafka handle's name, unique in the process, such as
            ``"kaffe#producer-1"`` (``name``).
        client_id: The configured ``client_id`` (``client_id``).
        emitted_at: Wall-clock time of the snapshot, in seconds since the epoch (``time``).
        clock: librdkafka's monotonic clock in seconds (``ts``); the difference between
            two snapshots of one producer is the interval between them.
        age: Seconds since the producer's librdkafka handle was created (``age``).
        queue_messages: Messages in the producer's queues: waiting, in flight, or
            acknowledged but not yet reported (``msg_cnt``).
        queue_bytes: Their size in bytes (``msg_size``).
        queue_max_messages: The limit on ``queue_messages`` (``msg_max``).
        queue_max_bytes: The limit on ``queue_bytes`` (``msg_size_max``).
        pending_events: Delivery reports and other events waiting for kaffe to serve
            them (``replyq``).
        sent_requests: Requests sent to brokers (``tx``).
        sent_bytes: Bytes sent to brokers (``tx_bytes``).
        received_responses: Responses received from brokers (``rx``).
        received_bytes: Bytes received from brokers (``rx_bytes``).
        sent_messages: Messages sent to brokers (``txmsgs``).
        sent_message_bytes: Their size in bytes, with per-message and batch framing
            (``txmsg_bytes``).
        received_messages: Messages received (always 0 for a producer) (``rxmsgs``).
        received_message_bytes: Their size in bytes (``rxmsg_bytes``).
        brokers: The cluster's brokers, by node id; see :class:`BrokerStatistics`
            for which brokers are left out.
        partitions: Every topic partition the producer has used, by topic and
            partition; see :class:`PartitionStatistics`.

    .. versionadded:: 0.2.0
    """

    __slots__ = (
        "age",
        "brokers",
        "client_id",
        "clock",
        "emitted_at",
        "name",
        "partitions",
        "pending_events",
        "queue_bytes",
        "queue_max_bytes",
        "queue_max_messages",
        "queue_messages",
        "raw",
        "received_bytes",
        "received_message_bytes",
        "received_messages",
        "received_responses",
        "sent_bytes",
        "sent_message_bytes",
        "sent_messages",
        "sent_requests",
    )

    raw: dict[str, Any]
    name: str
    client_id: str
    emitted_at: int
    clock: float
    age: float
    queue_messages: int
    queue_bytes: int
    queue_max_messages: int
    queue_max_bytes: int
    pending_events: int
    sent_requests: int
    sent_bytes: int
    received_responses: int
    received_bytes: int
    sent_messages: int
    sent_message_bytes: int
    received_messages: int
    received_message_bytes: int
    brokers: tuple[BrokerStatistics, ...]
    partitions: tuple[PartitionStatistics, ...]

    def __init__(self, raw: Mapping[str, Any]) -> None:
        document = raw if isinstance(raw, dict) else dict(raw)
        # librdkafka writes tx_bytes/rx_bytes at the top level; STATISTICS.md says
        # txbytes/rxbytes. Read either.
        sent_bytes = _int(document, "tx_bytes", _int(document, "txbytes"))
        received_bytes = _int(document, "rx_bytes", _int(document, "rxbytes"))
        brokers = [
            BrokerStatistics.from_raw(broker)
            for broker in _object(document, "brokers").values()
            if isinstance(broker, Mapping)
            and _int(broker, "nodeid", -1) >= 0
            and broker.get("source") not in _PSEUDO_SOURCES
        ]
        partitions = [
            PartitionStatistics.from_raw(topic_name, partition)
            for topic_name, topic in _object(document, "topics").items()
            if isinstance(topic, Mapping)
            for partition in _object(topic, "partitions").values()
            if isinstance(partition, Mapping) and _int(partition, "partition", -1) >= 0
        ]
        values: dict[str, Any] = {
            "raw": document,
            "name": _str(document, "name"),
            "client_id": _str(document, "client_id"),
            "emitted_at": _int(document, "time"),
            "clock": _int(document, "ts") / _MICROSECONDS,
            "age": _int(document, "age") / _MICROSECONDS,
            "queue_messages": _int(document, "msg_cnt"),
            "queue_bytes": _int(document, "msg_size"),
            "queue_max_messages": _int(document, "msg_max"),
            "queue_max_bytes": _int(document, "msg_size_max"),
            "pending_events": _int(document, "replyq"),
            "sent_requests": _int(document, "tx"),
            "sent_bytes": sent_bytes,
            "received_responses": _int(document, "rx"),
            "received_bytes": received_bytes,
            "sent_messages": _int(document, "txmsgs"),
            "sent_message_bytes": _int(document, "txmsg_bytes"),
            "received_messages": _int(document, "rxmsgs"),
            "received_message_bytes": _int(document, "rxmsg_bytes"),
            "brokers": tuple(sorted(brokers, key=lambda broker: broker.node_id)),
            "partitions": tuple(
                sorted(partitions, key=lambda partition: (partition.topic, partition.partition))
            ),
        }
        for name, value in values.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_json(cls, text: str | bytes) -> Statistics:
        """
        Parse one statistics document, as librdkafka's ``stats_cb`` receives it.

        Args:
            text: The JSON document.

        Returns:
            The snapshot.

        Raises:
            KaffeError: ``text`` is not a JSON object (``reason`` is
                ``"invalid statistics"``).
        """
        try:
            document = json.loads(text)
        except ValueError as error:
            raise KaffeError(
                f"statistics: not a JSON document ({error})", reason="invalid statistics"
            ) from error
        if not isinstance(document, dict):
            raise KaffeError(
                f"statistics: expected a JSON object, got {type(document).__name__}",
                reason="invalid statistics",
            )
        return cls(document)

    def broker(self, node_id: int) -> BrokerStatistics | None:
        """
        The broker with this id, or ``None`` when the snapshot does not list it.

        Args:
            node_id: The broker id.
        """
        for broker in self.brokers:
            if broker.node_id == node_id:
                return broker
        return None

    def partition(self, topic: str, partition: int) -> PartitionStatistics | None:
        """
        One topic partition's queues, or ``None`` when the snapshot does not list it.

        Args:
            topic: The topic.
            partition: The partition id.
        """
        for entry in self.partitions:
            if entry.topic == topic and entry.partition == partition:
                return entry
        return None

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Statistics is immutable; cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Statistics is immutable; cannot delete {name!r}")

    def __repr__(self) -> str:
        return (
            f"Statistics(name={self.name!r}, queue_messages={self.queue_messages}, "
            f"queue_bytes={self.queue_bytes}, brokers={[b.name for b in self.brokers]!r})"
        )


class RoundTrip(NamedTuple):
    """A broker's latest measured round-trip times, for gauges."""

    broker: BrokerStatistics
    p50: float
    p99: float


class _Latest:
    """One producer's newest snapshot and what the gauges derive from it."""

    __slots__ = ("interval", "received", "round_trips", "statistics")

    def __init__(
        self,
        statistics: Statistics,
        received: float,
        interval: float | None,
        round_trips: dict[str, RoundTrip],
    ) -> None:
        self.statistics = statistics
        self.received = received
        self.interval = interval
        self.round_trips = round_trips


class LatestStatistics:
    """
    The newest snapshot of each producer an observer serves, for its gauges.

    Several producers may share one observer: snapshots are kept per librdkafka
    handle (:attr:`Statistics.name`). A producer's snapshot is dropped once it is
    three of its intervals old (a closed producer emits no more), and never sooner
    than a second. Until a producer's second snapshot shows its interval, its
    snapshot is kept until the next one replaces it.

    A broker's round trip is the latest one measured: a snapshot whose interval saw
    no request to a broker keeps that broker's previous figures.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._latest: dict[str, _Latest] = {}

    def update(self, statistics: Statistics) -> None:
        """
        Record a new snapshot.

        Args:
            statistics: The snapshot.
        """
        now = self._clock()
        with self._lock:
            previous = self._latest.get(statistics.name)
            interval = None
            kept: dict[str, RoundTrip] = {}
            if previous is not None:
                elapsed = statistics.clock - previous.statistics.clock
                interval = elapsed if elapsed > 0 else previous.interval
                kept = previous.round_trips
            round_trips: dict[str, RoundTrip] = {}
            for broker in statistics.brokers:
                if broker.rtt_p50 is not None and broker.rtt_p99 is not None:
                    round_trips[broker.name] = RoundTrip(broker, broker.rtt_p50, broker.rtt_p99)
                elif broker.name in kept:
                    round_trips[broker.name] = kept[broker.name]._replace(broker=broker)
            self._latest[statistics.name] = _Latest(statistics, now, interval, round_trips)

    def current(self) -> list[Statistics]:
        """The newest snapshot of each producer still emitting, oldest producer first."""
        return [latest.statistics for latest in self._fresh()]

    def queue(self) -> tuple[int, int] | None:
        """
        Messages and bytes in the local queues of all producers.

        Returns:
            ``(messages, bytes)``, or ``None`` while no producer's snapshot is current.
        """
        fresh = self._fresh()
        if not fresh:
            return None
        return (
            sum(latest.statistics.queue_messages for latest in fresh),
            sum(latest.statistics.queue_bytes for latest in fresh),
        )

    def round_trips(self) -> dict[str, RoundTrip]:
        """
        The latest round trip per broker.

        Returns:
            Round trips by broker name; when several producers see one broker, the
            slowest figures of each quantile.
        """
        merged: dict[str, RoundTrip] = {}
        for latest in self._fresh():
            for name, trip in latest.round_trips.items():
                seen = merged.get(name)
                if seen is None:
                    merged[name] = trip
                else:
                    merged[name] = RoundTrip(
                        trip.broker, max(seen.p50, trip.p50), max(seen.p99, trip.p99)
                    )
        return merged

    def _fresh(self) -> list[_Latest]:
        now = self._clock()
        with self._lock:
            for name, latest in list(self._latest.items()):
                if latest.interval is not None and now - latest.received > max(
                    _STALE_INTERVALS * latest.interval, _MIN_STALE_SECONDS
                ):
                    del self._latest[name]
            return list(self._latest.values())
