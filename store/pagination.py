"""Opaque keyset page tokens (AIP-158).

A token carries the sort key of the last row of the previous page and the
name of the collection it belongs to, so a token from one List cannot be
replayed against another. It is opaque to clients, not secret.
"""

from __future__ import annotations

import base64
import binascii
import json

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


def decode_int(collection: str, token: str) -> int | None:
    """The one integer sort key in ``token``, or None for the first page."""
    after = decode(collection, token, 1)
    if after is None:
        return None
    try:
        return int(after[0])
    except ValueError:
        raise _invalid() from None


def _invalid() -> InvalidArgument:
    return InvalidArgument(
        "invalid page_token",
        reason="INVALID_PAGE_TOKEN",
        violations=[FieldViolation("page_token", "not a token returned by this List")],
    )
