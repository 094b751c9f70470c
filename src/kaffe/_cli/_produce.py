"""
``kaffe produce``: each line of stdin or a file becomes one message.

The input is read in batches of lines (:func:`._lines.read_batches`). Each batch is
handed over through kaffe's counting face (:class:`kaffe._counting.CountingProducer`):
plain lines go as they are, split in the compiled per-message path; lines that need
parsing (JSON, headers) become messages first (:class:`._lines.LineFormat`). kaffe
places every message itself, so it counts each partition when it hands a message
over, and librdkafka reports failed messages only; each batch is complete once
librdkafka's queue is empty. The counts (:class:`Tally`) make the summary. A line
that cannot be parsed or was not acknowledged is reported, and with
``--failed-out`` saved exactly as it was read.

``--metrics-port`` serves the :class:`kaffe.prometheus.Prometheus` observer's metrics
over HTTP while the command runs (:func:`serve_metrics`), and ``--stats`` adds
librdkafka's queue and round-trip figures to the summary (:class:`RunStatistics`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import functools
import gc
import os
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from rich.text import Text

import kaffe
from kaffe._config import DEFAULT_DELIVERY_TIMEOUT, STRATEGY_NAMES
from kaffe._counting import CountingProducer

from ._connection import Connection, connection_options
from ._exit import EXIT_NOT_PRODUCED
from ._lines import LineFormat, MalformedLineError, read_batches
from ._output import reported, say_error, stderr, stdout

if TYPE_CHECKING:
    from ._progress import ProgressBar

__all__ = [
    "BATCH_BYTES_LIMIT",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_METRICS_ADDRESS",
    "Interrupts",
    "ProducerSettings",
    "RunStatistics",
    "Tally",
    "failure_runs",
    "produce",
    "producer_options",
    "serve_metrics",
]

#: Lines sent at a time, unless ``--batch-size`` says otherwise.
DEFAULT_BATCH_SIZE = 5000
#: Bytes of lines after which a batch is sent even if it has fewer lines.
BATCH_BYTES_LIMIT = 8 * 1024 * 1024
#: Seconds between librdkafka statistics snapshots with ``--stats`` or ``--metrics-port``.
_STATISTICS_INTERVAL = 1.0
#: Where ``--metrics-port`` listens unless ``--metrics-address`` says otherwise: this
#: host only. A command run by hand is scraped from the same host; listening on other
#: interfaces (``0.0.0.0``, as in a container scraped from outside) is a choice to make.
DEFAULT_METRICS_ADDRESS = "127.0.0.1"
#: Objects allocated (net) between two runs of the garbage collector while lines are sent,
#: instead of Python's 700 (see :func:`_fewer_collections`).
_COLLECT_EVERY = 50_000
#: Seconds the summary of ``--stats`` waits, at most, for a snapshot taken after the run:
#: one is due every interval, so this long without one means statistics stopped coming.
_RUN_SNAPSHOT_WAIT = 10 * _STATISTICS_INTERVAL


# --- the producer's options -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProducerSettings:
    """
    The options of ``kaffe produce`` that shape the producer rather than the input.

    A new producer option of the command belongs here: a field, its ``click.option``
    in :func:`producer_options`, and its part in :meth:`config_options`.

    Attributes:
        strategy: ``--strategy``, or ``None`` for the default.
        partition: ``--partition``: send every message there, or ``None``.
        batch_size: ``--batch-size``: lines per batch.
        delivery_timeout: ``--delivery-timeout`` in seconds, or ``None``.
        metrics_port: ``--metrics-port``: serve Prometheus metrics on this port (0: any
            free port), or ``None``.
        metrics_address: ``--metrics-address``: the address the metrics are served on,
            or ``None`` for :data:`DEFAULT_METRICS_ADDRESS`.
        stats: ``--stats``: add librdkafka's queue and round-trip figures to the summary.
    """

    strategy: str | None = None
    partition: int | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    delivery_timeout: float | None = None
    metrics_port: int | None = None
    metrics_address: str | None = None
    stats: bool = False

    def __post_init__(self) -> None:
        if self.partition is not None and self.strategy is not None:
            raise click.UsageError("--partition and --strategy exclude each other; give one")
        if self.metrics_address is not None and self.metrics_port is None:
            raise click.UsageError("--metrics-address needs --metrics-port")

    @property
    def statistics(self) -> bool:
        """Whether the run needs librdkafka's statistics (``--stats`` or ``--metrics-port``)."""
        return self.stats or self.metrics_port is not None

    def config_options(self, topic: str, *, keyed: bool) -> dict[str, Any]:
        """
        The :class:`kaffe.ProducerConfig` options these settings ask for.

        Without ``--strategy`` the strategy is ``KAFFE_PARTITION_STRATEGY``, else
        ``md5`` (Kaffe's) for keyed input and ``murmur2`` (sticky random) for keyless.

        Args:
            topic: The topic to produce to.
            keyed: Whether the input has keys.
        """
        options: dict[str, Any] = {"topics": (topic,)}
        if self.strategy is not None:
            options["partition_strategy"] = self.strategy.lower()
        elif not os.environ.get("KAFFE_PARTITION_STRATEGY", "").strip():
            options["partition_strategy"] = "md5" if keyed else "murmur2"
        if self.delivery_timeout is not None:
            options["delivery_timeout"] = self.delivery_timeout
        if self.statistics:
            options["statistics_interval"] = _STATISTICS_INTERVAL
        return options


