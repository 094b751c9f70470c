"""
The `scripts/kafka` command line: parsing, one handler per command, exit codes.

The handlers stay thin: the work is done by the lifecycle (`_cluster`),
failure-injection (`_faults`) and credentials (`_credentials`) modules. What
a handler prints on stdout is a result other programs parse (the bootstrap
list on the last line of `up`, `export` lines, `status` lines); progress and
errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from localkafka._cluster import (
    DEFAULT_WAIT_S,
    down_cluster,
    require_confluent_kafka,
    require_running,
    up_cluster,
)
from localkafka._credentials import SCRAM_MECHANISM, read_tls
from localkafka._dump_log import DUMP_LOG_CLASS, DUMP_LOG_WAIT_S, dump_log
from localkafka._faults import (
    active_faults,
    add_fault,
    heal,
    kill_node,
    pause_node,
    resume_node,
    start_node,
    stop_node,
)
from localkafka._java import kafka_version, resolve_classpath
from localkafka._layout import REPO_ROOT, VENV_PYTHON, Layout, tail_lines
from localkafka._oauth import CLIENT_ROLES
from localkafka._ports import DEFAULT_PORT, HOST, PORT_STRIDE, default_port
from localkafka._processes import STOP_WAIT_S, paused_nodes, running_nodes
from localkafka._report import (
    EXIT_INTERRUPTED,
    EXIT_NOT_RUNNING,
    EXIT_USAGE,
    HarnessError,
    fail,
    info,
)
from localkafka._services import (
    TOXIPROXY,
    describe_service,
    require_oauth_packages,
    running_services,
    wanted_services,
)
from localkafka._state import (
    DIRECT,
    LISTENERS,
    ClusterState,
    Options,
    load_state,
    parse_security,
)
from localkafka._toxiproxy import FAULT_KINDS, Fault, ensure_server

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


def cmd_up(args: argparse.Namespace) -> int:
    """Start (or reuse) a cluster and print its bootstrap addresses."""
    require_confluent_kafka()
    layout = Layout.from_environment()
    security, primary = parse_security(args.security)
    options = Options(
        args.brokers,
        security,
        args.port if args.port is not None else default_port(),
        primary,
        proxied=args.proxied,
    )
    if not 1 <= options.port <= 65535 - PORT_STRIDE * options.brokers:
        raise HarnessError(
            f"--port {options.port} leaves no room for {options.brokers} node(s)", EXIT_USAGE
        )
    if "oauthbearer" in security:
        require_oauth_packages()
    state = up_cluster(layout, options, args.timeout)
    print(state.bootstrap(options.primary), flush=True)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    """Stop every node of this state folder; with --purge delete its data too."""
    down_cluster(Layout.from_environment(), args.timeout, args.purge)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """Report what runs; exit 0 when every node is up, 3 otherwise."""
    layout = Layout.from_environment()
    state = load_state(layout)
    alive = running_nodes(layout, state)
    if state is None:
        if alive:
            print(
                f"Kafka node(s) {sorted(alive)} run from {layout.root} without a state file; "
                "run `scripts/kafka down`"
            )
        else:
            print(f"no Kafka cluster in {layout.root}")
        return EXIT_NOT_RUNNING
    state.pids = alive
    services = running_services(layout, state)
    state.services = services
    all_up = all(node in alive for node in state.node_ids) and all(
        service in services for service in wanted_services(state)
    )
    paused = paused_nodes(alive)
    faults: dict[int, list[Fault | str]] | None = {}
    if state.options.proxied and TOXIPROXY in services:
        try:
            faults = active_faults(layout, state)
        except HarnessError:
            faults = None  # Toxiproxy does not answer
    if args.json:
        data = state.to_json(layout)
        data["running"] = all_up
        data["paused"] = paused
        data["faults"] = (
            None
            if faults is None
            else {
                str(node): [
                    fault.to_json() if isinstance(fault, Fault) else {"other": fault}
                    for fault in found
                ]
                for node, found in faults.items()
            }
        )
        print(json.dumps(data, indent=2))
        return 0 if all_up else EXIT_NOT_RUNNING
    condition = "up" if all_up else ("degraded" if alive else "stopped")
    print(
        f"Kafka {kafka_version()} cluster: {condition}; {state.options.describe()}; "
        f"state in {layout.root}"
    )
    for node in state.node_ids:
        shown = _listeners_text(state, node)
        if node not in alive:
            running = "not running"
        elif node in paused:
            running = f"running, pid {alive[node]}, PAUSED"
        else:
            running = f"running, pid {alive[node]}"
        print(f"  node {node}: {running:<20}  {shown}")
    for service in wanted_services(state):
        running = f"running, pid {services[service]}" if service in services else "not running"
        print(f"  {service.replace('_', ' ')}: {running:<20}  {describe_service(state, service)}")
    for name in state.bootstrap_listeners:
        marker = " (printed by up)" if name == state.options.primary else ""
        print(f"  bootstrap {name}: {state.bootstrap(name)}{marker}")
    if paused:
        print(f"  paused: node(s) {', '.join(map(str, paused))} (SIGSTOP; `resume N` continues)")
    if faults is None:
        print("  faults: unknown (Toxiproxy does not answer)")
    elif state.options.proxied:
        if not faults:
            print("  faults: none" if TOXIPROXY in services else "  faults: none (no Toxiproxy)")
        for node, found in faults.items():
            shown = "; ".join(
                fault.describe() if isinstance(fault, Fault) else fault for fault in found
            )
            print(f"  faults on node {node}: {shown}")
    return 0 if all_up else EXIT_NOT_RUNNING


def _listeners_text(state: ClusterState, node: int) -> str:
    """A node's listeners for `status`: the proxy in front of PLAINTEXT first, if any."""
    ports = state.listener_ports(node)
    shown = [f"{name.upper()} {HOST}:{port}" for name, port in ports.items()]
    if state.options.proxied:
        shown[0] = f"PLAINTEXT {HOST}:{state.proxy_port(node)} (proxy to :{ports['plaintext']})"
    return "  ".join(shown)


