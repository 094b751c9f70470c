"""
The ``kaffe`` command line.

``kaffe produce`` sends lines from stdin or a file through :class:`kaffe.Producer`'s
batch path; ``kaffe topics`` and ``kaffe ping`` read cluster metadata;
``kaffe partition`` shows, without a broker, where each strategy places a key.

It needs the ``cli`` extra (click and rich): ``pip install 'kaffe[cli]'``.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["main"]

#: Exit codes of every ``kaffe`` command.
EXIT_OK = 0
EXIT_NOT_PRODUCED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_UNKNOWN_TOPIC = 4
EXIT_ERROR = 5
EXIT_INTERRUPTED = 130

_MISSING = [name for name in ("click", "rich") if importlib.util.find_spec(name) is None]
if _MISSING:  # pragma: no cover - the cli extra is part of the dev install
    sys.stderr.write(
        f"Error: the kaffe command needs {' and '.join(_MISSING)}; "
        "install the cli extra: pip install 'kaffe[cli]'\n"
    )
    raise SystemExit(EXIT_ERROR)

# The imports below need the cli extra, checked above.
import concurrent.futures  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import IO, Any, TypeVar  # noqa: E402

import click  # noqa: E402
from confluent_kafka import KafkaError, KafkaException  # noqa: E402
from confluent_kafka.admin import AdminClient  # noqa: E402
from rich.columns import Columns  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.logging import RichHandler  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table  # noqa: E402
from rich.text import Text  # noqa: E402

from . import partitioners  # noqa: E402
from ._config import DEFAULT_START_TIMEOUT, STRATEGY_NAMES, ProducerConfig  # noqa: E402
from ._errors import (  # noqa: E402
    BatchProduceError,
    BrokerUnavailableError,
    ConfigError,
    InvalidPartitionError,
    InvalidTopicError,
    KaffeError,
    UnknownTopicError,
    redact,
    translate_kafka_error,
)
from ._log import LibrdkafkaLog  # noqa: E402
from ._producer import Producer  # noqa: E402
from ._types import Delivery, Message  # noqa: E402

_F = TypeVar("_F", bound=Callable[..., Any])

#: Messages handed to ``produce_batch_sync`` at a time, unless ``--batch-size`` says otherwise.
DEFAULT_BATCH_SIZE = 5000
#: Bytes of keys and values after which a batch is sent even if it has fewer messages.
BATCH_BYTES_LIMIT = 8 * 1024 * 1024
#: librdkafka properties that only matter to a producer; the admin client leaves them out.
_PRODUCER_ONLY = frozenset(
    {"acks", "enable.idempotence", "delivery.timeout.ms", "linger.ms", "allow.auto.create.topics"}
)
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}

_EXIT_CODES_HELP = f"""\b
Exit codes:
  {EXIT_OK}    success; for produce, every message was acknowledged
  {EXIT_NOT_PRODUCED}    produce: some lines were not produced (listed on stderr)
  {EXIT_USAGE}    bad arguments, options or configuration
  {EXIT_UNREACHABLE}    no broker answered, or the TLS/SASL login failed
  {EXIT_UNKNOWN_TOPIC}    the topic does not exist
  {EXIT_ERROR}    any other error (run with --verbose for details)
  {EXIT_INTERRUPTED}  interrupted