_PRODUCER_OPTIONS = (
    click.option(
        "--strategy",
        "-s",
        type=click.Choice(STRATEGY_NAMES, case_sensitive=False),
        help="Partition strategy. Default: $KAFFE_PARTITION_STRATEGY, else md5 for keyed input "
        "and murmur2 (sticky random) for keyless input.",
    ),
    click.option(
        "--partition",
        "-p",
        type=click.IntRange(min=0),
        help="Send every message to this partition.",
    ),
    click.option(
        "--batch-size",
        type=click.IntRange(min=1),
        default=DEFAULT_BATCH_SIZE,
        show_default=True,
        help="Lines per batch; each batch is acknowledged before the next is sent.",
    ),
    click.option(
        "--delivery-timeout",
        type=click.FloatRange(min=0.001),
        metavar="SECONDS",
        help="How long a message may wait for its acknowledgement. "
        f"Default: $KAFFE_DELIVERY_TIMEOUT or {DEFAULT_DELIVERY_TIMEOUT:g}.",
    ),
    click.option(
        "--metrics-port",
        type=click.IntRange(min=0, max=65535),
        metavar="PORT",
        help="Serve Prometheus metrics at http://ADDRESS:PORT/metrics while the command "
        "runs (0: any free port, printed on stderr). Needs kaffe[prometheus].",
    ),
    click.option(
        "--metrics-address",
        metavar="ADDRESS",
        help=f"The address --metrics-port listens on. Default: {DEFAULT_METRICS_ADDRESS} "
        "(this host only); 0.0.0.0 for every interface, as a scrape from another host needs.",
    ),
    click.option(
        "--stats",
        is_flag=True,
        help=f"Turn on librdkafka's statistics (every {_STATISTICS_INTERVAL:g} s) and add the "
        "queue and per-broker round-trip figures to the summary.",
    ),
)


def producer_options(command: Callable[..., None]) -> Callable[..., None]:
    """
    Give a command the producer's options; it receives them as ``settings``.

    See :class:`ProducerSettings`.
    """

    @functools.wraps(command)
    def with_settings(
        *args: Any,
        strategy: str | None,
        partition: int | None,
        batch_size: int,
        delivery_timeout: float | None,
        metrics_port: int | None,
        metrics_address: str | None,
        stats: bool,
        **kwargs: Any,
    ) -> None:
        settings = ProducerSettings(
            strategy,
            partition,
            batch_size,
            delivery_timeout,
            metrics_port=metrics_port,
            metrics_address=metrics_address,
            stats=stats,
        )
        command(*args, settings=settings, **kwargs)

    for option in reversed(_PRODUCER_OPTIONS):
        with_settings = option(with_settings)
    return with_settings


def _parse_header(
    context: click.Context, parameter: click.Parameter, values: tuple[str, ...]
) -> tuple[tuple[str, str], ...]:
    headers = []
    for item in values:
        name, found, value = item.partition("=")
        if not found or not name:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", context, parameter)
        headers.append((name, value))
    return tuple(headers)


# --- the command ------------------------------------------------------------------------


