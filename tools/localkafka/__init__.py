"""
localkafka: a throwaway Apache Kafka cluster on 127.0.0.1 for kaffe's tests.

`scripts/kafka` is its command line (`scripts/kafka --help`). The package is
importable once `tools/` is on `sys.path`, and runs as `python -m localkafka`.

Modules, one concern each:

    _cli            the command line: parsing, handlers, exit codes
    _cluster        the lifecycle: format, start, readiness, resume, stop
    _processes      the nodes' processes: find, launch detached, signal, wait
    _faults         failure injection: kill, stop, restart, pause, resume; network faults
    _toxiproxy      Toxiproxy: its build, its proxies, and the toxics each fault is made of
    _services       servers beside the nodes (token server, Toxiproxy): start, find, stop
    _dump_log       Kafka's DumpLogSegments over a topic-partition's segments
    _oauth          OAuth settings, test clients, tokens and the JWKS (pure)
    _token_server   the token endpoint and JWKS, run as `python -m localkafka._token_server`
    _broker_config  each node's server.properties
    _credentials    the test CA and certificates, SASL users, the token server's keys
    _state          options and state.json
    _ports          the port layout and free-port checks
    _java           Java, Maven and the Kafka classpath
    _layout         paths: the repository's Kafka files and the state folder
    _report         progress messages, errors and exit codes
"""

from localkafka._cli import main

__all__ = ["main"]
