"""Finding 4: no issued private key or token is stored in clear anywhere in the store.

A retried IssueCredentials (same request_id, same request) answers the very
credential first issued: the idempotency record keeps it sealed under the
server secret (outside the database) and the server opens it again.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel
from vgi.operator.v1 import operator_service_pb2 as pb
from vgi.operator.v1 import operator_service_pb2_grpc as pb_grpc

import store.schema  # noqa: F401  (registers every table)

pytestmark = pytest.mark.timeout(120)


def _request(kind: int, request_id: str) -> pb.IssueCredentialsRequest:
    return pb.IssueCredentialsRequest(request_id=request_id, principal="vgi://aggregator/agg-9", kind=kind)  # type: ignore[arg-type]


async def _everything_stored(platform: Any) -> bytes:
    """Every value of every row of every table, as bytes."""

    def dump(conn: sa.Connection) -> bytes:
        out = []
        for table in SQLModel.metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                for value in row:
                    out.append(value if isinstance(value, bytes | memoryview) else str(value).encode())
        return b"\n".join(bytes(v) for v in out)

    return await platform.db.read(dump)


async def test_issued_keys_and_tokens_are_never_stored_in_clear_and_a_retry_returns_the_same(
    platform: Any,
) -> None:
    stub = pb_grpc.OperatorServiceStub(platform.channel)
    cert_id, token_id = str(uuid.uuid4()), str(uuid.uuid4())
    cert = await stub.IssueCredentials(_request(pb.CREDENTIAL_KIND_CERTIFICATE, cert_id), timeout=30)
    token = await stub.IssueCredentials(_request(pb.CREDENTIAL_KIND_TOKEN, token_id), timeout=30)
    assert "PRIVATE KEY" in cert.private_key_pem and token.token.count(".") == 2

    stored = await _everything_stored(platform)
    key_body = "".join(cert.private_key_pem.strip().splitlines()[1:-1]).encode()
    for secret in (key_body[:40], key_body[-40:], token.token.encode(), token.token.split(".")[2].encode()):
        assert secret not in stored
    assert b"PRIVATE KEY" not in stored

    # A retry: the same credential, read back from the sealed record.
    again = await stub.IssueCredentials(_request(pb.CREDENTIAL_KIND_CERTIFICATE, cert_id), timeout=30)
    assert again == cert
    again = await stub.IssueCredentials(_request(pb.CREDENTIAL_KIND_TOKEN, token_id), timeout=30)
    assert again == token
