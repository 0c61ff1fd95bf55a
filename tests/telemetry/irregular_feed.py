"""One irregular multi-charger feed over one 15-minute slot and its slot value computed by hand (SPEC F2).

Offsets are seconds from the slot start S; the heartbeat timeout is 120 s.

* ``ir-a`` (power only, bursty): a burst at 90/95/100 s, then every 100–110 s;
  every gap is at most 120 s, so the whole slot is covered. ∫P dt over [0, 900) =
  4000·90 + 6000·5 + 6200·5 + 6100·100 + 5000·100 + 5000·110 + 3000·110
  + 3000·100 + 7000·110 + 7000·110 + 2000·60 = 4,371,000 W·s → 4,371,000 / 900 = 14570/3 W.
* ``ir-b`` (power only): a transient 300–305 s and a 180 s gap 540 → 720 of which
  only 120 s are held, so 840 s (93.3 % ≥ 90 %) are covered. ∫P dt = 3000·60 + 3000·120
  + 3000·120 + 9000·2 + 9000·3 + 3000·115 + 3000·120 + 3000·120 + 3000·120 + 3000·60
  = 2,550,000 W·s → 2,550,000 / 840 = 21250/7 W.
* ``ir-v2g`` (bidirectional, import and export registers every 200–330 s,
  discharging, one −61,420 W transient reading): the net register (import −
  export) brackets both boundaries. E(0) = 5000 + (4500 − 5000)·200/330 =
  155000/33 Wh; E(900) = 3350 + (3100 − 3350)·110/210 = 67600/21 Wh; mean =
  (E(900) − E(0)) / 0.25 h = −455200/77 W. Its power samples are too sparse to
  cover 90 % of the slot, so the register is the only way to a value.

The aggregator's slot = 14570/3 + 21250/7 − 455200/77 = 457540/231 W (≈ 1980.69 W).
"""

from __future__ import annotations

from fractions import Fraction

HEARTBEAT_TIMEOUT_S = 120

# (charger, offset s, power W, import register Wh, export register Wh); None = not sent.
FEED: list[tuple[str, int, int | None, int | None, int | None]] = [
    ("ir-a", -30, 4000, None, None),
    ("ir-a", 90, 6000, None, None),
    ("ir-a", 95, 6200, None, None),
    ("ir-a", 100, 6100, None, None),
    ("ir-a", 200, 5000, None, None),
    ("ir-a", 300, 5000, None, None),
    ("ir-a", 410, 3000, None, None),
    ("ir-a", 520, 3000, None, None),
    ("ir-a", 620, 7000, None, None),
    ("ir-a", 730, 7000, None, None),
    ("ir-a", 840, 2000, None, None),
    ("ir-a", 930, 2000, None, None),
    ("ir-b", -60, 3000, None, None),
    ("ir-b", 60, 3000, None, None),
    ("ir-b", 180, 3000, None, None),
    ("ir-b", 300, 9000, None, None),
    ("ir-b", 302, 9000, None, None),
    ("ir-b", 305, 3000, None, None),
    ("ir-b", 420, 3000, None, None),
    ("ir-b", 540, 3000, None, None),
    ("ir-b", 720, 3000, None, None),
    ("ir-b", 840, 3000, None, None),
    ("ir-v2g", -200, -6000, 10000, 5000),
    ("ir-v2g", 130, -61420, 10000, 5500),
    ("ir-v2g", 460, -6500, 10000, 6100),
    ("ir-v2g", 790, -6000, 10000, 6650),
    ("ir-v2g", 1000, -4300, 10000, 6900),
]

EXPECTED = {
    "ir-a": Fraction(14570, 3),
    "ir-b": Fraction(21250, 7),
    "ir-v2g": Fraction(-455200, 77),
}
EXPECTED_SLOT = Fraction(457540, 231)
assert sum(EXPECTED.values()) == EXPECTED_SLOT
