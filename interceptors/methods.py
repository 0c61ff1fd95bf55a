"""What the interceptors know about an RPC, resolved once per method from the descriptor pool.

Roles, the rate-limit class and "mutating" come from the ``(vgi.common.v1.policy)``
method option declared in the proto; nothing is typed by hand here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from google.protobuf import descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import Message
from vgi.common.v1 import options_pb2

from domain.principal import Role

# vgi.common.v1.Role value → domain Role (the domain does not import generated code).
_ROLES = {
    options_pb2.ROLE_GRID: Role.GRID,
    options_pb2.ROLE_AGGREGATOR: Role.AGGREGATOR,
    options_pb2.ROLE_DEVICE: Role.DEVICE,
    options_pb2.ROLE_OPERATOR: Role.OPERATOR,
    options_pb2.ROLE_INTERNAL: Role.INTERNAL,
}


# The generated stub types the extension as a plain FieldDescriptor.
_POLICY: Any = options_pb2.policy


@dataclass(frozen=True, slots=True)
class MethodInfo:
    """One RPC as seen by the interceptor chain.

    ``descriptor`` is None for a method the descriptor pool does not know (a
    raw generic handler); such a method has no policy: ``has_policy`` is False,
    ``roles`` empty.
    """

    full_name: str
    service: str
    name: str
    descriptor: MethodDescriptor | None
    request_type: type[Message] | None
    has_policy: bool
    roles: frozenset[Role]
    method_class: int
    mutating: bool
    per_message_results: bool = False

    @property
    def input_descriptor(self) -> Descriptor | None:
        return self.descriptor.input_type if self.descriptor is not None else None


@functools.cache
def method_info(full_method: str) -> MethodInfo:
    """Resolve ``/package.Service/Method``; cached, so call it at wrap time or per call alike.

    Only methods the server actually serves reach this (the interceptor base
    skips unknown ones), so the cache is bounded by the registered methods.
    """
    service, _, name = full_method.lstrip("/").rpartition("/")
    try:
        descriptor: MethodDescriptor | None = (
            descriptor_pool.Default().FindServiceByName(service).methods_by_name[name]
        )
    except KeyError:
        descriptor = None
    if descriptor is None:
        return MethodInfo(full_method, service, name, None, None, False, frozenset(), 0, False)
    options = descriptor.GetOptions()
    has_policy = options.HasExtension(_POLICY)
    policy: options_pb2.MethodPolicy = options.Extensions[_POLICY]
    return MethodInfo(
        full_name=full_method,
        service=service,
        name=name,
        descriptor=descriptor,
        request_type=message_factory.GetMessageClass(descriptor.input_type),
        has_policy=has_policy,
        roles=frozenset(_ROLES[r] for r in policy.roles if r in _ROLES),
        method_class=policy.method_class,
        mutating=policy.mutating,
        per_message_results=policy.per_message_results,
    )