@click.command(short_help="Send lines from stdin or a file to a topic.")
@click.argument("topic")
@click.option(
    "--file",
    "-f",
    "path",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path),
    metavar="PATH",
    help="Read messages from PATH instead of stdin (- for stdin).",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["lines", "jsonl"], case_sensitive=False),
    default="lines",
    show_default=True,
    help="lines: one value per line. jsonl: one JSON document per line.",
)
@click.option(
    "--key-separator",
    "-K",
    metavar="SEP",
    help="lines: split key from value at the first SEP (use $'\\t' for a tab).",
)
@click.option("--key-field", metavar="FIELD", help="jsonl: take the key from this field.")
@click.option(
    "--value-field",
    metavar="FIELD",
    help="jsonl: take the value from this field. Default: the whole line.",
)
@click.option(
    "--header",
    "-H",
    "headers",
    multiple=True,
    metavar="NAME=VALUE",
    callback=_parse_header,
    help="Add a header to every message; repeat for more.",
)
@producer_options
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar with the rate. Default: on when stderr is a terminal.",
)
@click.option(
    "--failed-out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the lines that were not produced to FILE, as they were read.",
)
@connection_options
def produce(
    topic: str,
    path: Path | None,
    input_format: str,
    key_separator: str | None,
    key_field: str | None,
    value_field: str | None,
    headers: tuple[tuple[str, str], ...],
    settings: ProducerSettings,
    progress: bool | None,
    failed_out: Path | None,
    connection: Connection,
    verbose: bool,
) -> None:
    """
    Send each line of stdin (or --file) to TOPIC as one message.

    Lines go out in batches, each acknowledged before the next is sent. A summary
    follows: messages, bytes, messages per partition, failures and rate (with
    --stats also librdkafka's queue and round trips). Lines
    that were not produced are listed on stderr (and saved with --failed-out),
    and the exit code is then 1. Empty lines are skipped.

    \b
    Examples:
      kaffe produce events < values.txt
      kaffe produce events --key-separator : --header source=import < pairs.txt
      kaffe produce events --format jsonl --key-field id --file users.jsonl
      kaffe produce events --stats --metrics-port 9464 < values.txt
    """  # noqa: D301 - \b is click's marker for "do not rewrap"
    jsonl = input_format.lower() == "jsonl"
    if jsonl and key_separator is not None:
        raise click.UsageError("--key-separator is for --format lines; use --key-field for jsonl")
    if not jsonl and (key_field is not None or value_field is not None):
        raise click.UsageError("--key-field and --value-field need --format jsonl")
    if key_separator == "":
        raise click.BadParameter("must not be empty", param_hint="--key-separator")
    keyed = key_separator is not None or key_field is not None
    with reported(verbose):
        config = connection.config(**settings.config_options(topic, keyed=keyed))
        strategy = config.partition_strategy
        assert isinstance(strategy, str)  # a command line cannot pass a function
        if strategy == "md5" and not keyed and settings.partition is None:
            raise click.UsageError(
                "the md5 strategy needs keys: pass --key-separator or --key-field, "
                "or choose --strategy murmur2, crc32, fnv1a, round_robin or random"
            )
        line_format = LineFormat(
            jsonl=jsonl,
            key_separator=None if key_separator is None else os.fsencode(key_separator),
            key_field=key_field,
            value_field=value_field,
            headers=headers,
            partition=settings.partition,
            needs_key=strategy == "md5" and settings.partition is None,
        )
        with contextlib.ExitStack() as stack:
            source, total = _open_input(stack, path)
            failed_file = (
                None
                if failed_out is None
                else stack.enter_context(_open_failed_out(failed_out, source))
            )
            observing: dict[str, Any] = {}
            if settings.metrics_port is not None:
                observer, url = stack.enter_context(
                    serve_metrics(
                        settings.metrics_address or DEFAULT_METRICS_ADDRESS, settings.metrics_port
                    )
                )
                observing["observers"] = [observer]
                stderr().print(Text(f"Serving Prometheus metrics at {url}", style="dim"))
            run_statistics = RunStatistics() if settings.stats else None
            if run_statistics is not None:
                observing["on_statistics"] = run_statistics
            producer = stack.enter_context(CountingProducer(config, **observing))
            if settings.partition is not None:
                _check_partition(producer, topic, settings.partition)
            typing = source.isatty()  # someone types the lines
            if progress is None:
                progress = stderr().is_terminal and not typing
            # Send each typed line at once instead of waiting for a full batch.
            batch_size = 1 if typing else settings.batch_size
            if typing:
                stderr().print(Text("Sending each line you type; end with Ctrl-D.", style="dim"))
            tally = Tally()
            interrupts = Interrupts()
            try:
                with (
                    _progress(progress, topic, total) as bar,
                    interrupts.installed(),
                    _fewer_collections(),
                ):
                    _produce_lines(
                        producer,
                        topic,
                        source,
                        line_format,
                        batch_size,
                        tally,
                        failed_file,
                        bar,
                        interrupts,
                    )
                if run_statistics is not None:
                    run_statistics.wait_for_run(tally.produced, _RUN_SNAPSHOT_WAIT)
            except KeyboardInterrupt:
                _print_summary(
                    topic, strategy, settings.partition, tally, run_statistics, interrupted=True
                )
                raise
        _print_summary(
            topic, strategy, settings.partition, tally, run_statistics, interrupted=False
        )
        if tally.failures:
            _report_failures(tally, failed_out)
            raise SystemExit(EXIT_NOT_PRODUCED)


