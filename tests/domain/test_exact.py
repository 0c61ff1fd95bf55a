"""domain.exact (exact values written out) and the capacity a bid was checked against (domain.clearing)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.clearing import Bid, BidSlot, CapacitySource, check_capacity
from domain.errors import FailedPrecondition
from domain.exact import decimal_text, fraction_text, terminates


@pytest.mark.parametrize(
    ("value", "text", "fraction"),
    [
        (Fraction(308_000), "308000", "308000/1"),
        (Fraction(-147_001, 3), "-49000.333333333", "-147001/3"),
        (Fraction(2, 3), "0.666666667", "2/3"),
        (Fraction(163_667, 160_000), "1.02291875", "163667/160000"),
        (Fraction(1, 3 * 10**12), "0", "1/3000000000000"),
        (Fraction(0), "0", "0/1"),
        (Fraction(5, 2), "2.5", "5/2"),
    ],
)
def test_decimal_and_fraction_texts(value: Fraction, text: str, fraction: str) -> None:
    assert (decimal_text(value), fraction_text(value)) == (text, fraction)


@given(st.fractions(max_denominator=10**6))
def test_the_fraction_text_is_exact_and_the_decimal_within_half_a_billionth(value: Fraction) -> None:
    numerator, denominator = fraction_text(value).split("/")
    assert Fraction(int(numerator), int(denominator)) == value
    written = Fraction(Decimal(decimal_text(value)))
    if terminates(value):
        assert written == value
    else:
        assert abs(written - value) <= Fraction(1, 2 * 10**9)


def test_a_refused_bid_names_the_capacity_it_was_checked_against() -> None:
    bid = Bid(
        "agg-a",
        datetime(2026, 1, 1, tzinfo=UTC),
        {0: BidSlot(10, Decimal("0.5")), 1: BidSlot(30, Decimal("0.5")), 2: BidSlot(50, Decimal("0.5"))},
    )
    sources = {0: CapacitySource.DECLARED, 1: CapacitySource.DECLARED, 2: CapacitySource.REAL_TIME}
    check_capacity(bid, {0: 10, 1: 30, 2: 50}, sources)
    with pytest.raises(FailedPrecondition) as raised:
        check_capacity(bid, {0: 10, 1: 20, 2: 0}, sources)
    assert raised.value.reason == "BID_EXCEEDS_CAPACITY"
    assert raised.value.metadata == {
        "slot": "1",
        "bid_w": "30",
        "capacity_w": "20",
        "capacity_source": "DECLARED,REAL_TIME",
    }
    assert [(v.subject, v.description) for v in raised.value.violations] == [
        ("slots[1]", "bid 30 W exceeds capacity 20 W (declared capacity)"),
        ("slots[2]", "bid 50 W exceeds capacity 0 W (real-time capacity)"),
    ]
