"""Fenced code blocks of a Markdown document, with the markers that say how the doc test treats them.

A block is run when its language is a shell (``sh``, ``bash``, ``shell``).
An HTML comment on the line right before the fence changes that:

* ``<!-- not-run: REASON -->`` — the block is shown, not run; the reason is
  required and printed by the test, so skipping is always visible;
* ``<!-- file: NAME -->`` — the block's text is written to NAME (relative to
  the directory the document runs in) before the blocks after it run, so a
  configuration example or a Python script is used verbatim by a later shell
  block (``.venv/bin/python NAME``).

Any other comment before a fence, or ``not-run`` without a reason, is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SHELLS = frozenset({"sh", "bash", "shell"})
_FENCE = re.compile(r"^(```+|~~~+)\s*([\w+-]*)")
_MARKER = re.compile(r"^<!--\s*(not-run|file)\s*:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    text: str
    not_run: str | None = None  # the reason
    file: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.language in SHELLS and self.not_run is None and self.file is None


def parse(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        opener, language = fence.group(1), fence.group(2).lower()
        start = index
        index += 1
        body: list[str] = []
        while index < len(lines) and not lines[index].startswith(opener):
            body.append(lines[index])
            index += 1
        if index >= len(lines):
            raise ValueError(f"{path.name}:{start + 1}: code block never closed")
        index += 1
        not_run = file = None
        previous = lines[start - 1].strip() if start > 0 else ""
        if previous.startswith("<!--"):
            marker = _MARKER.match(previous)
            if marker is None or not marker.group(2):
                raise ValueError(
                    f"{path.name}:{start}: a marker before a block is `<!-- not-run: REASON -->` "
                    f"or `<!-- file: NAME -->`, got {previous!r}"
                )
            if marker.group(1) == "not-run":
                not_run = marker.group(2)
            else:
                file = marker.group(2)
        blocks.append(Block(path, start + 1, language, "\n".join(body) + "\n", not_run, file))
    return blocks
