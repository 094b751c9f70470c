"""
Broker configuration: each node's server.properties.

`server_properties` is pure (options and paths in, text out), so the
configuration can be checked without starting a JVM.
"""

from __future__ import annotations

from localkafka._credentials import SCRAM_MECHANISM, TLS_FILES
from localkafka._layout import Layout, write_text_atomic
from localkafka._oauth import ALLOWED_URLS_PROPERTY
from localkafka._ports import HOST, node_ports
from localkafka._state import DIRECT, PROTOCOLS, ClusterState

__all__ = [
    "OAUTH_CLOCK_SKEW_S",
    "OAUTH_REAUTH_MS",
    "jvm_properties",
    "property_line",
    "server_properties",
    "write_node_config",
]

#: Seconds of clock difference the broker forgives in a token's `exp` and `iat`. One
#: machine has one clock, and a small value lets a 10-second token really expire.
OAUTH_CLOCK_SKEW_S = 2
#: The longest an OAUTHBEARER session may last before the client must log in again
#: (KIP-368). A session also ends when its token expires, so short-lived tokens
#: show whether a client refreshes them.
OAUTH_REAUTH_MS = 3_600_000

_VALIDATOR = "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
_OAUTH_LOGIN_MODULE = "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule"


def property_line(key: str, value: str) -> str:
    """Return one `key=value` line of a Java properties file, escaping what needs it."""
    escaped = value.replace("\\", "\\\\").replace("\n", "\\n")
    return f"{key}={escaped}"


def server_properties(layout: Layout, state: ClusterState, node_id: int) -> str:
    """Return server.properties for one combined broker + controller node."""
    options = state.options
    ports = state.listener_ports(node_id)
    three = options.brokers > 1
    replication = str(options.brokers)
    min_isr = "2" if three else "1"
    # With --proxied, PLAINTEXT listens behind its proxy and advertises the proxy, so
    # clients go through it; brokers replicate over DIRECT, which no proxy slows.
    names = [*options.listeners, DIRECT] if options.proxied else list(options.listeners)
    listeners = [f"{name.upper()}://{HOST}:{ports[name]}" for name in names]
    advertised = [
        f"{name.upper()}://{HOST}:{state.advertised_port(node_id, name)}" for name in names
    ]
    controller_endpoint = f"CONTROLLER://{HOST}:{ports['controller']}"

    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "listeners": ",".join([*listeners, controller_endpoint]),
        "advertised.listeners": ",".join(advertised),
        "listener.security.protocol.map": ",".join(
            [f"{name.upper()}:{PROTOCOLS[name]}" for name in names] + ["CONTROLLER:PLAINTEXT"]
        ),
        "inter.broker.listener.name": DIRECT.upper() if options.proxied else "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "log.dirs": str(layout.node_data(node_id)),
        # Topic defaults: small, and auto-creation stays on as in a stock broker
        # (kaffe's tests show the client never triggers it).
        "num.partitions": "1",
        "default.replication.factor": replication,
        "auto.create.topics.enable": "true",
        "unclean.leader.election.enable": "false",
        # Internal topics: fully replicated, and fewer partitions for quick creation.
        "offsets.topic.replication.factor": replication,
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": replication,
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": replication,
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        # A small heap: the log cleaner's 128 MiB default buffer is not needed.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
    }
    if three:
        props["controller.quorum.voters"] = ",".join(
            f"{node}@{HOST}:{node_ports(options.port, node)['controller']}"
            for node in state.node_ids
        )
        # Notice a dead node within seconds, so failover tests stay short.
        props["broker.heartbeat.interval.ms"] = "500"
        props["broker.session.timeout.ms"] = "4000"
        props["replica.lag.time.max.ms"] = "10000"
    else:
        props["controller.quorum.bootstrap.servers"] = f"{HOST}:{ports['controller']}"

    if options.needs_tls:
        props["ssl.keystore.type"] = "PEM"
        props["ssl.keystore.location"] = str(layout.tls_dir / TLS_FILES["broker_keystore"])
        props["ssl.truststore.type"] = "PEM"
        props["ssl.truststore.location"] = str(layout.tls_dir / TLS_FILES["ca"])
    if "ssl" in options.security:
        props["listener.name.ssl.ssl.client.auth"] = "required"
    if "sasl_ssl" in options.security:
        creds = state.credentials
        props["listener.name.sasl_ssl.ssl.client.auth"] = "none"
        props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] = f"{SCRAM_MECHANISM},PLAIN"
        props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        )
        props["listener.name.sasl_ssl.plain.sasl.jaas.config"] = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{creds["plain_username"]}="{creds["plain_password"]}";'
        )
    if "oauthbearer" in options.security:
        if state.oauth is None:
            raise ValueError("an OAUTHBEARER listener needs the token server's settings")
        prefix = "listener.name.oauthbearer"
        props[f"{prefix}.ssl.client.auth"] = "none"
        props[f"{prefix}.sasl.enabled.mechanisms"] = "OAUTHBEARER"
        props[f"{prefix}.oauthbearer.sasl.jaas.config"] = f"{_OAUTH_LOGIN_MODULE} required;"
        props[f"{prefix}.oauthbearer.sasl.server.callback.handler.class"] = _VALIDATOR
        props[f"{prefix}.oauthbearer.connections.max.reauth.ms"] = str(OAUTH_REAUTH_MS)
        props["sasl.oauthbearer.jwks.endpoint.url"] = state.oauth.jwks_url
        props["sasl.oauthbearer.expected.audience"] = state.oauth.audience
        props["sasl.oauthbearer.expected.issuer"] = state.oauth.issuer
        props["sasl.oauthbearer.clock.skew.seconds"] = str(OAUTH_CLOCK_SKEW_S)

    header = (
        f"# Node {node_id} of kaffe's local test cluster.\n"
        "# Generated by scripts/kafka on every start; edits are overwritten.\n"
    )
    return header + "\n".join(property_line(key, value) for key, value in props.items()) + "\n"


def jvm_properties(state: ClusterState) -> list[str]:
    """Return the `-D` system properties a node's JVM needs besides server.properties."""
    if state.oauth is None or "oauthbearer" not in state.options.security:
        return []
    # Kafka 4 fetches OAuth URLs only when this property allows them.
    return [f"-D{ALLOWED_URLS_PROPERTY}={state.oauth.jwks_url}"]


def write_node_config(layout: Layout, state: ClusterState, node_id: int) -> None:
    """(Re)write a node's server.properties and create its folders."""
    layout.node_data(node_id).mkdir(parents=True, exist_ok=True)
    layout.node_logs(node_id).mkdir(parents=True, exist_ok=True)
    write_text_atomic(
        layout.node_properties(node_id), server_properties(layout, state, node_id), mode=0o600
    )
