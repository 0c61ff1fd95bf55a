"""The echo RPC both the bare baseline and the platform serve, so the two differ only by the chain.

The platform's interceptors look every method up in the descriptor pool (its
``policy`` option: roles, rate-limit class; its ``buf.validate`` rules; its
package: the token audience). A raw generic handler would have none of that
and be treated as outside the contracts. So the echo is described here as a
proto file added to this process's pool at import — a benchmark-only service
in the operator package, callable by the operator role, with a READ class and
a validation rule on its payload, i.e. shaped like any real read RPC — and
never added to ``proto/``.
"""

from __future__ import annotations

from typing import Any

import grpc
from buf.validate import validate_pb2
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from vgi.common.v1 import options_pb2

PACKAGE = "vgi.operator.v1"
SERVICE = f"{PACKAGE}.BenchEchoService"
ECHO = f"/{SERVICE}/Echo"
PAYLOAD_BYTES = 100  # SPEC section 5: 100-byte messages

# The generated stubs type these extensions loosely.
_FIELD_RULES: Any = validate_pb2.field
_POLICY: Any = options_pb2.policy


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(
        name="bench/echo.proto",
        package=PACKAGE,
        syntax="proto3",
        dependency=["buf/validate/validate.proto", "vgi/common/v1/options.proto"],
    )
    for name in ("BenchEchoRequest", "BenchEchoResponse"):
        message = file.message_type.add(name=name)
        payload = message.field.add(
            name="payload",
            number=1,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        )
        rules: Any = payload.options.Extensions[_FIELD_RULES]
        rules.bytes.max_len = 4096
    method = file.service.add(name="BenchEchoService").method.add(
        name="Echo",
        input_type=f".{PACKAGE}.BenchEchoRequest",
        output_type=f".{PACKAGE}.BenchEchoResponse",
    )
    policy: Any = method.options.Extensions[_POLICY]
    policy.roles.append(options_pb2.ROLE_OPERATOR)
    policy.method_class = options_pb2.METHOD_CLASS_READ
    return file


def _register() -> tuple[type[Any], type[Any]]:
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName("bench/echo.proto")
    except KeyError:
        pool.AddSerializedFile(_file().SerializeToString())
    return (
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.BenchEchoRequest")),
        message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.BenchEchoResponse")),
    )


EchoRequest, EchoResponse = _register()


async def _echo(request: Any, context: grpc.aio.ServicerContext) -> Any:
    return EchoResponse(payload=request.payload)


def handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Echo": grpc.unary_unary_rpc_method_handler(
                _echo,
                request_deserializer=EchoRequest.FromString,
                response_serializer=EchoResponse.SerializeToString,
            )
        },
    )


def stub(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable:
    return channel.unary_unary(
        ECHO, request_serializer=EchoRequest.SerializeToString, response_deserializer=EchoResponse.FromString
    )


def request() -> Any:
    return EchoRequest(payload=b"x" * PAYLOAD_BYTES)
