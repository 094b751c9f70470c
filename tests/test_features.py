"""What the librdkafka in use was built with, asked without creating a client."""

from __future__ import annotations

import threading

import pytest

from kaffe import ConfigError
from kaffe._features import missing_feature, require_feature


@pytest.mark.parametrize(
    "feature",
    ["gzip", "snappy", "lz4", "zstd", "sasl_plain", "sasl_scram", "sasl_oauthbearer", "oidc"],
)
def test_the_wheels_librdkafka_has_every_codec_and_the_logins_kaffe_offers(feature: str) -> None:
    assert missing_feature(feature) is None


def test_an_unknown_feature_reports_librdkafkas_reason() -> None:
    assert missing_feature("kaffe_no_such_feature") == (
        'Invalid value "kaffe_no_such_feature" for configuration property "builtin.features"'
    )


def test_asking_creates_no_client_thread() -> None:
    missing_feature.cache_clear()
    before = threading.active_count()
    missing_feature("zstd")
    missing_feature("kaffe_no_such_feature")
    assert threading.active_count() == before


def test_require_feature_names_the_option_the_feature_and_the_versions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import kaffe._features as features

    monkeypatch.setattr(features, "missing_feature", lambda feature: "libzstd not available")
    with pytest.raises(
        ConfigError, match=r"^compression: zstd needs librdkafka's 'zstd' feature"
    ) as raised:
        require_feature("zstd", "compression", "zstd")
    assert "libzstd not available" in str(raised.value)
    assert "librdkafka 2." in str(raised.value)
    assert raised.value.reason == "librdkafka feature missing"
