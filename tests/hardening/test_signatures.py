"""Finding 11: detached instruction signatures are verified before acceptance.

Keys are registered per grid principal through the operator surface (several
valid at once; revoked ones refused). The tests sign with implementations
independent of the verifier: ECDSA P-256 with python-ecdsa (the server uses
``cryptography``), SM2/SM3 with gmalg (the server uses gmssl). The signed
bytes are carried in the request (``signed_request``), as a Go, Java or Node
partner would send its own serialization.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import ecdsa
import gmalg
import grpc
import pytest
from ecdsa.util import sigencode_der
from registry.world import now, onboard, topology, ts
from security.rpcs import Outcome, call, contract_rpcs
from vgi.common.v1 import types_pb2
from vgi.dispatch.v1 import dispatch_service_pb2 as pb
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.market import GridMarketClient

pytestmark = pytest.mark.timeout(120)

RPCS = {rpc.name: rpc for rpc in contract_rpcs()}
GRID = "vgi://grid/grid-1"
SM2_ID = b"1234567812345678"
SM2_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
ECDSA = pb.SIGNATURE_ALGORITHM_ECDSA_P256_SHA256
SM2 = pb.SIGNATURE_ALGORITHM_SM2_SM3

Signer = Callable[[bytes], bytes]


def ecdsa_key() -> tuple[bytes, Signer]:
    key = ecdsa.SigningKey.generate(curve=ecdsa.NIST256p)
    public = key.get_verifying_key().to_string("uncompressed")
    return public, lambda data: key.sign_deterministic(data, hashfunc=hashlib.sha256, sigencode=sigencode_der)


def sm2_key() -> tuple[bytes, Signer]:
    secret, public = gmalg.SM2().generate_keypair()
    signer = gmalg.SM2(secret, SM2_ID, public)

    def sign(data: bytes) -> bytes:
        r, s = signer.sign(data)
        return sigencode_der(int.from_bytes(r, "big"), int.from_bytes(s, "big"), SM2_N)

    return public, sign


def instruction(values_w: int = 1000) -> pb.SubmitDispatchInstructionRequest:
    start = now().replace(second=0) + timedelta(minutes=30)
    return pb.SubmitDispatchInstructionRequest(
        request_id=str(uuid.uuid4()),
        scope="aggregators/agg-1",
        direction=types_pb2.DIRECTION_LOAD_DECREASE,
        target=types_pb2.PowerCurve(start_time=ts(start), step_minutes=15, values_w=[values_w]),
        validity=types_pb2.TimeWindow(start_time=ts(start), end_time=ts(start + timedelta(minutes=15))),
    )


def signed(
    request: pb.SubmitDispatchInstructionRequest,
    sign: Signer,
    key_id: str,
    algorithm: int,
    *,
    signed_bytes: bytes | None = None,
    tamper: Callable[[bytes], bytes] = lambda b: b,
) -> pb.SubmitDispatchInstructionRequest:
    # The partner's own serialization: here Python's, deliberately not the deterministic one.
    data = request.SerializeToString() if signed_bytes is None else signed_bytes
    out = pb.SubmitDispatchInstructionRequest()
    out.CopyFrom(request)
    out.signature.CopyFrom(
        pb.DetachedSignature(
            algorithm=algorithm,  # type: ignore[arg-type]
            key_id=key_id,
            signature=tamper(sign(data)),
            signed_request=data,
        )
    )
    return out


def flip_last(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


async def _register(platform: Any, key_id: str, algorithm: int, public: bytes) -> None:
    stub = operator_grpc.OperatorServiceStub(platform.channel)
    await stub.RegisterSigningKey(
        operator_pb.RegisterSigningKeyRequest(
            request_id=str(uuid.uuid4()),
            principal=GRID,
            key_id=key_id,
            algorithm=algorithm,
            public_key=public,  # type: ignore[arg-type]
        ),
        timeout=30,
    )


async def _submit(platform: Any, request: pb.SubmitDispatchInstructionRequest) -> Outcome:
    return await call(platform.grid, RPCS["SubmitDispatchInstruction"], request, deadline=30)


async def _stored(platform: Any) -> int:
    return len((await GridMarketClient(platform.grid).list_instructions()).instructions)


async def test_signed_instructions_are_verified_before_acceptance(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    ec_public, ec_sign = ecdsa_key()
    sm_public, sm_sign = sm2_key()
    _, other_sign = ecdsa_key()
    await _register(platform, "grid-ec-1", ECDSA, ec_public)
    await _register(platform, "grid-sm2-1", SM2, sm_public)

    # Valid signatures of both algorithms are accepted.
    for request in (
        signed(instruction(), ec_sign, "grid-ec-1", ECDSA),
        signed(instruction(), sm_sign, "grid-sm2-1", SM2),
    ):
        outcome = await _submit(platform, request)
        assert outcome.code is grpc.StatusCode.OK, outcome
    assert await _stored(platform) == 2

    other = instruction(2000)
    # The signed bytes altered after signing: the signature no longer covers them.
    altered = signed(instruction(), sm_sign, "grid-sm2-1", SM2)
    altered.signature.signed_request = flip_last(altered.signature.signed_request)
    refusals = {
        "one altered byte of the signature": (
            signed(instruction(), ec_sign, "grid-ec-1", ECDSA, tamper=flip_last),
            "SIGNATURE_INVALID",
        ),
        "one altered byte of the signed bytes": (altered, "SIGNATURE_INVALID"),
        "the wrong key": (signed(instruction(), other_sign, "grid-ec-1", ECDSA), "SIGNATURE_INVALID"),
        "an unknown key id": (signed(instruction(), ec_sign, "grid-ec-9", ECDSA), "SIGNING_KEY_UNKNOWN"),
        "the wrong algorithm": (
            signed(instruction(), ec_sign, "grid-sm2-1", ECDSA),
            "SIGNATURE_ALGORITHM_MISMATCH",
        ),
        "bytes of another request": (
            signed(instruction(), ec_sign, "grid-ec-1", ECDSA, signed_bytes=other.SerializeToString()),
            "SIGNED_REQUEST_MISMATCH",
        ),
    }
    for name, (request, reason) in refusals.items():
        outcome = await _submit(platform, request)
        assert (outcome.code, outcome.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason), (name, outcome)
    assert await _stored(platform) == 2, "a refused instruction was stored"


async def test_signing_keys_rotate_and_a_program_can_require_signatures(platform: Any) -> None:
    await onboard(platform, "agg-1")
    await topology(platform)
    old_public, old_sign = ecdsa_key()
    new_public, new_sign = sm2_key()
    await _register(platform, "grid-old", ECDSA, old_public)
    await _register(platform, "grid-new", SM2, new_public)
    stub = operator_grpc.OperatorServiceStub(platform.channel)

    # Both keys valid at once, then the old one revoked.
    assert (
        await _submit(platform, signed(instruction(), old_sign, "grid-old", ECDSA))
    ).code is grpc.StatusCode.OK
    await stub.RevokeSigningKey(
        operator_pb.RevokeSigningKeyRequest(request_id=str(uuid.uuid4()), key_id="grid-old"), timeout=30
    )
    revoked = await _submit(platform, signed(instruction(), old_sign, "grid-old", ECDSA))
    assert (revoked.code, revoked.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "SIGNING_KEY_UNKNOWN")
    assert (
        await _submit(platform, signed(instruction(), new_sign, "grid-new", SM2))
    ).code is grpc.StatusCode.OK

    # Unsigned is accepted until the program requires signatures.
    assert (await _submit(platform, instruction())).code is grpc.StatusCode.OK
    program = (
        await stub.GetProgram(operator_pb.GetProgramRequest(name="programs/default"), timeout=30)
    ).program
    program.require_instruction_signatures = True
    await stub.UpsertProgram(
        operator_pb.UpsertProgramRequest(request_id=str(uuid.uuid4()), program=program), timeout=30
    )
    missing = await _submit(platform, instruction())
    assert (missing.code, missing.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "SIGNATURE_REQUIRED")
    assert (
        await _submit(platform, signed(instruction(), new_sign, "grid-new", SM2))
    ).code is grpc.StatusCode.OK
    assert await _stored(platform) == 4

    # A key that is not a point on its curve is refused at registration.
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await _register(platform, "grid-bad", SM2, b"\x04" + b"\x01" * 64)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT


def test_an_sm2_key_whose_x_coordinate_starts_with_04_verifies() -> None:
    # 1 key in 256: gmssl's lstrip("04") once cut such a key short and the verification crashed
    # (INTERNAL for a valid signed instruction).
    from infra.security.signatures import Algorithm, verify

    for _ in range(20_000):
        secret, public = gmalg.SM2().generate_keypair()
        if public[1] == 0x04:
            break
    else:
        raise AssertionError("no SM2 key with x starting 0x04 in 20,000 tries")
    signer = gmalg.SM2(secret, SM2_ID, public)
    r, s = signer.sign(b"instruction")
    signature = sigencode_der(int.from_bytes(r, "big"), int.from_bytes(s, "big"), SM2_N)
    assert verify(Algorithm.SM2_SM3, public, b"instruction", signature)
    assert not verify(Algorithm.SM2_SM3, public, b"another instruction", signature)
