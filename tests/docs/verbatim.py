"""What the doc tests share: the documents, how a reader's shell and a live platform are set up, and the
runner that plays one document's shell blocks verbatim (``test_doc_blocks`` explains the method).

The documents are split into groups, one test module each, so pytest-xdist (``--dist loadfile``) can run the
long ones (the README's demo, GRPCURL, OPERATIONS and TESTING) on different workers at once; every document
is in exactly one group (``test_doc_blocks.test_every_document_is_in_one_group``).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .blocks import parse

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ADDRESSES = {"grpc": "127.0.0.1:50051", "admin": "127.0.0.1:50052", "health": "127.0.0.1:50053"}
_MARK = "@@vgi-doc-block "
# Module (tests/docs/test_<group>_blocks.py) -> its documents; "doc" takes every document not named here.
GROUPS: dict[str, list[str]] = {
    "readme": ["README.md"],
    "grpcurl": ["GRPCURL.md"],
    "operations": ["OPERATIONS.md", "TESTING.md"],
}


def group(name: str) -> list[Path]:
    """The documents of a group, in DOCUMENTS order."""
    named = {n for names in GROUPS.values() for n in names}
    if name == "doc":
        return [d for d in DOCUMENTS if d.name not in named]
    return [d for d in DOCUMENTS if d.name in GROUPS[name]]


def reader_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VGI_", "OTEL_", "PYTEST_"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve() != VENV_BIN.resolve()
    )
    env["HOME"] = str(tmp_path / "home")
    return env


def live(text: str, served: dict[str, str]) -> str:
    for name, documented in ADDRESSES.items():
        text = text.replace(documented, served[name])
    return text


def run_document(document: Path, workdir: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Run the document's blocks in order as one bash script against a live platform (the module docstring
    of ``test_doc_blocks``); skips a document with no block to run, naming its not-run blocks."""
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
            target.write_text(live(block.text, served))
        elif block.runs:
            script.append(f"echo '{_MARK}{block.where} '$(date +%s.%N) >&2")
            script.append(live(block.text, served))
    script.append(f"echo '{_MARK}end '$(date +%s.%N) >&2")
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=workdir,
        env=reader_env(tmp_path),
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
