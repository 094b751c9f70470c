"""
The token server: an OAuth 2.0 token endpoint and JWKS on 127.0.0.1, run in the background.

`python -m localkafka._token_server STATE_DIR` serves, for the cluster whose
state.json is in STATE_DIR:

    POST /token                               the client-credentials grant
    GET  /jwks                                the public signing key
    GET  /.well-known/openid-configuration    where the two are
    GET  /health                              200 once serving

The token endpoint takes `grant_type=client_credentials` and an optional
`scope` as a form, with the client id and secret in HTTP Basic auth (as
librdkafka sends them) or in the form (`client_id`, `client_secret`). An
unknown client or a wrong secret gets 401 and `{"error": "invalid_client"}`.
One line per request goes to stdout (the harness sends it to
oauth/token-server.log); secrets and tokens never do.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import sys
import threading
import time
import urllib.parse
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from localkafka._credentials import load_private_key
from localkafka._layout import Layout
from localkafka._oauth import MAX_LIFETIME_S, OAuthClient, OAuthSettings, issue_token, jwks
from localkafka._ports import HOST

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = ["TokenServer", "main", "serve"]

#: The module `python -m` runs; the harness finds the server's process by it.
MODULE = "localkafka._token_server"
_MAX_BODY = 64 * 1024


class TokenServer(ThreadingHTTPServer):
    """An HTTP server holding the settings and keys its handler needs."""

    daemon_threads = True

    def __init__(
        self,
        settings: OAuthSettings,
        signing_key: RSAPrivateKey,
        rogue_key: RSAPrivateKey,
        log: TextIO = sys.stdout,
    ) -> None:
        super().__init__((HOST, settings.port), _Handler)
        self.settings = settings
        self.signing_key = signing_key
        self.rogue_key = rogue_key
        self.log = log
        self._log_lock = threading.Lock()

    def log_line(self, line: str) -> None:
        """Write one line to the request log."""
        with self._log_lock:
            print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}", file=self.log, flush=True)


class _Handler(BaseHTTPRequestHandler):
    server: TokenServer
    server_version = "kaffe-token-server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the base class quiet: requests are logged by `_log`, without secrets."""

    def _log(self, status: int, detail: str = "") -> None:
        path = self.path.split("?", 1)[0]
        self.server.log_line(f"{self.command} {path} {status} {detail}".rstrip())

    def _send_json(self, status: int, payload: dict[str, Any], detail: str = "") -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="kaffe-local-kafka"')
        self.end_headers()
        self.wfile.write(body)
        self._log(status, detail)

    def do_GET(self) -> None:
        """Serve the JWKS, the discovery document and the health check."""
        settings = self.server.settings
        path = self.path.split("?", 1)[0]
        if path == "/jwks":
            self._send_json(200, jwks(self.server.signing_key))
        elif path == "/.well-known/openid-configuration":
            discovery = {
                "issuer": settings.issuer,
                "token_endpoint": settings.token_endpoint,
                "jwks_uri": settings.jwks_url,
                "grant_types_supported": ["client_credentials"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
            self._send_json(200, discovery)
        elif path == "/health":
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        """Answer the client-credentials grant on /token."""
        if self.path.split("?", 1)[0] != "/token":
            self._send_json(404, {"error": "not_found"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._send_json(400, {"error": "invalid_request"}, "bad Content-Length")
            return
        form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", errors="replace"))
        fields = {name: values[-1] for name, values in form.items()}
        if fields.get("grant_type") != "client_credentials":
            self._send_json(400, {"error": "unsupported_grant_type"}, "grant_type")
            return
        client_id, secret = self._credentials(fields)
        client = self.server.settings.find_client(client_id) if client_id else None
        if client is None or not hmac.compare_digest(
            client.client_secret.encode(), (secret or "").encode()
        ):
            shown = client_id if client is not None else "unknown client"
            self._send_json(401, {"error": "invalid_client"}, f"{shown}: refused")
            return
        lifetime = self._lifetime(fields, client)
        if lifetime is None:
            self._send_json(400, {"error": "invalid_request"}, f"{client_id}: bad lifetime")
            return
        scope = fields.get("scope") or self.server.settings.scope
        token, expires_in = issue_token(
            self.server.settings,
            client,
            signing_key=self.server.signing_key,
            rogue_key=self.server.rogue_key,
            now=time.time(),
            scope=scope,
            lifetime=lifetime,
        )
        answer = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "scope": scope,
        }
        self._send_json(200, answer, f"{client_id}: {client.kind} token, {lifetime}s")

    def _credentials(self, fields: dict[str, str]) -> tuple[str | None, str | None]:
        """Return the client id and secret from HTTP Basic auth, else from the form."""
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() == "basic" and encoded:
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            client_id, colon, secret = decoded.partition(":")
            if not colon:
                return None, None
            return urllib.parse.unquote(client_id), urllib.parse.unquote(secret)
        return fields.get("client_id"), fields.get("client_secret")

    @staticmethod
    def _lifetime(fields: dict[str, str], client: OAuthClient) -> int | None:
        text = fields.get("lifetime")
        if text is None:
            return client.lifetime
        if not text.isdigit() or not 1 <= int(text) <= MAX_LIFETIME_S:
            return None
        return int(text)


def serve(layout: Layout) -> None:
    """Serve the token endpoint and JWKS of the cluster in `layout` until terminated."""
    state = json.loads(layout.state_file.read_text(encoding="utf-8"))
    settings = OAuthSettings.from_json(state["oauth"])
    server = TokenServer(
        settings, load_private_key(layout, "signing"), load_private_key(layout, "rogue")
    )
    print(f"serving {settings.token_endpoint} and {settings.jwks_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: `python -m localkafka._token_server STATE_DIR`."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) != 1:
        print(f"usage: python -m {MODULE} STATE_DIR", file=sys.stderr)
        return 2
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    serve(Layout(Path(arguments[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
