"""Generated credentials: random secrets, KRaft cluster ids, the SCRAM user at format time."""

from __future__ import annotations

import base64
import string

from localkafka._credentials import (
    new_sasl_credentials,
    random_cluster_id,
    random_secret,
    scram_format_argument,
)


def test_random_secrets_are_alphanumeric_and_differ() -> None:
    first, second = random_secret(), random_secret()
    assert len(first) == 24
    assert set(first) <= set(string.ascii_letters + string.digits)
    assert first != second


def test_cluster_ids_are_16_bytes_in_unpadded_base64url_not_starting_with_a_dash() -> None:
    for _ in range(200):
        cluster_id = random_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_new_sasl_credentials_have_fixed_users_and_random_passwords() -> None:
    first, second = new_sasl_credentials(), new_sasl_credentials()
    assert (first["scram_username"], first["plain_username"]) == ("kaffe-scram", "kaffe-plain")
    assert first["scram_password"] != second["scram_password"]


def test_the_scram_user_is_created_with_sha_512() -> None:
    credentials = {"scram_username": "alice", "scram_password": "pw"}
    assert scram_format_argument(credentials) == "SCRAM-SHA-512=[name=alice,password=pw]"
