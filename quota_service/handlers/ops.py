"""Health (no auth). Two probes, because an upgrade migrates the schema under running pods:

- `health/live`: the process and its event loop answer. Never touches the database, so a
  schema change or a database outage never gets pods killed (restarts would not help).
- `health` (readiness): the database answers and its schema serves this code: at the code's
  head, or newer through expand migrations only (docs/upgrades.md).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from ..db import head_revision, schema_state
from ..models.v1 import Health
from .deps import FactoryDep

router = APIRouter(tags=["ops"])


class Readiness(Health):
    """`Health` plus why: the code's revision and the schema's relation to it."""

    code_revision: str
    schema_status: str
    detail: str


class Liveness(BaseModel):
    status: str


@router.get("/health/live", response_model=Liveness)
async def live() -> Liveness:
    return Liveness(status="ok")


@router.get("/health", response_model=Readiness, responses={503: {"model": Readiness}})
def health(factory: FactoryDep) -> Readiness | JSONResponse:
    head = head_revision()
    try:
        state = schema_state(factory.engine)
    except SQLAlchemyError as exc:
        body = Readiness(
            status="unavailable",
            database="unreachable",
            schema_revision="unknown",
            code_revision=head,
            schema_status="unknown",
            detail=f"cannot read the schema revision: {type(exc).__name__}",
        )
        return JSONResponse(body.model_dump(), status_code=503)
    body = Readiness(
        status="ok" if state.serves else "unavailable",
        database="ok" if state.serves else f"{state.status} schema",
        schema_revision=state.revision or "none",
        code_revision=head,
        schema_status=state.status,
        detail=state.detail,
    )
    if not state.serves:
        return JSONResponse(body.model_dump(), status_code=503)
    return body
