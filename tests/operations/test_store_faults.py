"""Store outages and a full store, end to end (SPEC 7, issue 17 finding 1).

PostgreSQL is taken away by cutting a fault-injecting TCP proxy the platform
connects through (the shared server is never touched); SQLite is made full
with ``max_page_count`` on every connection the platform checks out.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy import event
from vgi.common.v1 import aggregator_pb2
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.errors import NotFoundError, ResourceExhaustedError, UnavailableError, VgiError
from clients.sdk import OperatorClient
from store.tables import AggregatorRow, IdempotencyKeyRow, table_of

from .proxy import fault_proxy
from .test_admin import get

pytestmark = pytest.mark.timeout(180)

AGGREGATORS = table_of(AggregatorRow)
KEYS = table_of(IdempotencyKeyRow)
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# Words a status message must never carry (driver, SQL, exception class).
LEAKS = ("psycopg", "sqlite", "SELECT", "INSERT", "OperationalError", "Traceback")


async def _until(condition: Callable[[], Any], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while not await _check(condition):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _check(condition: Callable[[], Any]) -> bool:
    result = condition()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


def _health(running: Any) -> Callable[[], Any]:
    stub = health_pb2_grpc.HealthStub(running.channel)

    async def status() -> int:
        return int((await stub.Check(health_pb2.HealthCheckRequest(), timeout=5)).status)

    return status


def _records(caplog: pytest.LogCaptureFixture, logger: str, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno == level]


def _assert_clean(error: VgiError) -> None:
    for word in LEAKS:
        assert word not in error.message, error.message


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_postgres_outage_answers_unavailable_and_recovers(
    database_url: str, platform_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with fault_proxy() as proxy:
        url = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        async with platform_factory(url, health_interval_seconds=0.2) as running:
            health = _health(running)
            operator = running.operator
            await operator.create_aggregator("before", aggregator_pb2.Aggregator(display_name="Before"))

            readyz = f"http://127.0.0.1:{running.platform.admin_port}/readyz"
            assert (await asyncio.to_thread(get, readyz))[0] == 200

            proxy.cut()
            await _until(lambda: _eq(health, NOT_SERVING), "health NOT_SERVING")
            assert (await asyncio.to_thread(get, readyz))[0] == 503

            # A client that gives up soon: every kind of call answers UNAVAILABLE with RetryInfo.
            impatient = OperatorClient(running.channel, deadline=5)
            request_id = str(uuid.uuid4())
            calls = [
                lambda: impatient.create_aggregator(
                    "during", aggregator_pb2.Aggregator(display_name="During"), request_id=request_id
                ),
                lambda: impatient.get_aggregator("aggregators/before"),
                lambda: impatient.list_aggregators(),
            ]
            for call in calls:
                with pytest.raises(UnavailableError) as raised:
                    await call()
                assert raised.value.reason == "STORE_UNAVAILABLE"
                assert raised.value.domain == "vgi"
                assert raised.value.retry_delay is not None and raised.value.retry_delay > 0
                _assert_clean(raised.value)
            audit_stub = operator_grpc.OperatorServiceStub(running.channel)
            with pytest.raises(Exception) as verify_raised:
                await audit_stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=10)
            assert verify_raised.value.code().name == "UNAVAILABLE"  # type: ignore[attr-defined]

            # The background loops each say once that the store went away, without a traceback.
            for logger in ("server.scheduler", "server.monitor"):
                await _until(lambda lg=logger: _records(caplog, lg, logging.WARNING), f"{logger} WARNING")

            # The SDK keeps retrying an idempotent call until the store is back.
            caplog.clear()
            pending = asyncio.create_task(
                operator.create_aggregator(
                    "during",
                    aggregator_pb2.Aggregator(display_name="During"),
                    request_id=request_id,
                    deadline=60,
                )
            )
            await _until(
                lambda: any("CreateAggregator not written" in r.getMessage() for r in caplog.records),
                "a failed attempt",
            )
            assert not pending.done()
            proxy.restore()
            created = await pending
            assert created.aggregator_id == "during"
            await _until(lambda: _eq(health, SERVING), "health SERVING")
            assert (await asyncio.to_thread(get, readyz))[0] == 200
            for logger in ("server.scheduler", "server.monitor"):
                await _until(lambda lg=logger: _records(caplog, lg, logging.INFO), f"{logger} INFO")

            # The retried request_id answers the stored result; nothing was written twice.
            again = await operator.create_aggregator(
                "during", aggregator_pb2.Aggregator(display_name="During"), request_id=request_id
            )
            assert again == created
            names = [a.aggregator_id for a in (await operator.list_aggregators()).aggregators]
            assert sorted(names) == ["before", "during"]
            verified = await audit_stub.VerifyAuditLog(operator_pb.VerifyAuditLogRequest(), timeout=10)
            assert verified.intact, verified.problems

    for logger in ("server.scheduler", "server.monitor", "server.delivery"):
        assert len(_records(caplog, logger, logging.WARNING)) <= 1
        assert not [r for r in caplog.records if r.name == logger and r.levelno >= logging.ERROR]


async def _eq(status: Callable[[], Any], expected: int) -> bool:
    try:
        return bool(await status() == expected)
    except Exception:
        return False


async def test_full_sqlite_answers_store_full_and_writes_nothing(
    tmp_path: Path, platform_factory: Any
) -> None:
    async with platform_factory(f"sqlite:///{tmp_path / 'vgi.db'}") as running:
        operator = running.operator
        await operator.create_aggregator("before", aggregator_pb2.Aggregator(display_name="Before"))
        # 1 is raised by SQLite to the file's current size: no write may grow it.
        cap = {"pages": 1}

        def limit(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {cap['pages']}")

        event.listen(running.db.engine, "checkout", limit)
        padding = "x" * 200
        failed_id = ""
        request_id = ""
        for index in range(500):
            request_id = str(uuid.uuid4())
            try:
                await operator.create_aggregator(
                    f"agg-{index}",
                    aggregator_pb2.Aggregator(
                        display_name=f"Aggregator {index}", contact_email=f"{padding}@x.cn"
                    ),
                    request_id=request_id,
                )
            except ResourceExhaustedError as error:
                assert error.reason == "STORE_FULL"
                _assert_clean(error)
                failed_id = f"agg-{index}"
                break
            except UnavailableError as error:
                # The effect fitted, its audit row did not: committed, answered "retry with the same
                # request_id" (which then answers the stored result); the next call finds the store full.
                assert error.reason == "AUDIT_UNAVAILABLE", error
                assert error.retry_delay == 1.0, "UNAVAILABLE carries RetryInfo"
        assert failed_id, "the capped store never filled"

        # Nothing of the refused call was written; reads still work on a full store.
        with pytest.raises(NotFoundError):
            await operator.get_aggregator(f"aggregators/{failed_id}")
        keys = await running.db.read(
            lambda conn: conn.execute(
                sa.select(sa.func.count()).select_from(KEYS).where(KEYS.c.request_id == request_id)
            ).scalar_one()
        )
        assert keys == 0

        cap["pages"] = 1_073_741_823  # SQLite's default limit: space is free again
        created = await operator.create_aggregator(
            failed_id,
            aggregator_pb2.Aggregator(
                display_name=f"Aggregator {failed_id}", contact_email=f"{padding}@x.cn"
            ),
            request_id=request_id,
        )
        assert created.aggregator_id == failed_id
        event.remove(running.db.engine, "checkout", limit)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_pooled_connection_broken_by_a_short_cut_is_replaced_on_checkout(database_url: str) -> None:
    """A pooled connection an outage broke while it sat in the pool — even one used a moment before, the cut
    shorter than any idle limit — is found dead on checkout and replaced: the first transaction after the
    outage works. (An outside tester found the first call after a 0.3–0.5 s cut answering UNAVAILABLE, and a
    committed CreateAggregator without its audit row, when the pool tested only connections idle for 1 s.)"""
    from store.db import create_engine

    with fault_proxy() as proxy:
        url = database_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        engine = create_engine(url, pool_size=1)
        try:
            with engine.connect() as conn:
                first = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            proxy.cut()  # drops the pooled connection's TCP stream right after its use
            proxy.restore()
            with engine.connect() as conn:
                assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() != first
        finally:
            engine.dispose()


@pytest.mark.parametrize("via", ["sqlalchemy", "driver"])
def test_a_postgres_deadlock_is_unavailable_with_retry_not_internal(database_url: str, via: str) -> None:
    """Two transactions locking two rows in opposite orders: PostgreSQL aborts one (40P01); the store's
    classification makes it UNAVAILABLE with a retry delay and no SQL in the message — whether the
    statement went through SQLAlchemy (wrapped) or straight to psycopg's cursor, as the COPY of a
    telemetry batch does (psycopg's own exception)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite runs one writer at a time: no deadlock")
    import threading

    from store import faults

    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE deadlock_probe (id int PRIMARY KEY)")
            conn.exec_driver_sql("INSERT INTO deadlock_probe VALUES (1), (2)")
        both_hold_one = threading.Barrier(2, timeout=30)
        errors: list[BaseException] = []

        def lock(first: int, second: int) -> None:
            statements = [f"SELECT id FROM deadlock_probe WHERE id = {n} FOR UPDATE" for n in (first, second)]
            try:
                if via == "sqlalchemy":
                    with engine.begin() as conn:
                        conn.exec_driver_sql(statements[0])
                        both_hold_one.wait()
                        conn.exec_driver_sql(statements[1])
                else:
                    raw = engine.raw_connection()
                    try:
                        with raw.cursor() as cursor:
                            cursor.execute(statements[0])
                            both_hold_one.wait()
                            cursor.execute(statements[1])
                        raw.commit()
                    finally:
                        raw.close()
            except (sa.exc.DBAPIError, psycopg.Error) as exc:
                errors.append(exc)

        threads = [threading.Thread(target=lock, args=order) for order in ((1, 2), (2, 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(errors) == 1, errors
        classified = faults.classify(errors[0])
        assert classified is not None and faults.is_store_fault(classified)
        assert classified.retry_after_s is not None and classified.retry_after_s > 0
        assert not any(leak in str(classified) for leak in LEAKS)
    finally:
        engine.dispose()
