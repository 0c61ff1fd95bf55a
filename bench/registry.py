"""Registry batch upsert: BatchUpsertChargers of 10,000 records per call against raw executemany of the same rows.

The aggregator sends its batches one after another (each call validated,
authorized, idempotent by request_id, committed, audited); the figure is
chargers written per second. The baseline inserts the same chargers with
plain ``sqlite3.executemany`` into the ``chargers`` table of a freshly
migrated file, one transaction per batch. Each round uses new charger ids so
both sides insert rather than find the rows already there.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime

from bench.harness import Bench, Row, main, not_built
from bench.world import (
    STATION_ID,
    Tenant,
    implemented,
    migrated_sqlite,
    raw_executemany,
    sql_time,
    upsert_chargers,
)

UPSERT = ("registry batch upsert (BatchUpsertChargers, 10,000 per call)", "≥ 0.5 × raw executemany")
TARGETS = [UPSERT]


async def run(bench: Bench) -> list[Row]:
    if not implemented("aggregator", "BatchUpsertChargers"):
        return [not_built(*UPSERT, "AggregatorService.BatchUpsertChargers")]
    batch = bench.scaled(10_000, 2_000)
    total = bench.scaled(50_000, 4_000)
    platform = await bench.platform()
    tenant = Tenant(bench, platform)
    baseline_file = bench.workdir / "raw-registry.db"
    migrated_sqlite(baseline_file)
    raw_rates, platform_rates = [], []
    try:
        await tenant.ensure()
        for round_index in range(bench.rounds):
            ids = [f"reg-{round_index}-{i:06d}" for i in range(total)]
            now = sql_time(datetime.now(UTC))
            rows = [
                {
                    "charger_id": charger_id,
                    "aggregator_id": "agg-1",
                    "station_id": STATION_ID,
                    "kind": "DC",
                    "rated_charge_w": 60_000,
                    "rated_discharge_w": 0,
                    "bidirectional": False,
                    "platform_managed": True,
                    "status": "UNAVAILABLE",
                    "create_time": now,
                    "update_time": now,
                }
                for charger_id in ids
            ]
            raw_batches = [rows[i : i + batch] for i in range(0, total, batch)]
            raw_rates.append(await asyncio.to_thread(raw_executemany, baseline_file, "chargers", raw_batches))
            started = time.perf_counter()
            await upsert_chargers(tenant, ids, batch)
            platform_rates.append(total / (time.perf_counter() - started))
    finally:
        await tenant.close()
    raw, measured = statistics.median(raw_rates), statistics.median(platform_rates)
    ratio = measured / raw
    return [
        Row(
            *UPSERT,
            f"{measured:,.0f} chargers/s vs raw executemany {raw:,.0f} rows/s "
            f"({total:,} per round in calls of {batch:,})",
            ratio,
            ratio >= 0.5,
            {
                "platform_rows_per_s": round(measured),
                "raw_rows_per_s": round(raw),
                "rows": total,
                "batch": batch,
            },
        )
    ]


if __name__ == "__main__":
    main(run, __doc__ or "")
