"""Signing-key use cases (operator surface): register a principal's instruction-signing key, revoke one.

The public key is checked as the request is parsed (``server/servicers/operator_security.py``).
"""

from __future__ import annotations

from application.uow import UnitOfWork
from store import signing_keys
from store.signing_keys import SigningKey


def register(uow: UnitOfWork, key: SigningKey) -> None:
    """Store a new key (ALREADY_EXISTS for a known key id)."""
    signing_keys.register(uow.conn, key, uow.now)


def revoke(uow: UnitOfWork, key_id: str) -> None:
    """Revoke a key from now on."""
    signing_keys.revoke(uow.conn, key_id, uow.now)
