"""Server reflection answers as grpc.reflection.v1 (what newer tools ask first) and as v1alpha."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2

from domain.principal import Principal, Role

pytestmark = pytest.mark.timeout(60)

Request = reflection_pb2.ServerReflectionRequest
Response = reflection_pb2.ServerReflectionResponse


async def _ask(channel: grpc.aio.Channel, version: str, requests: list[Any]) -> list[Any]:
    call = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=Request.SerializeToString,
        response_deserializer=Response.FromString,
    )(iter(requests))
    return [response async for response in call]


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_lists_services_and_files_without_a_token(platform: Any, version: str) -> None:
    channel = platform.channel_for(Principal(Role.AGGREGATOR, "agg-1", "agg-1"), token=None)

    listed, found = await _ask(
        channel,
        version,
        [
            Request(list_services=""),
            Request(file_containing_symbol="vgi.aggregator.v1.AggregatorService"),
        ],
    )

    names = {service.name for service in listed.list_services_response.service}
    assert {
        "vgi.aggregator.v1.AggregatorService",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    } <= names
    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in found.file_descriptor_response.file_descriptor_proto
    ]
    assert "vgi/aggregator/v1/aggregator_service.proto" in {f.name for f in files}


@pytest.mark.parametrize("version", ["v1", "v1alpha"])
async def test_reflection_finds_a_method_by_its_full_name(platform: Any, version: str) -> None:
    """``grpcurl describe pkg.Service.Method`` asks for the file of the method's symbol; protobuf's upb
    pool does not resolve methods, and the answer was "Symbol not found"."""
    channel = platform.channel_for(Principal(Role.AGGREGATOR, "agg-1", "agg-1"), token=None)

    method, unknown, not_a_method = await _ask(
        channel,
        version,
        [
            Request(file_containing_symbol="vgi.aggregator.v1.AggregatorService.UploadTelemetry"),
            Request(file_containing_symbol="vgi.aggregator.v1.AggregatorService.NoSuchMethod"),
            Request(file_containing_symbol="vgi.aggregator.v1.NoSuchService.UploadTelemetry"),
        ],
    )

    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in method.file_descriptor_response.file_descriptor_proto
    ]
    assert "vgi/aggregator/v1/aggregator_service.proto" in {f.name for f in files}
    for answer in (unknown, not_a_method):
        assert answer.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
