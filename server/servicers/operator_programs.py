"""OperatorService program RPCs: GetProgram, ListPrograms, UpsertProgram (settings of SPEC F5, F7–F10).

UpsertProgram changes the fields its ``update_mask`` names or, without a
mask, the fields that are set (AIP-134); every other setting keeps its stored
value, or for a new program the SPEC default: baseline method TOP5_OF_10,
clearing mode PLATFORM, price mode UNIFORM, decimals 0.5 / 1.2 / 0.5 / 0.8 /
1.2 / 0 / 0.1 (penalty threshold, cap rate, penalty factor, qualified band,
fee ratio, deviation threshold), deviation_minutes 2, re-dispatch on, no
fallback baseline method (too few baseline days then fail the evaluation). A
field named in the mask but unset is reset to that default — except
deviation_minutes, where 0 is refused (to stop re-dispatch, switch
``redispatch_enabled`` off).
"""

from __future__ import annotations

import grpc
from vgi.operator.v1 import operator_service_pb2 as pb

from application.programs import upsert_program
from application.uow import UnitOfWork
from server import clock
from server.servicers import Deps, write_once
from store import programs
from wire.programs import chosen_fields, mask_of, program_message, program_of


class OperatorPrograms:
    """The program group of vgi.operator.v1.OperatorService."""

    deps: Deps

    async def GetProgram(
        self, request: pb.GetProgramRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetProgramResponse:
        program_id = request.name.removeprefix("programs/")
        found = await self.deps.db.read(lambda conn: programs.get(conn, program_id))
        return pb.GetProgramResponse(program=program_message(found))

    async def ListPrograms(
        self, request: pb.ListProgramsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListProgramsResponse:
        page = await self.deps.db.read(
            lambda conn: programs.list_page(conn, page_size=request.page_size, page_token=request.page_token)
        )
        return pb.ListProgramsResponse(
            programs=[program_message(p) for p in page.programs], next_page_token=page.next_page_token
        )

    async def UpsertProgram(
        self, request: pb.UpsertProgramRequest, context: grpc.aio.ServicerContext
    ) -> pb.UpsertProgramResponse:
        """Create a program or change the settings the mask names (or that are set). INVALID_ARGUMENT
        INVALID_PROGRAM with the offending ``program.*`` fields, UPDATE_MASK_INVALID for unknown paths."""
        mask = mask_of(request)
        at = clock.now()
        # Unreadable input fails before the store; the stored settings the mask keeps are merged in the use case.
        program = program_of(request.program, at, mask=mask)
        changed = chosen_fields(request.program, mask)

        def effect(uow: UnitOfWork) -> pb.UpsertProgramResponse:
            return pb.UpsertProgramResponse(program=program_message(upsert_program(uow, program, changed)))

        return await write_once(self.deps.db, request, pb.UpsertProgramResponse, effect, now=at)
