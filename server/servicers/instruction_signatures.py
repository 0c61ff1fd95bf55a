"""Detached signatures on SubmitDispatchInstruction, checked before anything is accepted (SPEC §6).

In the instruction's own transaction: the program that governs it (the
event's, else ``default``) may require a signature; a signature present must
name a valid key of the calling grid principal with its algorithm, verify
over ``signed_request``, and ``signed_request`` must parse to the very
request that carries it (signature aside). Each failure has its own reason;
nothing is stored.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from vgi.dispatch.v1 import dispatch_service_pb2 as pb

from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from domain.principal import Principal
from infra.security.signatures import Algorithm, verify
from store import events, programs, signing_keys

SIGNATURE_REQUIRED = "SIGNATURE_REQUIRED"
SIGNING_KEY_UNKNOWN = "SIGNING_KEY_UNKNOWN"
SIGNATURE_ALGORITHM_MISMATCH = "SIGNATURE_ALGORITHM_MISMATCH"
SIGNATURE_INVALID = "SIGNATURE_INVALID"
SIGNED_REQUEST_MISMATCH = "SIGNED_REQUEST_MISMATCH"
ALGORITHMS = {
    pb.SIGNATURE_ALGORITHM_ECDSA_P256_SHA256: Algorithm.ECDSA_P256_SHA256,
    pb.SIGNATURE_ALGORITHM_SM2_SM3: Algorithm.SM2_SM3,
}


def _refused(message: str, reason: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, violations=[FieldViolation(field, message)])


def check(conn: Connection, request: pb.SubmitDispatchInstructionRequest, principal: Principal) -> None:
    """Raise unless the instruction's signature (or its absence) is acceptable."""
    if not request.HasField("signature"):
        event_id = request.event.removeprefix("events/")
        program_id = events.get(conn, event_id).program_id if event_id else "default"
        if programs.get(conn, program_id).require_instruction_signatures:
            raise FailedPrecondition(
                f"program {program_id} requires signed dispatch instructions",
                reason=SIGNATURE_REQUIRED,
            )
        return
    signature = request.signature
    key = signing_keys.active(conn, signature.key_id)
    if key is None or key.principal != principal.uri:
        raise _refused(
            f"no valid signing key {signature.key_id!r} of {principal.uri}",
            SIGNING_KEY_UNKNOWN,
            "signature.key_id",
        )
    algorithm = ALGORITHMS[signature.algorithm]
    if key.algorithm != algorithm.value:
        raise _refused(
            f"key {signature.key_id!r} is for {key.algorithm}, the signature says {algorithm.value}",
            SIGNATURE_ALGORITHM_MISMATCH,
            "signature.algorithm",
        )
    if not verify(algorithm, key.public_key, signature.signed_request, signature.signature):
        raise _refused(
            "the signature does not verify over signed_request with the named key",
            SIGNATURE_INVALID,
            "signature.signature",
        )
    unsigned = pb.SubmitDispatchInstructionRequest()
    unsigned.CopyFrom(request)
    unsigned.ClearField("signature")
    try:
        signed = pb.SubmitDispatchInstructionRequest.FromString(signature.signed_request)
    except Exception:  # DecodeError: the bytes are not a request at all
        signed = None
    if signed != unsigned:
        raise _refused(
            "signed_request is not this request (without its signature)",
            SIGNED_REQUEST_MISMATCH,
            "signature.signed_request",
        )
