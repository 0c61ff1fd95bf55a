"""Telemetry ingest end to end: batched meter values over the aggregator's UploadTelemetry stream → committed rows.

The aggregator keeps one stream open and sends batches back to back (gRPC
flow control is the only window); the figure is rows acknowledged per second
from the first write to the last acknowledgement — each acknowledgement
means the batch is committed. The baseline is ``sqlite3.executemany`` of the
very same rows into the same ``meter_values`` table of a freshly migrated
file, one transaction per batch. Rounds alternate the two.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
from vgi.common.v1 import resources_pb2, telemetry_pb2

from bench.harness import Bench, Row, main, not_built
from bench.world import Tenant, implemented, migrated_sqlite, raw_executemany, sql_time, upsert_chargers

INGEST = ("telemetry ingest end to end (stream → committed rows)", "≥ 0.60 × raw executemany")
TARGETS = [INGEST]
_PPB = 1_000_000_000


def readings(
    chargers: list[str], first_minute: datetime, count: int
) -> list[tuple[str, datetime, int, int, float]]:
    """``count`` distinct (charger, minute) readings: every charger at each minute in turn."""
    rows = []
    for k in range(count):
        minute, index = divmod(k, len(chargers))
        power = 7_000 + (k % 50_000)
        rows.append((chargers[index], first_minute + timedelta(minutes=minute), power, 1_000 * k, 0.5))
    return rows


async def run(bench: Bench) -> list[Row]:
    if not implemented("aggregator", "UploadTelemetry"):
        return [not_built(*INGEST, "AggregatorService.UploadTelemetry")]
    batch = bench.scaled(1_000, 500)
    total = bench.scaled(200_000, 10_000)
    chargers = [f"ing-{i:05d}" for i in range(bench.scaled(1_000, 100))]
    platform = await bench.platform()
    tenant = Tenant(bench, platform)
    baseline_file = bench.workdir / "raw-ingest.db"
    migrated_sqlite(baseline_file)
    try:
        await tenant.ensure()
        await upsert_chargers(tenant, chargers)
        # Whole minutes in the past, one block of minutes per round so no reading repeats.
        minutes_per_round = -(-total // len(chargers))
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(
            minutes=minutes_per_round * (bench.rounds + 1)
        )
        raw_rates, platform_rates = [], []
        for round_index in range(bench.rounds):
            rows = readings(chargers, start + timedelta(minutes=minutes_per_round * round_index), total)
            batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
            raw_batches = [
                [
                    {
                        "charger_id": charger,
                        "sample_time": sql_time(when),
                        "power_w": power,
                        "energy_register_wh": energy,
                        "soc_ppb": round(soc * _PPB),
                        "status": resources_pb2.CHARGER_STATUS_CHARGING,
                    }
                    for charger, when, power, energy, soc in chunk
                ]
                for chunk in batches
            ]
            raw_rates.append(
                await asyncio.to_thread(raw_executemany, baseline_file, "meter_values", raw_batches)
            )
            platform_rates.append(await _upload(tenant, batches))
    finally:
        await tenant.close()
    raw, measured = statistics.median(raw_rates), statistics.median(platform_rates)
    ratio = measured / raw
    return [
        Row(
            *INGEST,
            f"{measured:,.0f} rows/s vs raw executemany {raw:,.0f} rows/s ({total:,} rows in batches of {batch:,})",
            ratio,
            ratio >= 0.60,
            {
                "platform_rows_per_s": round(measured),
                "raw_rows_per_s": round(raw),
                "rows": total,
                "batch": batch,
            },
        )
    ]


async def _upload(tenant: Tenant, batches: list[list[tuple[str, datetime, int, int, float]]]) -> float:
    """Stream the batches, wait for every acknowledgement; rows per second."""
    requests = [
        aggregator_pb.UploadTelemetryRequest(
            batch=aggregator_pb.TelemetryBatch(
                batch_id=str(uuid.uuid4()),
                meter_values=[
                    telemetry_pb2.MeterValue(
                        charger_id=charger,
                        sample_time=_stamp(when),
                        power_w=power,
                        energy_register_wh=energy,
                        soc=soc,
                        status=resources_pb2.CHARGER_STATUS_CHARGING,
                    )
                    for charger, when, power, energy, soc in chunk
                ],
            )
        )
        for chunk in batches
    ]

    async def send() -> AsyncIterator[aggregator_pb.UploadTelemetryRequest]:
        for request in requests:
            yield request

    started = time.perf_counter()
    stored = 0
    async for ack in tenant.aggregator.UploadTelemetry(send(), metadata=tenant.metadata, timeout=600):
        stored += ack.stored_points
    elapsed = time.perf_counter() - started
    expected = sum(len(chunk) for chunk in batches)
    if stored != expected:
        raise RuntimeError(f"platform stored {stored} of {expected} readings")
    return stored / elapsed


def _stamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


if __name__ == "__main__":
    main(run, __doc__ or "")
