"""The services every security interceptor leaves alone: health checks and server reflection.

They carry no platform data, load balancers and grpcurl must reach them
without credentials, and SPEC 6 exempts health from rate limiting.
"""

from __future__ import annotations

from interceptors.methods import MethodInfo

EXEMPT_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


def is_exempt(method: MethodInfo) -> bool:
    return method.service in EXEMPT_SERVICES
