"""Health (no auth): is the database reachable and at the expected schema."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from ..db import current_revision, head_revision
from ..models.v1 import Health
from .deps import FactoryDep

router = APIRouter(tags=["ops"])


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def health(factory: FactoryDep) -> Health | JSONResponse:
    head = head_revision()
    try:
        current = current_revision(factory.engine)
    except SQLAlchemyError:
        body = Health(status="unavailable", database="unreachable", schema_revision="unknown")
        return JSONResponse(body.model_dump(), status_code=503)
    if current != head:
        body = Health(status="unavailable", database="stale schema", schema_revision=str(current))
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok", database="ok", schema_revision=head)