def cmd_logs(args: argparse.Namespace) -> int:
    """Print the tail of one node's server.log, or of every node's."""
    layout = Layout.from_environment()
    state = load_state(layout)
    if args.node is not None:
        nodes = [args.node]
    elif state is not None:
        nodes = state.node_ids
    else:
        nodes = sorted(
            int(path.name.split("-", 1)[1])
            for path in layout.root.glob("node-*")
            if path.name[5:].isdigit()
        )
    if not nodes:
        raise HarnessError(f"no node logs in {layout.root}", EXIT_NOT_RUNNING)
    for node in nodes:
        path = layout.server_log(node)
        if not path.exists():
            raise HarnessError(f"no log for node {node} ({path})")
        if len(nodes) > 1:
            print(f"==> node {node}: {path} <==")
        sys.stdout.writelines(tail_lines(path, args.lines))
    return 0


def cmd_kill(args: argparse.Namespace) -> int:
    """SIGKILL one node (no clean shutdown) and wait until it is gone."""
    kill_node(Layout.from_environment(), args.node)
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop one node gracefully (SIGTERM) and wait until it exits."""
    stop_node(Layout.from_environment(), args.node, args.timeout)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Restart one node with its data and wait until it is back in the metadata."""
    start_node(Layout.from_environment(), args.node, args.timeout)
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    """SIGSTOP one node: its process freezes, its connections stay open."""
    pause_node(Layout.from_environment(), args.node)
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """SIGCONT a paused node."""
    resume_node(Layout.from_environment(), args.node)
    return 0


def cmd_fault(args: argparse.Namespace) -> int:
    """Put a network fault on a node's proxy."""
    fault = Fault(
        args.fault,
        latency_ms=getattr(args, "ms", 0),
        jitter_ms=getattr(args, "jitter", 0),
        kbps=getattr(args, "kbps", 0),
    )
    add_fault(Layout.from_environment(), args.node, fault)
    return 0


