"""Print the partner clients' step counts at the end of the run (pytest -q hides their output)."""

from __future__ import annotations

import pytest

from .harness import SUMMARY


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("partner clients (tests/partners)")
        for line in SUMMARY:
            terminalreporter.write_line(line)
