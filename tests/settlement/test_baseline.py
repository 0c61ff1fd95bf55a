"""SPEC F8 baselines on a hand-built history around the 2025 Labour Day holiday.

Calendar (the real 2025 arrangement): holidays Thu 1 May, Fri 2 May, Mon 5 May;
make-up working days (调休) Sun 27 Apr and Sat 10 May. The event is on
Wed 14 May 2025 (a working day), window = slots 72–73 (18:00–18:30 local).

Candidates from D−2 = Mon 12 May backwards, working days only:
  12 May ✓, 11 May Sun ✗, 10 May Sat 调休 ✓, 9 May ✗ (event day), 8 May ✓,
  7 May ✗ (slot 10 missing), 6 May ✓, 5 May ✗ (holiday), 4/3 May weekend ✗,
  2/1 May ✗ (holidays), 30 Apr ✓, 29 Apr ✓, 28 Apr ✓, 27 Apr Sun 调休 ✓,
  26 Apr Sat ✗, 25 Apr ✓, 24 Apr ✓, 23 Apr ✓ (11th candidate).
Every excluded day carries a window load far above the others, so including
any of them by mistake changes the expected numbers.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from domain.baseline import (
    INSUFFICIENT_BASELINE_DAYS,
    BaselineMethod,
    candidate_days,
    compute_baseline,
)
from domain.calendar import (
    SlotWindow,
    WorkingCalendar,
    local_day,
    slot_index,
    slot_start,
    slot_starts,
)
from domain.errors import FailedPrecondition, InvalidArgument

CAL = WorkingCalendar.of(
    holidays=[date(2025, 5, 1), date(2025, 5, 2), date(2025, 5, 5)],
    makeup_workdays=[date(2025, 4, 27), date(2025, 5, 10)],
)
D = date(2025, 5, 14)
WINDOW = SlotWindow(72, 74)
EVENT_DAYS = {date(2025, 5, 9)}


def day(w72: int | Decimal, w73: int | Decimal, *, base: int = 1000, missing: tuple[int, ...] = ()) -> dict:
    """A full day at ``base`` W with the two window slots set, minus ``missing`` slots."""
    values: dict[int, int | Decimal] = {s: base for s in range(96) if s not in missing}
    values[72], values[73] = w72, w73
    return values


# window sums in the comments rank the days for TOP5_OF_10 and TRIMMED
HISTORY = {
    date(2025, 5, 14): day(5000, 5000) | {71: 777},  # D itself, for PRE_EVENT (slot 71 = 17:45)
    date(2025, 5, 13): day(990, 990),  # D−1: never a candidate
    date(2025, 5, 12): day(100, 120),  # sum 220
    date(2025, 5, 11): day(980, 980),  # Sunday
    date(2025, 5, 10): day(300, 310),  # sum 610, 调休 Saturday
    date(2025, 5, 9): day(950, 950),  # event day
    date(2025, 5, 8): day(200, 220),  # sum 420
    date(2025, 5, 7): day(960, 960, missing=(10,)),  # a missing slot
    date(2025, 5, 6): day(150, 150),  # sum 300
    date(2025, 5, 5): day(970, 970),  # holiday (a Monday)
    date(2025, 5, 2): day(970, 970),  # holiday
    date(2025, 5, 1): day(970, 970),  # holiday
    date(2025, 4, 30): day(250, 250),  # sum 500
    date(2025, 4, 29): day(210, 210),  # sum 420 (ties 8 May, older)
    date(2025, 4, 28): day(400, 402),  # sum 802
    date(2025, 4, 27): day(205, 215),  # sum 420 (ties 8 May, older), 调休 Sunday
    date(2025, 4, 26): day(990, 990),  # Saturday
    date(2025, 4, 25): day(90, 90),  # sum 180
    date(2025, 4, 24): day(500, 500),  # sum 1000
    date(2025, 4, 23): day(900, 900),  # sum 1800, but the 11th candidate
}


def baseline(method: BaselineMethod, **kwargs):
    return compute_baseline(HISTORY, D, WINDOW, CAL, method=method, event_days=EVENT_DAYS, **kwargs)


def test_calendar_holidays_and_makeup_days() -> None:
    assert CAL.is_working_day(date(2025, 5, 10))  # 调休 Saturday
    assert CAL.is_working_day(date(2025, 4, 27))  # 调休 Sunday
    assert not CAL.is_working_day(date(2025, 5, 5))  # holiday Monday
    assert not CAL.is_working_day(date(2025, 5, 11))  # plain Sunday
    assert CAL.is_working_day(date(2025, 5, 12))  # plain Monday
    with pytest.raises(InvalidArgument):
        WorkingCalendar.of(holidays=[date(2025, 5, 10)], makeup_workdays=[date(2025, 5, 10)])


def test_slots_in_shanghai_local_time() -> None:
    # 10:00 UTC = 18:00 CST → slot 18·4 = 72
    assert slot_index(datetime(2025, 5, 14, 10, 0, tzinfo=UTC)) == 72
    assert slot_index(datetime(2025, 5, 14, 10, 14, 59, tzinfo=UTC)) == 72
    assert slot_index(datetime(2025, 5, 14, 10, 15, tzinfo=UTC)) == 73
    # 16:30 UTC on the 13th is 00:30 on the 14th in Shanghai → slot 2 of 14 May
    late = datetime(2025, 5, 13, 16, 30, tzinfo=UTC)
    assert (local_day(late), slot_index(late)) == (date(2025, 5, 14), 2)
    assert slot_start(D, 0) == datetime(2025, 5, 13, 16, 0, tzinfo=UTC)
    assert slot_start(D, 72) == datetime(2025, 5, 14, 10, 0, tzinfo=UTC)
    starts = slot_starts(D)
    assert len(starts) == 96
    assert starts[95] + timedelta(minutes=15) == slot_start(date(2025, 5, 15), 0)
    with pytest.raises(InvalidArgument):
        slot_index(datetime(2025, 5, 14, 10, 0))
    with pytest.raises(InvalidArgument):
        slot_start(D, 96)
    with pytest.raises(InvalidArgument):
        SlotWindow(72, 72)


def test_candidates_skip_holiday_event_day_missing_slot_and_weekend() -> None:
    assert candidate_days(HISTORY, D, CAL, event_days=EVENT_DAYS) == [
        date(2025, 5, 12),
        date(2025, 5, 10),
        date(2025, 5, 8),
        date(2025, 5, 6),
        date(2025, 4, 30),
        date(2025, 4, 29),
        date(2025, 4, 28),
        date(2025, 4, 27),
        date(2025, 4, 25),
        date(2025, 4, 24),
        date(2025, 4, 23),
    ]


def test_candidates_for_a_non_working_event_day() -> None:
    # Sat 17 May: D−2 = 15 May; non-working days only, the 调休 Saturday 10 May excluded
    assert candidate_days(HISTORY, date(2025, 5, 17), CAL) == [
        date(2025, 5, 11),
        date(2025, 5, 5),
        date(2025, 5, 2),
        date(2025, 5, 1),
        date(2025, 4, 26),
    ]


def test_candidates_reach_back_at_most_60_days() -> None:
    event = date(2025, 7, 4)  # Friday; D−2 = Wed 2 Jul, D−60 = Mon 5 May
    beyond = date(2025, 5, 4)  # D−61, a Sunday made a working day so only the limit keeps it out
    calendar = WorkingCalendar.of(makeup_workdays=[beyond])
    history = {event - timedelta(days=k): day(1, 1) for k in range(2, 70)}
    found = candidate_days(history, event, calendar)
    assert found[0] == date(2025, 7, 2)
    assert found[-1] == date(2025, 5, 5)
    assert candidate_days(history, event, calendar, max_lookback_days=61)[-1] == beyond


def test_top5_of_10_picks_the_highest_window_and_breaks_ties_to_the_more_recent() -> None:
    result = baseline(BaselineMethod.TOP5_OF_10)
    # pool = the first 10 candidates (23 Apr, sum 1800, is the 11th and ignored);
    # ranked: 24 Apr 1000, 28 Apr 802, 10 May 610, 30 Apr 500, then the 420 tie
    # 8 May / 29 Apr / 27 Apr → 8 May, the most recent.
    assert result.days == (
        date(2025, 5, 10),
        date(2025, 5, 8),
        date(2025, 4, 30),
        date(2025, 4, 28),
        date(2025, 4, 24),
    )
    assert result.method is BaselineMethod.TOP5_OF_10 and not result.fell_back
    # slot 72: (300 + 200 + 250 + 400 + 500) / 5 = 1650 / 5 = 330
    # slot 73: (310 + 220 + 250 + 402 + 500) / 5 = 1682 / 5 = 336.4
    assert result.values == {72: Decimal("330"), 73: Decimal("336.4")}


def test_top5_of_10_is_the_default_method() -> None:
    result = compute_baseline(HISTORY, D, WINDOW, CAL, event_days=EVENT_DAYS)
    assert result.method is BaselineMethod.TOP5_OF_10
    assert result.values[73] == Decimal("336.4")


def test_top5_tie_at_the_cut_goes_to_the_more_recent_day() -> None:
    # six days, all with window sum 20 → the 5 most recent win, the oldest is left out
    event = date(2025, 6, 11)  # Wednesday
    days = [
        date(2025, 6, 9),
        date(2025, 6, 6),
        date(2025, 6, 5),
        date(2025, 6, 4),
        date(2025, 6, 3),
        date(2025, 6, 2),
    ]
    history = {d: day(10, 10, base=k) for k, d in enumerate(days)}  # outside the window the days differ
    result = compute_baseline(history, event, SlotWindow(72, 74), WorkingCalendar())
    assert result.days == tuple(days[:5])


def test_recent5() -> None:
    result = baseline(BaselineMethod.RECENT5)
    assert result.days == (
        date(2025, 5, 12),
        date(2025, 5, 10),
        date(2025, 5, 8),
        date(2025, 5, 6),
        date(2025, 4, 30),
    )
    # slot 72: (100 + 300 + 200 + 150 + 250) / 5 = 1000 / 5 = 200
    # slot 73: (120 + 310 + 220 + 150 + 250) / 5 = 1050 / 5 = 210
    assert result.values == {72: Decimal("200"), 73: Decimal("210")}


def test_trimmed_keeps_exact_thirds() -> None:
    result = baseline(BaselineMethod.TRIMMED)
    # recent 5 window sums: 12 May 220 (lowest), 10 May 610 (highest), 8 May 420, 6 May 300, 30 Apr 500
    assert result.days == (date(2025, 5, 8), date(2025, 5, 6), date(2025, 4, 30))
    # slot 72: (200 + 150 + 250) / 3 = 600 / 3 = 200
    # slot 73: (220 + 150 + 250) / 3 = 620 / 3 = 206.666… — kept exact, not rounded
    assert result.values == {72: Decimal("200"), 73: Fraction(620, 3)}


@pytest.mark.parametrize(
    ("sums", "kept"),
    [
        # highest tie (1st, 2nd) → drop the 1st (more recent); lowest tie (4th, 5th) → drop the 4th
        ((500, 500, 300, 100, 100), (1, 2, 4)),
        # all equal: drop the most recent as highest, then the next most recent as lowest
        ((200, 200, 200, 200, 200), (2, 3, 4)),
    ],
)
def test_trimmed_ties_drop_the_more_recent(sums: tuple[int, ...], kept: tuple[int, ...]) -> None:
    event = date(2025, 6, 11)
    days = [date(2025, 6, 9), date(2025, 6, 6), date(2025, 6, 5), date(2025, 6, 4), date(2025, 6, 3)]
    history = {d: day(s, 0) for d, s in zip(days, sums, strict=True)}
    result = compute_baseline(
        history, event, SlotWindow(72, 74), WorkingCalendar(), method=BaselineMethod.TRIMMED
    )
    assert result.days == tuple(days[i] for i in kept)
    assert result.values[72] == Fraction(sum(sums[i] for i in kept), 3)


def test_pre_event_uses_the_slot_before_the_window_flat() -> None:
    result = baseline(BaselineMethod.PRE_EVENT)
    # slot 71 of D = 777 W, held flat over slots 72 and 73
    assert result.values == {72: Decimal(777), 73: Decimal(777)}
    assert result.days == (D,)


def test_pre_event_at_midnight_uses_slot_95_of_the_day_before() -> None:
    history = {date(2025, 5, 13): {95: Decimal("1234.5")}}
    result = compute_baseline(history, D, SlotWindow(0, 2), CAL, method=BaselineMethod.PRE_EVENT)
    assert result.values == {0: Decimal("1234.5"), 1: Decimal("1234.5")}
    assert result.days == (date(2025, 5, 13),)


def test_too_few_days_fails_with_insufficient_baseline_days() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        baseline(BaselineMethod.RECENT5, max_lookback_days=12)  # back to 2 May: 12, 10, 8, 6 May
    assert caught.value.reason == INSUFFICIENT_BASELINE_DAYS
    assert caught.value.metadata == {"method": "RECENT5", "found": "4", "needed": "5"}


def test_too_few_days_takes_the_fallback_and_says_so() -> None:
    result = baseline(BaselineMethod.TOP5_OF_10, max_lookback_days=12, fallback=BaselineMethod.PRE_EVENT)
    assert result.method is BaselineMethod.PRE_EVENT
    assert result.requested is BaselineMethod.TOP5_OF_10
    assert result.fell_back
    assert result.values == {72: 777, 73: 777}


def test_fallback_shortage_is_reported_for_the_fallback() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        compute_baseline({}, D, WINDOW, CAL, method=BaselineMethod.TRIMMED, fallback=BaselineMethod.PRE_EVENT)
    assert caught.value.reason == INSUFFICIENT_BASELINE_DAYS
    assert caught.value.metadata == {"method": "PRE_EVENT", "found": "0", "needed": "1"}


def test_float_meter_values_are_refused() -> None:
    history = {d: day(1, 1) for d in candidate_days(HISTORY, D, CAL, event_days=EVENT_DAYS)}
    history[date(2025, 5, 12)][72] = 0.1  # type: ignore[assignment]
    with pytest.raises(InvalidArgument):
        compute_baseline(history, D, WINDOW, CAL, method=BaselineMethod.RECENT5)