def cmd_heal(args: argparse.Namespace) -> int:
    """Remove every network fault of one node, or of all."""
    heal(Layout.from_environment(), args.node)
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    """Print the bootstrap list of the running cluster."""
    layout = Layout.from_environment()
    state, _ = require_running(layout)
    listener = args.listener.replace("-", "_") if args.listener else state.options.primary
    if listener not in state.bootstrap_listeners:
        raise HarnessError(
            f"the running cluster has no {listener} listener "
            f"(it has {', '.join(state.bootstrap_listeners)})"
        )
    print(state.bootstrap(listener))
    return 0


def cmd_classpath(args: argparse.Namespace) -> int:
    """Print the Kafka classpath (fetching the jars on first use)."""
    print(resolve_classpath(Layout.from_environment()))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Fetch the Kafka jars and build Toxiproxy now, so that later commands start at once."""
    resolve_classpath(Layout.from_environment())
    ensure_server()
    info("ready: the Kafka jars and Toxiproxy are in their caches")
    return 0


def cmd_dump_log(args: argparse.Namespace) -> int:
    """Print Kafka's DumpLogSegments output for one topic-partition."""
    dump_log(
        Layout.from_environment(),
        args.topic,
        args.partition,
        node=args.node,
        print_data_log=args.print_data_log,
        deep_iteration=args.deep_iteration,
        timeout=args.timeout,
    )
    return 0


def export_lines(pairs: Sequence[tuple[str, str]]) -> str:
    """Return `export NAME=value` lines, quoted for POSIX shells."""
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in pairs)


def cmd_heroku_env(args: argparse.Namespace) -> int:
    """Print Heroku-style KAFKA_* exports for the SSL listener."""
    layout = Layout.from_environment()
    state, _ = require_running(layout)
    if "ssl" not in state.options.listeners:
        raise HarnessError(
            "the running cluster has no SSL listener; "
            "start it with `scripts/kafka up --security ssl`"
        )
    url = ",".join(f"kafka+ssl://{address}" for address in state.bootstrap("ssl").split(","))
    sys.stdout.write(
        export_lines(
            [
                ("KAFKA_URL", url),
                ("KAFKA_TRUSTED_CERT", read_tls(layout, "ca")),
                ("KAFKA_CLIENT_CERT", read_tls(layout, "client_cert")),
                ("KAFKA_CLIENT_CERT_KEY", read_tls(layout, "client_key")),
            ]
        )
    )
    return 0


def cmd_sasl_env(args: argparse.Namespace) -> int:
    """Print KAFFE_* exports for the SASL_SSL listener."""
    layout = Layout.from_environment()
    state, _ = require_running(layout)
    if "sasl_ssl" not in state.options.listeners:
        raise HarnessError(
            "the running cluster has no SASL_SSL listener; "
            "start it with `scripts/kafka up --security sasl_ssl`"
        )
    creds = state.credentials
    sys.stdout.write(
        export_lines(
            [
                ("KAFFE_ENDPOINTS", state.bootstrap("sasl_ssl")),
                ("KAFFE_SASL_MECHANISM", SCRAM_MECHANISM),
                ("KAFFE_SASL_USERNAME", creds["scram_username"]),
                ("KAFFE_SASL_PASSWORD", creds["scram_password"]),
                ("KAFFE_SSL_CA", read_tls(layout, "ca")),
                ("KAFFE_TEST_SASL_PLAIN_USERNAME", creds["plain_username"]),
                ("KAFFE_TEST_SASL_PLAIN_PASSWORD", creds["plain_password"]),
            ]
        )
    )
    return 0


