"""docs/PARTNERS.md is true: each of its code blocks runs, or is an excerpt of a program the suite runs.

* ``sh`` blocks run in order in one bash session (``set -eu``) from
  the repository root against a live platform — ``KIT``/``OUT`` come from the
  blocks themselves and the test, ``PKI``, ``CA``, ``CERT``, ``KEY`` (agg-1's
  files) and ``ADDR`` from the platform — except excerpts of
  examples/partners/go/build.sh, which tests/partners/test_go_client.py runs;
* the ``python`` block runs as a script with the stubs the ``sh`` blocks
  generated from the kit;
* ``js`` and ``go`` blocks are verbatim excerpts of the Node and Go scenarios.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.principal import Principal, Role

from .harness import ROOT, execute

pytestmark = pytest.mark.timeout(180)

DOC = ROOT / "docs" / "PARTNERS.md"
EXAMPLES = {
    "js": ROOT / "examples/partners/node/scenario.js",
    "go": ROOT / "examples/partners/go/scenario.go",
    "sh": ROOT / "examples/partners/go/build.sh",
}
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.M | re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in BLOCK.finditer(DOC.read_text())]


def test_every_block_is_run_or_an_excerpt_of_a_program_the_suite_runs() -> None:
    blocks = _blocks()
    assert {lang for lang, _ in blocks} == {"sh", "js", "go", "python"}
    for lang, text in blocks:
        if lang in ("js", "go"):
            assert text in EXAMPLES[lang].read_text(), f"not an excerpt of {EXAMPLES[lang].name}:\n{text}"


async def test_the_sh_and_python_blocks_run_against_a_live_platform(platform: Any, tmp_path: Path) -> None:
    principal = Principal(Role.AGGREGATOR, "agg-1", "agg-1")
    await platform.onboard("agg-1")  # a partner's aggregator is onboarded before it calls
    tls = platform.grpcurl_args(principal)
    files = dict(zip(tls[0::2], tls[1::2], strict=True))
    out = tmp_path / "out"
    out.mkdir()
    build_sh = EXAMPLES["sh"].read_text()
    run = [text for lang, text in _blocks() if lang == "sh" and text not in build_sh]
    script = tmp_path / "doc.sh"
    script.write_text("set -eu\n" + "\n".join(run))  # no pipefail: a pipeline answers by its last command
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "OUT": str(out),
        "PKI": str(platform.credentials.layout.root),
        "CA": files["-cacert"],
        "CERT": files["-cert"],
        "KEY": files["-key"],
        "ADDR": platform.target,
    }

    code, output = await execute(["bash", str(script)], env)

    assert code == 0, output
    assert "protovalidate==" in output  # VERSIONS.txt
    assert "['vgi.aggregator', 'vgi.dispatch']" in output  # the audience rule
    assert '"@type":"type.googleapis.com/google.rpc.ErrorInfo"' in output  # grpcurl decoded it
    assert list((out / "java").rglob("*.java")) and list((out / "csharp").rglob("*.cs"))

    # The project's own stubs are installed as regular packages; make the kit's win for this check.
    for folder in (out / "python" / "vgi", out / "python" / "buf"):
        for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
            (sub / "__init__.py").touch()
    (python,) = [text for lang, text in _blocks() if lang == "python"]
    snippet = tmp_path / "errors.py"
    snippet.write_text(python)
    env["PYTHONPATH"] = str(out / "python")
    code, where = await execute(
        [sys.executable, "-c", "import vgi.aggregator.v1.aggregator_service_pb2 as m; print(m.__file__)"], env
    )
    assert code == 0 and where.strip().startswith(str(out)), where

    code, output = await execute([sys.executable, str(snippet)], env)

    assert code == 0, output
    assert 'ErrorInfo reason: "VALIDATION_FAILED"' in output, output
    assert 'field: "request_id"' in output, output
