"""Every shell block of README.md and docs/*.md runs verbatim against a live platform (issue 17, 10).

For each document: a fresh ``vgi serve`` (dev PKI ``var/pki``, a new SQLite
store) in a scratch copy of the checkout (every top-level entry symlinked but
``var/``), then the document's blocks in order, as one bash script
(``set -eo pipefail``), so variables set by one block reach the next, the way
a reader pastes them into one terminal. The PATH is the reader's: without
``.venv/bin``. What the harness changes is only the address: the documents
say ``127.0.0.1:50051`` (gRPC), ``127.0.0.1:50052`` (admin HTTP) and
``127.0.0.1:50053`` (gRPC health), as ``make run`` serves them; the test
serves on free ports and replaces exactly those three strings. Markers
(``tests/docs/blocks.py``): ``<!-- not-run: REASON -->`` skips a block,
visibly; ``<!-- file: NAME -->`` writes a block to a file for later blocks.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .blocks import Block, parse

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ADDRESSES = {"grpc": "127.0.0.1:50051", "admin": "127.0.0.1:50052", "health": "127.0.0.1:50053"}
_MARK = "@@vgi-doc-block "


def test_every_document_parses_and_markers_have_reasons() -> None:
    for document in DOCUMENTS:
        for block in parse(document):
            assert block.not_run is None or block.not_run.strip(), block.where


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    copy = tmp_path / "checkout"
    copy.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in ("var", ".git"):
            (copy / entry.name).symlink_to(entry)
    return copy


def _reader_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VGI_", "OTEL_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != VENV_BIN.resolve()
    )
    env["HOME"] = str(tmp_path / "home")
    return env


@pytest.fixture
def live_platform(workdir: Path, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A platform as `make run` serves it, on free ports: {"grpc"|"admin"|"health": "127.0.0.1:PORT"}."""
    vgi = str(VENV_BIN / "vgi")
    env = _reader_env(tmp_path)
    subprocess.run([vgi, "pki", "init", "--dir", "var/pki", "--if-missing"], cwd=workdir, env=env, check=True)
    log = (tmp_path / "platform.log").open("w")
    process = subprocess.Popen(
        [
            vgi,
            "serve",
            "--pki",
            "var/pki",
            "--listen",
            "127.0.0.1:0",
            "--database",
            f"sqlite:///{tmp_path}/vgi.db",
        ],
        cwd=workdir,
        env={**env, "VGI_ADMIN_LISTEN": "127.0.0.1:0", "VGI_ADMIN_GRPC_LISTEN": "127.0.0.1:0"},
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("vgi: serving"), (line, (tmp_path / "platform.log").read_text()[-2000:])
        port = re.search(r"on port (\d+)", line)
        admin = re.search(r"admin http://(127\.0\.0\.1:\d+)", line)
        health = re.search(r"gRPC health (127\.0\.0\.1:\d+)", line)
        assert port and admin and health, line
        yield {"grpc": f"127.0.0.1:{port.group(1)}", "admin": admin.group(1), "health": health.group(1)}
    finally:
        process.terminate()
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _live(text: str, served: dict[str, str]) -> str:
    for name, documented in ADDRESSES.items():
        text = text.replace(documented, served[name])
    return text


@pytest.mark.parametrize("document", DOCUMENTS, ids=[d.name for d in DOCUMENTS])
def test_shell_blocks_run_verbatim(
    document: Path, workdir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    blocks = parse(document)
    skipped = [f"{b.where} not run: {b.not_run}" for b in blocks if b.not_run is not None]
    if not any(b.runs or b.file for b in blocks):
        pytest.skip(f"{document.name}: no shell block to run ({len(skipped)} marked not-run)")
    served = request.getfixturevalue("live_platform")
    script = ["set -eo pipefail"]
    for block in blocks:
        if block.file is not None:
            target = workdir / block.file
            if target.is_symlink():
                raise AssertionError(f"{block.where}: file {block.file} would overwrite the checkout")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(_live(block.text, served))
        elif block.runs:
            script.append(f"echo '{_MARK}{block.where} '$(date +%s.%N) >&2")
            script.append(_live(block.text, served))
    script.append(f"echo '{_MARK}end '$(date +%s.%N) >&2")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=workdir,
        env=_reader_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=800,
        stdin=subprocess.DEVNULL,
    )
    marks = [line[len(_MARK) :].split() for line in result.stderr.splitlines() if line.startswith(_MARK)]
    timings = [
        f"{where} {float(end) - float(begin):.1f}s" for (where, begin), (_, end) in itertools.pairwise(marks)
    ]
    print(f"{document.name}: {time.monotonic() - started:.1f}s; " + "; ".join(timings + skipped))
    if result.returncode != 0:
        failed = marks[-1][0] if marks else "?"
        raise AssertionError(
            f"{failed} failed (exit {result.returncode}):\n--- stdout\n{result.stdout[-3000:]}\n"
            f"--- stderr\n{result.stderr[-3000:]}"
        )


_ONBOARDED = re.compile(r'"aggregator_id":\s*"([^"]+)"|create_aggregator\(\s*"([^"]+)"')
_REQUEST_ID = re.compile(r'"request_id":\s*"([^"]+)"')


def test_documents_onboard_distinct_aggregators() -> None:
    """Each document runs on a fresh platform here, but a reader runs the README tour and then
    docs/GRPCURL.md against one: an aggregator id or request_id used by two documents collides there
    (ALREADY_EXISTS, or the other document's first answer)."""
    users: dict[str, set[str]] = {}
    for document in DOCUMENTS:
        for block in parse(document):
            if block.runs or block.file:
                for match in _ONBOARDED.finditer(block.text):
                    users.setdefault(f"aggregator {match.group(1) or match.group(2)}", set()).add(
                        document.name
                    )
                for match in _REQUEST_ID.finditer(block.text):
                    users.setdefault(f"request_id {match.group(1)}", set()).add(document.name)
    assert any(key.startswith("aggregator ") for key in users)
    shared = {key: sorted(names) for key, names in users.items() if len(names) > 1}
    assert not shared, shared


def _blocks_named(name: str) -> list[Block]:
    return [b for d in DOCUMENTS for b in parse(d) if b.file == name]


def test_sdk_example_runs_again_against_the_same_platform(
    workdir: Path, tmp_path: Path, live_platform: dict[str, str]
) -> None:
    """The README's SDK example, run twice: the second run finds the aggregator the first onboarded
    (it failed with AlreadyExists), and both print the state by its name (it printed 1)."""
    [example] = _blocks_named("sdk_example.py")
    (workdir / "sdk_example.py").write_text(_live(example.text, live_platform))
    env = _reader_env(tmp_path)
    issue = [str(VENV_BIN / "vgi"), "token", "issue", "--pki", "var/pki"]
    token = subprocess.run(
        [*issue, "--subject", "vgi://operator/op-1", "--audience", "vgi.operator"],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for run in ("first", "second"):
        result = subprocess.run(
            [sys.executable, "sdk_example.py"],
            cwd=workdir,
            env={**env, "TOKEN": token},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, (run, result.stderr[-3000:])
        assert result.stdout.strip() == "aggregators/northwind AGGREGATOR_STATE_ACTIVE", (run, result.stdout)


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    [unit] = _blocks_named("vgi.service")
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    # The unit names the install directory /opt/vgi; this checkout stands in for it.
    path = tmp_path / "vgi.service"
    path.write_text(unit.text.replace("/opt/vgi", str(ROOT)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True, timeout=120
    )
    problems = [line for line in result.stderr.splitlines() if "vgi.service" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_configuration_reference_is_generated_from_the_settings() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "config_doc.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