def cmd_oauth_env(args: argparse.Namespace) -> int:
    """Print KAFFE_* exports for a client-credentials login on the OAUTHBEARER listener."""
    layout = Layout.from_environment()
    state, _ = require_running(layout)
    if "oauthbearer" not in state.options.listeners or state.oauth is None:
        raise HarnessError(
            "the running cluster has no OAUTHBEARER listener; "
            "start it with `scripts/kafka up --security oauthbearer`"
        )
    client = state.oauth.client(args.client)
    sys.stdout.write(
        export_lines(
            [
                ("KAFFE_ENDPOINTS", state.bootstrap("oauthbearer")),
                ("KAFFE_SSL_CA", read_tls(layout, "ca")),
                ("KAFFE_SASL_MECHANISM", "OAUTHBEARER"),
                ("KAFFE_SASL_OIDC_TOKEN_ENDPOINT_URL", state.oauth.token_endpoint),
                ("KAFFE_SASL_OIDC_CLIENT_ID", client.client_id),
                ("KAFFE_SASL_OIDC_CLIENT_SECRET", client.client_secret),
                ("KAFFE_SASL_OIDC_SCOPE", state.oauth.scope),
            ]
        )
    )
    return 0


DESCRIPTION = """\
Run a throwaway Apache Kafka cluster on 127.0.0.1 for kaffe's tests.

`up` fetches the Kafka jars pinned in tools/kafka/pom.xml with Maven (cached
in ~/.m2), formats KRaft storage, starts the node(s) in the background and
waits until the cluster answers metadata requests and accepts topic
creation. The last line it prints on stdout is the bootstrap address list,
so `BOOTSTRAP=$(scripts/kafka up | tail -n1)` works. Running `up` again with
the same options only prints the address; with other options it replaces
the running cluster with a fresh one.

State lives in $KAFFE_KAFKA_DIR (default <repo>/.kafka): state.json (options,
ports, pids, credentials, paths), node-N/ (server.properties, data/, logs/),
tls/ (the test CA, broker and client certificates; other-ca.pem and
other-client.* belong to an unrelated CA), toxiproxy/ (with --proxied) and
classpath.json.

Faults: `pause N` / `resume N` freeze and continue a node's process (SIGSTOP,
SIGCONT) on any cluster. With `up --proxied`, a Toxiproxy proxy sits in front of
each node's PLAINTEXT listener (clients are told the proxies' addresses; brokers
replicate directly), and `fault N ...` slows, blocks or resets the clients'
traffic to node N until `heal`. Toxiproxy is built once with `go install` into
~/.cache/kaffe-localkafka ($XDG_CACHE_HOME).

Benchmarks can run Kafka's own tools with the same jars:
  java -cp "$(scripts/kafka classpath)" org.apache.kafka.tools.ProducerPerformance ...
Extra JVM flags for the nodes can be given in $KAFFE_KAFKA_JVM_OPTS.
"""

EPILOG = f"""\
ports: node i (1-based) listens on BASE+10*(i-1) plus
  +0 PLAINTEXT (always)  +1 SSL (client cert required)
  +2 SASL_SSL (SCRAM-SHA-512, PLAIN)  +3 CONTROLLER
  +4 OAUTHBEARER (SASL_SSL with SASL/OAUTHBEARER: JWTs checked against the JWKS)
  and, with --security oauthbearer, the token endpoint and JWKS on BASE+7 (HTTP).
  With --proxied: node i's proxy takes its PLAINTEXT port, the node's PLAINTEXT
  listener moves to +5 behind it, +6 is DIRECT (PLAINTEXT without proxy: brokers
  replicate over it; `bootstrap --listener direct`), Toxiproxy's API is BASE+8.
  BASE: --port, else $KAFFE_KAFKA_PORT, else {DEFAULT_PORT}. Prefer bases below
  the kernel's ephemeral range (usually 32768-60999).
oauth test clients (oauth-env --client ROLE; secrets in state.json "oauth"):
  valid           kaffe-client          a good token, valid for an hour
  short_lived     kaffe-short-lived     a good token, valid for 10 seconds
  expired         kaffe-expired         a token that expired an hour ago
  bad_signature   kaffe-bad-signature   signed by a key the JWKS does not have
  wrong_audience  kaffe-wrong-audience  issued for another audience
  Any client with a wrong secret gets HTTP 401. A `lifetime=SECONDS` form field
  in the token request asks for another lifetime.
faults (with --proxied; on the clients' traffic to node N, both ways, until heal):
  fault N latency MS [--jitter MS]  every byte arrives MS later each way
  fault N blackhole                 connections stay open, nothing passes
  fault N reset                     connections are reset as soon as data comes
  fault N bandwidth KBPS            at most KBPS kilobytes a second each way
  heal [N]                          remove every fault (of node N, or of all)
exit codes: 0 success, 1 failure, 2 usage or setup error, 3 no cluster running
examples:
  scripts/kafka dump-log events --partition 0     # which codec the broker stored
  BOOTSTRAP=$(scripts/kafka up --security ssl,sasl_ssl | tail -n1)
  eval "$(scripts/kafka heroku-env)"; eval "$(scripts/kafka sasl-env)"
  scripts/kafka up --security oauthbearer && eval "$(scripts/kafka oauth-env)"
  scripts/kafka up --brokers 3 && scripts/kafka kill 2 && scripts/kafka start 2
  scripts/kafka pause 2; sleep 20; scripts/kafka resume 2
  scripts/kafka up --brokers 3 --proxied && scripts/kafka fault 2 latency 200 --jitter 20
  scripts/kafka fault 3 blackhole; scripts/kafka status; scripts/kafka heal
"""


