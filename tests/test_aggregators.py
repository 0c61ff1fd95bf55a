"""Operator aggregator onboarding end to end: SDK → real server (all interceptors) → real store."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf import descriptor_pool, message_factory, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.common.v1 import aggregator_pb2
from vgi.common.v1 import telemetry_pb2 as common_telemetry_pb
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.device.v1 import device_service_pb2_grpc as device_pb_grpc

from clients.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from store.tables import AggregatorRow, IdempotencyKeyRow, table_of

pytestmark = pytest.mark.timeout(60)


def _aggregator(display_name: str = "ACME Charging", **fields: Any) -> aggregator_pb2.Aggregator:
    return aggregator_pb2.Aggregator(display_name=display_name, **fields)


async def _count(platform: Any, table: Any) -> int:
    return await platform.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    )


AGGREGATORS = table_of(AggregatorRow)
KEYS = table_of(IdempotencyKeyRow)


async def test_create_then_get(platform: Any) -> None:
    created = await platform.operator.create_aggregator(
        "acme", _aggregator(contact_email="ops@acme.example", unified_social_credit_code="91310000MA1FL8TQ3X")
    )
    assert created.name == "aggregators/acme"
    assert created.aggregator_id == "acme"
    assert created.display_name == "ACME Charging"
    assert created.state == aggregator_pb2.AGGREGATOR_STATE_ACTIVE
    assert created.create_time.seconds > 0
    assert created.update_time == created.create_time

    fetched = await platform.operator.get_aggregator("aggregators/acme")
    assert fetched == created


async def test_retry_with_same_request_id_returns_first_answer(platform: Any) -> None:
    request_id = str(uuid.uuid4())
    first = await platform.operator.create_aggregator("acme", _aggregator(), request_id=request_id)
    await asyncio.sleep(0.01)  # a re-run effect would stamp a later create_time
    second = await platform.operator.create_aggregator("acme", _aggregator(), request_id=request_id)

    assert second == first
    assert await _count(platform, AGGREGATORS) == 1
    assert await _count(platform, KEYS) == 1


async def test_same_request_id_different_body_is_rejected(platform: Any) -> None:
    request_id = str(uuid.uuid4())
    await platform.operator.create_aggregator("acme", _aggregator(), request_id=request_id)

    with pytest.raises(InvalidArgumentError) as caught:
        await platform.operator.create_aggregator("other", _aggregator("Other Co"), request_id=request_id)

    assert caught.value.reason == "REQUEST_ID_REUSED"
    assert caught.value.domain == "vgi"
    assert [v.field for v in caught.value.field_violations] == ["request_id"]
    rows = await platform.db.read(lambda conn: conn.execute(sa.select(AGGREGATORS.c.aggregator_id)).all())
    assert [r.aggregator_id for r in rows] == ["acme"]


async def test_invalid_request_names_the_field_and_changes_nothing(platform: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await platform.operator.create_aggregator(
            "acme", _aggregator(display_name="", contact_email="not-an-email")
        )

    error = caught.value
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "VALIDATION_FAILED"
    fields = {v.field for v in error.field_violations}
    assert fields == {"aggregator.display_name", "aggregator.contact_email"}
    assert await _count(platform, AGGREGATORS) == 0
    assert await _count(platform, KEYS) == 0


async def test_invalid_request_status_carries_bad_request_on_the_wire(platform: Any) -> None:
    """The raw status, unpacked with rpc_status.from_call, not only through the SDK."""
    stub_call = platform.channel.unary_unary(
        "/vgi.operator.v1.OperatorService/GetAggregator",
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=lambda b: b,
    )
    request = _message("vgi.operator.v1.GetAggregatorRequest", name="nope")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub_call(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    bad_request = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad_request) for d in status.details if d.Is(bad_request.DESCRIPTOR))
    assert [v.field for v in bad_request.field_violations] == ["name"]


async def test_duplicate_display_name_already_exists(platform: Any) -> None:
    await platform.operator.create_aggregator("acme", _aggregator("Same Name"))

    with pytest.raises(AlreadyExistsError) as caught:
        await platform.operator.create_aggregator("other", _aggregator("Same Name"))

    assert caught.value.reason == "DISPLAY_NAME_TAKEN"
    assert caught.value.metadata == {"aggregator_id": "acme"}
    assert await _count(platform, AGGREGATORS) == 1
    assert await _count(platform, KEYS) == 1


async def test_duplicate_id_already_exists(platform: Any) -> None:
    await platform.operator.create_aggregator("acme", _aggregator("First"))

    with pytest.raises(AlreadyExistsError) as caught:
        await platform.operator.create_aggregator("acme", _aggregator("Second"))

    assert caught.value.reason == "AGGREGATOR_EXISTS"


async def test_get_missing_is_not_found(platform: Any) -> None:
    with pytest.raises(NotFoundError) as caught:
        await platform.operator.get_aggregator("aggregators/missing")
    assert caught.value.reason == "AGGREGATOR_NOT_FOUND"
    assert caught.value.metadata == {"aggregator_id": "missing"}


async def test_list_paginates_in_order(platform: Any) -> None:
    ids = ["delta", "alpha", "echo", "charlie", "bravo"]
    for aggregator_id in ids:
        await platform.operator.create_aggregator(aggregator_id, _aggregator(f"Name {aggregator_id}"))

    seen: list[str] = []
    pages = 0
    token = ""
    while True:
        page = await platform.operator.list_aggregators(page_size=2, page_token=token)
        pages += 1
        assert len(page.aggregators) <= 2
        seen.extend(a.aggregator_id for a in page.aggregators)
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(ids)
    assert pages == 3


async def test_list_rejects_a_forged_page_token(platform: Any) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        await platform.operator.list_aggregators(page_size=2, page_token="bm90LWEtdG9rZW4")
    assert caught.value.reason == "INVALID_PAGE_TOKEN"
    assert [v.field for v in caught.value.field_violations] == ["page_token"]


async def test_concurrent_duplicates_make_one_row(platform: Any) -> None:
    request_id = str(uuid.uuid4())
    results = await asyncio.gather(
        *(
            platform.operator.create_aggregator("acme", _aggregator(), request_id=request_id)
            for _ in range(12)
        )
    )
    assert all(r == results[0] for r in results)
    assert await _count(platform, AGGREGATORS) == 1
    assert await _count(platform, KEYS) == 1


async def test_every_contract_rpc_is_implemented(platform: Any) -> None:
    """No RPC of the four surfaces falls through to the generated base (UNIMPLEMENTED)."""
    unimplemented = []
    for service_name, servicer in platform.platform.servicers.items():
        service = descriptor_pool.Default().FindServiceByName(service_name)
        base = next(c for c in type(servicer).__mro__ if c.__module__.endswith("_pb2_grpc"))
        unimplemented += [
            f"{service_name}/{method.name}"
            for method in service.methods
            if getattr(type(servicer), method.name) is getattr(base, method.name)
        ]
    assert len(platform.platform.servicers) == 4
    assert unimplemented == []


async def test_an_rpc_without_implementation_answers_unimplemented_with_error_info(
    database_url: str, platform_factory: Any
) -> None:
    """The generated base's method (what an unbuilt RPC falls through to) behind the real chain."""
    path = "/vgi.device.v1.DeviceService/UploadMeterValues"
    unbuilt = grpc.method_handlers_generic_handler(
        "vgi.device.v1.DeviceService",
        {
            "UploadMeterValues": grpc.unary_unary_rpc_method_handler(
                device_pb_grpc.DeviceServiceServicer().UploadMeterValues,
                request_deserializer=device_pb.UploadMeterValuesRequest.FromString,
                response_serializer=device_pb.UploadMeterValuesResponse.SerializeToString,
            )
        },
    )
    request = device_pb.UploadMeterValuesRequest(
        request_id=str(uuid.uuid4()),
        values=[
            common_telemetry_pb.MeterValue(
                charger_id="charger-1", sample_time=timestamp_pb2.Timestamp(seconds=1_700_000_000)
            )
        ],
    )
    async with platform_factory(database_url, services=("operator",), extra_handlers=[unbuilt]) as running:
        channel = running.channel_for("vgi://device/charger-1", aggregator_id="agg-1")
        call = channel.unary_unary(
            path, request_serializer=device_pb.UploadMeterValuesRequest.SerializeToString
        )
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, timeout=5)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
    status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    assert (info.reason, info.domain, info.metadata["method"]) == ("NOT_IMPLEMENTED", "vgi", path)


