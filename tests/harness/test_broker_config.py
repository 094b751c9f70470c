"""server.properties as localkafka renders it for 1-node and 3-node clusters."""

from __future__ import annotations

from pathlib import Path

from localkafka._broker_config import jvm_properties, property_line, server_properties
from localkafka._layout import Layout
from localkafka._oauth import new_oauth_settings
from localkafka._state import ClusterState, Options

LAYOUT = Layout(Path("/state"))
CREDENTIALS = {
    "scram_username": "kaffe-scram",
    "scram_password": "scram-secret",
    "plain_username": "kaffe-plain",
    "plain_password": "plain-secret",
}


def _cluster(brokers: int = 1, security: tuple[str, ...] = ()) -> ClusterState:
    state = ClusterState(Options(brokers, security, 29092, "plaintext"), "id", CREDENTIALS)
    if "oauthbearer" in security:
        state.oauth = new_oauth_settings(29099)
    return state


def _properties(brokers: int = 1, security: tuple[str, ...] = (), node: int = 1) -> dict[str, str]:
    text = server_properties(LAYOUT, _cluster(brokers, security), node)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_a_single_node_is_broker_and_controller_on_loopback() -> None:
    props = _properties()
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29095"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:29095"
    assert props["log.dirs"] == "/state/node-1/data"
    assert "controller.quorum.voters" not in props


def test_a_single_node_keeps_one_copy_of_internal_topics() -> None:
    props = _properties()
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["share.coordinator.state.topic.min.isr"] == "1"


def test_three_nodes_replicate_internal_topics_three_times_with_two_in_sync() -> None:
    props = _properties(brokers=3, node=2)
    assert props["default.replication.factor"] == "3"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["share.coordinator.state.topic.min.isr"] == "2"


def test_three_nodes_vote_on_each_others_controller_ports() -> None:
    props = _properties(brokers=3, node=3)
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:29095,2@127.0.0.1:29105,3@127.0.0.1:29115"
    )
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:29112,CONTROLLER://127.0.0.1:29115"
    assert props["broker.session.timeout.ms"] == "4000"


def test_tls_listeners_use_the_pem_key_store_and_require_client_certificates_on_ssl() -> None:
    props = _properties(security=("ssl", "sasl_ssl"))
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT"
    )
    assert props["ssl.keystore.type"] == "PEM"
    assert props["ssl.keystore.location"] == "/state/tls/broker-keystore.pem"
    assert props["ssl.truststore.location"] == "/state/tls/ca.pem"
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["listener.name.sasl_ssl.ssl.client.auth"] == "none"


def test_sasl_ssl_offers_scram_and_plain_with_the_plain_user() -> None:
    props = _properties(security=("sasl_ssl",))
    assert props["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512,PLAIN"
    plain = props["listener.name.sasl_ssl.plain.sasl.jaas.config"]
    assert plain.endswith(' required user_kaffe-plain="plain-secret";')
    assert "listener.name.ssl.ssl.client.auth" not in props


def test_plaintext_only_has_no_tls_settings() -> None:
    assert not [key for key in _properties() if key.startswith(("ssl.", "listener.name."))]


def test_property_values_escape_backslashes_and_newlines() -> None:
    assert property_line("k", "a\\b\nc") == "k=a\\\\b\\nc"


def test_oauthbearer_is_a_sasl_ssl_listener_checking_jwts_against_the_jwks() -> None:
    props = _properties(security=("oauthbearer",))
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:29092,OAUTHBEARER://127.0.0.1:29096,CONTROLLER://127.0.0.1:29095"
    )
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,OAUTHBEARER:SASL_SSL,CONTROLLER:PLAINTEXT"
    )
    prefix = "listener.name.oauthbearer"
    assert props[f"{prefix}.sasl.enabled.mechanisms"] == "OAUTHBEARER"
    assert props[f"{prefix}.oauthbearer.sasl.server.callback.handler.class"] == (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
    )
    assert props[f"{prefix}.oauthbearer.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
    )
    assert props[f"{prefix}.ssl.client.auth"] == "none"
    assert props["sasl.oauthbearer.jwks.endpoint.url"] == "http://127.0.0.1:29099/jwks"
    assert props["sasl.oauthbearer.expected.issuer"] == "http://127.0.0.1:29099"
    assert props["sasl.oauthbearer.expected.audience"] == "kaffe-local-kafka"
    assert props["ssl.keystore.location"] == "/state/tls/broker-keystore.pem"


def test_oauthbearer_sessions_end_with_their_token() -> None:
    props = _properties(security=("oauthbearer",))
    assert props["listener.name.oauthbearer.oauthbearer.connections.max.reauth.ms"] == "3600000"
    assert props["sasl.oauthbearer.clock.skew.seconds"] == "2"


def test_the_broker_jvm_may_fetch_only_the_jwks_url() -> None:
    assert jvm_properties(_cluster(security=("oauthbearer",))) == [
        "-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls=http://127.0.0.1:29099/jwks"
    ]
    assert jvm_properties(_cluster(security=("ssl",))) == []


def test_without_oauthbearer_no_oauth_setting_is_written() -> None:
    props = _properties(security=("ssl", "sasl_ssl"))
    assert not [key for key in props if "oauthbearer" in key]


def _proxied_properties(node: int = 2) -> dict[str, str]:
    state = ClusterState(Options(3, (), 29092, "plaintext", proxied=True), "id", CREDENTIALS)
    text = server_properties(LAYOUT, state, node)
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_a_proxied_node_advertises_its_proxy_and_replicates_over_a_direct_listener() -> None:
    props = _proxied_properties(node=2)
    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:29107,DIRECT://127.0.0.1:29108,CONTROLLER://127.0.0.1:29105"
    )
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:29102,DIRECT://127.0.0.1:29108"
    assert props["listener.security.protocol.map"] == (
        "PLAINTEXT:PLAINTEXT,DIRECT:PLAINTEXT,CONTROLLER:PLAINTEXT"
    )
    assert props["inter.broker.listener.name"] == "DIRECT"
    # The controller quorum stays direct too.
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:29095,2@127.0.0.1:29105,3@127.0.0.1:29115"
    )


def test_an_unproxied_node_replicates_over_plaintext() -> None:
    props = _properties(brokers=3, node=2)
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert "DIRECT" not in props["listeners"]
