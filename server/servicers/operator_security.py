"""OperatorService RPCs of the security feature: audit query and verify, dev/test credential issuing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from sqlalchemy.engine import Connection
from vgi.operator.v1 import operator_service_pb2 as pb

from application import devices
from application import signing_keys as signing_key_cases
from application.uow import UnitOfWork
from domain.errors import FailedPrecondition, FieldViolation, InvalidArgument
from infra.security.audit_checkpoint import CheckpointForged, checkpoint_for
from infra.security.identity import PrincipalUriError, parse_principal_uri
from infra.security.server_secret import SealedText
from infra.security.signatures import valid_public_key
from server.config import Settings
from server.security import credentials
from server.servicers import Deps, caller, write_once
from server.servicers.instruction_signatures import ALGORITHMS
from store import audit, idempotency, signing_keys
from store.idempotency import IdempotencyKey
from wire import audit as wire_audit
from wire.timestamps import timestamp

_ISSUE_CREDENTIALS = "/vgi.operator.v1.OperatorService/IssueCredentials"
INVALID_PUBLIC_KEY = "INVALID_PUBLIC_KEY"
CREDENTIAL_ISSUING_DISABLED = "CREDENTIAL_ISSUING_DISABLED"
CREDENTIAL_UNRECOVERABLE = "CREDENTIAL_UNRECOVERABLE"


class OperatorSecurity:
    """Mixin of ``OperatorService``; needs ``self.deps``."""

    deps: Deps

    async def ListAuditRecords(
        self, request: pb.ListAuditRecordsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListAuditRecordsResponse:
        page = await self.deps.db.read(
            lambda conn: audit.list_page(
                conn,
                page_size=request.page_size,
                page_token=request.page_token,
                principal=request.principal,
                method=request.method,
            )
        )
        return pb.ListAuditRecordsResponse(
            audit_records=[wire_audit.audit_record_message(record) for record in page.records],
            next_page_token=page.next_page_token,
        )

    async def VerifyAuditLog(
        self, request: pb.VerifyAuditLogRequest, context: grpc.aio.ServicerContext
    ) -> pb.VerifyAuditLogResponse:
        settings = self.deps.settings
        checkpoint = checkpoint_for(settings.audit_checkpoint_path(), self.deps.secret)
        try:
            heads = checkpoint.read() if checkpoint is not None else None
        except CheckpointForged as exc:
            return pb.VerifyAuditLogResponse(intact=False, problems=[f"seq 0: CHECKPOINT_FORGED: {exc}"])
        result = await self.deps.db.read(lambda conn: audit.verify_log(conn, heads))
        return pb.VerifyAuditLogResponse(
            intact=result.intact,
            records_checked=result.records_checked,
            problems=[str(problem) for problem in result.problems],
            chains_checked=result.chains_checked,
        )

    async def RegisterSigningKey(
        self, request: pb.RegisterSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RegisterSigningKeyResponse:
        effect = _register_signing_key_effect(request)
        now = datetime.now(UTC)
        return await write_once(self.deps.db, request, pb.RegisterSigningKeyResponse, effect, now=now)

    async def RevokeSigningKey(
        self, request: pb.RevokeSigningKeyRequest, context: grpc.aio.ServicerContext
    ) -> pb.RevokeSigningKeyResponse:

        def effect(uow: UnitOfWork) -> pb.RevokeSigningKeyResponse:
            signing_key_cases.revoke(uow, request.key_id)
            return pb.RevokeSigningKeyResponse(key_id=request.key_id)

        return await write_once(
            self.deps.db, request, pb.RevokeSigningKeyResponse, effect, now=datetime.now(UTC)
        )

    async def IssueCredentials(
        self, request: pb.IssueCredentialsRequest, context: grpc.aio.ServicerContext
    ) -> pb.IssueCredentialsResponse:
        settings = self.deps.settings
        pki_dir = _issuing_pki(settings)
        try:
            principal = parse_principal_uri(request.principal, aggregator_id=request.aggregator_id or None)
        except PrincipalUriError as exc:
            field = "aggregator_id" if exc.reason == "CERT_DEVICE_UNBOUND" else "principal"
            raise InvalidArgument(
                str(exc), reason=exc.reason, violations=[FieldViolation(field, str(exc))]
            ) from None
        ttl = request.ttl.ToTimedelta() if request.HasField("ttl") and request.ttl.ToTimedelta() else None
        kind = request.kind
        now = datetime.now(UTC)

        def effect(conn: Connection) -> pb.IssueCredentialsResponse:
            if principal.charger_id is not None:
                # A device credential binds a charger to an aggregator: only to the one that owns it.
                devices.check_owned(conn, principal)
            if kind == pb.CREDENTIAL_KIND_CERTIFICATE:
                issued = credentials.issue_certificate(pki_dir, principal, ttl, now=now)
            else:
                issued = credentials.issue_role_token(
                    pki_dir, principal, ttl, issuer=settings.token_issuer, now=now
                )
            # What is stored for retries (the idempotency record) holds the private key and
            # the token sealed under the server secret, never in clear.
            return pb.IssueCredentialsResponse(
                certificate_pem=issued.certificate_pem,
                private_key_pem=sealer.seal(issued.private_key_pem, bound_to),
                token=sealer.seal(issued.token, bound_to),
                expire_time=timestamp(issued.expire_time),
            )

        key = IdempotencyKey(caller().uri, _ISSUE_CREDENTIALS, request.request_id)
        bound_to = f"{key.principal}|{key.request_id}".encode()
        sealer = SealedText(self.deps.secret.derive("credentials-at-rest"))
        stored = await idempotency.write_once(self.deps.db, key, request, pb.IssueCredentialsResponse, effect)
        # A retry answers the credential first issued (AIP-155), opened again here.
        try:
            stored.private_key_pem = sealer.open(stored.private_key_pem, bound_to)
            stored.token = sealer.open(stored.token, bound_to)
        except ValueError:
            raise FailedPrecondition(
                "the credential first issued for this request_id cannot be read back (the server "
                "secret changed); issue again with a new request_id",
                reason=CREDENTIAL_UNRECOVERABLE,
            ) from None
        return stored


def _register_signing_key_effect(
    request: pb.RegisterSigningKeyRequest,
) -> Callable[[UnitOfWork], pb.RegisterSigningKeyResponse]:
    algorithm = ALGORITHMS[request.algorithm]
    if not valid_public_key(algorithm, request.public_key):
        raise InvalidArgument(
            f"public_key is not an uncompressed point on the {algorithm.value} curve",
            reason=INVALID_PUBLIC_KEY,
            violations=[FieldViolation("public_key", "must be 0x04 || X || Y on the algorithm's curve")],
        )
    key = signing_keys.SigningKey(request.key_id, request.principal, algorithm.value, request.public_key)

    def effect(uow: UnitOfWork) -> pb.RegisterSigningKeyResponse:
        signing_key_cases.register(uow, key)
        return pb.RegisterSigningKeyResponse(key_id=key.key_id)

    return effect


def _issuing_pki(settings: Settings) -> str:
    if not (settings.issue_credentials and settings.pki_dir):
        raise FailedPrecondition(
            "credential issuing is off: it needs issue_credentials and a dev PKI (pki_dir)",
            reason=CREDENTIAL_ISSUING_DISABLED,
        )
    return settings.pki_dir
