"""Endpoints for the signed-in person: their standing and their requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from ..error_table import api_errors
from ..models.purge import PurgeManifestEntryView, PurgeManifestView
from ..models.v1 import MAX_ID, MeView, RequestIn, RequestView, UsageView
from .deps import FactoryDep, UserDep

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=MeView, responses=api_errors())
def me(factory: FactoryDep, caller: UserDep) -> MeView:
    with factory.unit_of_work() as svc:
        return svc.users.me(caller.name)


@router.get("/usage", response_model=UsageView, responses=api_errors())
def my_usage(factory: FactoryDep, caller: UserDep) -> UsageView:
    with factory.unit_of_work() as svc:
        return svc.reports.user_usage(caller.name)


@router.get("/requests", response_model=list[RequestView], responses=api_errors())
def my_requests(factory: FactoryDep, caller: UserDep) -> list[RequestView]:
    with factory.unit_of_work() as svc:
        return svc.requests.list_for(caller.name)


@router.post(
    "/requests",
    response_model=RequestView,
    status_code=status.HTTP_201_CREATED,
    responses=api_errors(404, 409),
)
def file_request(body: RequestIn, factory: FactoryDep, caller: UserDep) -> RequestView:
    with factory.unit_of_work() as svc:
        return svc.requests.create(caller.name, body)


@router.post(
    "/requests/{request_id}/withdraw", response_model=RequestView, responses=api_errors(404, 409)
)
def withdraw_request(
    request_id: Annotated[int, Path(ge=1, le=MAX_ID)], factory: FactoryDep, caller: UserDep
) -> RequestView:
    with factory.unit_of_work() as svc:
        return svc.requests.withdraw(caller.name, request_id)


@router.get("/purge-manifests", response_model=list[PurgeManifestView], responses=api_errors())
def my_purge_manifests(factory: FactoryDep, caller: UserDep) -> list[PurgeManifestView]:
    """Planned and past purges of my home and scratch: when, why, how many files."""
    with factory.unit_of_work() as svc:
        svc.users.ensure(caller.name)
    result: list[PurgeManifestView] = factory.purge_job().manifests_for(caller.name)
    return result


@router.get(
    "/purge-manifests/{manifest_id}/entries",
    response_model=list[PurgeManifestEntryView],
    responses=api_errors(404),
)
def my_purge_manifest_entries(
    manifest_id: Annotated[int, Path(ge=1, le=MAX_ID)],
    factory: FactoryDep,
    caller: UserDep,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[PurgeManifestEntryView]:
    """Each file a purge will touch (or touched): path, size, times, action, archive key."""
    result: list[PurgeManifestEntryView] = factory.purge_job().manifest_entries(
        caller.name, manifest_id, offset, limit
    )
    return result
