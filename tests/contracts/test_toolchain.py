"""The contract checks can fail: a removed field breaks, a missing comment fails lint."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from google.protobuf.descriptor import MethodDescriptor
from vgi.common.v1 import options_pb2

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import protos  # noqa: E402


@pytest.fixture
def proto_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "proto"
    shutil.copytree(protos.PROTO_DIR, copy, ignore=shutil.ignore_patterns("*.binpb"))
    return copy


def _remove_line(path: Path, needle: str) -> None:
    text = path.read_text()
    assert needle in text, f"{needle!r} not in {path}"
    path.write_text(text.replace(needle, "", 1))


def test_current_contracts_are_not_breaking(tmp_path: Path) -> None:
    image = protos.build_image(tmp_path / "image.binpb")
    result = protos.breaking(image)
    assert result.returncode == 0, result.stdout + result.stderr


def test_removing_a_field_is_reported_as_breaking(proto_copy: Path, tmp_path: Path) -> None:
    resources = proto_copy / "vgi" / "common" / "v1" / "resources.proto"
    text = resources.read_text()
    start = text.index("  // base_load_w is")
    end = text.index("];\n", start) + len("];\n")
    resources.write_text(text[:start] + text[end:])

    image = protos.build_image(tmp_path / "changed.binpb", proto_copy)
    result = protos.breaking(image)

    assert result.returncode != 0
    assert "base_load_w" in result.stdout + result.stderr


def test_missing_comment_fails_lint(
    proto_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service = proto_copy / "vgi" / "aggregator" / "v1" / "aggregator_service.proto"
    _remove_line(service, "  // reason explains the dispute.\n")

    image = protos.build_image(tmp_path / "lint.binpb", proto_copy)

    assert protos.lint(image) != 0
    assert 'Field "reason" should have a non-empty comment' in capsys.readouterr().out


def _methods() -> list[MethodDescriptor]:
    import vgi.aggregator.v1.aggregator_service_pb2 as aggregator
    import vgi.device.v1.device_service_pb2 as device
    import vgi.dispatch.v1.dispatch_service_pb2 as dispatch
    import vgi.operator.v1.operator_service_pb2 as operator

    return [
        method
        for module in (aggregator, device, dispatch, operator)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    ]


def test_every_rpc_declares_roles() -> None:
    missing = [m.full_name for m in _methods() if not m.GetOptions().Extensions[options_pb2.policy].roles]
    assert missing == []
    assert len(_methods()) > 50


def test_every_unary_mutating_rpc_takes_a_request_id() -> None:
    missing = [
        m.full_name
        for m in _methods()
        if m.GetOptions().Extensions[options_pb2.policy].mutating
        and "request_id" not in m.input_type.fields_by_name
    ]
    assert missing == []


def test_every_list_rpc_paginates() -> None:
    lists = [m for m in _methods() if m.name.startswith("List")]
    assert lists
    for m in lists:
        assert {"page_size", "page_token"} <= set(m.input_type.fields_by_name), m.full_name
        assert "next_page_token" in m.output_type.fields_by_name, m.full_name
