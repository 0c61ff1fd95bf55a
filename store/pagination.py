"""Opaque keyset page tokens (AIP-158) and the one keyset read, ``keyset``.

A token carries the sort key of the last row of the previous page and the
name of the collection it belongs to, so a token from one List cannot be
replayed against another. It is opaque to clients, not secret.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """0 means the default; larger values are capped (the proto rejects more than MAX)."""
    if requested <= 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


_page_size = page_size  # for ``keyset``, whose keyword argument shadows the name


def encode(collection: str, after: list[str]) -> str:
    payload = json.dumps({"c": collection, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode(collection: str, token: str, arity: int) -> list[str] | None:
    """The keyset position (``arity`` sort-key values) in ``token``, or None for the first page."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        after = payload["a"]
        if (
            payload["c"] != collection
            or not isinstance(after, list)
            or len(after) != arity
            or not all(isinstance(k, str) for k in after)
        ):
            raise ValueError("token for another collection")
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _invalid() from None
    return after


def decode_keys(collection: str, token: str, *parse: Callable[[str], Any]) -> tuple[Any, ...] | None:
    """The keyset position in ``token``, each key read by its ``parse`` (``int``, ``datetime.fromisoformat``…).

    None for the first page; a key its parser refuses makes the token invalid.
    """
    after = decode(collection, token, len(parse))
    if after is None:
        return None
    try:
        return tuple(read(key) for read, key in zip(parse, after, strict=True))
    except ValueError:
        raise _invalid() from None


@dataclass(frozen=True)
class Key:
    """One sort key of a keyset read: its column, how the token's text is read back (``str``, ``int``,
    ``datetime.fromisoformat``) and its direction."""

    column: sa.ColumnElement[Any]
    parse: Callable[[str], Any] = str
    descending: bool = False


def keyset(
    conn: Connection,
    query: sa.Select[Any],
    keys: Sequence[Key],
    *,
    collection: str,
    page_size: int,
    page_token: str,
) -> tuple[list[sa.Row[Any]], str]:
    """One page of ``query`` ordered by ``keys`` (together unique), after the position in ``page_token``;
    the rows and the next page's token ("" on the last page).

    Every key column must be among the selected ones: the token holds the last row's values.
    """
    size = _page_size(page_size)
    after = decode_keys(collection, page_token, *(key.parse for key in keys))
    if after is not None:
        query = query.where(_after(keys, after))
    order = [key.column.desc() if key.descending else key.column for key in keys]
    rows = list(conn.execute(query.order_by(*order).limit(size + 1)).all())
    if len(rows) <= size:
        return rows, ""
    last = rows[size - 1]._mapping
    return rows[:size], encode(collection, [_text(last[key.column]) for key in keys])


def _after(keys: Sequence[Key], after: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Lexicographically past ``after``: some key beyond its value, every key before it equal."""
    alternatives = []
    for i, key in enumerate(keys):
        beyond = key.column < after[i] if key.descending else key.column > after[i]
        alternatives.append(sa.and_(*(k.column == a for k, a in zip(keys[:i], after, strict=False)), beyond))
    return sa.or_(*alternatives)


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _invalid() -> InvalidArgument:
    return InvalidArgument(
        "invalid page_token",
        reason="INVALID_PAGE_TOKEN",
        violations=[FieldViolation("page_token", "not a token returned by this List")],
    )
