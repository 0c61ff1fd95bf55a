"""Price curves (SPEC F11): every publication is kept; lists are newest first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import FieldViolation, InvalidArgument
from domain.prices import PriceCurve
from store import pagination, registry
from store.registry_tables import PriceCurveRow
from store.tables import AggregatorRow, table_of

price_curves = table_of(PriceCurveRow)
_aggregators = table_of(AggregatorRow)
CURRENCY = "CNY"


def publish(conn: Connection, curve: PriceCurve, now: datetime) -> PriceCurve:
    """Store a new version of the curve (earlier versions stay, as history)."""
    if curve.grid_node_id:
        known = registry.subtree(conn, curve.grid_node_id)
        if not known:
            raise InvalidArgument(
                f"grid node {curve.grid_node_id} does not exist",
                reason="GRID_NODE_NOT_FOUND",
                violations=[FieldViolation("price_curve.grid_node", "no such grid node")],
            )
    conn.execute(
        sa.insert(price_curves).values(
            price_curve_id=curve.price_curve_id,
            kind=curve.kind,
            grid_node_id=curve.grid_node_id,
            start_time=curve.start_time,
            step_minutes=curve.step_minutes,
            prices=[str(p) for p in curve.prices],
            currency=CURRENCY,
            publish_time=now,
        )
    )
    return PriceCurve(
        price_curve_id=curve.price_curve_id,
        kind=curve.kind,
        grid_node_id=curve.grid_node_id,
        start_time=curve.start_time,
        step_minutes=curve.step_minutes,
        prices=curve.prices,
        publish_time=now,
    )


def audience(conn: Connection, curve: PriceCurve) -> list[str]:
    """Who is told about a curve: the aggregators at its node (and below), or every live aggregator."""
    if curve.grid_node_id:
        return registry.aggregators_at_node(conn, curve.grid_node_id)
    return list(
        conn.execute(
            sa.select(_aggregators.c.aggregator_id)
            .where(_aggregators.c.delete_time.is_(None))
            .order_by(_aggregators.c.aggregator_id)
        ).scalars()
    )


@dataclass(frozen=True, slots=True)
class PriceCurvePage:
    curves: list[PriceCurve]
    next_page_token: str


def list_page(
    conn: Connection, *, page_size: int, page_token: str, kind: str = "", grid_node_id: str = ""
) -> PriceCurvePage:
    """Publications newest first (by publication order), optionally of one kind or node."""
    collection = f"priceCurves?kind={kind}&node={grid_node_id}"
    query = sa.select(price_curves)
    if kind:
        query = query.where(price_curves.c.kind == kind)
    if grid_node_id:
        query = query.where(price_curves.c.grid_node_id == grid_node_id)
    rows, token = pagination.keyset(
        conn,
        query,
        [pagination.Key(price_curves.c.id, int, descending=True)],
        collection=collection,
        page_size=page_size,
        page_token=page_token,
    )
    return PriceCurvePage([_record(row) for row in rows], token)


def _record(row: sa.Row[tuple[object, ...]]) -> PriceCurve:
    prices: Sequence[str] = row.prices  # type: ignore[assignment]
    return PriceCurve(
        price_curve_id=str(row.price_curve_id),
        kind=str(row.kind),
        grid_node_id=str(row.grid_node_id),
        start_time=row.start_time,  # type: ignore[arg-type]
        step_minutes=int(row.step_minutes),  # type: ignore[call-overload]
        prices=tuple(Decimal(p) for p in prices),
        publish_time=row.publish_time,  # type: ignore[arg-type]
    )
