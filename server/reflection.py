"""Server reflection as grpc.reflection.v1 and v1alpha.

grpcio-reflection implements only v1alpha; newer clients (grpcurl ≥ 1.9,
Postman, grpcui, gRPC Swift/Java tooling) ask v1 first. The two protocols
are the same messages under another package name (field for field, number
for number), so v1 is served by the v1alpha servicer with v1alpha's
serializers under v1's method path.
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from grpc_reflection.v1alpha import reflection, reflection_pb2
from grpc_reflection.v1alpha._async import ReflectionServicer

V1_SERVICE = "grpc.reflection.v1.ServerReflection"
V1ALPHA_SERVICE = reflection.SERVICE_NAME


def enable_reflection(service_names: Sequence[str], server: grpc.aio.Server) -> None:
    """Serve both reflection versions, each listing ``service_names`` and both reflection services."""
    servicer = ReflectionServicer([*service_names, V1ALPHA_SERVICE, V1_SERVICE])
    for service in (V1ALPHA_SERVICE, V1_SERVICE):
        handler = grpc.stream_stream_rpc_method_handler(
            servicer.ServerReflectionInfo,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(service, {"ServerReflectionInfo": handler}),)
        )