"""


# --- output -----------------------------------------------------------------------------


def _stdout() -> Console:
    return Console(highlight=False, emoji=False, soft_wrap=True)


def _stderr(*, force_terminal: bool | None = None) -> Console:
    return Console(
        stderr=True, highlight=False, emoji=False, soft_wrap=True, force_terminal=force_terminal
    )


def _say_error(message: str) -> None:
    _stderr().print(Text.assemble(("Error: ", "bold red"), message), markup=False)


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """Route kaffe's and librdkafka's log lines to stderr with ``--verbose``; else drop them."""
    logger = logging.getLogger("kaffe")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    handler: logging.Handler
    if verbose:
        handler = RichHandler(console=_stderr(), show_path=False, markup=False)
        logger.setLevel(logging.DEBUG)
    else:
        handler = logging.NullHandler()
    logger.handlers = [handler]
    logger.propagate = False
    try:
        yield
    finally:
        logger.handlers, logger.level, logger.propagate = saved


def _exit_code(error: KaffeError) -> int:
    if isinstance(error, (ConfigError, InvalidTopicError, InvalidPartitionError)):
        return EXIT_USAGE
    if isinstance(error, BrokerUnavailableError):
        return EXIT_UNREACHABLE
    if isinstance(error, UnknownTopicError):
        return EXIT_UNKNOWN_TOPIC
    return EXIT_ERROR


@contextlib.contextmanager
def _reported(verbose: bool) -> Iterator[None]:
    """Turn every failure into one ``Error:`` line and an exit code; ``--verbose`` adds details."""
    with _logging(verbose):
        try:
            yield
        except (click.exceptions.Exit, click.ClickException, click.Abort, BrokenPipeError):
            raise  # click reports these itself (a closed pipe ends the command quietly)
        except KeyboardInterrupt:
            _say_error("interrupted")
            raise SystemExit(EXIT_INTERRUPTED) from None
        except KaffeError as error:
            _fail(error.message, _exit_code(error), verbose, error)
        except KafkaException as error:
            translated = translate_kafka_error(error.args[0])
            _fail(translated.message, _exit_code(translated), verbose, error)
        except OSError as error:
            where = f": {error.filename}" if error.filename else ""
            _fail(f"{error.strerror or error}{where}", EXIT_ERROR, verbose, error)
        except Exception as error:
            _fail(
                f"unexpected {type(error).__name__}: {error} "
                "(run with --verbose for the traceback)",
                EXIT_ERROR,
                verbose,
                error,
            )


def _fail(message: str, code: int, verbose: bool, error: BaseException) -> None:
    if verbose:
        console = _stderr()
        console.print_exception()
        if isinstance(error, KaffeError):
            details = {
                "type": f"kaffe.{type(error).__name__}",
                "topic": error.topic,
                "partition": error.partition,
                "reason": error.reason,
                "retriable": error.retriable,
                "code": error.code,
            }
            for name, value in details.items():
                if value is not None:
                    console.print(Text(f"  {name}: {value}"), markup=False)
    _say_error(message)
    raise SystemExit(code) from None


# --- connection options -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Connection:
    """Where to connect: the options every broker-facing command shares."""

    endpoints: str | None
    heroku: bool
    timeout: float | None

    def config(self, **options: Any) -> ProducerConfig:
        """
        Build the producer config: command-line options over ``KAFFE_*`` variables.

        Raises:
            click.UsageError: No broker was named anywhere.
            ConfigError: An option or variable is invalid.
        """
        environ = dict(os.environ)
        if self.heroku and self.endpoints:
            raise click.UsageError("--endpoints and --heroku exclude each other; give one")
        if self.heroku:
            options.update(heroku_kafka_env=True, endpoints=())
        elif self.endpoints:
            options.update(endpoints=self.endpoints, heroku_kafka_env=False)
        elif not environ.get("KAFFE_ENDPOINTS", "").strip() and environ.get(
            "KAFFE_HEROKU_KAFKA_ENV", ""
        ).strip().lower() not in ("1", "true", "yes", "on"):
            raise click.UsageError(
                "no brokers given: pass --endpoints HOST:PORT, set KAFFE_ENDPOINTS, "
                "or use --heroku to read KAFKA_URL"
            )
        if self.timeout is not None:
            options["start_timeout"] = self.timeout
        return ProducerConfig.from_env(environ, **options)


def _connection_options(function: _F) -> _F:
    options = [
        click.option(
            "--endpoints",
            "-e",
            metavar="HOST:PORT[,...]",
            help="Brokers to connect to. Default: $KAFFE_ENDPOINTS.",
        ),
        click.option(
            "--heroku",
            is_flag=True,
            help="Connect with Heroku's KAFKA_URL, KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT(_KEY) "
            "and KAFKA_PREFIX.",
        ),
        click.option(
            "--timeout",
            "-t",
            type=click.FloatRange(min=0.001),
            metavar="SECONDS",
            help="How long to wait for brokers and topic metadata. "
            f"Default: $KAFFE_START_TIMEOUT or {DEFAULT_START_TIMEOUT:g}.",
        ),
        click.option("--verbose", "-v", is_flag=True, help="Show client logs and error details."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


# --- the command group --------------------------------------------------------------------


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_EXIT_CODES_HELP,
)
@click.version_option(package_name="kaffe", prog_name="kaffe")
def cli() -> None:
    """
    Produce to Apache Kafka and place keys the way other Kafka clients do.

    Brokers come from --endpoints, KAFFE_ENDPOINTS, or --heroku. TLS and SASL
    settings come from the KAFFE_SSL_* and KAFFE_SASL_* variables.
    """


# --- kaffe partition ------------------------------------------------------------------------


@cli.command(short_help="Show where each strategy puts keys (offline).")
@click.argument("keys", nargs=-1, required=True, metavar="KEY [KEY...]")
@click.option(
    "--partitions",
    "-n",
    "partitions_count",
    type=click.IntRange(min=1),
    required=True,
    help="How many partitions the topic has.",
)
@click.option(
    "--strategy",
    "-s",
    type=click.Choice([*partitioners.HASH_FUNCTIONS, "all"], case_sensitive=False),
    help="The hash to apply, or 'all' for a table of every one. "
    "Default: $KAFFE_PARTITION_STRATEGY if it names a hash, else md5.",
)
@click.option("--hex", "hex_keys", is_flag=True, help="The keys are hex-encoded bytes.")
def partition(
    keys: tuple[str, ...], partitions_count: int, strategy: str | None, hex_keys: bool
) -> None:
    """
    Show the partition each KEY goes to. Works offline.

    One line per key, `KEY<TAB>PARTITION`, so with one key the partition is the
    last token. With --strategy all, a table across md5, murmur2, crc32 and fnv1a.

    \b
    Example:
      kaffe partition user-42 --partitions 12 --strategy murmur2
    """  # noqa: D301 - \b is click's marker for "do not rewrap"
    encoded = [_key_argument(key, hex_keys) for key in keys]
    if strategy is None:
        configured = os.environ.get("KAFFE_PARTITION_STRATEGY", "").strip().lower()
        strategy = configured if configured in partitioners.HASH_FUNCTIONS else "md5"
    strategy = strategy.lower()
    if strategy != "all":
        function = partitioners.HASH_FUNCTIONS[strategy]
        for key, key_bytes in zip(keys, encoded, strict=True):
            click.echo(f"{key}\t{function(key_bytes, partitions_count)}")
        return
    table = Table(title=f"Partitions of {len(keys)} key(s) among {partitions_count}")
    table.add_column("key")
    for name in partitioners.HASH_FUNCTIONS:
        table.add_column(name, justify="right")
    for key, key_bytes in zip(keys, encoded, strict=True):
        table.add_row(
            Text(key),
            *(
                str(function(key_bytes, partitions_count))
                for function in partitioners.HASH_FUNCTIONS.values()
            ),
        )
    _stdout().print(table)


def _key_argument(key: str, hex_keys: bool) -> bytes:
    if not hex_keys:
        # The bytes the shell passed, even if they are not valid UTF-8.
        return os.fsencode(key)
    try:
        return bytes.fromhex(key)
    except ValueError:
        raise click.BadParameter(f"{key!r} is not hex-encoded bytes", param_hint="KEY") from None


# --- kaffe produce --------------------------------------------------------------------------


@dataclasses.dataclass
class _Line:
    """One input line: where it was, what it said, and the message it became (if any)."""

    number: int
    raw: bytes
    message: Message | None = None
    reason: str | None = None


@dataclasses.dataclass
class _Tally:
    """What a ``produce`` run achieved."""

    lines: int = 0
    produced: int = 0
    payload_bytes: int = 0
    partitions: Counter[int] = dataclasses.field(default_factory=Counter)
    failures: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    started: float = dataclasses.field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)


@dataclasses.dataclass(frozen=True)
class _LineFormat:
    """How a line becomes a message."""

    jsonl: bool
    key_separator: bytes | None
    key_field: str | None
    value_field: str | None
    headers: tuple[tuple[str, str], ...]
    partition: int | None
    needs_key: bool

    def parse(self, line: _Line) -> None:
        """Fill in ``line.message``, or ``line.reason`` when the line is malformed."""
        raw = line.raw
        key: str | bytes | None = None
        value: str | bytes | None = raw
        try:
            if self.jsonl:
                key, value = self._parse_json(raw)
            elif self.key_separator is not None:
                key_part, found, value_part = raw.partition(self.key_separator)
                if not found:
                    raise ValueError(
                        f"no key separator {self.key_separator.decode()!r} in the line"
                    )
                key, value = key_part, value_part
        except ValueError as error:
            line.reason = str(error)
            return
        if key is None and self.needs_key:
            line.reason = "no key, and the md5 strategy refuses keyless messages as Kaffe does"
            return
        line.message = Message(key, value, list(self.headers) or None, self.partition)

    def _parse_json(self, raw: bytes) -> tuple[str | None, str | bytes | None]:
        try:
            document = json.loads(raw)
        except UnicodeDecodeError:
            raise ValueError("not valid UTF-8") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from None
        if self.key_field is None and self.value_field is None:
            return None, raw
        if not isinstance(document, dict):
            kind = _JSON_TYPES.get(type(document), "number")
            raise ValueError(f"a JSON {kind}, not an object with the fields to read")
        key = None if self.key_field is None else _json_field(document, self.key_field)
        value = raw if self.value_field is None else _json_field(document, self.value_field)
        return key, value


def _json_field(document: dict[str, Any], field: str) -> str | None:
    if field not in document:
        raise ValueError(f"no field {field!r}")
    value = document[field]
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


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


class _RateColumn(ProgressColumn):
    """Messages acknowledged per second."""

    def __init__(self) -> None:
        super().__init__(table_column=Column(no_wrap=True))

    def render(self, task: Task) -> Text:
        produced = task.fields.get("produced", 0)
        elapsed = task.elapsed or 0.0
        rate = produced / elapsed if elapsed > 0 else 0.0
        return Text(f"{produced:,} msgs {rate:,.0f} msg/s")


@cli.command(short_help="Send lines from stdin or a file to a topic.")
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
    "--strategy",
    "-s",
    type=click.Choice(STRATEGY_NAMES, case_sensitive=False),
    help="Partition strategy. Default: $KAFFE_PARTITION_STRATEGY, else md5 for keyed input "
    "and murmur2 (sticky random) for keyless input.",
)
@click.option(
    "--partition",
    "-p",
    type=click.IntRange(min=0),
    help="Send every message to this partition.",
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
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Messages per batch; each batch is acknowledged before the next is sent.",
)
@click.option(
    "--delivery-timeout",
    type=click.FloatRange(min=0.001),
    metavar="SECONDS",
    help="How long a message may wait for its acknowledgement. Default: "
    "$KAFFE_DELIVERY_TIMEOUT or 30.",
)
@_connection_options
def produce(
    topic: str,
    path: Path | None,
    input_format: str,
    key_separator: str | None,
    key_field: str | None,
    value_field: str | None,
    strategy: str | None,
    partition: int | None,
    headers: tuple[tuple[str, str], ...],
    progress: bool | None,
    failed_out: Path | None,
    batch_size: int,
    delivery_timeout: float | None,
    endpoints: str | None,
    heroku: bool,
    timeout: float | None,
    verbose: bool,
) -> None:
    """
    Send each line of stdin (or --file) to TOPIC as one message.

    Messages go out in batches through the producer's batch path. A summary
    follows: messages, bytes, messages per partition, failures and rate. Lines
    that were not produced are listed on stderr (and saved with --failed-out),
    and the exit code is then 1. Empty lines are skipped.

    \b
    Examples:
      kaffe produce events < values.txt
      kaffe produce events --key-separator : --header source=import < pairs.txt
      kaffe produce events --format jsonl --key-field id --file users.jsonl
    """  # noqa: D301 - \b is click's marker for "do not rewrap"
    jsonl = input_format.lower() == "jsonl"
    if jsonl and key_separator is not None:
        raise click.UsageError("--key-separator is for --format lines; use --key-field for jsonl")
    if not jsonl and (key_field is not None or value_field is not None):
        raise click.UsageError("--key-field and --value-field need --format jsonl")
    if key_separator == "":
        raise click.BadParameter("must not be empty", param_hint="--key-separator")
    if partition is not None and strategy is not None:
        raise click.UsageError("--partition and --strategy exclude each other; give one")
    keyed = key_separator is not None or key_field is not None
    connection = _Connection(endpoints, heroku, timeout)
    with _reported(verbose):
        options: dict[str, Any] = {"topics": (topic,)}
        if strategy is not None:
            options["partition_strategy"] = strategy.lower()
        elif not os.environ.get("KAFFE_PARTITION_STRATEGY", "").strip():
            options["partition_strategy"] = "md5" if keyed else "murmur2"
        if delivery_timeout is not None:
            options["delivery_timeout"] = delivery_timeout
        config = connection.config(**options)
        strategy_name = config.partition_strategy
        assert isinstance(strategy_name, str)  # a command line cannot pass a function
        if strategy_name == "md5" and not keyed and partition is None:
            raise click.UsageError(
                "the md5 strategy needs keys: pass --key-separator or --key-field, "
                "or choose --strategy murmur2, crc32, fnv1a, round_robin or random"
            )
        line_format = _LineFormat(
            jsonl=jsonl,
            key_separator=None if key_separator is None else os.fsencode(key_separator),
            key_field=key_field,
            value_field=value_field,
            headers=headers,
            partition=partition,
            needs_key=strategy_name == "md5" and partition is None,
        )
        stdin: IO[bytes] = sys.stdin.buffer
        if progress is None:
            progress = _stderr().is_terminal and not stdin.isatty()
        if stdin.isatty() and path is None:
            batch_size = 1  # someone is typing: send each line at once
        with contextlib.ExitStack() as stack:
            source: IO[bytes]
            total: int | None = None
            if path is None or str(path) == "-":
                source = stdin
            else:
                source = stack.enter_context(path.open("rb"))
                total = path.stat().st_size
            failed_file = None if failed_out is None else stack.enter_context(failed_out.open("wb"))
            producer = stack.enter_context(Producer(config))
            if partition is not None and partition >= producer.partitions_count(topic):
                count = producer.partitions_count(topic)
                raise InvalidPartitionError(
                    f"partition {partition} is out of range for topic {topic!r}, which has "
                    f"{count} partitions (0..{count - 1})",
                    topic=topic,
                    partition=partition,
                    partitions_count=count,
                )
            tally = _Tally()
            bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}", table_column=Column(no_wrap=True, ratio=1)),
                BarColumn(bar_width=24),
                TextColumn("{task.percentage:>3.0f}%"),
                _RateColumn(),
                TimeElapsedColumn(),
                console=_stderr(force_terminal=True if progress else None),
                disable=not progress,
                transient=False,
            )
            try:
                with bar:
                    task = bar.add_task(topic, total=total, produced=0)
                    read = _produce_lines(
                        producer,
                        topic,
                        source,
                        line_format,
                        batch_size,
                        tally,
                        failed_file,
                        lambda read: bar.update(task, completed=read, produced=tally.produced),
                    )
                    bar.update(task, total=total or read, completed=read)
            except KeyboardInterrupt:
                _print_summary(topic, strategy_name, partition, tally, interrupted=True)
                raise
        _print_summary(topic, strategy_name, partition, tally, interrupted=False)
        if tally.failures:
            _report_failures(tally, failed_out)
            raise SystemExit(EXIT_NOT_PRODUCED)


def _produce_lines(
    producer: Producer,
    topic: str,
    source: IO[bytes],
    line_format: _LineFormat,
    batch_size: int,
    tally: _Tally,
    failed_file: IO[bytes] | None,
    on_progress: Callable[[int], None],
) -> int:
    """
    Read, parse and send every line in batches.

    Returns:
        How many bytes were read.
    """
    batch: list[_Line] = []
    batch_bytes = 0
    read = 0
    tally.started = time.monotonic()
    for number, raw in enumerate(source, start=1):
        read += len(raw)
        content = raw[:-1] if raw.endswith(b"\n") else raw
        if content.endswith(b"\r"):
            content = content[:-1]
        if not content or (line_format.jsonl and not content.strip()):
            continue
        tally.lines += 1
        line = _Line(number, content)
        line_format.parse(line)
        batch.append(line)
        batch_bytes += len(content)
        if len(batch) >= batch_size or batch_bytes >= BATCH_BYTES_LIMIT:
            _send_batch(producer, topic, batch, tally, failed_file)
            on_progress(read)
            batch, batch_bytes = [], 0
    if batch:
        _send_batch(producer, topic, batch, tally, failed_file)
    on_progress(read)
    return read


def _send_batch(
    producer: Producer,
    topic: str,
    batch: list[_Line],
    tally: _Tally,
    failed_file: IO[bytes] | None,
) -> None:
    """Produce the well-formed lines of a batch and record what happened to every line."""
    sendable = [line for line in batch if line.message is not None]
    deliveries: list[Delivery | None]
    errors: list[KaffeError | None]
    try:
        deliveries = list(
            producer.produce_batch_sync(
                topic, [line.message for line in sendable if line.message is not None]
            )
        )
        errors = [None] * len(sendable)
    except BatchProduceError as error:
        deliveries, errors = error.deliveries, error.errors
    except KaffeError as error:  # refused before anything was sent
        deliveries = [None] * len(sendable)
        errors = [error] * len(sendable)
    for line, delivery, failure in zip(sendable, deliveries, errors, strict=True):
        if delivery is not None:
            assert line.message is not None
            tally.produced += 1
            tally.partitions[delivery.partition] += 1
            tally.payload_bytes += _size(line.message.key) + _size(line.message.value)
        else:
            line.reason = failure.message if failure is not None else "not acknowledged"
    for line in batch:
        if line.reason is not None:
            tally.failures.append((line.number, line.reason))
            if failed_file is not None:
                failed_file.write(line.raw + b"\n")
    if failed_file is not None:
        failed_file.flush()


def _size(data: str | bytes | None) -> int:
    if data is None:
        return 0
    return len(data.encode() if isinstance(data, str) else data)


def _print_summary(
    topic: str, strategy: str, partition: int | None, tally: _Tally, *, interrupted: bool
) -> None:
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
    console = _stdout()
    console.print(summary)
    if tally.partitions:
        console.print(Text("messages per partition:", style="bold"))
        console.print(
            Columns(
                [f"{number}: {count:,}" for number, count in sorted(tally.partitions.items())],
                padding=(0, 3),
            )
        )


def _report_failures(tally: _Tally, failed_out: Path | None) -> None:
    console = _stderr()
    for first, last, reason in _runs(sorted(tally.failures)):
        where = f"line {first}" if first == last else f"lines {first}-{last}"
        console.print(Text(f"{where}: {reason}"), markup=False)
    saved = f"; they are in {failed_out}" if failed_out is not None else ""
    _say_error(f"{len(tally.failures):,} of {tally.lines:,} lines were not produced{saved}")


def _runs(failures: Sequence[tuple[int, str]]) -> Iterator[tuple[int, int, str]]:
    """Group consecutive line numbers that failed for the same reason."""
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


# --- kaffe topics and kaffe ping ----------------------------------------------------------


class _Admin:
    """An admin client for metadata, with librdkafka's errors and logs kept quiet."""

    def __init__(self, config: ProducerConfig) -> None:
        self.config = config
        self.last_error: KafkaError | None = None
        properties = {
            key: value
            for key, value in config.librdkafka_properties().items()
            if key not in _PRODUCER_ONLY
        }
        properties["error_cb"] = self._on_error
        properties["logger"] = LibrdkafkaLog(config.secrets)
        try:
            self.client = AdminClient(properties)
        except KafkaException as error:
            raise ConfigError(
                "librdkafka rejected the configuration: "
                f"{redact(error.args[0].str(), config.secrets)}",
                reason="invalid option",
            ) from None

    def _on_error(self, error: KafkaError) -> None:
        self.last_error = error

    def metadata(self) -> Any:
        """
        Read the cluster's metadata (brokers, controller, topics).

        Raises:
            BrokerUnavailableError: No broker answered within the timeout.
        """
        try:
            return self.client.list_topics(timeout=self.config.start_timeout)
        except KafkaException as error:
            raise self.unreachable(error.args[0]) from None

    def unreachable(self, error: KafkaError) -> KaffeError:
        """Explain a failed request, preferring the connection error librdkafka reported."""
        self.client.poll(0)  # serve error_cb so last_error is current
        last = self.last_error
        if last is not None and error.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT):
            translated = translate_kafka_error(last, secrets=self.config.secrets)
            if isinstance(translated, BrokerUnavailableError):
                return translated
        if error.code() in (KafkaError._TIMED_OUT, KafkaError._TRANSPORT):
            return BrokerUnavailableError(
                f"no broker of {self.config.bootstrap_servers} answered within "
                f"{self.config.start_timeout:g}s ({redact(error.str(), self.config.secrets)})",
                reason="broker unavailable",
                retriable=True,
                code=error.name(),
            )
        return translate_kafka_error(error, secrets=self.config.secrets)


