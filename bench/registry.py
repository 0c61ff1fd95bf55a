"""Registry batch upsert: BatchUpsertChargers of 10,000 records per call against raw executemany of the same rows.

The aggregator sends its batches one after another (each call validated,
authorized, idempotent by request_id, committed, audited); the figure is
chargers written per second. The baseline inserts the same chargers with
plain ``sqlite3.executemany`` into the ``chargers`` table of a freshly
migrated file, one transaction per batch. Each round uses new charger ids so
both sides insert rather than find the rows already there.

Both sides' data is made before the timed windows: the baseline's row dicts
and the platform's request messages (``charger_requests``); what is timed is
the insert of rows already in memory against the calls of requests already
built (each serialized, sent, validated, written, committed, answered). The
ratio is the median of the rounds' own ratios (each round's raw and platform
figures measured one after the other, so a load change on the shared machine
between rounds does not pair one round's raw with another's platform).
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
    charger_requests,
    implemented,
    migrated_sqlite,
    raw_executemany,
    send_chargers,
    sql_time,
)

UPSERT = ("registry batch upsert (BatchUpsertChargers, 10,000 per call)", "≥ 0.5 × raw executemany")
TARGETS = [UPSERT]
# Rounds of a full run: each is a few seconds; more of them narrow the median on a shared machine.
ROUNDS = 5


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
        for round_index in range(bench.scaled(ROUNDS, 1)):
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
            requests = charger_requests(ids, batch)
            started = time.perf_counter()
            await send_chargers(tenant, requests)
            platform_rates.append(total / (time.perf_counter() - started))
    finally:
        await tenant.close()
    raw_rate, measured = statistics.median(raw_rates), statistics.median(platform_rates)
    ratio = statistics.median(p / r for p, r in zip(platform_rates, raw_rates, strict=True))
    return [
        Row(
            *UPSERT,
            f"{measured:,.0f} chargers/s vs raw executemany {raw_rate:,.0f} rows/s "
            f"(medians of {len(raw_rates)} rounds of {total:,} in calls of {batch:,}; the ratio the rounds' median)",
            ratio,
            ratio >= 0.5,
            {
                "platform_rows_per_s": round(measured),
                "raw_rows_per_s": round(raw_rate),
                "round_ratios": [round(p / r, 3) for p, r in zip(platform_rates, raw_rates, strict=True)],
                "rows": total,
                "batch": batch,
            },
        )
    ]


if __name__ == "__main__":
    main(run, __doc__ or "")
