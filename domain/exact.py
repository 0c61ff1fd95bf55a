"""How exact values (``Fraction``: baselines, actuals, responses, rates, energies) are written out.

A value with a finite decimal expansion is written exactly; one without (a
TRIMMED baseline's thirds, a rate R / C with C not of the form 2^a·5^b) is
rounded half-up to 9 decimal places in the decimal text, so every exact value
is also given as ``numerator`` and ``denominator`` (lowest terms, denominator
> 0), from which a partner recomputes a statement to the fen.
"""

from __future__ import annotations

from fractions import Fraction

DECIMAL_PLACES = 9


def _powers(denominator: int) -> tuple[int, int, int]:
    """(a, b, rest) with denominator = 2^a · 5^b · rest."""
    a = b = 0
    while denominator % 2 == 0:
        denominator //= 2
        a += 1
    while denominator % 5 == 0:
        denominator //= 5
        b += 1
    return a, b, denominator


def terminates(value: Fraction) -> bool:
    """True when ``value`` has a finite decimal expansion (its denominator is 2^a·5^b)."""
    return _powers(value.denominator)[2] == 1


def decimal_text(value: Fraction) -> str:
    """The decimal text of ``value``: exact when it terminates, else rounded half-up (away from zero
    on a tie) to 9 places. Integer arithmetic throughout: a decimal context would round at 28 digits."""
    a, b, rest = _powers(value.denominator)
    if rest == 1:
        scale = max(a, b)
        units = value.numerator * (10**scale // value.denominator)
    else:
        scale = DECIMAL_PLACES
        scaled = abs(value) * 10**scale
        units = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)
        units = -units if value < 0 else units
    digits = str(abs(units)).rjust(scale + 1, "0")
    whole, fraction = digits[: len(digits) - scale], digits[len(digits) - scale :].rstrip("0")
    text = whole + (f".{fraction}" if fraction else "")
    return "0" if units == 0 else ("-" if units < 0 else "") + text


def fraction_text(value: Fraction) -> str:
    """``numerator/denominator`` in lowest terms (``308000/1`` for a whole number)."""
    return f"{value.numerator}/{value.denominator}"
