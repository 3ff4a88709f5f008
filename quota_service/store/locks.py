"""The lock statements: rows locked for the rest of the transaction, read fresh."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select, union_all
from sqlalchemy.orm import aliased

from ..schema import Allocation

T = TypeVar("T", bound=tuple[Any, ...])


def for_update(query: Select[T]) -> Select[T]:
    """`query`, locking its rows (FOR UPDATE on PostgreSQL; on SQLite every transaction
    begins IMMEDIATE, which serialises writers). The rows are re-read into the session even
    when it holds them already: what another transaction committed meanwhile must not be lost."""
    return query.with_for_update().execution_options(populate_existing=True)


def allocations_with_pools(member_ids: Select[Any]) -> Select[tuple[Allocation]]:
    """The allocations `member_ids` selects and the pools of those that are sub-allocations,
    locked in id order, the one order every locker of allocations uses."""
    # UNION ALL of index look-ups, not one OR: PostgreSQL cannot use an index for
    # "owner = ? OR id IN (...)" and would scan every allocation.
    member = aliased(Allocation)
    parents = select(member.parent_id).where(
        member.id.in_(member_ids), member.parent_id.is_not(None)
    )
    return for_update(
        select(Allocation)
        .where(Allocation.id.in_(union_all(member_ids, parents)))
        .order_by(Allocation.id)
    )
