"""
The exit codes of every ``kaffe`` command: the contract scripts rely on.

This module needs neither click nor rich, so the command can name its exit code
even when the ``cli`` extra is missing.
"""

from __future__ import annotations

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_NOT_PRODUCED",
    "EXIT_OK",
    "EXIT_UNKNOWN_TOPIC",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
]

#: Success; for ``produce``, every message was acknowledged.
EXIT_OK = 0
#: ``produce``: some lines were not produced.
EXIT_NOT_PRODUCED = 1
#: Bad arguments, options or configuration (click uses 2 for usage errors too).
EXIT_USAGE = 2
#: No broker answered, or the TLS handshake or SASL login failed.
EXIT_UNREACHABLE = 3
#: The topic does not exist.
EXIT_UNKNOWN_TOPIC = 4
#: Any other error.
EXIT_ERROR = 5
#: Interrupted (128 + SIGINT, as shells report it).
EXIT_INTERRUPTED = 130

#: The exit codes as ``kaffe --help`` lists them (``\b`` keeps click from rewrapping).
EXIT_CODES_HELP = f"""\b
Exit codes:
  {EXIT_OK}    success; for produce, every message was acknowledged
  {EXIT_NOT_PRODUCED}    produce: some lines were not produced (listed on stderr)
  {EXIT_USAGE}    bad arguments, options or configuration
  {EXIT_UNREACHABLE}    no broker answered, or the TLS/SASL login failed
  {EXIT_UNKNOWN_TOPIC}    the topic does not exist
  {EXIT_ERROR}    any other error (run with --verbose for details)
  {EXIT_INTERRUPTED}  interrupted
"""
