"""
The released artefacts: ``python -m build`` makes them, ``twine check`` passes them, and the
wheel alone, installed into a clean virtualenv on the oldest and the newest supported
Python found here, produces to the test broker.

A wheel holds kaffe's compiled per-message path, so it is made for one Python: the one
that builds it. Each Python's wheel is built from the sdist, by that Python; the builds
run side by side, each in its own process, once the sdist is made.

The virtualenvs are made by the standard library's ``venv`` from each interpreter; uv
(of the dev extra) builds and installs into them when it is there, for speed, else their
own pip.
"""

from __future__ import annotations

import email.parser
import json
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Callable
from email.message import Message
from pathlib import Path

import pytest

from pythons import SUPPORTED, find_pythons
from tests.conftest import REPO, Record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

#: uv beside this interpreter (the dev extra has it), or None.
UV = shutil.which("uv", path=str(Path(sys.executable).parent))

#: What the clean virtualenv runs: import kaffe from the wheel, produce one message.
PRODUCE = """
import importlib.metadata, importlib.resources, json, sys
import kaffe
endpoints, topic = sys.argv[1:]
with kaffe.Producer(endpoints=endpoints, topics=[topic]) as producer:
    delivery = producer.produce_sync("wheel", "from Python %d.%d" % sys.version_info[:2])
print(json.dumps({
    "file": kaffe.__file__,
    "compiled": kaffe.__compiled__,
    "version": importlib.metadata.version("kaffe"),
    "typed": importlib.resources.files("kaffe").joinpath("py.typed").is_file(),
    "partition": delivery.partition,
    "offset": delivery.offset,
}))
"""


def _run(*command: str | Path, cwd: Path | None = None, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _start(*command: str | Path, cwd: Path | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(part) for part in command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(builds: list[subprocess.Popen[str]], timeout: float) -> None:
    """Wait for every build; fail with the output of each one that failed."""
    failed = []
    for build in builds:
        output, _ = build.communicate(timeout=timeout)
        if build.returncode != 0:
            failed.append(f"{build.args!r} exited with {build.returncode}:\n{output}")
    assert failed == [], "\n".join(failed)


def _oldest_and_newest() -> list[str]:
    versions = list(find_pythons())
    return sorted({versions[0], versions[-1]}, key=versions.index)


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """
    The sdist, and the wheels built from it.

    ``python -m build --sdist`` makes the sdist from the working tree. Then, side by
    side: ``python -m build`` makes this Python's wheel from the unpacked sdist (what a
    plain ``python -m build`` does after making the sdist) into the same folder, and
    the oldest and the newest Python found here each build theirs from the sdist into
    ``wheels-<version>/``.
    """
    out = tmp_path_factory.mktemp("dist")
    installer = ["--installer", "uv"] if UV else []
    _run(sys.executable, "-m", "build", *installer, "--sdist", "--outdir", out, REPO, timeout=600)
    sdist = _one(out, "kaffe-*.tar.gz")
    unpacked = tmp_path_factory.mktemp("sdist")
    with tarfile.open(sdist) as archive:
        # The "data" filter where this Python has it (3.10.12 and later).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        archive.extractall(unpacked, **safe)  # type: ignore[arg-type]
    (source,) = unpacked.iterdir()
    builds = [_start(sys.executable, "-m", "build", *installer, "--wheel", "--outdir", out, source)]
    for version in _oldest_and_newest():
        interpreter, wheels = find_pythons()[version], out / f"wheels-{version}"
        if UV:
            builds.append(
                _start(
                    UV, "build", "--quiet", "--wheel", "--python", interpreter, "-o", wheels, sdist
                )
            )
        else:
            builds.append(
                _start(
                    interpreter, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, sdist
                )
            )
    _finish(builds, timeout=600)
    return out


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def _metadata(wheel: Path) -> tuple[list[str], Message]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        text = next(
            archive.read(name).decode() for name in names if name.endswith(".dist-info/METADATA")
        )
    return names, email.parser.Parser().parsestr(text)


def _tag() -> str:
    """The wheel tag of this Python, such as ``cp311``."""
    major, minor = sys.version_info[:2]
    return f"cp{major}{minor}"


def test_build_makes_an_sdist_and_a_wheel_that_pass_twine_check(dist: Path) -> None:
    sdist, wheel = _one(dist, "kaffe-*.tar.gz"), _one(dist, f"kaffe-*-{_tag()}-{_tag()}-*.whl")
    output = _run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
    assert output.count("PASSED") == 2, output


def test_the_wheel_ships_the_package_typed_with_its_license_and_complete_metadata(
    dist: Path,
) -> None:
    names, metadata = _metadata(_one(dist, "kaffe-*.whl"))
    assert "kaffe/py.typed" in names
    assert "kaffe/__init__.py" in names
    # The compiled per-message path (mypyc makes a module and its native library), and its
    # source, the pure-Python fallback.
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    assert {f"kaffe/_hot{suffix}", f"kaffe/_hot__mypyc{suffix}", "kaffe/_hot.py"} <= set(names)
    assert all(name.startswith(("kaffe/", "kaffe-")) for name in names), names
    assert any(name.endswith(".dist-info/licenses/LICENSE") for name in names)
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == f">={SUPPORTED[0]}"
    classifiers = metadata.get_all("Classifier") or []
    for version in SUPPORTED:
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert "Typing :: Typed" in classifiers
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert set(urls) == {"Homepage", "Documentation", "Repository", "Issues", "Changelog"}
    assert all(url.startswith("https://") for url in urls.values())
    assert metadata["Summary"]
    assert metadata["Description-Content-Type"] == "text/markdown"
    requires = metadata.get_all("Requires-Dist") or []
    assert any(line.startswith("confluent-kafka") for line in requires)


@pytest.mark.parametrize("version", _oldest_and_newest())
def test_the_wheel_alone_installs_into_a_clean_virtualenv_and_produces(
    dist: Path,
    version: str,
    tmp_path: Path,
    bootstrap: str,
    topic: str,
    read_back: Callable[[str], list[Record]],
) -> None:
    interpreter = find_pythons()[version]
    wheel = _one(dist / f"wheels-{version}", "kaffe-*.whl")
    venv = tmp_path / f"venv-{version}"
    python = venv / "bin" / "python"
    if UV:
        _run(interpreter, "-m", "venv", "--without-pip", venv)
        _run(UV, "pip", "install", "--quiet", "--python", python, wheel)
    else:
        _run(interpreter, "-m", "venv", venv)
        _run(python, "-m", "pip", "install", "--quiet", wheel)
    tag = "cp" + version.replace(".", "")
    assert f"-{tag}-{tag}-" in wheel.name, wheel  # made for that Python
    # -I: isolated from the working tree, PYTHON* variables and the user's site-packages.
    outcome = json.loads(_run(python, "-I", "-c", PRODUCE, bootstrap, topic, cwd=tmp_path))
    assert Path(outcome["file"]).is_relative_to(venv), outcome
    assert outcome["compiled"] is True
    assert outcome["typed"] is True
    assert wheel.name.startswith(f"kaffe-{outcome['version']}-")
    records = read_back(topic)
    assert [(r.partition, r.offset, r.value) for r in records] == [
        (outcome["partition"], outcome["offset"], f"from Python {version}".encode())
    ]
