"""Endpoints for the signed-in person: their standing and their requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from ..models.v1 import MeView, RequestIn, RequestView, UsageView
from .deps import FactoryDep, UserDep

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=MeView)
def me(factory: FactoryDep, caller: UserDep) -> MeView:
    with factory.unit_of_work() as svc:
        return svc.users.me(caller.name)


@router.get("/usage", response_model=UsageView)
def my_usage(factory: FactoryDep, caller: UserDep) -> UsageView:
    with factory.unit_of_work() as svc:
        return svc.reports.user_usage(caller.name)


@router.get("/requests", response_model=list[RequestView])
def my_requests(factory: FactoryDep, caller: UserDep) -> list[RequestView]:
    with factory.unit_of_work() as svc:
        return svc.requests.list_for(caller.name)


@router.post("/requests", response_model=RequestView, status_code=status.HTTP_201_CREATED)
def file_request(body: RequestIn, factory: FactoryDep, caller: UserDep) -> RequestView:
    with factory.unit_of_work() as svc:
        return svc.requests.create(caller.name, body)


@router.post("/requests/{request_id}/withdraw", response_model=RequestView)
def withdraw_request(
    request_id: Annotated[int, Path(ge=1, le=2**62)], factory: FactoryDep, caller: UserDep
) -> RequestView:
    with factory.unit_of_work() as svc:
        return svc.requests.withdraw(caller.name, request_id)