def build_parser() -> argparse.ArgumentParser:
    """Build the argparse command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/kafka",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str, handler: Handler, help_text: str, description: str | None = None
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=description or help_text)
        sub.set_defaults(handler=handler)
        return sub

    def add_timeout(sub: argparse.ArgumentParser, default: float, what: str) -> None:
        sub.add_argument(
            "--timeout",
            type=float,
            default=default,
            metavar="SECONDS",
            help=f"{what} (default {default:.0f})",
        )

    up = add(
        "up",
        cmd_up,
        "start the cluster (or reuse it) and print its bootstrap addresses",
        "Start a cluster, or reuse the running one when it has the same options, and print "
        "the bootstrap addresses of the last --security listener as the last line of stdout. "
        "A cluster with other options is replaced by a fresh one.",
    )
    up.add_argument(
        "--brokers", type=int, choices=(1, 3), default=1, help="number of nodes (default 1)"
    )
    up.add_argument(
        "--security",
        action="append",
        metavar="LISTENER",
        help="extra listener(s): plaintext, ssl, sasl_ssl, oauthbearer; repeat or "
        "comma-separate. PLAINTEXT is always on; the last one named is printed (default "
        "plaintext). oauthbearer also starts a local OAuth token endpoint and JWKS",
    )
    up.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"base port (default $KAFFE_KAFKA_PORT or {DEFAULT_PORT}); "
        "node i uses BASE+10*(i-1) to BASE+10*(i-1)+6",
    )
    up.add_argument(
        "--proxied",
        action="store_true",
        help="put a Toxiproxy proxy in front of each node's PLAINTEXT listener, for `fault`; "
        "clients are told the proxies' addresses, brokers replicate directly",
    )
    add_timeout(up, DEFAULT_WAIT_S, "how long to wait for the cluster")

    down = add("down", cmd_down, "stop every node (SIGTERM, then SIGKILL)")
    down.add_argument(
        "--purge", action="store_true", help="also delete data, certificates and credentials"
    )
    add_timeout(down, STOP_WAIT_S, "grace period before SIGKILL")

    status = add(
        "status",
        cmd_status,
        "show nodes, pids, ports, security, paused nodes and network faults; exit 0 when all "
        "nodes run, else 3",
    )
    status.add_argument(
        "--json", action="store_true", help="print state.json with a `running` flag"
    )

    logs = add("logs", cmd_logs, "print the end of the broker log(s)")
    logs.add_argument("node", type=int, nargs="?", metavar="N", help="node id (default: all)")
    logs.add_argument(
        "--lines", "-n", type=int, default=200, metavar="K", help="lines per node (default 200)"
    )

    kill = add("kill", cmd_kill, "SIGKILL node N (no clean shutdown)")
    kill.add_argument("node", type=int, metavar="N", help="node id (1-based)")

    stop = add("stop", cmd_stop, "stop node N gracefully (SIGTERM) and wait until it exits")
    stop.add_argument("node", type=int, metavar="N", help="node id (1-based)")
    add_timeout(stop, STOP_WAIT_S, "grace period before SIGKILL")

    start = add(
        "start", cmd_start, "restart node N with its data and wait until it is back in the metadata"
    )
    start.add_argument("node", type=int, metavar="N", help="node id (1-based)")
    add_timeout(start, DEFAULT_WAIT_S, "how long to wait for the node")

    pause = add(
        "pause",
        cmd_pause,
        "freeze node N with SIGSTOP: connections stay open, nothing answers",
    )
    pause.add_argument("node", type=int, metavar="N", help="node id (1-based)")
    resume = add("resume", cmd_resume, "continue a paused node N with SIGCONT")
    resume.add_argument("node", type=int, metavar="N", help="node id (1-based)")

    fault = add(
        "fault",
        cmd_fault,
        "put a network fault on node N's proxy (needs `up --proxied`)",
        "Put a network fault on the clients' traffic to node N, through the node's Toxiproxy "
        "proxy, until `heal`. It applies to open connections and new ones, in both "
        "directions. A second fault of the same kind replaces the first; different kinds "
        "add up. Inter-broker and controller traffic is not affected.",
    )
    fault.add_argument("node", type=int, metavar="N", help="node id (1-based)")
    kinds = fault.add_subparsers(dest="fault", required=True, metavar="FAULT")
    latency = kinds.add_parser(
        "latency",
        help="every byte arrives MS milliseconds later, each way",
        description="Delay every chunk of data by MS milliseconds (plus or minus up to "
        "--jitter) in each direction, keeping order: a request and its response take 2*MS "
        "longer. Toxiproxy's `latency` toxic.",
    )
    latency.add_argument("ms", type=_non_negative, metavar="MS", help="milliseconds")
    latency.add_argument(
        "--jitter", type=_non_negative, default=0, metavar="MS", help="plus or minus (default 0)"
    )
    kinds.add_parser(
        "blackhole",
        help="connections stay open and nothing passes",
        description="Drop all data both ways; open connections stay open and new ones are "
        "accepted. Toxiproxy's `timeout` toxic with timeout 0. `heal` closes the connections "
        "it held, so clients reconnect.",
    )
    kinds.add_parser(
        "reset",
        help="connections are reset as soon as data comes",
        description="Tear down every connection as soon as data comes; connections opened "
        "under the fault get a TCP RST. Toxiproxy's `reset_peer` toxic with timeout 0.",
    )
    bandwidth = kinds.add_parser(
        "bandwidth",
        help="at most KBPS kilobytes a second, each way",
        description="Limit each direction to KBPS kilobytes (1000 bytes) a second. "
        "Toxiproxy's `bandwidth` toxic.",
    )
    bandwidth.add_argument("kbps", type=_positive, metavar="KBPS", help="kilobytes a second")
    assert tuple(kinds.choices) == FAULT_KINDS

    heal_parser = add(
        "heal",
        cmd_heal,
        "remove every network fault of node N, or of all nodes",
        "Remove every network fault (every toxic on the node's proxy). A paused node stays "
        "paused: `resume N` continues it.",
    )
    heal_parser.add_argument(
        "node", type=int, nargs="?", metavar="N", help="node id (default: every node)"
    )

    bootstrap = add("bootstrap", cmd_bootstrap, "print the bootstrap list of the running cluster")
    bootstrap.add_argument(
        "--listener",
        choices=(*LISTENERS, DIRECT),
        help="listener (default: the one `up` printed); `direct` (with --proxied) bypasses "
        "the proxies",
    )

    add(
        "classpath",
        cmd_classpath,
        "print the Java classpath of the pinned Kafka (for tools such as ProducerPerformance)",
    )
    add(
        "prepare",
        cmd_prepare,
        "fetch the Kafka jars (Maven) and build Toxiproxy (go install) into their caches",
        "Fetch the Kafka jars pinned in tools/kafka/pom.xml with Maven and build Toxiproxy "
        "with go install, as the first `up` (and `up --proxied`) would; scripts/test runs it "
        "in the background while the linters run.",
    )
    dump = add(
        "dump-log",
        cmd_dump_log,
        "print Kafka's dump of a topic-partition's log segments (codec, offsets, batches)",
        f"Run Kafka's own log dump tool ({DUMP_LOG_CLASS}, as kafka-dump-log.sh does) over "
        "every log segment of one topic-partition on one node, and print its output: one "
        "line per record batch with its offsets, producer id and epoch, isTransactional, "
        "and the codec the broker stored it with, e.g. `compresscodec: zstd`. "
        "Example: scripts/kafka dump-log events --partition 3 | grep -c 'compresscodec: zstd'",
    )
    dump.add_argument("topic", metavar="TOPIC", help="topic name")
    dump.add_argument(
        "--partition", "-p", type=int, default=0, metavar="N", help="partition (default 0)"
    )
    dump.add_argument(
        "--node",
        type=int,
        default=None,
        metavar="N",
        help="node whose copy to read (default: the first node holding the partition)",
    )
    dump.add_argument(
        "--print-data-log",
        action="store_true",
        help="also print every record's key, value and headers (implies --deep-iteration)",
    )
    dump.add_argument(
        "--deep-iteration",
        action="store_true",
        help="also print a line per record, not only per batch",
    )
    add_timeout(dump, DUMP_LOG_WAIT_S, "how long the tool may run")

    add(
        "heroku-env",
        cmd_heroku_env,
        "print Heroku-style KAFKA_URL, KAFKA_TRUSTED_CERT, KAFKA_CLIENT_CERT(_KEY) exports "
        "for the SSL listener",
        "Print `export` lines for the SSL listener, named as Heroku names them: "
        'eval "$(scripts/kafka heroku-env)"',
    )
    add(
        "sasl-env",
        cmd_sasl_env,
        "print KAFFE_* exports (endpoints, SCRAM-SHA-512 user, CA, PLAIN user) "
        "for the SASL_SSL listener",
        'Print `export` lines for the SASL_SSL listener: eval "$(scripts/kafka sasl-env)"',
    )
    oauth_env = add(
        "oauth-env",
        cmd_oauth_env,
        "print KAFFE_* exports (endpoints, CA, OIDC token endpoint, client id, secret, scope) "
        "for the OAUTHBEARER listener",
        "Print `export` lines for a client-credentials login on the OAUTHBEARER listener "
        "(KAFFE_ENDPOINTS, KAFFE_SSL_CA, KAFFE_SASL_MECHANISM=OAUTHBEARER and "
        "KAFFE_SASL_OIDC_TOKEN_ENDPOINT_URL, _CLIENT_ID, _CLIENT_SECRET, _SCOPE): "
        'eval "$(scripts/kafka oauth-env)"',
    )
    oauth_env.add_argument(
        "--client",
        choices=tuple(CLIENT_ROLES),
        default="valid",
        help="which test client to log in as (default valid; see below)",
    )
    return parser


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not at least 1")
    return value


def _confluent_kafka_available() -> bool:
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


def _reexec_under_venv_if_needed(argv: Sequence[str]) -> None:
    """Run the harness again under the repository's virtualenv when it has what we lack."""
    if _confluent_kafka_available() or os.environ.get("KAFFE_KAFKA_REEXEC"):
        return
    in_venv = Path(sys.prefix).resolve() == VENV_PYTHON.parent.parent.resolve()
    if VENV_PYTHON.exists() and not in_venv:
        tools = str(REPO_ROOT / "tools")
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = f"{tools}{os.pathsep}{path}" if path else tools
        os.environ["KAFFE_KAFKA_REEXEC"] = "1"
        python = str(VENV_PYTHON)
        os.execv(python, [python, "-m", "localkafka", *argv])


def main(argv: Sequence[str] | None = None) -> int:
    """
    Run one `scripts/kafka` command and return its exit code.

    Exit codes: 0 success, 1 failure, 2 usage or setup error, 3 no cluster
    running, 130 interrupted.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    _reexec_under_venv_if_needed(arguments)
    args = build_parser().parse_args(arguments)
    handler: Handler = args.handler
    try:
        return handler(args)
    except HarnessError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:  # e.g. `scripts/kafka logs | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
