"""localkafka's options, --security parsing and state.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localkafka._layout import Layout
from localkafka._oauth import new_oauth_settings
from localkafka._report import HarnessError
from localkafka._state import ClusterState, Options, load_state, parse_security, save_state

CREDENTIALS = {
    "scram_username": "kaffe-scram",
    "scram_password": "scram-secret",
    "plain_username": "kaffe-plain",
    "plain_password": "plain-secret",
}


def _state(brokers: int = 1, security: tuple[str, ...] = ()) -> ClusterState:
    return ClusterState(Options(brokers, security, 29092, "plaintext"), "cluster-id", CREDENTIALS)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (None, ((), "plaintext")),
        (["ssl,sasl_ssl"], (("ssl", "sasl_ssl"), "sasl_ssl")),
        (["sasl-ssl", "SSL"], (("sasl_ssl", "ssl"), "ssl")),
        (["ssl", "plaintext"], (("ssl",), "plaintext")),
        (["ssl, ssl ,"], (("ssl",), "ssl")),
        (["ssl,sasl_ssl,oauthbearer"], (("ssl", "sasl_ssl", "oauthbearer"), "oauthbearer")),
    ],
)
def test_security_values_give_extra_listeners_and_the_one_named_last(
    values: list[str] | None, expected: tuple[tuple[str, ...], str]
) -> None:
    assert parse_security(values) == expected


def test_an_unknown_security_value_is_a_usage_error_naming_it() -> None:
    with pytest.raises(HarnessError, match="unknown --security 'tls'") as caught:
        parse_security(["ssl,tls"])
    assert caught.value.exit_code == 2


def test_listeners_are_in_port_order_with_plaintext_first() -> None:
    assert Options(1, ("sasl_ssl", "ssl"), 29092, "ssl").listeners == (
        "plaintext",
        "ssl",
        "sasl_ssl",
    )


def test_the_printed_listener_does_not_make_another_cluster() -> None:
    first = Options(1, ("ssl", "sasl_ssl"), 29092, "sasl_ssl")
    assert first.same_cluster(Options(1, ("sasl_ssl", "ssl"), 29092, "plaintext"))
    assert not first.same_cluster(Options(3, ("ssl", "sasl_ssl"), 29092, "sasl_ssl"))
    assert not first.same_cluster(Options(1, ("ssl",), 29092, "ssl"))


def test_bootstrap_lists_every_node_of_a_listener() -> None:
    state = _state(brokers=3, security=("sasl_ssl",))
    assert state.bootstrap("plaintext") == "127.0.0.1:29092,127.0.0.1:29102,127.0.0.1:29112"
    assert state.bootstrap("sasl_ssl", nodes=[3, 1]) == "127.0.0.1:29094,127.0.0.1:29114"


def test_state_json_shows_only_the_ports_in_use() -> None:
    data = _state(security=("sasl_ssl",)).to_json(Layout(Path("/state")))
    assert data["nodes"][0]["ports"] == {"plaintext": 29092, "sasl_ssl": 29094, "controller": 29095}
    assert data["bootstrap"] == {"plaintext": "127.0.0.1:29092", "sasl_ssl": "127.0.0.1:29094"}
    assert data["tls"]["ca"] == "/state/tls/ca.pem"


def test_state_json_has_no_tls_paths_without_a_tls_listener() -> None:
    assert "tls" not in _state().to_json(Layout(Path("/state")))


def test_the_oauthbearer_listener_needs_tls() -> None:
    assert Options(1, ("oauthbearer",), 29092, "oauthbearer").needs_tls
    assert not Options(1, (), 29092, "plaintext").needs_tls


def test_state_json_keeps_the_token_servers_settings_and_pid(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    state = _state(security=("oauthbearer",))
    state.oauth = new_oauth_settings(29099)
    state.services = {"token_server": 4444}
    save_state(layout, state)
    data = json.loads(layout.state_file.read_text())
    assert data["oauth"]["token_endpoint"] == "http://127.0.0.1:29099/token"
    assert data["oauth"]["clients"]["valid"]["client_id"] == "kaffe-client"
    assert data["services"] == {"token_server": 4444}
    assert load_state(layout) == state


def test_saved_state_reads_back_with_pids_and_is_private(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    state = _state(brokers=3)
    state.formatted = True
    state.pids = {1: 4242, 3: 4343}
    save_state(layout, state)
    assert load_state(layout) == state
    assert layout.state_file.stat().st_mode & 0o777 == 0o600
    assert layout.pid_file(1).read_text() == "4242\n"
    assert not layout.pid_file(2).exists()


def test_unreadable_state_counts_as_none(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    layout.state_file.write_text(json.dumps({"options": {}}))
    assert load_state(layout) is None


def _proxied(brokers: int = 3) -> ClusterState:
    return ClusterState(
        Options(brokers, (), 29292, "plaintext", proxied=True), "cluster-id", CREDENTIALS
    )


def test_a_proxied_cluster_is_another_cluster_and_says_so() -> None:
    plain = Options(3, (), 29292, "plaintext")
    proxied = Options(3, (), 29292, "plaintext", proxied=True)
    assert not plain.same_cluster(proxied)
    assert proxied.describe() == "3 node(s), plaintext, proxied, port 29292"


def test_proxied_plaintext_listens_behind_its_proxy_beside_a_direct_listener() -> None:
    state = _proxied()
    assert state.listener_ports(2) == {"plaintext": 29307, "controller": 29305, "direct": 29308}
    assert state.proxy_port(2) == 29302
    assert state.proxies() == {1: (29292, 29297), 2: (29302, 29307), 3: (29312, 29317)}
    assert _state().proxies() == {}


def test_proxied_bootstrap_lists_the_proxies_and_direct_bypasses_them() -> None:
    state = _proxied()
    assert state.bootstrap("plaintext") == "127.0.0.1:29292,127.0.0.1:29302,127.0.0.1:29312"
    assert state.bootstrap("direct") == "127.0.0.1:29298,127.0.0.1:29308,127.0.0.1:29318"
    assert state.bootstrap_listeners == ("plaintext", "direct")


def test_state_json_of_a_proxied_cluster_names_toxiproxy_and_its_proxies(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    state = _proxied(brokers=1)
    save_state(layout, state)
    data = json.loads(layout.state_file.read_text())
    assert data["options"]["proxied"] is True
    assert data["nodes"][0]["proxy_port"] == 29292
    assert data["bootstrap"] == {"plaintext": "127.0.0.1:29292", "direct": "127.0.0.1:29298"}
    assert data["toxiproxy"] == {
        "api": "http://127.0.0.1:29300",
        "proxies": {"node-1": {"listen": "127.0.0.1:29292", "upstream": "127.0.0.1:29297"}},
    }
    assert load_state(layout) == state


def test_state_json_written_before_proxies_existed_reads_as_unproxied(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    save_state(layout, _state())
    data = json.loads(layout.state_file.read_text())
    del data["options"]["proxied"]
    layout.state_file.write_text(json.dumps(data))
    loaded = load_state(layout)
    assert loaded is not None
    assert loaded.options.proxied is False
