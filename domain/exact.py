"""How exact values (``Fraction``: baselines, actuals, responses, rates, energies) are written out.

A value with a finite decimal expansion is written exactly; one without (a
TRIMMED baseline's thirds, a rate R / C with C not of the form 2^a·5^b) is
rounded half-up to 9 decimal places in the decimal text, so every exact value
is also given as ``numerator`` and ``denominator`` (lowest terms, denominator
> 0), from which a partner recomputes a statement to the fen.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

DECIMAL_PLACES = 9
_DIGITS = Decimal(1).scaleb(-DECIMAL_PLACES)


def terminates(value: Fraction) -> bool:
    """True when ``value`` has a finite decimal expansion (its denominator is 2^a·5^b)."""
    denominator = value.denominator
    for factor in (2, 5):
        while denominator % factor == 0:
            denominator //= factor
    return denominator == 1


def decimal_text(value: Fraction) -> str:
    """The decimal text of ``value``: exact when it terminates, else rounded half-up to 9 places."""
    quotient = Decimal(value.numerator) / Decimal(value.denominator)
    if not terminates(value):
        quotient = quotient.quantize(_DIGITS, rounding=ROUND_HALF_UP)
    return format(quotient.normalize(), "f") if quotient else "0"


def fraction_text(value: Fraction) -> str:
    """``numerator/denominator`` in lowest terms (``308000/1`` for a whole number)."""
    return f"{value.numerator}/{value.denominator}"
