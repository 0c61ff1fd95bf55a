"""Aggregator use cases (operator surface): create one, update its mutable fields and state."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from application.uow import UnitOfWork
from domain.errors import FieldViolation, InvalidArgument
from store import aggregators
from store.aggregators import Aggregator, AggregatorState


def create(
    uow: UnitOfWork,
    aggregator_id: str,
    *,
    display_name: str,
    unified_social_credit_code: str,
    contact_email: str,
) -> Aggregator:
    """A new ACTIVE aggregator (``store.aggregators.create``)."""
    return aggregators.create(
        uow.conn,
        aggregator_id=aggregator_id,
        display_name=display_name,
        unified_social_credit_code=unified_social_credit_code,
        contact_email=contact_email,
        now=uow.now,
    )


def update_paths(mask: Iterable[str]) -> list[str]:
    """The fields an update mask names (all mutable ones when empty); a field that cannot be updated is
    INVALID_ARGUMENT ``UPDATE_MASK_INVALID``. Checked before the transaction, so the servicer calls it
    while it parses the request."""
    paths = list(mask) or list(aggregators.MUTABLE_FIELDS)
    unknown = [path for path in paths if path not in aggregators.MUTABLE_FIELDS]
    if unknown:
        raise InvalidArgument(
            f"update_mask names fields that cannot be updated: {', '.join(unknown)}",
            reason="UPDATE_MASK_INVALID",
            violations=[
                FieldViolation("update_mask.paths", f"{path!r} is not one of {aggregators.MUTABLE_FIELDS}")
                for path in unknown
            ],
        )
    return paths


def update(
    uow: UnitOfWork, aggregator_id: str, *, changes: Mapping[str, str], state: AggregatorState | None
) -> Aggregator:
    """Change the named mutable fields (``update_paths``) and, when given, the state."""
    return aggregators.update(uow.conn, aggregator_id, changes=changes, state=state, now=uow.now)
