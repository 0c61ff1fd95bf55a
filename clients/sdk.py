"""Typed async SDK over an injected ``grpc.aio.Channel``.

* One class per surface (``OperatorClient``, …) taking the channel, the way
  httpx takes a transport: the caller owns the channel (TLS, target, its
  lifetime).
* Every call carries a deadline (``deadline`` seconds, default 10; sent to the server as the gRPC deadline).
* Retries are the channel's business: ``channel_options()`` installs a
  service config that retries UNAVAILABLE for idempotent methods — reads, and
  mutating calls that carry a ``request_id`` (the SDK always fills it, so a
  retried create returns the first answer, AIP-155). The channel's retries are
  quick (a connection that broke); when the server itself answers UNAVAILABLE
  with RetryInfo (its store is away) the client waits as asked, with back-off,
  and sends the call again until its deadline.
* Several server processes: ``secure_channel(["127.0.0.1:50051",
  "127.0.0.1:50052"], …)`` spreads calls over them with gRPC's
  ``round_robin`` (one connection to each, calls taking turns); a process
  that dies is skipped, and an idempotent call it failed is retried on
  another. A DNS name resolving to every process (a Kubernetes headless
  service) balances the same way.
* Failures raise ``clients.errors.VgiError`` subclasses with the unpacked details.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from vgi.aggregator.v1 import aggregator_service_pb2 as aggregator_pb
from vgi.common.v1 import aggregator_pb2, options_pb2
from vgi.device.v1 import device_service_pb2 as device_pb
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from clients.errors import from_grpc_error
from infra.observability.grpc_client import client_interceptors

DEFAULT_DEADLINE_SECONDS = 10.0
# A full BatchUpsert* answer (20,000 resources as stored) can reach about 10 MB; requests stay
# bounded by the server's own receive limit (4 MiB by default).
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Services whose idempotent methods get the retry policy: every surface, so a
# call broken by a server process dying is retried on another (round_robin).
SERVICES: list[ServiceDescriptor] = [
    operator_pb.DESCRIPTOR.services_by_name["OperatorService"],
    dispatch_pb.DESCRIPTOR.services_by_name["DispatchService"],
    aggregator_pb.DESCRIPTOR.services_by_name["AggregatorService"],
    device_pb.DESCRIPTOR.services_by_name["DeviceService"],
]

_POLICY: Any = options_pb2.policy  # the generated stub types the extension loosely


def _idempotent(method: Any) -> bool:
    if method.client_streaming:
        return False
    policy = method.GetOptions().Extensions[_POLICY]
    return not policy.mutating or "request_id" in method.input_type.fields_by_name


#: Request types of the methods that are NOT safe to send twice (no request_id): never retried.
_NOT_IDEMPOTENT = frozenset(
    method.input_type.full_name
    for service in SERVICES
    for method in service.methods
    if not _idempotent(method)
)
#: Longest wait between two attempts of a call the server answered UNAVAILABLE with RetryInfo.
MAX_RETRY_DELAY_SECONDS = 5.0


def service_config(
    services: Sequence[ServiceDescriptor] = SERVICES,
    *,
    max_attempts: int = 4,
    initial_backoff_s: float = 0.1,
    max_backoff_s: float = 2.0,
) -> str:
    """A gRPC service config (JSON) retrying UNAVAILABLE on every idempotent method of ``services``."""
    names = [
        {"service": service.full_name, "method": method.name}
        for service in services
        for method in service.methods
        if _idempotent(method)
    ]
    return json.dumps(
        {
            "loadBalancingConfig": [{"round_robin": {}}],
            "methodConfig": [
                {
                    "name": names,
                    "retryPolicy": {
                        "maxAttempts": max_attempts,
                        "initialBackoff": f"{initial_backoff_s}s",
                        "maxBackoff": f"{max_backoff_s}s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ],
        }
    )


def channel_options(
    *,
    services: Sequence[ServiceDescriptor] = SERVICES,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    extra: Sequence[tuple[str, Any]] = (),
) -> list[tuple[str, Any]]:
    """Channel arguments: retries by service config and message-size limits."""
    return [
        ("grpc.enable_retries", 1),
        ("grpc.service_config", service_config(services)),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        *extra,
    ]


def target_of(targets: str | Sequence[str]) -> str:
    """One gRPC target naming every server: ``["10.0.0.1:50051", "10.0.0.2:50051"]`` →
    ``"ipv4:10.0.0.1:50051,10.0.0.2:50051"`` (``ipv6:`` for ``[addr]:port``); one address stays as it is.

    Several addresses must be IP literals of one family; for host names use one
    DNS name that resolves to all of them (``dns:///vgi.example:50051``).
    """
    if isinstance(targets, str):
        return targets
    if not targets:
        raise ValueError("no target given")
    if len(targets) == 1:
        return targets[0]
    families = set()
    for address in targets:
        host, _, port = address.rpartition(":")
        try:
            families.add(ipaddress.ip_address(host.strip("[]")).version)
        except ValueError:
            raise ValueError(
                f"{address!r}: several targets must be IP:port; give a host name as one DNS target"
            ) from None
        if not port.isdigit():
            raise ValueError(f"{address!r} has no port")
    if len(families) != 1:
        raise ValueError("several targets must all be IPv4 or all IPv6")
    return f"ipv{families.pop()}:{','.join(targets)}"


def secure_channel(
    targets: str | Sequence[str],
    *,
    root_certificates: bytes,
    private_key: bytes,
    certificate_chain: bytes,
    options: Sequence[tuple[str, Any]] | None = None,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    server_name: str | None = None,
) -> grpc.aio.Channel:
    """A mutual-TLS channel with the platform's retry policy, balanced round-robin over ``targets``,
    traced when a tracer provider is installed; ``interceptors`` run inside the tracing ones.

    ``server_name`` is the name the servers' certificate must carry; by default
    the target's host (with several targets: their common host, e.g. several
    ports of 127.0.0.1 — servers on several hosts share a certificate naming
    one DNS name, which you pass here).
    """
    credentials = grpc.ssl_channel_credentials(
        root_certificates=root_certificates, private_key=private_key, certificate_chain=certificate_chain
    )
    chosen = list(channel_options() if options is None else options)
    if server_name is None and not isinstance(targets, str) and len(targets) > 1:
        hosts = {address.rpartition(":")[0].strip("[]") for address in targets}
        if len(hosts) != 1:
            raise ValueError("targets on several hosts: pass the server_name their certificate names")
        server_name = hosts.pop()
    if server_name is not None:
        # Several addresses make one target whose authority names none of them.
        chosen.append(("grpc.ssl_target_name_override", server_name))
    return grpc.aio.secure_channel(
        target_of(targets), credentials, options=chosen, interceptors=[*client_interceptors(), *interceptors]
    )


def insecure_channel(
    targets: str | Sequence[str],
    *,
    options: Sequence[tuple[str, Any]] | None = None,
    interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
) -> grpc.aio.Channel:
    """A plaintext channel, for servers started with ``--insecure`` on loopback; traced like ``secure_channel``."""
    return grpc.aio.insecure_channel(
        target_of(targets),
        options=channel_options() if options is None else options,
        interceptors=[*client_interceptors(), *interceptors],
    )


def request_id_or_new(given: str | None) -> str:
    """The caller's request_id, or a fresh UUID: every mutating call carries one (AIP-155)."""
    return given if given is not None else str(uuid.uuid4())


