"""Price use cases (SPEC F11): publishing a price curve."""

from __future__ import annotations

from application.uow import UnitOfWork
from domain.notices import PriceCurvePublished
from domain.prices import PriceCurve
from store import prices


def publish_price_curve(uow: UnitOfWork, curve: PriceCurve) -> PriceCurve:
    """Store the curve (``store.prices.publish``) and tell the aggregators it concerns, in the same
    transaction: a committed curve is always announced (each delivery a span linked to the call)."""
    published = prices.publish(uow.conn, curve, uow.now)
    uow.notify(PriceCurvePublished(published, tuple(prices.audience(uow.conn, curve))))
    return published
