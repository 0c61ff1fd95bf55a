"""Several batches of one UploadTelemetry stream stored at once end as storing them one after another.

The servicer stores up to ``STREAM_BATCHES_IN_FLIGHT`` batches of a stream
in their own transactions while it reads the next ones; a batch that shares a
charger (or its batch id) with one in flight waits for it. So whatever the
store: each batch's counts are those of storing the batches in order, the
later arrival of a key wins, the chargers' latest readings and their
sessions' capacity rows end on the newest reading, and answers come in
request order. On PostgreSQL batches of disjoint chargers do run at once
(the interleaving below has pairs of batches on one charger next to pairs on
others), so a batch that started before the one it follows could be seen.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from dr import world
from sqlalchemy.engine import Connection
from vgi.aggregator.v1 import aggregator_service_pb2 as pb
from vgi.aggregator.v1 import aggregator_service_pb2_grpc as agg_grpc
from vgi.common.v1 import resources_pb2, telemetry_pb2

from server.servicers.aggregator_registry import STREAM_BATCHES_IN_FLIGHT
from store.registry import chargers
from store.telemetry import meter_values

from waiting import until

pytestmark = pytest.mark.timeout(120)

SESSIONS = [f"s-{i}" for i in range(4)]


def _batch(readings: list[tuple[str, datetime, int]]) -> pb.TelemetryBatch:
    return pb.TelemetryBatch(
        batch_id=str(uuid.uuid4()),
        meter_values=[
            telemetry_pb2.MeterValue(
                charger_id=charger_id,
                sample_time=world.ts(at),
                power_w=power_w,
                energy_register_wh=1_000,
                status=resources_pb2.CHARGER_STATUS_CHARGING,
            )
            for charger_id, at, power_w in readings
        ],
    )


async def test_batches_in_flight_count_and_store_as_one_after_another(platform: Any) -> None:
    assert STREAM_BATCHES_IN_FLIGHT > 1
    await world.build(platform, managed_sessions={"agg-a": [(sid, 2.0) for sid in SESSIONS]})
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=10)
    batches = []
    for i in range(40):
        # Pairs of batches on one charger (the second of a pair must wait for the first), with keys
        # that repeat across pairs (corrections and duplicates of earlier batches), and now and then
        # a second charger.
        charger = f"ch-{SESSIONS[(i // 2) % 4]}"
        readings = [(charger, minute + timedelta(minutes=i % 3), 1_000 + (i // 3) % 4)]
        if i % 5 == 0:
            readings.append(
                (f"ch-{SESSIONS[(i // 2 + 1) % 4]}", minute + timedelta(minutes=3), 2_000 + i % 2)
            )
        batches.append(_batch(readings))
    batches.append(batches[7])  # a re-sent batch: its first answer again

    # Stored one after another: what each batch counts and what ends stored.
    stored: dict[tuple[str, datetime], int] = {}
    expected = []
    for batch in batches[:-1]:
        counts = [0, 0, 0]
        for v in batch.meter_values:
            key = (v.charger_id, v.sample_time.ToDatetime(tzinfo=UTC))
            previous = stored.get(key)
            counts[0 if previous is None else 1 if previous == v.power_w else 2] += 1
            stored[key] = v.power_w
        expected.append((batch.batch_id, pb.TELEMETRY_BATCH_RESULT_ACCEPTED, *counts))
    first = expected[7]
    expected.append((first[0], pb.TELEMETRY_BATCH_RESULT_DUPLICATE, *first[2:]))

    call = agg_grpc.AggregatorServiceStub(platform.channel_for("vgi://aggregator/agg-a")).UploadTelemetry(
        iter(pb.UploadTelemetryRequest(batch=b) for b in batches)
    )
    acks = [
        (a.batch_id, a.result, a.stored_points, a.duplicate_points, a.corrected_points) async for a in call
    ]
    assert acks == expected

    def read(conn: Connection) -> tuple[dict[tuple[str, datetime], int], list[Any], list[Any]]:
        rows = {
            (r.charger_id, r.sample_time): r.power_w
            for r in conn.execute(
                sa.select(meter_values.c.charger_id, meter_values.c.sample_time, meter_values.c.power_w)
            )
        }
        latest = conn.execute(
            sa.select(chargers.c.charger_id, chargers.c.last_meter_time, chargers.c.last_power_w)
            .where(chargers.c.charger_id.in_([f"ch-{sid}" for sid in SESSIONS]))
            .order_by(chargers.c.charger_id)
        ).all()
        capacity = conn.exec_driver_sql(
            "SELECT charger_id, meter_time, meter_power_w FROM capacity_sessions ORDER BY charger_id"
        ).all()
        return rows, latest, capacity

    rows, latest, capacity = await platform.db.read(read)
    assert rows == stored  # the later arrival of each key won
    newest = {c: max((t, p) for (cc, t), p in stored.items() if cc == c) for c, _ in stored}
    assert [(c, t.astimezone(UTC), p) for c, t, p in latest] == [(c, *newest[c]) for c in sorted(newest)]
    assert [(c, world_time(t), p) for c, t, p in capacity] == [(c, *newest[c]) for c in sorted(newest)]


def world_time(value: Any) -> datetime:
    """capacity_sessions.meter_time as an aware UTC datetime (SQLite returns its stored text)."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


