"""``vgi ocpp password``: a new password printed once, only its hash stored; an unknown charger refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from dr import world
from dr.test_kill9 import _Seeded

from server.cli import main
from server.ocpp import passwords
from store import migrate, ocpp
from store.db import Database
from wire import notices as wire_notices

from . import helpers


async def test_password_command(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    await asyncio.to_thread(migrate.upgrade, database_url)
    db = Database(database_url, threads=2, publisher=wire_notices.publish)
    try:
        await world.build(_Seeded(db))
        await helpers.register(_Seeded(db), "cp-cli")
        before: Any = await db.read(lambda conn: ocpp.station(conn, "cp-cli"))

        assert await asyncio.to_thread(main, ["ocpp", "password", "cp-cli", "--database", database_url]) == 0
        printed = capsys.readouterr().out.strip()
        after: Any = await db.read(lambda conn: ocpp.station(conn, "cp-cli"))
        assert len(printed) >= 16 and printed not in after.password_hash
        assert passwords.verify_password(printed, after.password_hash)
        assert not passwords.verify_password(helpers.PASSWORD, after.password_hash)
        assert after.password_hash != before.password_hash

        assert (
            await asyncio.to_thread(main, ["ocpp", "password", "cp-nobody", "--database", database_url]) == 1
        )
        assert "cp-nobody is not registered" in capsys.readouterr().err
    finally:
        await db.close()
