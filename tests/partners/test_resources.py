"""AIP-123: every resource message declares its type and pattern once (google.api.resource), and
every field that names a resource of a single type refers to it (google.api.resource_reference)."""

from __future__ import annotations

from google.api import resource_pb2
from google.protobuf.descriptor import Descriptor, FileDescriptor
from vgi.aggregator.v1 import aggregator_service_pb2
from vgi.device.v1 import device_service_pb2
from vgi.dispatch.v1 import dispatch_service_pb2
from vgi.operator.v1 import operator_service_pb2

SURFACES = (aggregator_service_pb2, device_service_pb2, dispatch_service_pb2, operator_service_pb2)


def _files() -> list[FileDescriptor]:
    seen: dict[str, FileDescriptor] = {}
    stack = [module.DESCRIPTOR for module in SURFACES]
    while stack:
        file = stack.pop()
        if file.name not in seen and file.name.startswith("vgi/"):
            seen[file.name] = file
            stack += file.dependencies
    return list(seen.values())


def _messages() -> list[Descriptor]:
    found: list[Descriptor] = []
    stack = [m for f in _files() for m in f.message_types_by_name.values()]
    while stack:
        message = stack.pop()
        found.append(message)
        stack += message.nested_types
    return found


def test_every_message_with_a_name_is_a_declared_resource() -> None:
    declared = {
        m.full_name: m.GetOptions().Extensions[resource_pb2.resource]
        for m in _messages()
        if m.GetOptions().HasExtension(resource_pb2.resource)
    }
    named = {
        m.full_name for m in _messages() if "name" in m.fields_by_name and not m.full_name.endswith("Request")
    }
    assert named <= set(declared), named - set(declared)
    types = [d.type for d in declared.values()]
    assert len(types) == len(set(types)) == 12
    assert declared["vgi.common.v1.Charger"].pattern == [
        "aggregators/{aggregator}/stations/{station}/chargers/{charger}"
    ]


def test_request_names_refer_to_their_resource_type() -> None:
    types = {
        m.GetOptions().Extensions[resource_pb2.resource].type
        for m in _messages()
        if m.GetOptions().HasExtension(resource_pb2.resource)
    }
    unreferenced = []
    for message in _messages():
        name = message.fields_by_name.get("name")
        if message.full_name.endswith("Request") and name is not None:
            reference = name.GetOptions().Extensions[resource_pb2.resource_reference]
            if reference.type not in types:
                unreferenced.append(message.full_name)
    assert unreferenced == []
