"""Operator aggregator onboarding end to end: SDK → real server (all interceptors) → real store."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import protovalidate
import pytest
import sqlalchemy as sa
from google.protobuf import descriptor_pool, message_factory
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.common.v1 import aggregator_pb2

from clients.errors import AlreadyExistsError, InvalidArgumentError, NotFoundError
from interceptors.methods import method_info
from store.tables import AggregatorRow, IdempotencyKeyRow

pytestmark = pytest.mark.timeout(60)


def _aggregator(display_name: str = "ACME Charging", **fields: Any) -> aggregator_pb2.Aggregator:
    return aggregator_pb2.Aggregator(display_name=display_name, **fields)


async def _count(platform: Any, table: Any) -> int:
    return await platform.db.read(
        lambda conn: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    )


AGGREGATORS = AggregatorRow.__table__  # type: ignore[attr-defined]
KEYS = IdempotencyKeyRow.__table__  # type: ignore[attr-defined]


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


async def test_unimplemented_rpcs_answer_unimplemented_with_error_info(platform: Any) -> None:
    """Every RPC its servicer does not override, picked at runtime, falls through to UNIMPLEMENTED."""
    candidates = []
    for service_name, servicer in platform.platform.servicers.items():
        service = descriptor_pool.Default().FindServiceByName(service_name)
        base = next(c for c in type(servicer).__mro__ if c.__module__.endswith("_pb2_grpc"))
        for method in service.methods:
            if getattr(type(servicer), method.name) is not getattr(base, method.name):
                continue
            request_type = message_factory.GetMessageClass(method.input_type)
            # A unary request must pass validation to reach the servicer; a
            # request stream is closed without messages, so nothing is validated.
            if method.client_streaming or not protovalidate.collect_violations(request_type()):
                candidates.append((service_name, method, request_type))
    if not candidates:
        pytest.skip("every served RPC is implemented")

    for service_name, method, request_type in candidates:
        path = f"/{service_name}/{method.name}"
        serialize = request_type.SerializeToString
        # A role the proto allows, so authorization lets the call through to the servicer.
        channel = platform.channel_for_role(min(method_info(path).roles))
        if method.client_streaming and method.server_streaming:
            call: Any = channel.stream_stream(path, request_serializer=serialize)(iter(()), timeout=5)
            outcome = _read_all(call)
        elif method.client_streaming:
            outcome = channel.stream_unary(path, request_serializer=serialize)(iter(()), timeout=5)
        elif method.server_streaming:
            outcome = _read_all(
                channel.unary_stream(path, request_serializer=serialize)(request_type(), timeout=5)
            )
        else:
            outcome = channel.unary_unary(path, request_serializer=serialize)(request_type(), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await outcome
        assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED, path
        status = rpc_status.from_call(caught.value)  # type: ignore[arg-type]
        assert status is not None, path
        info = error_details_pb2.ErrorInfo()
        assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR)), path
        assert (info.reason, info.domain, info.metadata["method"]) == ("NOT_IMPLEMENTED", "vgi", path)


async def _read_all(call: Any) -> list[Any]:
    return [message async for message in call]


def _message(full_name: str, **fields: Any) -> Any:
    return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(full_name))(
        **fields
    )
