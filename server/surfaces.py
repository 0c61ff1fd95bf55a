"""The proto services the platform can serve, found in the generated ``vgi.<surface>.v1`` stubs."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vgi

_SERVICER_SUFFIX = "Servicer_to_server"


@dataclass(frozen=True)
class Surface:
    """One proto service as found in the generated stubs."""

    surface: str  # "operator"
    service: str  # "vgi.operator.v1.OperatorService"
    add_to_server: Callable[[Any, Any], None]  # (servicer, server or server.method_table.MethodTable)
    base_servicer: type


def discover_surfaces() -> list[Surface]:
    """Every service in the generated ``vgi.<surface>.v1`` packages."""
    found = []
    for surface in pkgutil.iter_modules(vgi.__path__):
        version_dir = Path(vgi.__path__[0]) / surface.name / "v1"
        for module_info in pkgutil.iter_modules([str(version_dir)]):
            if not module_info.name.endswith("_pb2_grpc"):
                continue
            module = importlib.import_module(f"vgi.{surface.name}.v1.{module_info.name}")
            for attr in dir(module):
                if attr.startswith("add_") and attr.endswith(_SERVICER_SUFFIX):
                    short = attr[len("add_") : -len(_SERVICER_SUFFIX)]
                    found.append(
                        Surface(
                            surface=surface.name,
                            service=f"vgi.{surface.name}.v1.{short}",
                            add_to_server=getattr(module, attr),
                            base_servicer=getattr(module, f"{short}Servicer"),
                        )
                    )
    return sorted(found, key=lambda s: s.service)


def select_surfaces(available: Sequence[Surface], wanted: Sequence[str]) -> list[Surface]:
    if not wanted:
        return list(available)
    known = {s.surface for s in available}
    unknown = sorted(set(wanted) - known)
    if unknown:
        raise ValueError(f"services: unknown {', '.join(unknown)}; available: {', '.join(sorted(known))}")
    return [s for s in available if s.surface in wanted]