def _open_input(stack: contextlib.ExitStack, path: Path | None) -> tuple[IO[bytes], int | None]:
    """
    Open ``--file`` (stdin for ``None`` or ``-``) on ``stack``.

    Returns:
        The input, and its size in bytes when known.
    """
    if path is None or str(path) == "-":
        return sys.stdin.buffer, None
    return stack.enter_context(path.open("rb")), path.stat().st_size


def _open_failed_out(path: Path, source: IO[bytes]) -> IO[bytes]:
    """
    Open the ``--failed-out`` file for writing.

    Raises:
        click.BadParameter: It is the input itself, which opening it would empty
            before a line was read, or it cannot be written.
    """
    if _same_file(source, path):
        raise click.BadParameter(
            f"{path} is the input; writing it would erase the lines before they are read, "
            "so name another file",
            param_hint="--failed-out",
        )
    try:
        return path.open("wb")
    except OSError as error:
        raise click.BadParameter(
            f"cannot write {path}: {error.strerror or error}", param_hint="--failed-out"
        ) from None


def _same_file(source: IO[bytes], path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(source.fileno()), path.stat())
    except (OSError, ValueError):  # no such file yet, or a source without a file descriptor
        return False


def _check_partition(producer: CountingProducer, topic: str, partition: int) -> None:
    count = producer.partitions_count(topic)
    if partition >= count:
        raise kaffe.InvalidPartitionError(
            f"partition {partition} is out of range for topic {topic!r}, which has "
            f"{count} partitions (0..{count - 1})",
            topic=topic,
            partition=partition,
            partitions_count=count,
        )


# --- observing: --metrics-port and --stats -----------------------------------------------


