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

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .blocks import Block, parse
from .verbatim import DOCUMENTS, GROUPS, ROOT, VENV_BIN, group, live, reader_env, run_document

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


def test_every_document_parses_and_markers_have_reasons() -> None:
    for document in DOCUMENTS:
        for block in parse(document):
            assert block.not_run is None or block.not_run.strip(), block.where


def test_every_document_is_in_one_group() -> None:
    """The documents are split over modules (``verbatim.GROUPS``): none is left out, none runs twice,
    and each group has its module."""
    runs = [d for name in ("doc", *GROUPS) for d in group(name)]
    assert sorted(runs) == sorted(DOCUMENTS)
    assert all(group(name) for name in GROUPS), GROUPS
    here = Path(__file__).parent
    assert all((here / f"test_{name}_blocks.py").is_file() for name in ("doc", *GROUPS))


@pytest.mark.parametrize("document", group("doc"), ids=[d.name for d in group("doc")])
def test_shell_blocks_run_verbatim(
    document: Path, workdir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_document(document, workdir, tmp_path, request)


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
    (workdir / "sdk_example.py").write_text(live(example.text, live_platform))
    env = reader_env(tmp_path)
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
