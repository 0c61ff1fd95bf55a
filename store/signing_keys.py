"""Grid signing keys (SPEC §6 non-repudiation): registered by operators, several valid at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.errors import AlreadyExists, NotFound
from store.security_tables import SigningKeyRow
from store.tables import table_of

_keys = table_of(SigningKeyRow)
SIGNING_KEY_EXISTS = "SIGNING_KEY_EXISTS"
SIGNING_KEY_NOT_FOUND = "SIGNING_KEY_NOT_FOUND"


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    principal: str
    algorithm: str
    public_key: bytes


def register(conn: Connection, key: SigningKey, now: datetime) -> None:
    if conn.execute(sa.select(_keys.c.key_id).where(_keys.c.key_id == key.key_id)).first() is not None:
        raise AlreadyExists(
            f"signing key {key.key_id} exists; register a new key id to rotate",
            reason=SIGNING_KEY_EXISTS,
            metadata={"key_id": key.key_id},
        )
    conn.execute(
        sa.insert(_keys).values(
            key_id=key.key_id,
            principal=key.principal,
            algorithm=key.algorithm,
            public_key=key.public_key,
            create_time=now,
            revoke_time=None,
        )
    )


def revoke(conn: Connection, key_id: str, now: datetime) -> None:
    done = conn.execute(
        sa.update(_keys)
        .where(_keys.c.key_id == key_id, _keys.c.revoke_time.is_(None))
        .values(revoke_time=now)
    )
    if done.rowcount == 0:
        raise NotFound(
            f"no valid signing key {key_id}", reason=SIGNING_KEY_NOT_FOUND, metadata={"key_id": key_id}
        )


def active(conn: Connection, key_id: str) -> SigningKey | None:
    """The key if it is registered and not revoked."""
    row = conn.execute(
        sa.select(_keys).where(_keys.c.key_id == key_id, _keys.c.revoke_time.is_(None))
    ).first()
    if row is None:
        return None
    return SigningKey(row.key_id, row.principal, row.algorithm, bytes(row.public_key))