@contextlib.contextmanager
def serve_metrics(address: str, port: int) -> Iterator[tuple[kaffe.Observer, str]]:
    """
    Serve Prometheus metrics over HTTP until the block ends.

    The metrics are ``prometheus_client``'s default registry: kaffe's
    :class:`~kaffe.prometheus.Prometheus` metrics and the process metrics
    ``prometheus_client`` adds there.

    Args:
        address: The address to listen on (``0.0.0.0`` for every IPv4 interface, ``::``
            for every interface).
        port: The port; 0 picks a free one.

    Yields:
        The observer to give the producer, and the URL the metrics are served at.

    Raises:
        click.BadParameter: ``prometheus_client`` is not installed, the address is
            unknown, or the port cannot be listened on (for example, it is taken).
    """
    try:
        import prometheus_client

        from kaffe.prometheus import Prometheus
    except ImportError:
        raise click.BadParameter(
            "serving metrics needs prometheus_client; install it with "
            "pip install 'kaffe[prometheus]'",
            param_hint="--metrics-port",
        ) from None
    try:
        server, thread = prometheus_client.start_http_server(port, addr=address)
    except socket.gaierror as error:
        raise click.BadParameter(
            f"{address!r} is not an address of this host ({error.strerror or error})",
            param_hint="--metrics-address",
        ) from None
    except OSError as error:
        taken = " (the port is taken)" if error.errno == errno.EADDRINUSE else ""
        not_here = error.errno == errno.EADDRNOTAVAIL  # an address of another host
        raise click.BadParameter(
            f"cannot listen on {_host_port(address, port)}: {error.strerror or error}{taken}",
            param_hint="--metrics-address" if not_here else "--metrics-port",
        ) from None
    try:
        url = f"http://{_host_port(address, server.server_port)}/metrics"
        yield Prometheus(), url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RunStatistics:
    """
    librdkafka's statistics over one run, for the summary of ``--stats``.

    Called with each :class:`kaffe.Statistics` snapshot (the producer's
    ``on_statistics``, on kaffe's poller thread). It keeps the largest queue any
    snapshot saw, the latest snapshot, and each broker's latest measured round trip:
    a snapshot whose interval sent a broker no request keeps its previous figures.

    Attributes:
        snapshots: How many snapshots arrived.
        peak_messages: The most messages any snapshot found in the local queue.
        peak_bytes: The most bytes any snapshot found there.
        latest: The latest snapshot, or ``None`` before the first.
        round_trips: Per broker id, its entry from the latest snapshot that measured
            its round trip.
    """

    def __init__(self) -> None:
        self.snapshots = 0
        self.peak_messages = 0
        self.peak_bytes = 0
        self.latest: kaffe.Statistics | None = None
        self.round_trips: dict[int, kaffe.BrokerStatistics] = {}
        self._arrived = threading.Condition()

    def __call__(self, statistics: kaffe.Statistics) -> None:
        """Take in one snapshot."""
        with self._arrived:
            self.snapshots += 1
            self.peak_messages = max(self.peak_messages, statistics.queue_messages)
            self.peak_bytes = max(self.peak_bytes, statistics.queue_bytes)
            self.latest = statistics
            for broker in statistics.brokers:
                if broker.rtt_samples:
                    self.round_trips[broker.node_id] = broker
            self._arrived.notify_all()

    def wait_for_run(self, produced: int, timeout: float) -> bool:
        """
        Wait up to ``timeout`` seconds for a snapshot that covers the whole run.

        Snapshots come once an interval, so the latest one when a run ends may have
        been taken before the run's last requests, or before its first (a run shorter
        than an interval): their round trips and its queue would be missing from the
        summary. A snapshot that counts at least ``produced`` messages as sent and
        finds the queue empty was taken after every acknowledged message was settled,
        so every round trip of the run is in it or in an earlier one.

        Args:
            produced: How many messages the run had acknowledged.
            timeout: Seconds to wait at most.

        Returns:
            Whether such a snapshot has arrived.
        """
        with self._arrived:
            return self._arrived.wait_for(
                lambda: (
                    self.latest is not None
                    and self.latest.sent_messages >= produced
                    and self.latest.queue_messages == 0
                ),
                timeout,
            )

    def rows(self) -> list[tuple[str, str]]:
        """
        The summary rows: the queue, then one round trip per broker.

        Returns:
            ``(label, text)`` pairs, such as ``("queue", "peak 5,000 messages ...")``.
        """
        with self._arrived:
            latest = self.latest
            if latest is None:
                return [("statistics", "none arrived before the run ended")]
            rows = [
                (
                    "queue",
                    f"peak {self.peak_messages:,} messages ({_megabytes(self.peak_bytes)}) "
                    f"in {self.snapshots:,} snapshot(s) {_STATISTICS_INTERVAL:g} s apart, "
                    f"{latest.queue_messages:,} at the end",
                )
            ]
            brokers = {broker.node_id: broker for broker in latest.brokers}
            brokers.update(
                (node_id, broker)
                for node_id, broker in self.round_trips.items()
                if node_id not in brokers
            )
            for index, node_id in enumerate(sorted(brokers)):
                broker = brokers[node_id]
                measured = self.round_trips.get(node_id)
                if measured is None or measured.rtt_p50 is None or measured.rtt_p99 is None:
                    trip = "not measured (no request answered)"
                else:
                    trip = (
                        f"p50 {_milliseconds(measured.rtt_p50)}, "
                        f"p99 {_milliseconds(measured.rtt_p99)}"
                    )
                rows.append(
                    ("rtt" if index == 0 else "", f"broker {node_id} ({broker.address}): {trip}")
                )
            return rows


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.2f} MB"


