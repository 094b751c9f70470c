"""
HTTP throughput and latency of the web recipes, beside the same apps on kaffe's peers.

Each scenario runs one app under its real server, against a fresh topic of 8
partitions, and drives it with ``wrk`` (Debian's ``apt-get install wrk``): every request
is a ``POST /events`` with its own key and value, answered once the broker has
acknowledged the event (``acks=all``, idempotence, on every side).

===================  ===============================================================
fastapi.kaffe        examples/fastapi_app.py (AsyncProducer) under uvicorn, 1 worker
fastapi.aiokafka     bench/apps/fastapi_aiokafka.py (AIOKafkaProducer) under uvicorn
flask.kaffe          examples/flask_app.py (Producer made at import) under
                     gunicorn --preload -w 4 --threads 8
flask.confluent      bench/apps/flask_confluent.py (raw confluent-kafka, a producer
                     per process) under the same gunicorn
===================  ===============================================================

Each round starts every server afresh, warms it up under load, then measures; the
scenarios take turns going first. It prints requests per second (the median and each
round), the median p50 and p99 latency as wrk reports them, answers that were not 2xx
and socket errors, and each kaffe app's ratio to its peer. It asserts nothing: a
benchmark is not a test. Nothing is written to disk but the servers' logs.

    .venv/bin/python bench/http.py                        # 3 rounds of 10 s per scenario
    .venv/bin/python bench/http.py --rounds 1 --duration 5 --only flask
    .venv/bin/python bench/http.py --bootstrap 127.0.0.1:29092   # a running broker

Needs the web and bench extras (``pip install -e '.[dev,bench]'``). Without
``--bootstrap`` it starts (or reuses) the benchmark broker of ``bench/produce.py`` in
``.kafka-bench/`` on port 29392; stop it with ``KAFFE_KAFKA_DIR=.kafka-bench scripts/kafka
down``. The machine runs the broker, the server and wrk at once: compare ratios from one
run, not absolute numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and this file's name would
# hide the standard library's http package from everything imported below.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]
sys.path += [str(BENCH), str(BENCH.parent / "tools")]

import argparse  # noqa: E402
import datetime  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from importlib.metadata import version  # noqa: E402

from produce import create_topic, ensure_broker, topic_size  # noqa: E402

from webserve import gunicorn, serve, uvicorn  # noqa: E402

REPO = BENCH.parent
EXAMPLES = REPO / "examples"
APPS = BENCH / "apps"
GUNICORN = ("--preload", "-w", "4", "--threads", "8")

#: wrk's Lua script: every request a new key (1,000 distinct) and a new value.
REQUESTS_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"key": "user-%d", "value": "event-%d"}', counter % 1000, counter)
  return wrk.format("POST", "/events", {["Content-Type"] = "application/json"}, body)
end
"""


@dataclass(frozen=True)
class Scenario:
    """One app under its server."""

    name: str
    what: str
    command: Callable[[int], list[str]]
    peer: str | None = None  # the scenario a kaffe app is compared with


SCENARIOS = (
    Scenario(
        "fastapi.kaffe",
        "examples/fastapi_app.py, AsyncProducer, uvicorn",
        lambda fd: uvicorn(EXAMPLES, "fastapi_app:app", fd),
        peer="fastapi.aiokafka",
    ),
    Scenario(
        "fastapi.aiokafka",
        "the same app on aiokafka send_and_wait, uvicorn",
        lambda fd: uvicorn(APPS, "fastapi_aiokafka:app", fd),
    ),
    Scenario(
        "flask.kaffe",
        "examples/flask_app.py, Producer at import, gunicorn --preload -w 4 --threads 8",
        lambda fd: gunicorn(EXAMPLES, "flask_app:app", fd, *GUNICORN),
        peer="flask.confluent",
    ),
    Scenario(
        "flask.confluent",
        "the same app on raw confluent-kafka, same gunicorn",
        lambda fd: gunicorn(APPS, "flask_confluent:app", fd, *GUNICORN),
    ),
)


@dataclass
class Result:
    """What wrk measured for one scenario, round by round."""

    rates: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    not_2xx: int = 0
    socket_errors: int = 0
    stored: int = 0
    answered: int = 0