@cli.command(short_help="List topics: partitions, leaders, in-sync replicas.")
@click.argument("topics", nargs=-1, metavar="[TOPIC...]")
@click.option(
    "--all", "show_internal", is_flag=True, help="Include internal topics (__consumer_offsets...)."
)
@click.option(
    "--partitions",
    "-p",
    "per_partition",
    is_flag=True,
    help="One row per partition: leader, replicas and in-sync replicas.",
)
@_connection_options
def topics(
    topics: tuple[str, ...],
    show_internal: bool,
    per_partition: bool,
    endpoints: str | None,
    heroku: bool,
    timeout: float | None,
    verbose: bool,
) -> None:
    """
    List topics with their partition count, leaders and in-sync replicas.

    With TOPIC arguments, only those; a TOPIC that does not exist is an error.
    """
    connection = _Connection(endpoints, heroku, timeout)
    with _reported(verbose):
        config = connection.config()
        metadata = _Admin(config).metadata()
        wanted = [config.topic_name(topic) for topic in topics]
        for name in wanted:
            if name not in metadata.topics:
                raise UnknownTopicError(
                    f"topic {name!r} does not exist", topic=name, reason="unknown topic"
                )
        names = wanted or sorted(
            name for name in metadata.topics if show_internal or not name.startswith("__")
        )
        table = (
            _partition_table(metadata, names) if per_partition else _topic_table(metadata, names)
        )
        _stdout().print(table)


