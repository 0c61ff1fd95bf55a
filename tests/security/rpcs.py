"""Calling any contract RPC generically, and reading the outcome with its unpacked details.

``contract_rpcs()`` lists every RPC of the served surfaces from the descriptor
pool with the roles its proto policy declares; ``call()`` invokes one of any
kind on a channel and returns an ``Outcome`` (status code, ErrorInfo, QuotaFailure,
RetryInfo, BadRequest). A streaming call the server keeps open past
``settle`` seconds comes back with ``code`` None: it was admitted. A caller
that knows the call must end (a refused one always does) passes
``settle=None`` and waits for its status, however slow the machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from domain.principal import Role
from interceptors.methods import method_info
from server.surfaces import discover_surfaces

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Rpc:
    service: str
    name: str
    request_type: type[Message]
    client_streaming: bool
    server_streaming: bool
    roles: frozenset[Role]

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.name}"

    def __str__(self) -> str:
        return self.path


def contract_rpcs() -> list[Rpc]:
    """Every RPC of the four surfaces, straight from the descriptors (nothing typed by hand)."""
    found = []
    for surface in discover_surfaces():
        service = descriptor_pool.Default().FindServiceByName(surface.service)
        for method in service.methods:
            found.append(
                Rpc(
                    service=surface.service,
                    name=method.name,
                    request_type=message_factory.GetMessageClass(method.input_type),
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                    roles=method_info(f"/{surface.service}/{method.name}").roles,
                )
            )
    return found


@dataclass
class Outcome:
    """How a call ended; ``code`` None means a stream still open after ``settle``."""

    code: grpc.StatusCode | None
    message: str = ""
    status: status_pb2.Status | None = None

    def detail(self, kind: type[Any]) -> Any:
        """The first detail of type ``kind`` (ErrorInfo, QuotaFailure, ...), or None."""
        if self.status is None:
            return None
        for packed in self.status.details:
            if packed.Is(kind.DESCRIPTOR):
                message = kind()
                packed.Unpack(message)
                return message
        return None

    @property
    def reason(self) -> str:
        info = self.detail(error_details_pb2.ErrorInfo)
        return "" if info is None else str(info.reason)

    def __str__(self) -> str:
        return f"{self.code.name if self.code else 'OPEN'} {self.reason} {self.message}"


def _status(trailing: Any) -> status_pb2.Status | None:
    for key, value in trailing or ():
        if key == _DETAILS_KEY:
            return status_pb2.Status.FromString(value)
    return None


async def call(
    channel: grpc.aio.Channel,
    rpc: Rpc,
    request: Message | Sequence[Message] | None = None,
    *,
    deadline: float = 10.0,
    settle: float | None = 1.0,
    metadata: Sequence[tuple[str, str]] | None = None,
) -> Outcome:
    """Invoke ``rpc``; a client stream sends ``request`` (a message or a list) then closes."""
    if request is None:
        messages: list[Message] = [] if rpc.client_streaming else [rpc.request_type()]
    elif isinstance(request, Message):
        messages = [request]
    else:
        messages = list(request)
    serialize = rpc.request_type.SerializeToString
    kwargs: dict[str, Any] = {"timeout": deadline, "metadata": metadata}
    if rpc.client_streaming and rpc.server_streaming:
        stream: Any = channel.stream_stream(
            rpc.path, request_serializer=serialize, response_deserializer=None
        )(iter(messages), **kwargs)
    elif rpc.client_streaming:
        stream = channel.stream_unary(rpc.path, request_serializer=serialize, response_deserializer=None)(
            iter(messages), **kwargs
        )
    elif rpc.server_streaming:
        stream = channel.unary_stream(rpc.path, request_serializer=serialize, response_deserializer=None)(
            messages[0], **kwargs
        )
    else:
        stream = channel.unary_unary(rpc.path, request_serializer=serialize, response_deserializer=None)(
            messages[0], **kwargs
        )
    try:
        async with asyncio.timeout(settle if rpc.server_streaming and settle is not None else None):
            code = await stream.code()
    except TimeoutError:
        stream.cancel()
        return Outcome(None)
    return Outcome(code, await stream.details(), _status(await stream.trailing_metadata()))