class _Client:
    """Stub, deadline, metadata and error mapping shared by the surface clients.

    A surface client names its generated stub class in ``_STUB``.
    """

    _STUB: ClassVar[type[Any]]

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._stub = self._STUB(channel)
        self._deadline = deadline
        self._metadata = tuple(metadata) or None

    async def _unary(self, multicallable: Any, request: Message, deadline: float | None) -> Any:
        """One call; an idempotent one answered UNAVAILABLE with RetryInfo (the store is away) is sent
        again after the delay the server asks for, doubling up to ``MAX_RETRY_DELAY_SECONDS``, until
        the deadline — which covers every attempt — is spent; then the last UNAVAILABLE is raised (with
        its reason and RetryInfo), also when the deadline ran out during a retry."""
        loop = asyncio.get_running_loop()
        budget = self._deadline if deadline is None else deadline
        give_up_at = loop.time() + budget
        retryable = request.DESCRIPTOR.full_name not in _NOT_IDEMPOTENT
        delay = 0.0
        unavailable: Exception | None = None
        while True:
            try:
                return await multicallable(request, timeout=budget, metadata=self._metadata)
            except grpc.aio.AioRpcError as exc:
                error = from_grpc_error(exc)
                if unavailable is not None and error.code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    # The deadline ran out in a retry: what the caller needs is why it was retrying.
                    raise unavailable from exc
                if not retryable or error.code != grpc.StatusCode.UNAVAILABLE or error.retry_delay is None:
                    raise error from exc
                unavailable = error
                delay = min(max(error.retry_delay, delay * 2), MAX_RETRY_DELAY_SECONDS)
                budget = give_up_at - loop.time() - delay
                if budget <= 0:
                    raise error from exc
                await asyncio.sleep(delay)


