"""The partner kit stands alone: a bare protoc compiles every contract from it, and grpcurl
given only the kit's .proto files calls the platform and prints the decoded ErrorInfo."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from domain.principal import Principal, Role

from .harness import KIT, ROOT, execute

sys.path.insert(0, str(ROOT / "tools"))
import partner_kit

pytestmark = pytest.mark.timeout(120)
GRPCURL = shutil.which("grpcurl") or str(ROOT / ".venv" / "bin" / "grpcurl")


@pytest.fixture
def clean_kit(tmp_path: Path) -> Path:
    """A copy of the kit in an otherwise empty directory."""
    copy = tmp_path / "partner-kit"
    shutil.copytree(KIT, copy)
    return copy


def _contracts(kit: Path) -> list[str]:
    return sorted(str(p.relative_to(kit / "proto")) for p in (kit / "proto" / "vgi").rglob("*.proto"))


def test_protoc_compiles_every_contract_from_the_kit_alone(clean_kit: Path, tmp_path: Path) -> None:
    protoc = shutil.which("protoc")  # Debian's protobuf-compiler, not the project's grpcio-tools
    assert protoc is not None, "protoc is not installed: run `make go-toolchain`"
    files = _contracts(clean_kit)
    outs = {lang: tmp_path / lang for lang in ("python", "java", "csharp", "cpp")}
    for out in outs.values():
        out.mkdir()

    result = subprocess.run(
        [protoc, "-I", "proto", *(f"--{lang}_out={out}" for lang, out in outs.items()), *files],
        cwd=clean_kit,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr
    assert len(files) >= 15
    assert (outs["python"] / "vgi" / "aggregator" / "v1" / "aggregator_service_pb2.py").exists()
    assert list(outs["java"].rglob("*.java")) and list(outs["csharp"].rglob("*.cs"))


def test_the_kit_misses_nothing(clean_kit: Path) -> None:
    """Without the kit's third-party files the same protoc call fails: they are what makes it work."""
    shutil.rmtree(clean_kit / "proto" / "buf")
    result = subprocess.run(
        [shutil.which("protoc") or "protoc", "-I", "proto", "-o", "/dev/null", *_contracts(clean_kit)],
        cwd=clean_kit,
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "buf/validate/validate.proto" in result.stderr


async def test_grpcurl_with_the_kit_prints_decoded_error_info(platform: Any, clean_kit: Path) -> None:
    principal = Principal(Role.AGGREGATOR, "agg-1", "agg-1")
    await platform.onboard("agg-1")  # past the tenant gate: the validation refusal is what is shown
    cmd = [
        GRPCURL,
        *platform.grpcurl_args(principal),
        "-H",
        f"authorization: Bearer {platform.token_for(principal)}",
        "-import-path",
        str(clean_kit / "proto"),
        "-proto",
        "vgi/aggregator/v1/aggregator_service.proto",
        "-proto",
        "google/rpc/error_details.proto",
        "-d",
        '{"request_id": "not-a-uuid", "parent": "events/ev-1", "bid": {}}',
        platform.target,
        "vgi.aggregator.v1.AggregatorService/SubmitBid",
    ]
    code, out = await execute(cmd, {})

    assert code != 0, out  # grpcurl exits non-zero when the call fails
    assert "Code: InvalidArgument" in out, out
    assert (
        '{"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"vgi","reason":"VALIDATION_FAILED"}'
        in out
    )
    assert '"@type":"type.googleapis.com/google.rpc.BadRequest"' in out, out
    assert '"field":"request_id"' in out, out


def test_a_stale_kit_fails_the_check(
    clean_kit: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make check-contracts` runs `partner_kit.py check`: a kit that differs from a fresh build fails it."""
    market = clean_kit / "proto" / "vgi" / "common" / "v1" / "market.proto"
    market.write_text(market.read_text().replace("// BidSlot is the offer", "// BidSlot was the offer"))
    monkeypatch.setattr(partner_kit, "KIT_DIR", clean_kit)

    assert partner_kit.main(["check"]) == 1
    assert "proto/vgi/common/v1/market.proto" in capsys.readouterr().out
    monkeypatch.setattr(partner_kit, "KIT_DIR", KIT)
    assert partner_kit.main(["check"]) == 0