def _milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:,.2f} ms"


# --- sending ----------------------------------------------------------------------------


@dataclasses.dataclass
class Tally:
    """
    What a ``produce`` run achieved so far.

    Attributes:
        lines: Non-empty lines read.
        produced: Messages acknowledged.
        payload_bytes: Bytes of the keys and values acknowledged.
        partitions: Messages acknowledged per partition.
        failures: ``(line number, reason)`` of every line not produced.
        started: When sending began, on the monotonic clock.
        finished: When the last batch was settled, or ``None`` while sending goes on.
    """

    lines: int = 0
    produced: int = 0
    payload_bytes: int = 0
    partitions: Counter[int] = dataclasses.field(default_factory=Counter)
    failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    started: float = dataclasses.field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        """Seconds from the start of sending to its end, or to now (never zero)."""
        end = time.monotonic() if self.finished is None else self.finished
        return max(end - self.started, 1e-9)


class Interrupts:
    """
    Ctrl-C while a batch is in flight stops after that batch, not inside librdkafka.

    A ``KeyboardInterrupt`` raised while librdkafka runs one of kaffe's callbacks
    reaches the caller as confluent-kafka's ``SystemError``, with the batch's
    outcome unknown. So while a batch is sent, a first Ctrl-C only asks to stop:
    the batch is acknowledged (or fails) within the delivery timeout, and then
    ``KeyboardInterrupt`` is raised. A second Ctrl-C, or one while input is read,
    interrupts at once.
    """

    def __init__(self) -> None:
        self._sending = False
        self.requested = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT this way (from the main thread only, where Python delivers it)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """
        Send a batch; afterwards stop if Ctrl-C was pressed meanwhile.

        Raises:
            KeyboardInterrupt: Ctrl-C was pressed while the batch was in flight.
        """
        self._sending = True
        try:
            yield
        finally:
            self._sending = False
        if self.requested:
            raise KeyboardInterrupt

    def _on_interrupt(self, signal_number: int, frame: object) -> None:
        if self._sending and not self.requested:
            self.requested = True
            stderr().print(
                Text(
                    "Stopping once the messages in flight are acknowledged; "
                    "press Ctrl-C again to stop at once.",
                    style="dim",
                )
            )
            return
        raise KeyboardInterrupt


@contextlib.contextmanager
def _fewer_collections() -> Iterator[None]:
    """
    Run the garbage collector less often while lines are sent.

    Each message in flight holds a small object (its slot), which librdkafka keeps
    until the message's outcome. With Python's default threshold the collector ran
    hundreds of times per 300,000 lines, walking every object of the imported modules
    whenever it reached the oldest generation: about a tenth of the time spent
    sending. The slots form no cycles with anything that outlives a batch, so
    collecting less often leaves nothing behind for longer.
    """
    first, *older = gc.get_threshold()
    gc.set_threshold(max(first, _COLLECT_EVERY), *older)
    try:
        yield
    finally:
        gc.set_threshold(first, *older)


def _produce_lines(
    producer: CountingProducer,
    topic: str,
    source: IO[bytes],
    line_format: LineFormat,
    batch_size: int,
    tally: Tally,
    failed_file: IO[bytes] | None,
    bar: ProgressBar | None,
    interrupts: Interrupts,
) -> None:
    """Read every line and send them in batches, each acknowledged before the next is sent."""
    read = 0
    tally.started = time.monotonic()
    for first, lines, read in read_batches(source, batch_size, BATCH_BYTES_LIMIT):
        with interrupts.sending():
            _send_batch(producer, topic, first, lines, line_format, tally, failed_file)
        if bar is not None:
            bar.update(read, tally.produced)
    tally.finished = time.monotonic()
    if bar is not None:
        bar.finish(read, tally.produced)


