"""domain.monitoring (SPEC F7): minute figures, lag histories, node apportioning, revised curves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from domain.decomposition import MinuteSample
from domain.evaluation import Direction
from domain.monitoring import (
    MINUTE,
    Curve,
    Figures,
    PastMinute,
    figures,
    node_samples,
    recent_minutes,
    revise_curves,
    whole_watts,
)

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def test_whole_watts_rounds_half_up_away_from_zero() -> None:
    assert [whole_watts(Fraction(n, 2)) for n in (1, 3, -1, -3)] == [1, 2, -1, -2]
    assert whole_watts(Fraction(28_000 * 3 + 1, 3)) == 28_000
    assert whole_watts(Fraction(28_000 * 3 + 2, 3)) == 28_001


def test_figures_per_direction() -> None:
    assert figures(Direction.LOAD_DECREASE, 14_000, 27_600, 28_000) == Figures(
        14_000, 27_600, 28_000, 400, Fraction(13_600, 14_000), False
    )
    # A load increase responds by consuming more than the baseline; over-delivery is a negative deviation.
    assert figures(Direction.LOAD_INCREASE, 5_000, 16_000, 10_000) == Figures(
        5_000, 16_000, 10_000, 6_000, Fraction(-1, 5), False
    )


def test_unmeasured_response_counts_as_zero_and_nothing_instructed_has_no_deviation() -> None:
    assert figures(Direction.LOAD_DECREASE, 10_000, None, 28_000) == Figures(
        10_000, 0, 28_000, 0, Fraction(1), True
    )
    assert figures(Direction.LOAD_DECREASE, 10_000, 20_000, None) == Figures(
        10_000, 20_000, 0, 0, Fraction(1), True
    )
    assert figures(Direction.LOAD_DECREASE, 0, 20_000, 28_000).deviation is None


def _past(
    target: int, response: int, *, reset: bool = False, nodes: dict[str, int] | None = None
) -> PastMinute:
    return PastMinute(target, response, nodes if nodes is not None else {"n1": target}, reset)


def test_recent_minutes_are_consecutive_and_restart_after_a_reset() -> None:
    now = _past(100, 0)
    past = {T0 - MINUTE: _past(100, 10), T0 - 2 * MINUTE: _past(100, 20)}
    assert recent_minutes(past, T0, now, 3) == [_past(100, 20), _past(100, 10), now]
    assert recent_minutes(past, T0, now, 2) == [_past(100, 10), now]
    # A gap (the monitor did not run at T0 − 1 min) breaks the run.
    assert recent_minutes({T0 - 2 * MINUTE: _past(100, 20)}, T0, now, 3) == [now]
    # A minute that revised the instruction or alarmed ends the history before it.
    reset = {T0 - MINUTE: _past(100, 10, reset=True), T0 - 2 * MINUTE: _past(100, 20)}
    assert recent_minutes(reset, T0, now, 3) == [now]


def test_node_samples_take_the_response_as_measured_at_one_node_and_pro_rata_at_several() -> None:
    one = [_past(14_000, 400)]
    assert node_samples(one, "n1") == [MinuteSample(14_000, 400)]
    two = [_past(30_000, 10_001, nodes={"n1": 20_000, "n2": 10_000})]
    assert node_samples(two, "n1") == [MinuteSample(20_000, 6_667)]
    assert node_samples(two, "n2") == [MinuteSample(10_000, 3_333)]
    assert node_samples([_past(0, -50, nodes={"n1": 0})], "n1") == [MinuteSample(0, -50)]


def test_revise_curves_moves_the_same_watts_from_the_current_step_on() -> None:
    curves = {
        "a": Curve(T0, 15, (14_000, 14_000, 14_000)),
        "b": Curve(T0, 15, (14_000, 14_000, 14_000)),
        "c": Curve(T0, 15, (7_000, 7_000, 7_000)),
    }
    deltas = {"a": -13_600, "b": 9_067, "c": 4_533}
    revised = revise_curves(curves, deltas, T0 + timedelta(minutes=17))
    # The first step ended before the change: history keeps its values.
    assert revised == {
        "a": (14_000, 400, 400),
        "b": (14_000, 23_067, 23_067),
        "c": (7_000, 11_533, 11_533),
    }
    assert revise_curves(curves, {"a": 0, "b": 0}, T0) == {}


def test_a_giver_never_goes_below_zero_and_the_takers_share_only_what_it_shed() -> None:
    curves = {
        "a": Curve(T0, 15, (10_000, 3_000)),
        "b": Curve(T0, 15, (5_000, 5_000)),
        "c": Curve(T0, 15, (5_000, 5_000)),
        "new": Curve(T0, 15, (0, 0)),
    }
    revised = revise_curves(curves, {"a": -9_000, "b": 4_500, "c": 0, "new": 4_500}, T0 + MINUTE)
    # Step 2: a sheds its 3 000 only; b and new share it 1:1.
    assert revised == {"a": (1_000, 0), "b": (9_500, 6_500), "new": (4_500, 1_500)}
    for step in range(2):
        before = sum(c.values_w[step] for c in curves.values())
        after = sum(revised.get(aid, c.values_w)[step] for aid, c in curves.items())
        assert before == after
