"""One rule for token audiences: a token names every surface its role may call (read from the
proto's declared roles). `vgi token issue` without --audience and IssueCredentials follow it, so an
aggregator's token also opens DispatchService.ListGridNodes; a surface the role has no RPC on
answers UNAUTHENTICATED TOKEN_BAD_AUDIENCE."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from vgi.dispatch.v1 import dispatch_service_pb2 as dispatch_pb
from vgi.dispatch.v1 import dispatch_service_pb2_grpc as dispatch_grpc
from vgi.operator.v1 import operator_service_pb2 as operator_pb
from vgi.operator.v1 import operator_service_pb2_grpc as operator_grpc

from domain.principal import Principal, Role

from .harness import execute

pytestmark = pytest.mark.timeout(60)
VGI = str(Path(sys.executable).with_name("vgi"))
AGGREGATOR = Principal(Role.AGGREGATOR, "agg-1", "agg-1")


def _audiences(token: str) -> list[str]:
    return sorted(jwt.decode(token, options={"verify_signature": False})["aud"])


async def test_cli_and_issue_credentials_mint_the_same_audiences(platform: Any) -> None:
    pki = str(platform.credentials.layout.root)
    code, out = await execute([VGI, "token", "issue", "--pki", pki, "--subject", AGGREGATOR.uri], {})
    assert code == 0, out
    cli_token = out.strip().splitlines()[-1]
    issued = await operator_grpc.OperatorServiceStub(platform.channel).IssueCredentials(
        operator_pb.IssueCredentialsRequest(
            request_id=str(uuid.uuid4()),
            principal=AGGREGATOR.uri,
            kind=operator_pb.CREDENTIAL_KIND_TOKEN,
        )
    )

    assert _audiences(cli_token) == _audiences(issued.token) == ["vgi.aggregator", "vgi.dispatch"]

    channel = platform.channel_for(AGGREGATOR, token=cli_token)
    nodes = await dispatch_grpc.DispatchServiceStub(channel).ListGridNodes(dispatch_pb.ListGridNodesRequest())
    assert list(nodes.grid_nodes) == []
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await operator_grpc.OperatorServiceStub(channel).ListAggregators(operator_pb.ListAggregatorsRequest())
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    status = rpc_status.from_call(refused.value)
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == "TOKEN_BAD_AUDIENCE"