def _span(values: Sequence[int]) -> str:
    if not values:
        return "-"
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}-{high}"


def _topic_table(metadata: Any, names: Sequence[str]) -> Table:
    table = Table(title=f"{len(names)} topic(s) on {len(metadata.brokers)} broker(s)")
    table.add_column("topic")
    table.add_column("partitions", justify="right")
    table.add_column("leaders")
    table.add_column("replicas", justify="right")
    table.add_column("in sync", justify="right")
    table.add_column("under-replicated", justify="right")
    table.add_column("no leader", justify="right")
    for name in names:
        topic = metadata.topics[name]
        parts = list(topic.partitions.values())
        leaders = sorted({part.leader for part in parts if part.leader >= 0})
        table.add_row(
            Text(name),
            str(len(parts)),
            ", ".join(map(str, leaders)) or "-",
            _span([len(part.replicas) for part in parts]),
            _span([len(part.isrs) for part in parts]),
            str(sum(len(part.isrs) < len(part.replicas) for part in parts)),
            str(sum(part.leader < 0 for part in parts)),
        )
    return table


def _partition_table(metadata: Any, names: Sequence[str]) -> Table:
    table = Table()
    for column in ("topic", "partition", "leader", "replicas", "in sync"):
        table.add_column(column, justify="left" if column == "topic" else "right")
    for name in names:
        for number, part in sorted(metadata.topics[name].partitions.items()):
            table.add_row(
                Text(name),
                str(number),
                str(part.leader) if part.leader >= 0 else "none",
                ", ".join(map(str, part.replicas)),
                ", ".join(map(str, part.isrs)),
            )
    return table


