"""Opaque keyset page tokens (AIP-158).

A token carries the sort key of the last row of the previous page and the
name of the collection it belongs to, so a token from one List cannot be
replayed against another. It is opaque to clients, not secret.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from domain.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size(requested: int) -> int:
    """0 means the default; larger values are capped (the proto rejects more than MAX)."""
    if requested <= 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


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


def _invalid() -> InvalidArgument:
    return InvalidArgument(
        "invalid page_token",
        reason="INVALID_PAGE_TOKEN",
        violations=[FieldViolation("page_token", "not a token returned by this List")],
    )
