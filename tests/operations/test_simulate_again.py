"""`vgi simulate` twice against the same platform (issue 17 finding 8): the second run completes too.

The first run leaves instructions of its events in force, whose notifications
it acknowledged; the second must neither wait for them nor reuse its events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from clients.simulate.cli import run_against
from clients.simulate.run import Config

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]

CONFIG = Config(seed=5, chargers=12, aggregators=2, history_days=12, progress=False)


async def test_simulate_runs_again_on_the_same_platform(
    platform_factory: Any, dev_credentials: Any, tmp_path: Path
) -> None:
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}", simulated_clock=True) as running:
        first = await run_against(CONFIG, running.target, dev_credentials.layout.root)
        second = await run_against(CONFIG, running.target, dev_credentials.layout.root)
    assert len(second.events) == len(first.events) == 3
    assert {e.event_id for e in first.events}.isdisjoint(e.event_id for e in second.events)
    assert [row.aggregator_id for row in second.fleet] == [row.aggregator_id for row in first.fleet]