async def _read_all(call: Any) -> list[Any]:
    return [message async for message in call]


def _message(full_name: str, **fields: Any) -> Any:
    return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(full_name))(
        **fields
    )


async def test_update_changes_only_the_masked_fields_and_the_state(platform: Any) -> None:
    created = await platform.operator.create_aggregator(
        "acme", _aggregator(contact_email="ops@acme.example", unified_social_credit_code="91110000100000000X")
    )
    request_id = str(uuid.uuid4())
    changed = _aggregator("ACME Energy", name="aggregators/acme", contact_email="ignored@acme.example")
    updated = await platform.operator.update_aggregator(
        changed, ["display_name"], state=aggregator_pb2.AGGREGATOR_STATE_SUSPENDED, request_id=request_id
    )

    assert (updated.display_name, updated.contact_email) == ("ACME Energy", "ops@acme.example")
    assert updated.unified_social_credit_code == "91110000100000000X"
    assert updated.state == aggregator_pb2.AGGREGATOR_STATE_SUSPENDED
    assert updated.create_time == created.create_time
    assert await platform.operator.get_aggregator("aggregators/acme") == updated
    # A retry answers the first response and changes nothing more.
    again = await platform.operator.update_aggregator(
        changed, ["display_name"], state=aggregator_pb2.AGGREGATOR_STATE_SUSPENDED, request_id=request_id
    )
    assert again == updated


async def test_update_refuses_unknown_paths_taken_names_and_missing_aggregators(platform: Any) -> None:
    await platform.operator.create_aggregator("acme", _aggregator("ACME"))
    await platform.operator.create_aggregator("volt", _aggregator("Volt"))

    with pytest.raises(InvalidArgumentError) as invalid:
        await platform.operator.update_aggregator(_aggregator("ACME", name="aggregators/acme"), ["state"])
    assert invalid.value.reason == "UPDATE_MASK_INVALID"
    assert [v.field for v in invalid.value.field_violations] == ["update_mask.paths"]

    with pytest.raises(AlreadyExistsError) as taken:
        await platform.operator.update_aggregator(
            _aggregator("Volt", name="aggregators/acme"), ["display_name"]
        )
    assert taken.value.reason == "DISPLAY_NAME_TAKEN"

    with pytest.raises(NotFoundError) as missing:
        await platform.operator.update_aggregator(_aggregator("Nobody", name="aggregators/nobody"))
    assert missing.value.reason == "AGGREGATOR_NOT_FOUND"
    assert (await platform.operator.get_aggregator("aggregators/acme")).display_name == "ACME"
