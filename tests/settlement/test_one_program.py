"""One program reader: publication, the execution monitor (F7, F8) and the evaluation (F8–F10) see one record.

``store.programs.get`` is the evaluation's reader; ``store.events.get_program``
(publication) returns the same record, and ``store.monitoring.program_settings``
derives the monitor's deviation rule, working calendar and baseline fallback from
it. The one difference kept: with no fallback named, the monitor falls back to
PRE_EVENT where the evaluation fails (SPEC F8: "unless the program names a
fallback method"). An unknown program is INVALID_ARGUMENT on publication and
NOT_FOUND for the evaluation and the monitor.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

from domain.baseline import BaselineMethod
from domain.calendar import WorkingCalendar
from domain.errors import InvalidArgument, NotFound
from domain.events import ClearingMode
from domain.settlement import PriceMode
from store import events, monitoring, programs

pytestmark = pytest.mark.timeout(120)

SUMMER = programs.Program(
    program_id="summer",
    baseline_method=BaselineMethod.TRIMMED,
    fallback_baseline_method=BaselineMethod.RECENT5,
    clearing_mode=ClearingMode.PLATFORM,
    price_mode=PriceMode.PAY_AS_BID,
    penalty_threshold_rate=Decimal("0.4"),
    cap_rate=Decimal("1.3"),
    penalty_factor=Decimal("0.75"),
    qualified_min_rate=Decimal("0.7"),
    qualified_max_rate=Decimal("1.25"),
    fee_ratio=Decimal("0.05"),
    holidays=(date(2026, 10, 1), date(2026, 10, 2)),
    make_up_working_days=(date(2026, 9, 27),),
    deviation_threshold=Decimal("0.15"),
    deviation_minutes=3,
    redispatch_enabled=False,
    update_time=datetime(2026, 9, 1, tzinfo=UTC),
)
BARE = replace(SUMMER, program_id="bare", fallback_baseline_method=None, redispatch_enabled=True)


async def test_the_monitor_and_the_evaluation_see_the_same_stored_program(platform: Any) -> None:
    db = platform.db
    await db.write(lambda conn: [programs.upsert(conn, p) for p in (SUMMER, BARE)])

    evaluation = await db.read(lambda conn: programs.get(conn, "summer"))
    assert evaluation == SUMMER
    assert await db.read(lambda conn: events.get_program(conn, "summer")) == evaluation

    deviation, calendar, fallback = await db.read(lambda conn: monitoring.program_settings(conn, "summer"))
    assert calendar == evaluation.calendar == WorkingCalendar.of(SUMMER.holidays, SUMMER.make_up_working_days)
    assert fallback is evaluation.fallback_baseline_method is BaselineMethod.RECENT5
    assert deviation == monitoring.Deviation(Fraction(3, 20), 3, redispatch=False)
    assert deviation.threshold == Fraction(evaluation.deviation_threshold)
    assert deviation.consecutive == evaluation.deviation_minutes
    assert deviation.redispatch is evaluation.redispatch_enabled

    # No fallback named: the evaluation has none (INSUFFICIENT_BASELINE_DAYS), the monitor takes PRE_EVENT.
    bare = await db.read(lambda conn: programs.get(conn, "bare"))
    _, bare_calendar, bare_fallback = await db.read(lambda conn: monitoring.program_settings(conn, "bare"))
    assert bare.fallback_baseline_method is None
    assert bare_fallback is BaselineMethod.PRE_EVENT
    assert bare_calendar == bare.calendar


async def test_an_unknown_program_is_refused_by_each_reader(platform: Any) -> None:
    db = platform.db
    with pytest.raises(InvalidArgument) as published:
        await db.read(lambda conn: events.get_program(conn, "nowhere"))
    assert published.value.reason == programs.PROGRAM_NOT_FOUND
    assert [v.field for v in published.value.violations] == ["event.program"]
    with pytest.raises(NotFound) as evaluated:
        await db.read(lambda conn: programs.get(conn, "nowhere"))
    assert evaluated.value.reason == programs.PROGRAM_NOT_FOUND
    with pytest.raises(NotFound) as monitored:
        await db.read(lambda conn: monitoring.program_settings(conn, "nowhere"))
    assert monitored.value.reason == programs.PROGRAM_NOT_FOUND
