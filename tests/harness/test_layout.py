"""Where localkafka keeps things: the state folder and the repository's Kafka files."""

from __future__ import annotations

from pathlib import Path

import pytest

from localkafka._java import java_command, kafka_version
from localkafka._layout import LOG4J_CONFIG, POM_FILE, REPO_ROOT, Layout, tail_lines

REPO = Path(__file__).resolve().parent.parent.parent


def test_the_repository_root_is_found_from_the_package() -> None:
    assert REPO_ROOT == REPO
    assert POM_FILE == REPO / "tools" / "kafka" / "pom.xml"
    assert LOG4J_CONFIG.exists()


def test_the_state_folder_is_kaffe_kafka_dir_else_dot_kafka(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KAFFE_KAFKA_DIR", str(tmp_path / "elsewhere"))
    assert Layout.from_environment().root == tmp_path / "elsewhere"
    monkeypatch.delenv("KAFFE_KAFKA_DIR")
    assert Layout.from_environment().root == REPO / ".kafka"


def test_each_node_has_its_own_folder_for_config_data_and_logs() -> None:
    layout = Layout(Path("/state"))
    assert layout.node_properties(2) == Path("/state/node-2/server.properties")
    assert layout.node_data(2) == Path("/state/node-2/data")
    assert layout.server_log(2) == Path("/state/node-2/logs/server.log")
    assert layout.oauth_dir == Path("/state/oauth")


def test_tail_lines_returns_the_last_lines_or_nothing(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(10)))
    assert tail_lines(log, 2) == ["line 8\n", "line 9\n"]
    assert tail_lines(tmp_path / "missing.log", 2) == []


def test_the_pinned_kafka_version_is_read_from_the_pom() -> None:
    assert kafka_version() == "4.3.1"


def test_the_jvm_logs_where_it_is_told_and_takes_extra_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KAFFE_KAFKA_JVM_OPTS", "-Dextra=1 -Xss1m")
    command = java_command(Path("/logs"), "a.jar", heap=("-Xmx1g",), properties=("-Dp=q",))
    assert command[1] == "-Xmx1g"
    assert "-Dkafka.logs.dir=/logs" in command
    assert command[-4:] == ["-Dextra=1", "-Xss1m", "-cp", "a.jar"]
    assert command.index("-Dp=q") < command.index("-Dextra=1")
