"""Every served method's handler in one dict, given to grpc.aio as ONE generic handler.

The generated ``add_*Servicer_to_server`` functions (grpcio-tools ≥ 1.62) add
each service's handlers twice: as a generic handler and as *registered
methods*. grpc.aio's server keeps one outstanding request per registered
method plus one for all generic ones, and its accept loop awaits
``asyncio.wait`` over all of them after every call it accepts, so each call
pays a done-callback added and removed on every one of them: with the
platform's ~80 methods that was ~0.18 × a bare echo server's whole CPU per
call (``python -m bench.ladder``). Served through this table instead, the
loop waits on one request, as a bare server's does, and a call's handler is
one dict lookup (the ``Chain`` interceptor caches the wrapped handler per
method after the first call anyway).

``MethodTable`` stands in for the server in the generated functions: it keeps
the registered handlers (precedence as grpc gives them) and any generic
handler a stub adds without registering methods, asked in turn only for a
method the table does not know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import grpc


class MethodTable(grpc.GenericRpcHandler):
    """What the generated ``add_*Servicer_to_server(servicer, server)`` needs of ``server``; one generic handler."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._generic: list[grpc.GenericRpcHandler] = []

    def add_registered_method_handlers(
        self, service_name: str, method_handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        for method, handler in method_handlers.items():
            self.handlers[f"/{service_name}/{method}"] = handler

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Sequence[grpc.GenericRpcHandler]) -> None:
        # The generated code adds the same handlers as registered methods too: those answer first.
        self._generic.extend(generic_rpc_handlers)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self.handlers.get(handler_call_details.method)
        if handler is not None:
            return handler
        for generic in self._generic:
            handler = generic.service(handler_call_details)
            if handler is not None:
                return handler
        return None
