"""The adversarial suite reports how much it fuzzed, in the test summary."""

from __future__ import annotations

from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    from .test_fuzz_rpcs import summary

    for line in summary():
        terminalreporter.write_line(line)
