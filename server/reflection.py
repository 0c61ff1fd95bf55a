"""Server reflection as grpc.reflection.v1 and v1alpha.

grpcio-reflection implements only v1alpha; newer clients (grpcurl ≥ 1.9,
Postman, grpcui, gRPC Swift/Java tooling) ask v1 first. The two protocols
are the same messages under another package name (field for field, number
for number), so v1 is served by the v1alpha servicer with v1alpha's
serializers under v1's method path.

The servicer looks symbols up in a pool that also knows methods: protobuf's
upb pool finds ``pkg.Service`` but not ``pkg.Service.Method``, so
``grpcurl describe vgi.operator.v1.OperatorService.CreateAggregator`` answered
"Symbol not found" (the reflection protocol names methods that way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1_SERVICE = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE = reflection.SERVICE_NAME


class MethodAwarePool:
    """A descriptor pool whose ``FindFileContainingSymbol`` also resolves ``pkg.Service.Method``."""

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    def FindFileContainingSymbol(self, symbol: str) -> FileDescriptor:  # the pool API is CamelCase
        try:
            return self._pool.FindFileContainingSymbol(symbol)
        except KeyError:
            service_name, _, method = symbol.rpartition(".")
            try:
                service = self._pool.FindServiceByName(service_name)
            except KeyError:
                raise KeyError(symbol) from None
            if method not in service.methods_by_name:
                raise KeyError(symbol) from None
            return service.file

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)


def enable_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Serve both reflection versions, each listing ``service_names`` and both reflection services."""
    servicer = ReflectionServicer(
        [*service_names, V1ALPHA_SERVICE, V1_SERVICE], pool=MethodAwarePool(descriptor_pool.Default())
    )
    for service in (V1ALPHA_SERVICE, V1_SERVICE):
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