async def test_a_batch_in_flight_when_the_client_goes_is_committed_and_audited(
    platform: Any, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that goes while its batch is being stored: the batch still commits, and its audit row is
    written. The servicer cancelled the batches in flight when the stream ended, and a transaction that
    committed on the store's thread then had no audit row."""
    if not database_url.startswith("postgresql"):
        pytest.skip("holds the batch in flight on a row lock and watches it wait (pg_stat_activity)")
    caplog.set_level(logging.INFO, logger="vgi.access")
    await world.build(platform, managed_sessions={"agg-a": [("s-0", 2.0)]})
    batch = _batch([("ch-s-0", datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1), 1_000)])
    engine = platform.db.engine

    blocker = engine.connect()
    held = blocker.begin()
    blocker.exec_driver_sql("SELECT 1 FROM chargers WHERE charger_id = 'ch-s-0' FOR UPDATE")
    blocker_pid = blocker.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    try:
        more = asyncio.Event()

        async def requests() -> Any:
            yield pb.UploadTelemetryRequest(batch=batch)
            await more.wait()  # the stream stays open until the client cancels it

        call = agg_grpc.AggregatorServiceStub(platform.channel_for("vgi://aggregator/agg-a")).UploadTelemetry(
            requests()
        )

        def batch_waits() -> bool:
            with engine.connect() as conn:
                waiting = conn.exec_driver_sql(
                    "SELECT count(*) FROM pg_stat_activity WHERE %(pid)s = ANY(pg_blocking_pids(pid))",
                    {"pid": blocker_pid},
                ).scalar_one()
            return bool(waiting)

        await until(batch_waits, what="the batch waiting for the charger's row")
        call.cancel()

        def ended() -> bool:
            return any(
                r.getMessage() == "rpc finished"
                and getattr(r, "method", "").endswith("/UploadTelemetry")
                and getattr(r, "code", "") == "CANCELLED"
                for r in caplog.records
            )

        await until(ended, what="the server ending the cancelled call")
    finally:
        held.commit()
        blocker.close()

    def stored_and_audited() -> tuple[int, int]:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT count(*) FROM meter_values WHERE charger_id = 'ch-s-0'"
            ).scalar_one()
            audited = conn.exec_driver_sql(
                "SELECT count(*) FROM audit_log WHERE request_id = %(id)s AND outcome = 'OK'",
                {"id": batch.batch_id},
            ).scalar_one()
        return rows, audited

    await until(lambda: stored_and_audited() == (1, 1), what="the batch stored and its audit row written")
