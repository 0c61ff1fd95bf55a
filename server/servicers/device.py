"""vgi.device.v1.DeviceService, composed from one mixin per group of RPCs.

Each group lives in its own module (`server/servicers/device_<group>.py`) as a
class whose methods are the RPCs it implements; add it to the bases below. RPCs
no group implements fall through to the generated base (UNIMPLEMENTED).
"""

from __future__ import annotations

from vgi.device.v1 import device_service_pb2_grpc as pb_grpc

from server.servicers import Deps
from server.servicers.device_stream import DeviceStream
from server.servicers.device_telemetry import DeviceTelemetry


class DeviceService(DeviceStream, DeviceTelemetry, pb_grpc.DeviceServiceServicer):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
