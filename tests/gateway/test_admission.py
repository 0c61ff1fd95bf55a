"""Who the gateway lets in, and how it answers what is not OCPP — without harming other stations.

Admission is decided at the websocket upgrade: wrong password 401, unknown
or unmanaged station 404, a certificate that is not the station's own
(another aggregator's device, another charger) 403, no OCPP subprotocol
400; the station's own PKI certificate (profile 3) needs no password.
Frames: not JSON / not an OCPP array → CALLERROR under id "-1"; an unknown
action → CALLERROR NotImplemented / NotSupported under the call's id; an
invalid payload → a schema CALLERROR; an incomplete or future meter value →
CALLERROR with nothing stored. The connection stays usable and a second
station connected meanwhile is answered throughout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dr import world
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from server.ocpp.mapping import format_time
from store import ocpp
from store.telemetry import meter_values as meter_values_table

from . import helpers

pytestmark = pytest.mark.timeout(120)


async def _refused(platform: Any, station_id: str, version: str = "2.0.1", **kwargs: Any) -> int:
    with pytest.raises(InvalidStatus) as refused:
        await helpers.connect(platform, station_id, version, **kwargs)
    status: int = refused.value.response.status_code
    return status


async def _call(connection: Any, frame: Any) -> list[Any]:
    await connection.send(frame if isinstance(frame, str) else json.dumps(frame))
    answer: list[Any] = json.loads(await connection.recv())
    return answer


async def test_admission(platform_factory: Any, database_url: str) -> None:
    async with platform_factory(database_url, ocpp_listen="127.0.0.1:0") as platform:
        await world.build(platform)
        await helpers.register(platform, "cp-a")
        await helpers.register(platform, "cp-a2")
        await helpers.register(platform, "cp-b", "agg-b")
        await helpers.register(platform, "cp-unmanaged", managed=False)

        # The password is stored as a salted hash only.
        stored = await platform.db.read(lambda conn: ocpp.station(conn, "cp-a"))
        assert stored.password_hash.startswith("scrypt$") and helpers.PASSWORD not in stored.password_hash

        assert await _refused(platform, "cp-a", password="wrong-password") == 401
        assert await _refused(platform, "cp-a", password=None) == 401
        assert await _refused(platform, "cp-nobody") == 404
        assert await _refused(platform, "cp-unmanaged") == 404
        # Profile 3: cp-b is agg-b's, a certificate binding it to agg-a is not its own; nor is cp-a2's.
        assert await _refused(platform, "cp-b", certificate=helpers.device("cp-b", "agg-a")) == 403
        assert await _refused(platform, "cp-a", certificate=helpers.device("cp-a2", "agg-a")) == 403
        # Another (agg-b's) station's credentials do not open this one.
        with pytest.raises(InvalidStatus) as foreign:
            await ws_connect(
                helpers.url(platform, "cp-a"),
                subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
                additional_headers=helpers.basic("cp-b"),
                ssl=helpers.client_tls(platform),
            )
        assert foreign.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as no_protocol:
            await ws_connect(
                helpers.url(platform, "cp-a"),
                subprotocols=["ocpp9"],  # type: ignore[list-item]
                additional_headers=helpers.basic("cp-a"),
                ssl=helpers.client_tls(platform),
            )
        assert no_protocol.value.response.status_code == 400

        # Profile 3 with the station's own certificate, no password; it speaks 1.6 when only that is offered.
        async with await helpers.connect(
            platform, "cp-b", "1.6", certificate=helpers.device("cp-b", "agg-b")
        ) as by_certificate:
            assert by_certificate.subprotocol == "ocpp1.6"
            answer = await _call(by_certificate, [2, "b-1", "Heartbeat", {}])
            assert answer[:2] == [3, "b-1"]


async def test_bad_frames_answered_per_ocpp(platform_factory: Any, database_url: str) -> None:
    async with platform_factory(database_url, ocpp_listen="127.0.0.1:0") as platform:
        await world.build(platform)
        await helpers.register(platform, "cp-a")
        await helpers.register(platform, "cp-other")
        async with (
            await helpers.connect(platform, "cp-a", "2.0.1") as station,
            await helpers.connect(platform, "cp-other", "1.6") as other,
        ):
            assert (await _call(station, "this is not json"))[:3] == [4, "-1", "FormatViolation"]
            assert (await _call(station, {"not": "an array"}))[:3] == [4, "-1", "ProtocolError"]
            assert (await _call(other, [2, "o-1", "Heartbeat", {}]))[:2] == [3, "o-1"]

            unknown = await _call(station, [2, "m-1", "FlyToTheMoon", {}])
            assert unknown[:3] == [4, "m-1", "NotSupported"]
            not_handled = await _call(
                station,
                [
                    2,
                    "m-2",
                    "NotifyReport",
                    {"requestId": 1, "generatedAt": "2026-12-06T00:00:00Z", "seqNo": 0},
                ],
            )
            assert not_handled[:3] == [4, "m-2", "NotImplemented"]
            invalid = await _call(station, [2, "m-3", "BootNotification", {"reason": 7}])
            assert invalid[0] == 4 and invalid[1] == "m-3"
            assert invalid[2] in (
                "FormatViolation",
                "TypeConstraintViolation",
                "OccurrenceConstraintViolation",
            )

            now = datetime.now(UTC).replace(microsecond=0)
            energy_only = {
                "timestamp": format_time(now),
                "sampledValue": [
                    {
                        "value": 1.5,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "kWh"},
                    }
                ],
            }
            incomplete = await _call(
                station, [2, "m-4", "MeterValues", {"evseId": 1, "meterValue": [energy_only]}]
            )
            assert incomplete[:3] == [4, "m-4", "OccurrenceConstraintViolation"]
            assert incomplete[4] == {"reason": "METER_VALUE_INCOMPLETE"}
            future = {
                "timestamp": format_time(now + timedelta(hours=1)),
                "sampledValue": [
                    {"value": 7000, "measurand": "Power.Active.Import", "unitOfMeasure": {"unit": "W"}},
                    {
                        "value": 1500,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                ],
            }
            too_late = await _call(station, [2, "m-5", "MeterValues", {"evseId": 1, "meterValue": [future]}])
            assert too_late[:3] == [4, "m-5", "PropertyConstraintViolation"]
            assert too_late[4]["reason"] == "FUTURE_TIMESTAMP"
            unknown_tx = await _call(
                station,
                [
                    2,
                    "m-6",
                    "TransactionEvent",
                    {
                        "eventType": "Ended",
                        "timestamp": format_time(now),
                        "triggerReason": "EVDeparted",
                        "seqNo": 0,
                        "transactionInfo": {"transactionId": "nope"},
                    },
                ],
            )
            assert unknown_tx[:3] == [4, "m-6", "GenericError"]
            assert unknown_tx[4]["reason"] == "TRANSACTION_NOT_FOUND"
            mv = meter_values_table.c
            assert await helpers.row(
                platform,
                sa.select(sa.func.count()).select_from(meter_values_table).where(mv.charger_id == "cp-a"),
            ) == (0,)

            # Still the same connection, still answered; the other station too.
            assert (await _call(station, [2, "h-1", "Heartbeat", {}]))[:2] == [3, "h-1"]
            assert (await _call(other, [2, "o-2", "Heartbeat", {}]))[:2] == [3, "o-2"]