def _send_batch(
    producer: CountingProducer,
    topic: str,
    first: int,
    lines: list[bytes],
    line_format: LineFormat,
    tally: Tally,
    failed_file: IO[bytes] | None,
) -> None:
    """
    Produce the lines of one batch, wait for every outcome, and record what happened.

    Args:
        producer: The producer.
        topic: The topic.
        first: The number of the batch's first line.
        lines: The batch's lines, blank ones included.
        line_format: How a line becomes a message.
        tally: Where the outcomes are counted.
        failed_file: Where lines that were not produced go, if anywhere.
    """
    failures: list[tuple[int, str]] = []  # (index in lines, reason)
    sent = None
    if line_format.plain:
        sent = producer.produce_lines(
            topic, lines, line_format.key_separator, line_format.partition
        )
    if sent is not None:
        counted, unsplit = sent
        tally.lines += len(lines) - lines.count(b"")
        if unsplit:
            failures += ((index, line_format.no_separator) for index in unsplit)
    else:
        messages: list[kaffe.Message | tuple[Any, Any]] = []
        tags: list[int] = []
        for index, raw in enumerate(lines):
            if line_format.is_blank(raw):
                continue
            tally.lines += 1
            try:
                messages.append(line_format.message(raw))
            except MalformedLineError as malformed:
                failures.append((index, str(malformed)))
                continue
            tags.append(index)
        try:
            counted = producer.produce_counted(topic, messages, tags)
        except kaffe.KaffeError as error:  # refused before anything was sent
            counted = None
            failures += ((index, error.message) for index in tags)
    if counted is not None:
        if counted.sent:
            producer.wait()
        failures += ((tag, error.message) for tag, error in counted.failures())
        produced, payload, partitions = counted.acknowledged()
        tally.produced += produced
        tally.payload_bytes += payload
        tally.partitions.update(partitions)
    if failures:
        failures.sort()
        for index, reason in failures:
            tally.failures.append((first + index, reason))
            if failed_file is not None:
                failed_file.write(lines[index] + b"\n")
        if failed_file is not None:
            failed_file.flush()


# --- reporting --------------------------------------------------------------------------


@contextlib.contextmanager
def _progress(enabled: bool, topic: str, total: int | None) -> Iterator[ProgressBar | None]:
    """The progress bar when ``enabled`` (rich's progress is imported only then), else ``None``."""
    if not enabled:
        yield None
        return
    from ._progress import progress_bar

    with progress_bar(topic, total) as bar:
        yield bar


def _print_summary(
    topic: str,
    strategy: str,
    partition: int | None,
    tally: Tally,
    run_statistics: RunStatistics | None,
    *,
    interrupted: bool,
) -> None:
    from rich.columns import Columns  # only for the summary
    from rich.table import Table

    elapsed = tally.elapsed
    placement = f"partition {partition}" if partition is not None else f"strategy {strategy}"
    status = " (interrupted)" if interrupted else ""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("topic", Text(f"{topic} ({placement}){status}"))
    summary.add_row("messages", f"{tally.produced:,} of {tally.lines:,} produced")
    summary.add_row("bytes", f"{tally.payload_bytes:,} (keys and values)")
    summary.add_row("failed", f"{len(tally.failures):,}")
    summary.add_row(
        "rate",
        f"{tally.produced / elapsed:,.0f} msg/s, {tally.payload_bytes / elapsed / 1e6:,.2f} MB/s "
        f"over {elapsed:,.2f} s",
    )
    if run_statistics is not None:
        for label, text in run_statistics.rows():
            summary.add_row(label, text)
    console = stdout()
    console.print(summary)
    if tally.partitions:
        console.print(Text("messages per partition:", style="bold"))
        console.print(
            Columns(
                [f"{number}: {count:,}" for number, count in sorted(tally.partitions.items())],
                padding=(0, 3),
            )
        )


def _report_failures(tally: Tally, failed_out: Path | None) -> None:
    console = stderr()
    for first, last, reason in failure_runs(sorted(tally.failures)):
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        console.print(Text(f"{where}: {reason}"))
    saved = f"; they are in {failed_out}" if failed_out is not None else ""
    say_error(f"{len(tally.failures):,} of {tally.lines:,} lines were not produced{saved}")


def failure_runs(failures: Sequence[tuple[int, str]]) -> Iterator[tuple[int, int, str]]:
    """
    Group consecutive line numbers that failed for the same reason.

    Args:
        failures: ``(line number, reason)`` pairs, sorted by line number.

    Yields:
        ``(first line, last line, reason)`` for each run.
    """
    start = previous = 0
    current: str | None = None
    for number, reason in failures:
        if reason == current and number == previous + 1:
            previous = number
            continue
        if current is not None:
            yield start, previous, current
        start = previous = number
        current = reason
    if current is not None:
        yield start, previous, current
