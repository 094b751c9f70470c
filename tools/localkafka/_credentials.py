"""
Certificates and credentials: the throwaway TLS CA with its leaf certificates, and SASL users.

Everything here is generated locally for tests and lives in the state folder
(keys readable by the owner only). `tls/` holds:

    ca.pem, ca.key                  the test CA
    broker-keystore.pem             the broker's key, certificate and CA, for Kafka's PEM key store
    client.pem, client.key          a client certificate (PKCS#8 key), and client-pkcs1.key
    other-ca.pem, other-client.*    an unrelated CA with its own client, for "untrusted" cases

and `oauth/` the token server's RSA keys (PKCS#8 PEM): `signing-key.pem`, whose
public half the JWKS publishes, and `rogue-key.pem`, which signs the tokens
meant to fail signature checks.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import string
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from localkafka._layout import Layout, find_executable, write_text_atomic
from localkafka._report import HarnessError, info

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "CERT_DAYS",
    "OAUTH_KEY_FILES",
    "PLAIN_USERNAME",
    "SCRAM_MECHANISM",
    "SCRAM_USERNAME",
    "TLS_FILES",
    "ensure_tls",
    "load_private_key",
    "new_oauth_keys",
    "new_sasl_credentials",
    "random_cluster_id",
    "random_secret",
    "read_tls",
    "scram_format_argument",
]

SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_USERNAME = "kaffe-scram"
PLAIN_USERNAME = "kaffe-plain"

#: TLS files by the name state.json and `read_tls` use.
TLS_FILES = {
    "ca": "ca.pem",
    "ca_key": "ca.key",
    "broker_keystore": "broker-keystore.pem",
    "client_cert": "client.pem",
    "client_key": "client.key",
    "client_key_pkcs1": "client-pkcs1.key",
    "other_ca": "other-ca.pem",
    "other_client_cert": "other-client.pem",
    "other_client_key": "other-client.key",
}

OPENSSL_CONFIG = """\
# Extensions for kaffe's throwaway test certificates (scripts/kafka).
[req]
distinguished_name = dn
prompt = no

[dn]
CN = unused

[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""

CERT_DAYS = "3650"

#: The token server's keys in oauth/, by role.
OAUTH_KEY_FILES = {"signing": "signing-key.pem", "rogue": "rogue-key.pem"}


def random_secret(length: int = 24) -> str:
    """Return a random alphanumeric string, safe in properties, JAAS and shells."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_cluster_id() -> str:
    """
    Return a KRaft cluster id: 16 random bytes, base64url without padding.

    Same format as `kafka-storage.sh random-uuid`, without starting a JVM.
    """
    while True:
        text = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def new_sasl_credentials() -> dict[str, str]:
    """Return fresh SCRAM and PLAIN users with random passwords, as state.json keeps them."""
    return {
        "scram_username": SCRAM_USERNAME,
        "scram_password": random_secret(),
        "plain_username": PLAIN_USERNAME,
        "plain_password": random_secret(),
    }


def scram_format_argument(credentials: dict[str, str]) -> str:
    """Return the StorageTool `--add-scram` value that creates the SCRAM user at format time."""
    return (
        f"{SCRAM_MECHANISM}=[name={credentials['scram_username']},"
        f"password={credentials['scram_password']}]"
    )


def _openssl(*args: str, cwd: Path) -> None:
    openssl = find_executable("openssl", "install OpenSSL to generate test certificates")
    result = subprocess.run(
        [openssl, *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise HarnessError(f"openssl {' '.join(args[:2])} failed:\n{result.stderr.strip()}")


def _make_ca(tls: Path, name: str, common_name: str) -> None:
    """Create a self-signed CA: <name>.pem and <name>.key."""
    _openssl(
        "req", "-config", "openssl.cnf", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-days", CERT_DAYS, "-subj", f"/CN={common_name}", "-extensions", "ca",
        "-keyout", f"{name}.key", "-out", f"{name}.pem",
        cwd=tls,
    )  # fmt: skip


def _make_leaf(tls: Path, name: str, common_name: str, ca: str, profile: str) -> None:
    """Create <name>.pem / <name>.key (unencrypted PKCS#8) signed by CA <ca>."""
    _openssl(
        "req", "-config", "openssl.cnf", "-new", "-newkey", "rsa:2048", "-nodes",
        "-subj", f"/CN={common_name}", "-keyout", f"{name}.key", "-out", f"{name}.csr",
        cwd=tls,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-set_serial", f"0x{secrets.token_hex(16)}", "-days", CERT_DAYS, "-sha256",
        "-extfile", "openssl.cnf", "-extensions", profile, "-out", f"{name}.pem",
        cwd=tls,
    )  # fmt: skip
    (tls / f"{name}.csr").unlink()


def ensure_tls(layout: Layout) -> None:
    """
    Generate the test CA, broker and client certificates unless they all exist.

    Kafka's PEM key store needs a PKCS#8 private key (unencrypted here, so no
    ssl.key.password) followed by the certificate chain, in one file.
    """
    tls = layout.tls_dir
    if all((tls / file).exists() for file in TLS_FILES.values()):
        return
    info("generating test TLS certificates")
    shutil.rmtree(tls, ignore_errors=True)
    tls.mkdir(parents=True)
    os.chmod(tls, 0o700)
    (tls / "openssl.cnf").write_text(OPENSSL_CONFIG, encoding="utf-8")
    _make_ca(tls, "ca", "kaffe test CA")
    _make_leaf(tls, "broker", "localhost", "ca", "server")
    _make_leaf(tls, "client", "kaffe-test-client", "ca", "client")
    _openssl("pkey", "-in", "client.key", "-traditional", "-out", "client-pkcs1.key", cwd=tls)
    _make_ca(tls, "other-ca", "kaffe untrusted test CA")
    _make_leaf(tls, "other-client", "kaffe-untrusted-client", "other-ca", "client")
    keystore = "".join(
        (tls / part).read_text(encoding="ascii") for part in ("broker.key", "broker.pem", "ca.pem")
    )
    write_text_atomic(tls / "broker-keystore.pem", keystore, mode=0o600)
    for key in tls.glob("*.key"):
        os.chmod(key, 0o600)


def read_tls(layout: Layout, name: str) -> str:
    """Return the PEM text of one TLS file (a key of TLS_FILES)."""
    path = layout.tls_dir / TLS_FILES[name]
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise HarnessError(
            f"{path} is missing; run `scripts/kafka down --purge` and `up` again"
        ) from None


def new_oauth_keys(layout: Layout) -> None:
    """Generate fresh RSA keys for the token server: the signing key and a rogue one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    layout.oauth_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.oauth_dir, 0o700)
    for file in OAUTH_KEY_FILES.values():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_text_atomic(layout.oauth_dir / file, pem.decode("ascii"), mode=0o600)


def load_private_key(layout: Layout, role: str) -> RSAPrivateKey:
    """
    Load one of the token server's keys (a key of OAUTH_KEY_FILES).

    Raises:
        HarnessError: The key file is missing or is no RSA key.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    path = layout.oauth_dir / OAUTH_KEY_FILES[role]
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError:
        raise HarnessError(
            f"{path} is missing; run `scripts/kafka down --purge` and `up` again"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise HarnessError(f"{path} holds no RSA private key")
    return key