class OperatorClient(_Client):
    """vgi.operator.v1.OperatorService."""

    _STUB = operator_grpc.OperatorServiceStub

    async def create_aggregator(
        self,
        aggregator_id: str,
        aggregator: aggregator_pb2.Aggregator,
        *,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> aggregator_pb2.Aggregator:
        """Onboard an aggregator. Pass ``request_id`` to make your own retries idempotent too."""
        request = operator_pb.CreateAggregatorRequest(
            request_id=request_id_or_new(request_id),
            aggregator_id=aggregator_id,
            aggregator=aggregator,
        )
        response: operator_pb.CreateAggregatorResponse = await self._unary(
            self._stub.CreateAggregator, request, deadline
        )
        return response.aggregator

    async def update_aggregator(
        self,
        aggregator: aggregator_pb2.Aggregator,
        paths: Sequence[str] = (),
        *,
        state: aggregator_pb2.AggregatorState = aggregator_pb2.AGGREGATOR_STATE_UNSPECIFIED,
        request_id: str | None = None,
        deadline: float | None = None,
    ) -> aggregator_pb2.Aggregator:
        """Change the fields named in ``paths`` (all mutable ones when empty) and optionally the state."""
        request = operator_pb.UpdateAggregatorRequest(
            request_id=request_id_or_new(request_id),
            aggregator=aggregator,
            update_mask=field_mask_pb2.FieldMask(paths=list(paths)),
            state=state,
        )
        response: operator_pb.UpdateAggregatorResponse = await self._unary(
            self._stub.UpdateAggregator, request, deadline
        )
        return response.aggregator

    async def get_aggregator(self, name: str, *, deadline: float | None = None) -> aggregator_pb2.Aggregator:
        """``name`` is ``aggregators/{aggregator}``."""
        response: operator_pb.GetAggregatorResponse = await self._unary(
            self._stub.GetAggregator, operator_pb.GetAggregatorRequest(name=name), deadline
        )
        return response.aggregator

    async def list_aggregators(
        self, *, page_size: int = 0, page_token: str = "", deadline: float | None = None
    ) -> operator_pb.ListAggregatorsResponse:
        """One page; pass its ``next_page_token`` back for the next, until it is empty."""
        response: operator_pb.ListAggregatorsResponse = await self._unary(
            self._stub.ListAggregators,
            operator_pb.ListAggregatorsRequest(page_size=page_size, page_token=page_token),
            deadline,
        )
        return response
