"""SPEC F5 bidding and clearing, worked by hand (capacity in W, prices in CNY/kWh)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.clearing import (
    Award,
    Bid,
    BidSlot,
    CurveStep,
    SlotCurve,
    aggregate_bid_curve,
    check_capacity,
    check_price_cap,
    clear,
    clear_slot,
)
from domain.errors import FailedPrecondition, InvalidArgument
from domain.settlement import PriceMode

OPEN = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
SLOT = 40


def _bid(aggregator_id: str, minute: int, slots: dict[int, tuple[int, str]]) -> Bid:
    return Bid(
        aggregator_id=aggregator_id,
        submitted_at=OPEN + timedelta(minutes=minute),
        slots={slot: BidSlot(capacity_w=w, price=Decimal(p)) for slot, (w, p) in slots.items()},
    )


# Merit order in slot 40: b 3000 @ 0.40; e 4000 @ 0.50 (submitted 01:00);
# c 5000 @ 0.50 (01:02, loses the tie to e, though its id sorts first); d 2000 @ 0.60.
BIDS = [
    _bid("agg-c", 2, {SLOT: (5_000, "0.50")}),
    _bid("agg-e", 0, {SLOT: (4_000, "0.50"), SLOT + 1: (1_000, "0.30")}),
    _bid("agg-d", -60, {SLOT: (2_000, "0.60")}),
    _bid("agg-b", 5, {SLOT: (3_000, "0.40")}),
]


def test_uniform_price_with_partial_marginal_bid_and_time_tie_break() -> None:
    # target 10000: b 3000 (7000 left), e 4000 (3000 left), c 3000 of 5000 (marginal), d nothing
    # uniform price = the marginal bid's 0.50 for all
    cleared = clear_slot(SLOT, 10_000, BIDS, PriceMode.UNIFORM)
    assert cleared.awards == (
        Award("agg-b", 3_000, Decimal("0.50")),
        Award("agg-e", 4_000, Decimal("0.50")),
        Award("agg-c", 3_000, Decimal("0.50")),
    )
    assert (cleared.accepted_w, cleared.shortfall_w, cleared.marginal_price) == (10_000, 0, Decimal("0.50"))


def test_pay_as_bid_pays_each_own_price() -> None:
    cleared = clear_slot(SLOT, 10_000, BIDS, PriceMode.PAY_AS_BID)
    assert cleared.awards == (
        Award("agg-b", 3_000, Decimal("0.40")),
        Award("agg-e", 4_000, Decimal("0.50")),
        Award("agg-c", 3_000, Decimal("0.50")),
    )


def test_same_price_and_time_falls_back_to_aggregator_id() -> None:
    bids = [_bid("agg-y", 0, {SLOT: (500, "1")}), _bid("agg-x", 0, {SLOT: (500, "1")})]
    cleared = clear_slot(SLOT, 700, bids, PriceMode.UNIFORM)
    assert [(a.aggregator_id, a.accepted_w) for a in cleared.awards] == [("agg-x", 500), ("agg-y", 200)]


def test_shortfall_accepts_everything_at_the_highest_price() -> None:
    # target 20000 > 3000 + 4000 + 5000 + 2000 = 14000: all accepted, shortfall 6000, price 0.60
    cleared = clear_slot(SLOT, 20_000, BIDS, PriceMode.UNIFORM)
    assert [(a.aggregator_id, a.accepted_w) for a in cleared.awards] == [
        ("agg-b", 3_000),
        ("agg-e", 4_000),
        ("agg-c", 5_000),
        ("agg-d", 2_000),
    ]
    assert {a.price for a in cleared.awards} == {Decimal("0.60")}
    assert (cleared.accepted_w, cleared.shortfall_w) == (14_000, 6_000)


def test_slot_without_bids_or_target() -> None:
    assert clear_slot(SLOT + 2, 1_000, BIDS, PriceMode.UNIFORM).shortfall_w == 1_000
    nothing = clear_slot(SLOT, 0, BIDS, PriceMode.UNIFORM)
    assert (nothing.awards, nothing.marginal_price) == ((), None)


def test_clear_per_aggregator_per_slot() -> None:
    # slot 41: only e offers 1000 @ 0.30; target 600 → e 600 @ 0.30
    result = clear({SLOT: 4_000, SLOT + 1: 600}, BIDS, PriceMode.UNIFORM)
    assert [s.slot for s in result.slots] == [SLOT, SLOT + 1]
    # slot 40 target 4000: b 3000, e 1000 (marginal) → uniform 0.50
    assert result.by_aggregator() == {
        "agg-b": {SLOT: Award("agg-b", 3_000, Decimal("0.50"))},
        "agg-e": {
            SLOT: Award("agg-e", 1_000, Decimal("0.50")),
            SLOT + 1: Award("agg-e", 600, Decimal("0.30")),
        },
    }


def test_direct_control_and_negative_targets_are_not_cleared() -> None:
    with pytest.raises(InvalidArgument):
        clear({SLOT: 1}, BIDS, PriceMode.DIRECT_CONTROL)
    with pytest.raises(InvalidArgument):
        clear({SLOT: -1}, BIDS, PriceMode.UNIFORM)


def test_aggregated_curve_merges_equal_prices() -> None:
    # slot 40: 0.40 → 3000; 0.50 → 4000 + 5000 = 9000; 0.60 → 2000; total 14000. slot 41: 0.30 → 1000
    assert aggregate_bid_curve(BIDS) == (
        SlotCurve(
            SLOT,
            14_000,
            (
                CurveStep(Decimal("0.40"), 3_000),
                CurveStep(Decimal("0.50"), 9_000),
                CurveStep(Decimal("0.60"), 2_000),
            ),
        ),
        SlotCurve(SLOT + 1, 1_000, (CurveStep(Decimal("0.30"), 1_000),)),
    )


def test_price_cap_rejects_each_slot_above_it() -> None:
    bid = _bid("agg-a", 0, {1: (10, "0.55"), 2: (10, "0.5501"), 3: (10, "0.9")})
    check_price_cap(bid, Decimal("0.9"))
    with pytest.raises(InvalidArgument) as raised:
        check_price_cap(bid, Decimal("0.55"))
    assert raised.value.reason == "PRICE_ABOVE_CAP"
    assert [v.field for v in raised.value.violations] == ["slots[2].price", "slots[3].price"]


def test_capacity_check_rejects_overbidding() -> None:
    bid = _bid("agg-a", 0, {1: (4_000, "0.5"), 2: (1, "0.5")})
    check_capacity(bid, {1: 4_000, 2: 1})
    with pytest.raises(FailedPrecondition) as raised:
        check_capacity(bid, {1: 3_999})
    assert raised.value.reason == "BID_EXCEEDS_CAPACITY"
    assert [v.subject for v in raised.value.violations] == ["slots[1]", "slots[2]"]


def test_negative_bid_values_are_invalid() -> None:
    with pytest.raises(InvalidArgument) as raised:
        _bid("agg-a", 0, {1: (-1, "0.5"), 2: (1, "-0.01")})
    assert [v.field for v in raised.value.violations] == ["slots[1].capacity_w", "slots[2].price"]


offers = st.lists(
    st.tuples(st.integers(0, 10_000), st.integers(0, 100), st.integers(0, 30)), min_size=0, max_size=8
)


@given(
    offers=offers,
    target=st.integers(0, 60_000),
    mode=st.sampled_from([PriceMode.UNIFORM, PriceMode.PAY_AS_BID]),
)
def test_clearing_accepts_min_of_target_and_offers(
    offers: list[tuple[int, int, int]], target: int, mode: PriceMode
) -> None:
    bids = [
        _bid(f"agg-{i}", minute, {SLOT: (w, str(Decimal(cents) / 100))})
        for i, (w, cents, minute) in enumerate(offers)
    ]
    cleared = clear_slot(SLOT, target, bids, mode)
    offered = {b.aggregator_id: b.slots[SLOT] for b in bids}
    assert cleared.accepted_w == min(target, sum(w for w, _, _ in offers))
    assert cleared.accepted_w + cleared.shortfall_w == target
    for award in cleared.awards:
        assert 0 < award.accepted_w <= offered[award.aggregator_id].capacity_w
        assert award.price >= offered[award.aggregator_id].price
        assert cleared.marginal_price is not None and award.price <= cleared.marginal_price
