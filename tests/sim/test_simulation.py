"""`vgi simulate` end to end: 50 chargers against a platform with a simulated clock (SQLite and PostgreSQL).

The platform runs in the test's process but is started as ``vgi serve
--simulated-clock`` starts it and reached only through its public surfaces
(the simulator moves its time with AdvanceClock), the code path of ``make demo``.

The report must agree with what the platform itself answers through the
dispatch surface: every statement figure, the grid statements, the
evaluations; the actual power the platform evaluated must be exactly what
the aggregators uploaded; the chart must plot actual, baseline and target.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from vgi.common.v1 import market_pb2, settlement_pb2

from clients.market import GridMarketClient
from clients.settlement import GridSettlementClient
from clients.simulate import chart
from clients.simulate.cli import run_against, write
from clients.simulate.parties import decimal
from clients.simulate.population import SLOT
from clients.simulate.run import Config

pytestmark = pytest.mark.timeout(180)

CONFIG = Config(seed=11, chargers=50, aggregators=3, history_days=30, progress=False)


def _exact(value: Any) -> Decimal:
    return Decimal(value.value) if value.value else Decimal(0)


async def test_fifty_chargers_report_matches_the_platform(
    database_url: str, platform_factory: Any, dev_credentials: Any, tmp_path: Path
) -> None:
    async with platform_factory(database_url, simulated_clock=True) as running:
        report = await run_against(CONFIG, running.target, dev_credentials.layout.root)
        grid = GridSettlementClient(running.grid)
        market = GridMarketClient(running.grid)
        events = [f"events/{e.event_id}" for e in report.events]
        platform_statements: dict[str, settlement_pb2.Statement] = {}
        platform_evaluations: dict[tuple[str, str], settlement_pb2.Evaluation] = {}
        grid_statements = {}
        states = {}
        reissued = 0
        for event in events:
            for statement in (await grid.list_statements(event, page_size=1000)).statements:
                platform_statements[statement.name] = statement
            for evaluation in (await grid.list_evaluations(event, page_size=1000)).evaluations:
                platform_evaluations[(event.removeprefix("events/"), evaluation.aggregator)] = evaluation
            grid_statements[event.removeprefix("events/")] = await grid.get_grid_statement(event)
            states[event] = (await market.get_event(event)).state
            versions = (await market.list_instructions(event=event, page_size=1000)).instructions
            reissued += sum(i.version > 1 for i in versions)

    # The population: 50 chargers over the three aggregators, as the platform counts them.
    assert [(row.aggregator_id, row.chargers) for row in report.fleet] == [
        ("oem-link", 17),
        ("city-charge", 17),
        ("fleet-hub", 16),
    ]
    assert all(row.ac + row.dc + row.v2g == row.chargers for row in report.fleet)
    assert [e.kind for e in report.events] == ["day-ahead", "intraday", "real-time"]

    # Every event went the whole way and every statement was confirmed by both sides.
    assert set(states.values()) == {market_pb2.EVENT_STATE_SETTLED}
    assert platform_statements, "no statements were drawn up"
    assert {s.state for s in platform_statements.values()} == {settlement_pb2.STATEMENT_STATE_CONFIRMED}

    # The report's statements are the platform's, figure for figure.
    assert {s.name for s in report.statements} == set(platform_statements)
    for row in report.statements:
        statement = platform_statements[row.name]
        assert row.aggregator_id == statement.aggregator.removeprefix("aggregators/")
        assert (row.compensation, row.penalty, row.total, row.fee, row.payable) == (
            decimal(statement.total_compensation),
            decimal(statement.total_penalty),
            decimal(statement.total),
            decimal(statement.fee),
            decimal(statement.payable),
        )
        assert row.state == "CONFIRMED"
    totals = report.settlement_totals()
    assert totals["total"] == sum((decimal(s.total) for s in platform_statements.values()), Decimal(0))
    assert totals["payable"] + totals["fee"] == totals["total"]
    for row in report.grid_statements:
        grid_statement = grid_statements[row.event_id]
        assert (row.total, row.payable, row.fee) == (
            decimal(grid_statement.total),
            decimal(grid_statement.total_payable),
            decimal(grid_statement.total_fee),
        )
        mine = [s for s in report.statements if s.event_id == row.event_id]
        assert row.total == sum((s.total for s in mine), Decimal(0))
        assert row.statements == len(mine)
    assert sum(r.total for r in report.grid_statements) == totals["total"]

    # The response table is the platform's evaluation, and the actual power it
    # evaluated is exactly what the aggregators uploaded.
    assert {(e.event_id, f"aggregators/{e.aggregator_id}") for e in report.evaluations} == set(
        platform_evaluations
    )
    for row in report.evaluations:
        evaluation = platform_evaluations[(row.event_id, f"aggregators/{row.aggregator_id}")]
        assert (row.mean_rate, row.min_rate, row.qualified) == (
            _exact(evaluation.mean_rate),
            _exact(evaluation.min_rate),
            evaluation.qualified,
        )
        assert [s.instructed_w for s in row.slots] == [s.instructed_w for s in evaluation.slots]
        assert row.slots, "an instructed aggregator with no evaluated slot"
    for row in report.evaluations:
        for slot in row.slots:
            assert slot.actual_w == report.uploaded_w[row.aggregator_id][slot.slot_start]

    # The chart: one panel per event with the three series, inside the window only for baseline and target.
    assert [s.event_id for s in report.series] == [e.event_id for e in report.events]
    for s in report.series:
        assert len(s.actual_w) == len(s.baseline_w) == len(s.target_w)
        inside = [s.window_start <= s.start + i * SLOT < s.window_end for i in range(len(s.actual_w))]
        assert [v is not None for v in s.baseline_w] == inside
        assert [v is not None for v in s.target_w] == inside
    write(report, tmp_path)
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = chart.draw(report.series, tmp_path / "again.png")
    assert len(labels) == len(report.series)
    assert all(panel[:3] == ["actual", "baseline", "target"] for panel in labels)
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "![target vs baseline vs actual](chart.png)" in markdown
    assert f"| all statements | {len(report.statements)} | {totals['total']:,.2f} |" in markdown

    # The monitor ran on the platform's clock; every version it reissued reached its aggregator.
    [monitoring] = [note for note in report.notes if note.startswith("Execution monitoring")]
    assert f"; {reissued} instruction versions were reissued." in monitoring

    # Managed devices acknowledged every setpoint they received.
    assert len(report.devices) == 6
    assert sum(d.setpoints for d in report.devices) > 0
    assert all(d.acked_sequence > 0 for d in report.devices if d.setpoints)
