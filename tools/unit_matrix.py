"""
Run noxfile.py's unit sessions for every supported Python but one, side by side.

``scripts/test`` runs this before its own pytest run: the venv's Python runs every test
there, and the other Pythons found here (``tools/pythons.py``) run the unit tests in
their nox sessions. The sessions run at the same time, each in its own process and
virtualenv, since the unit tests spend most of their time waiting rather than
computing; each session's output goes to ``build/nox/<session>.log``, and a failed
session's log is printed::

    python tools/unit_matrix.py --except 3.11
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pythons import find_pythons

__all__ = ["main"]

REPO = Path(__file__).resolve().parent.parent
LOGS = REPO / "build" / "nox"


def main(argv: list[str] | None = None) -> int:
    """Run the sessions; return 0 when every one passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--except", dest="skip", default="", help="a version to leave out")
    parser.add_argument("--nox", default=str(Path(sys.executable).with_name("nox")))
    args = parser.parse_args(argv)
    sessions = [f"unit-{version}" for version in find_pythons() if version != args.skip]
    if not sessions:
        print("no other supported Python found: the version matrix has nothing to run")
        return 0
    LOGS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    running = {}
    for session in sessions:
        log = (LOGS / f"{session}.log").open("wb")
        running[session] = (
            subprocess.Popen(
                [args.nox, "--sessions", session], cwd=REPO, stdout=log, stderr=subprocess.STDOUT
            ),
            log,
        )
    failed = []
    for session, (process, log) in running.items():
        code = process.wait()
        log.close()
        text = (LOGS / f"{session}.log").read_text(errors="replace")
        summary = next(
            (
                line
                for line in reversed(text.splitlines())
                if " passed" in line or " failed" in line
            ),
            "no pytest summary",
        )
        print(f"{session}: {'ok' if code == 0 else 'FAILED'} ({summary.strip(' =')})")
        if code != 0:
            failed.append(session)
            print(text)
    print(f"version matrix: {len(sessions)} session(s) in {time.monotonic() - started:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
