"""Finding 11 (interim): a detached instruction signature is never accepted unverified.

The platform cannot verify signatures yet (no signing-key registry), so a
signed SubmitDispatchInstruction is refused with FAILED_PRECONDITION
SIGNATURE_NOT_VERIFIABLE and nothing is stored; before, it was accepted and
the signature ignored.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import grpc
import pytest
from registry.world import now, onboard, topology, ts
from security.rpcs import call, contract_rpcs
from vgi.common.v1 import types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from clients.market import GridMarketClient

pytestmark = pytest.mark.timeout(60)

SUBMIT = next(rpc for rpc in contract_rpcs() if rpc.name == "SubmitDispatchInstruction")


async def test_a_signed_instruction_is_refused_rather_than_accepted_unverified(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    start = now().replace(second=0) + timedelta(minutes=30)
    request = pb.SubmitDispatchInstructionRequest(
        request_id=str(uuid.uuid4()),
        scope="aggregators/agg-1",
        direction=types_pb2.DIRECTION_LOAD_DECREASE,
        target=types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[1000]),
        validity=types_pb2.TimeWindow(start_time=ts(start), end_time=ts(start + timedelta(minutes=15))),
        signature=pb.DetachedSignature(
            algorithm=pb.SIGNATURE_ALGORITHM_ECDSA_P256_SHA256, key_id="grid-key-1", signature=b"\x30" * 70
        ),
    )
    outcome = await call(platform.grid, SUBMIT, request)
    assert (outcome.code, outcome.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SIGNATURE_NOT_VERIFIABLE")
    assert list((await GridMarketClient(platform.grid).list_instructions()).instructions) == []
