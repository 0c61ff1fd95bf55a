"""``vgi pki ...`` and ``vgi token ...`` (development credentials) and ``vgi audit verify``.

``server/cli.py`` calls ``register(subparsers)``; every leaf command sets
``func`` (``args.func(args)`` → process exit code).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from infra.security import pki
from infra.security.identity import PrincipalUriError, parse_principal_uri, split_principal_uri
from infra.security.tokens import AGGREGATOR_CLAIM, AUDIENCES, DEV_ISSUER, issue_token
from server.security.credentials import audiences_for_role


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``pki``, ``token`` and ``audit`` command groups."""
    pki_parser = subparsers.add_parser("pki", help="development PKI (CA, certificates, JWT keys)")
    pki_commands = pki_parser.add_subparsers(dest="pki_command", required=True)

    init = pki_commands.add_parser("init", help="create a CA, server and per-role client certs, JWT keys")
    init.add_argument("--dir", type=Path, required=True)
    init.add_argument("--if-missing", action="store_true", help="keep what exists, make only what is missing")
    init.set_defaults(func=_pki_init)

    issue = pki_commands.add_parser("issue", help="sign a client certificate for a principal")
    issue.add_argument("--dir", type=Path, required=True)
    issue.add_argument("--principal", required=True, help="vgi://{role}/{id}")
    issue.add_argument("--aggregator", help="the owning aggregator id (devices only, required for them)")
    issue.set_defaults(func=_pki_issue)

    rotate = pki_commands.add_parser("rotate-jwt-key", help="new JWT signing key; old public keys stay")
    rotate.add_argument("--dir", type=Path, required=True)
    rotate.set_defaults(func=_pki_rotate)

    retire = pki_commands.add_parser("retire-jwt-key", help="stop trusting an old JWT key")
    retire.add_argument("--dir", type=Path, required=True)
    # Thumbprint kids may start with "-": pass them as --kid=VALUE.
    retire.add_argument(
        "--kid", required=True, help="the kid to retire; use --kid=VALUE when it starts with -"
    )
    retire.set_defaults(func=_pki_retire)

    token_parser = subparsers.add_parser("token", help="development bearer tokens")
    token_commands = token_parser.add_subparsers(dest="token_command", required=True)
    token = token_commands.add_parser("issue", help="print a signed token")
    token.add_argument("--pki", type=Path, required=True, help="PKI directory holding jwt-signing.pem")
    token.add_argument(
        "--subject", required=True, help="vgi://{role}/{id}, the client certificate's identity"
    )
    token.add_argument(
        "--audience",
        action="append",
        choices=AUDIENCES,
        help="repeat for several surfaces; default: every surface the subject's role may call "
        "(the rule IssueCredentials follows)",
    )
    token.add_argument(
        "--aggregator",
        help="a device's owning aggregator, as a claim (only used by a server run with --insecure)",
    )
    token.add_argument("--ttl", type=int, default=3600, help="seconds (default 3600)")
    token.add_argument("--issuer", default=DEV_ISSUER)
    token.set_defaults(func=_token_issue)

    audit_parser = subparsers.add_parser("audit", help="the hash-chained audit log")
    audit_commands = audit_parser.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", help="check the chain; exit 1 and list the problems if it was tampered with"
    )
    verify.add_argument("--config", help="TOML settings file")
    verify.add_argument("--database", dest="database_url", help="SQLAlchemy database URL (default: settings)")
    verify.add_argument(
        "--pki", dest="pki_dir", help="dev PKI directory holding server-secret.key and audit-head.json"
    )
    verify.set_defaults(func=_audit_verify)


def _pki_init(args: argparse.Namespace) -> int:
    try:
        layout = pki.init_pki(args.dir, if_missing=args.if_missing)
    except FileExistsError as exc:
        return _fail(str(exc))
    print(f"PKI ready in {layout.root}")
    return 0


def _pki_issue(args: argparse.Namespace) -> int:
    try:
        principal = parse_principal_uri(args.principal, aggregator_id=args.aggregator)
    except PrincipalUriError as exc:
        return _fail(str(exc))
    cert, key = pki.issue_client_cert(args.dir, principal)
    print(cert)
    print(key)
    return 0


def _pki_rotate(args: argparse.Namespace) -> int:
    print(pki.rotate_jwt_key(args.dir))
    return 0


def _pki_retire(args: argparse.Namespace) -> int:
    try:
        pki.retire_jwt_key(args.dir, args.kid)
    except KeyError:
        return _fail(f"no key with kid {args.kid!r} in the key set")
    except ValueError as exc:
        return _fail(str(exc))
    return 0


def _token_issue(args: argparse.Namespace) -> int:
    try:
        role, _ = split_principal_uri(args.subject)
    except PrincipalUriError as exc:
        return _fail(str(exc))
    audiences = args.audience or sorted(audiences_for_role(role))
    if not audiences:
        # The audiences come from the policy options in the platform's own stubs; stubs generated
        # elsewhere (e.g. a partner's, first on PYTHONPATH) carry none.
        return _fail(
            f"no surface admits the role {role.value!r} in the loaded contracts; name --audience, or run "
            "without a PYTHONPATH that shadows the platform's own generated stubs"
        )
    if args.ttl <= 0:
        return _fail("--ttl must be positive")
    key, kid = pki.load_jwt_signing_key(args.pki)
    claims = {AGGREGATOR_CLAIM: args.aggregator} if args.aggregator else None
    print(issue_token(key, kid, args.subject, audiences, args.issuer, args.ttl, claims=claims))
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from infra.security.audit_checkpoint import CheckpointForged, checkpoint_for
    from infra.security.server_secret import load_server_secret
    from server import config
    from store.audit import verify_log
    from store.db import create_engine

    try:
        settings = config.load(args.config, database_url=args.database_url, pki_dir=args.pki_dir)
        path = settings.audit_checkpoint_path()
        checkpoint = checkpoint_for(path, load_server_secret(settings.secret_key_path())) if path else None
        heads = checkpoint.read() if checkpoint is not None else None
    except CheckpointForged as exc:
        print(f"seq 0: CHECKPOINT_FORGED: {exc}")
        print("audit log TAMPERED: the checkpoint kept outside the database is not genuine", file=sys.stderr)
        return 1
    except (ValueError, OSError) as exc:
        return _fail(str(exc))
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        with engine.connect() as conn, conn.begin():
            result = verify_log(conn, heads)
    finally:
        engine.dispose()
    chains = f"{result.chains_checked} chain{'' if result.chains_checked == 1 else 's'}"
    if result.intact:
        if not heads:
            against = " (no checkpoint: truncation undetectable)"
        else:
            against = f", each checkpointed chain up to its head in the checkpoint ({len(heads)} there)"
            if result.chains_unguarded:
                # Chains of processes that keep another checkpoint file, or not checkpointed yet.
                against += f"; {result.chains_unguarded} not in it: their truncation undetectable here"
        print(f"audit log intact: {result.records_checked} records in {chains}{against}")
        return 0
    for problem in result.problems:
        print(problem)
    print(
        f"audit log TAMPERED: {len(result.problems)} problems in {result.records_checked} records ({chains})",
        file=sys.stderr,
    )
    return 1


def _fail(message: str) -> int:
    print(f"vgi: error: {message}", file=sys.stderr)
    return 1
