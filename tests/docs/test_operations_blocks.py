"""The shell blocks of docs/OPERATIONS.md and docs/TESTING.md (which runs `make unit`), run verbatim
(``test_doc_blocks`` explains how); a module of their own so pytest-xdist runs them beside the other documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from .verbatim import group, run_document

pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@pytest.mark.parametrize("document", group("operations"), ids=[d.name for d in group("operations")])
def test_shell_blocks_run_verbatim(
    document: Path, workdir: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    run_document(document, workdir, tmp_path, request)
