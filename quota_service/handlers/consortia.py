"""Endpoints for consortium leads (and admins); the service checks who may call them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from ..error_table import api_errors
from ..models.v1 import MAX_ID, USERNAME_PATTERN, ConsortiumView, MemberIn, ShareIn
from . import collab
from .deps import FactoryDep, UserDep

router = APIRouter(prefix="/consortia", tags=["consortia"])
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
Username = Annotated[str, Path(pattern=USERNAME_PATTERN)]


@router.get("/{consortium_id}", response_model=ConsortiumView, responses=api_errors(404))
def show(consortium_id: Id, factory: FactoryDep, caller: UserDep) -> ConsortiumView:
    with factory.unit_of_work() as svc:
        return svc.consortia.view(caller, consortium_id)


@router.post(
    "/{consortium_id}/members",
    response_model=ConsortiumView,
    status_code=201,
    responses=api_errors(404, 409),
)
def add_member(
    request: Request, consortium_id: Id, body: MemberIn, factory: FactoryDep, caller: UserDep
) -> ConsortiumView:
    with factory.unit_of_work() as svc:
        view = svc.consortia.add_member(
            caller, consortium_id, body.username, body.role, body.cpu_hours_share
        )
    # A running team server is shared with the newcomer at once.
    collab.sync_members(factory, request.app.state.settings, consortium_id)
    return view


@router.delete(
    "/{consortium_id}/members/{username}",
    response_model=ConsortiumView,
    responses=api_errors(404, 409),
)
def remove_member(
    request: Request, consortium_id: Id, username: Username, factory: FactoryDep, caller: UserDep
) -> ConsortiumView:
    with factory.unit_of_work() as svc:
        view = svc.consortia.remove_member(caller, consortium_id, username)
    # Their access to the team's collaboration server ends with their membership.
    collab.sync_members(factory, request.app.state.settings, consortium_id)
    return view


@router.put(
    "/{consortium_id}/members/{username}/share",
    response_model=ConsortiumView,
    responses=api_errors(404, 409),
)
def set_share(
    consortium_id: Id, username: Username, body: ShareIn, factory: FactoryDep, caller: UserDep
) -> ConsortiumView:
    with factory.unit_of_work() as svc:
        return svc.consortia.set_share(caller, consortium_id, username, body.cpu_hours_share)