def wrk(url: str, script: Path, *, duration: float, connections: int, threads: int) -> str:
    """Run wrk against ``url`` and return its report."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--latency",
        "--timeout",
        "30s",
        "-s",
        str(script),
        url,
    ]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _milliseconds(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(report: str) -> tuple[float, float, float, int, int, int]:
    """Requests/s, p50 and p99 in ms, non-2xx answers, socket errors and requests done."""
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1))  # type: ignore[union-attr]
    p50 = _milliseconds(re.search(r"\s50%\s+(\S+)", report).group(1))  # type: ignore[union-attr]
    p99 = _milliseconds(re.search(r"\s99%\s+(\S+)", report).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", report).group(1))  # type: ignore[union-attr]
    not_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", report)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report
    )
    return (
        rate,
        p50,
        p99,
        int(not_2xx.group(1)) if not_2xx else 0,
        sum(int(count) for count in errors.groups()) if errors else 0,
        done,
    )


def run_round(
    scenario: Scenario, bootstrap: str, script: Path, args: argparse.Namespace, result: Result
) -> None:
    """Start the app afresh on a new topic, warm it up, measure, stop it."""
    topic = create_topic(bootstrap, prefix="bench-http")
    env = {**os.environ, "KAFFE_ENDPOINTS": bootstrap, "KAFFE_TOPICS": topic}
    with serve(scenario.command, env=env) as server:
        url = server.url + "/events"
        measure = {"connections": args.connections, "threads": args.threads}
        before = parse(wrk(url, script, duration=args.warmup, **measure))[5]
        report = wrk(url, script, duration=args.duration, **measure)
        server.stop()
    rate, p50, p99, not_2xx, errors, done = parse(report)
    result.rates.append(rate)
    result.p50_ms.append(p50)
    result.p99_ms.append(p99)
    result.not_2xx += not_2xx
    result.socket_errors += errors
    result.answered += before + done
    result.stored += topic_size(bootstrap, topic)


def table(results: dict[str, Result], rounds: int) -> str:
    """The results as a Markdown table, then one ratio line per kaffe app."""
    lines = [
        "| scenario | what | req/s | each round | p50 / p99 ms | not 2xx, socket errors |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        result = results.get(scenario.name)
        if result is None or not result.rates:
            continue
        rounds_text = ", ".join(f"{rate:,.0f}" for rate in result.rates)
        lines.append(
            f"| {scenario.name} | {scenario.what} | {statistics.median(result.rates):,.0f} "
            f"| {rounds_text} | {statistics.median(result.p50_ms):.1f} / "
            f"{statistics.median(result.p99_ms):.1f} | {result.not_2xx}, {result.socket_errors} |"
        )
    lines.append("")
    for scenario in SCENARIOS:
        mine, peer = results.get(scenario.name), results.get(scenario.peer or "")
        if mine is None or peer is None or not mine.rates or not peer.rates:
            continue
        rate = statistics.median(mine.rates) / statistics.median(peer.rates)
        p99 = statistics.median(mine.p99_ms) / statistics.median(peer.p99_ms)
        lines.append(
            f"{scenario.name} / {scenario.peer}: {rate:.2f}x the requests/s, "
            f"{p99:.2f}x the p99 latency (median of {rounds} round(s))"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--bootstrap", help="a running broker, instead of the benchmark's own")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per round")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of load before that")
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads")
    parser.add_argument("--only", default="", help="scenarios whose name starts with this")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/http.py needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    chosen = [scenario for scenario in SCENARIOS if scenario.name.startswith(args.only)]
    bootstrap = args.bootstrap or ensure_broker()
    started = datetime.datetime.now(datetime.timezone.utc)
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"kaffe {version('kaffe')}, confluent-kafka {version('confluent-kafka')}, "
        f"aiokafka {version('aiokafka')}, fastapi {version('fastapi')}, uvicorn "
        f"{version('uvicorn')}, flask {version('flask')}, gunicorn {version('gunicorn')}, "
        f"{os.cpu_count()} cores; wrk -t{args.threads} -c{args.connections}, "
        f"{args.duration:g} s per round after {args.warmup:g} s of warm-up, broker {bootstrap}",
        flush=True,
    )
    results = {scenario.name: Result() for scenario in chosen}
    with tempfile.TemporaryDirectory() as folder:
        script = Path(folder) / "requests.lua"
        script.write_text(REQUESTS_SCRIPT)
        for number in range(args.rounds):
            order = chosen[number % len(chosen) :] + chosen[: number % len(chosen)]
            for scenario in order:
                run_round(scenario, bootstrap, script, args, results[scenario.name])
                print(
                    f"round {number + 1}: {scenario.name} "
                    f"{results[scenario.name].rates[-1]:,.0f} req/s",
                    flush=True,
                )
    print()
    print(table(results, args.rounds))
    for name, result in results.items():
        if result.stored < result.answered - result.not_2xx:
            print(f"note: {name}: {result.stored} events stored, fewer than the 2xx answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