@cli.command(short_help="Show brokers, controller and round-trip time.")
@click.option(
    "--count",
    "-c",
    type=click.IntRange(1, 100),
    default=3,
    show_default=True,
    help="Requests to time.",
)
@_connection_options
def ping(
    count: int, endpoints: str | None, heroku: bool, timeout: float | None, verbose: bool
) -> None:
    """
    Connect and show the brokers, the controller and the round-trip time.

    The round trip is timed over --count cluster-description requests, after
    the first connection (whose time is shown on its own).
    """
    connection = _Connection(endpoints, heroku, timeout)
    with _reported(verbose):
        config = connection.config()
        admin = _Admin(config)
        started = time.perf_counter()
        metadata = admin.metadata()
        connected = time.perf_counter() - started
        controller = metadata.controller_id
        round_trips = []
        for _ in range(count):
            started = time.perf_counter()
            try:
                described = admin.client.describe_cluster(
                    request_timeout=config.start_timeout
                ).result(timeout=config.start_timeout + 1)
            except KafkaException as error:
                raise admin.unreachable(error.args[0]) from None
            except concurrent.futures.TimeoutError:
                raise BrokerUnavailableError(
                    f"the cluster did not describe itself within {config.start_timeout:g}s",
                    reason="broker unavailable",
                    retriable=True,
                ) from None
            round_trips.append(time.perf_counter() - started)
            if described.controller is not None:
                controller = described.controller.id
        table = Table(title=f"cluster {metadata.cluster_id}")
        table.add_column("broker", justify="right")
        table.add_column("host")
        table.add_column("port", justify="right")
        table.add_column("role")
        for broker_id, broker in sorted(metadata.brokers.items()):
            table.add_row(
                str(broker_id),
                Text(broker.host),
                str(broker.port),
                "controller" if broker_id == controller else "",
            )
        console = _stdout()
        console.print(table)
        console.print(Text(f"controller: {controller if controller >= 0 else 'unknown'}"))
        console.print(
            Text(
                f"round trip: min {min(round_trips) * 1000:.2f} ms, "
                f"median {statistics.median(round_trips) * 1000:.2f} ms, "
                f"max {max(round_trips) * 1000:.2f} ms over {count} request(s); "
                f"connected in {connected * 1000:.1f} ms"
            )
        )


def main(argv: Sequence[str] | None = None) -> None:
    """
    Run the ``kaffe`` command.

    Args:
        argv: The arguments; ``sys.argv[1:]`` when ``None``.
    """
    cli.main(args=list(argv) if argv is not None else None, prog_name="kaffe")


if __name__ == "__main__":
    main()
