"""
Run a web application under its real server (uvicorn, gunicorn), for tests and benchmarks.

:func:`serve` binds a listening socket on 127.0.0.1 itself and hands it to the server
process (uvicorn's ``--fd``, gunicorn's ``--bind fd://``), so no port is guessed and none
can be taken in between. It waits until the application answers HTTP (a condition,
never a duration), yields a :class:`Server`, and stops it with SIGTERM, as a process
manager would. The server's output goes to a file, kept for the error messages.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STOP_TIMEOUT", "Server", "ServerError", "gunicorn", "serve", "uvicorn"]

#: Seconds a server may take to stop after SIGTERM before it is killed.
STOP_TIMEOUT = 60.0


class ServerError(RuntimeError):
    """The server died, never answered, or did not stop: the message holds its output."""


@dataclass
class Server:
    """A running server process and the address it answers on."""

    process: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's process id (gunicorn's master)."""
        return self.process.pid

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def terminate(self) -> None:
        """Send SIGTERM: the server stops gracefully, finishing the requests in progress."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """
        Wait for the server to exit and return its exit code (negative: killed by a signal).

        Raises:
            ServerError: It was still running after ``timeout`` seconds (it is killed).
        """
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ServerError(
                f"the server did not stop within {timeout:g}s:\n{self.log()}"
            ) from None

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then wait; return the exit code."""
        self.terminate()
        return self.wait(timeout)


def uvicorn(app_dir: Path, app: str, fd: int, *extra: str) -> list[str]:
    """The command that runs ``app`` (``module:attribute``) under uvicorn on socket ``fd``."""
    return [
        sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--fd", str(fd),
        "--no-access-log", "--log-level", "warning", *extra, app,
    ]  # fmt: skip


def gunicorn(app_dir: Path, app: str, fd: int, *extra: str) -> list[str]:
    """The command that runs ``app`` under gunicorn on socket ``fd``."""
    return [
        sys.executable, "-m", "gunicorn", "--chdir", str(app_dir), "--bind", f"fd://{fd}",
        *_gunicorn_isolation(), *extra, app,
    ]  # fmt: skip


@functools.cache
def _gunicorn_isolation() -> tuple[str, ...]:
    """
    Flags that keep servers running side by side apart.

    Newer gunicorns open a control socket at one fixed path per user; two servers at
    once would share it. Older ones have no control socket, nor the flag.
    """
    usage = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return ("--no-control-socket",) if "--no-control-socket" in usage else ()


@contextlib.contextmanager
def serve(
    command: Callable[[int], list[str]],
    *,
    env: Mapping[str, str] | None = None,
    ready_path: str = "/",
    start_timeout: float = 120.0,
) -> Iterator[Server]:
    """
    Start a server on a socket bound here; yield it once it answers; stop it at the end.

    Args:
        command: Builds the server's command line from the listening socket's fd.
        env: The server's environment; this process's when ``None``.
        ready_path: A path to GET until it answers: any HTTP status means the
            application is serving.
        start_timeout: Seconds the server may take to answer its first request.

    Raises:
        ServerError: The server died before it answered, or did not answer in time.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    host, port = listener.getsockname()
    fd = listener.fileno()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open for the server's life
        prefix="kaffe-server-", suffix=".log", delete=False
    )
    try:
        process = subprocess.Popen(
            command(fd),
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
    finally:
        # From here on only the server holds the socket: if it dies, connections are refused.
        listener.close()
        log_file.close()
    server = Server(process, f"http://{host}:{port}", Path(log_file.name))
    try:
        _wait_until_it_answers(server, ready_path, start_timeout)
        yield server
    finally:
        if process.poll() is None:
            server.stop()
        with contextlib.suppress(OSError):
            server.log_path.unlink()


def _wait_until_it_answers(server: Server, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ServerError(f"the server did not answer within {timeout:g}s:\n{server.log()}")
        try:
            # Connections wait in the socket's backlog until the server accepts them, so
            # this returns as soon as the application serves (or fails when it dies).
            with urllib.request.urlopen(server.url + path, timeout=remaining):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # any status: the application is serving
        except (urllib.error.URLError, OSError):
            if server.process.poll() is not None:
                raise ServerError(
                    f"the server exited with {server.process.returncode} before it "
                    f"answered:\n{server.log()}"
                ) from None
            # Reset while a worker started: ask again, once the process shows it is alive.
            time.sleep(0.05)
