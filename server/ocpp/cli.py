"""``vgi ocpp password CHARGER``: give a station its security-profile-2 password.

Prints a new random password once (configure it in the station as its
BasicAuthPassword) and stores only its scrypt hash; running it again
replaces the password. The charger must be registered.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from domain.errors import DomainError
from server import config
from server.ocpp import passwords
from store import ocpp
from store.db import create_engine


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ocpp", help="OCPP gateway administration")
    commands = parser.add_subparsers(dest="ocpp_command", required=True)
    password = commands.add_parser("password", help="set a new random Basic password for a station")
    password.add_argument("charger_id", help="the station identity (= the charger id)")
    password.add_argument("--config", help="TOML settings file")
    password.add_argument(
        "--database", dest="database_url", help="SQLAlchemy database URL (default: settings)"
    )
    password.set_defaults(func=_password)


def _password(args: argparse.Namespace) -> int:
    try:
        settings = config.load(args.config, database_url=args.database_url)
    except (ValueError, OSError) as exc:
        print(f"vgi ocpp: {exc}", file=sys.stderr)
        return 2
    secret = passwords.new_password()
    hashed = passwords.hash_password(secret)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            ocpp.set_password_hash(conn, args.charger_id, hashed, datetime.now(UTC))
    except DomainError as exc:
        print(f"vgi ocpp password: {exc.message}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(secret)
    return 0
