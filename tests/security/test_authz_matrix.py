"""Every (role, RPC) pair, generated from the roles each RPC declares in the proto.

Denied pairs must answer PERMISSION_DENIED with ErrorInfo ROLE_NOT_ALLOWED
before validation (the request is empty); allowed pairs must get past
authentication and authorization: any outcome but PERMISSION_DENIED and
UNAUTHENTICATED (OK, a domain error, INVALID_ARGUMENT from validation,
UNIMPLEMENTED for RPCs not built yet, or a stream left open).
"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2

from domain.principal import Role

from .rpcs import Outcome, Rpc, call, contract_rpcs

pytestmark = pytest.mark.timeout(120)

RPCS = contract_rpcs()
PAIRS = [(role, rpc) for rpc in RPCS for role in Role]
DENIED = [(role, rpc) for role, rpc in PAIRS if role not in rpc.roles]
ALLOWED = [(role, rpc) for role, rpc in PAIRS if role in rpc.roles]


def test_the_matrix_is_not_vacuous() -> None:
    # Four surfaces, each with RPCs; every role appears on both sides of the matrix somewhere
    # except INTERNAL, which no RPC admits yet.
    assert {rpc.service for rpc in RPCS} == {
        "vgi.aggregator.v1.AggregatorService",
        "vgi.device.v1.DeviceService",
        "vgi.dispatch.v1.DispatchService",
        "vgi.operator.v1.OperatorService",
    }
    assert all(rpc.roles for rpc in RPCS), [str(rpc) for rpc in RPCS if not rpc.roles]
    assert {role for role, _ in ALLOWED} == set(Role) - {Role.INTERNAL}
    assert {role for role, _ in DENIED} == set(Role)
    assert any(rpc.client_streaming for _, rpc in DENIED) and any(rpc.server_streaming for _, rpc in ALLOWED)


async def _run(
    platform: Any, pairs: list[tuple[Role, Rpc]], *, settle: float = 1.0
) -> list[tuple[Role, Rpc, Outcome]]:
    outcomes = await asyncio.gather(
        *(call(platform.channel_for_role(role), rpc, settle=settle) for role, rpc in pairs)
    )
    return [(role, rpc, outcome) for (role, rpc), outcome in zip(pairs, outcomes, strict=True)]


async def test_every_pair_the_proto_does_not_allow_is_permission_denied(platform: Any) -> None:
    wrong = []
    # A denied stream ends at once; the long settle only matters on a loaded machine, where a
    # few hundred concurrent calls can take seconds to be refused (1 s left streams "OPEN").
    for role, rpc, outcome in await _run(platform, DENIED, settle=30.0):
        info = outcome.detail(error_details_pb2.ErrorInfo)
        expected = (grpc.StatusCode.PERMISSION_DENIED, "ROLE_NOT_ALLOWED", "vgi", rpc.path, role.value)
        got = (
            outcome.code,
            outcome.reason,
            info.domain if info else None,
            info.metadata["method"] if info else None,
            info.metadata["role"] if info else None,
        )
        if got != expected:
            wrong.append(f"{role.value} → {rpc}: {outcome}")
    assert wrong == [], "\n".join(wrong)


async def test_every_pair_the_proto_allows_gets_past_auth(platform: Any) -> None:
    refused = [
        f"{role.value} → {rpc}: {outcome}"
        for role, rpc, outcome in await _run(platform, ALLOWED)
        if outcome.code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED)
    ]
    assert refused == [], "\n".join(refused)
