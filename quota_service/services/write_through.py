"""Write a loaded row's new values at once, in one UPDATE, bypassing the unit of work.

The hot paths of spawn decisions and stops change two or three rows per request; a flush
(dirty tracking, sorting, per-mapper batching) cost more CPU than the statements it sends.
The values are recorded on the object as loaded state, so it stays current and a later
flush has nothing of them to send.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Insert, Table, Update, bindparam, insert, inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value


@cache
def _update_by_id(table: Table, columns: tuple[str, ...]) -> Update:
    # Bind names differ from column names: SQLAlchemy reserves those for its own SET binds.
    return (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )


def _table_of(obj: Any) -> Table:
    table = inspect(obj).mapper.local_table
    assert isinstance(table, Table)
    return table


def _record(obj: Any, values: dict[str, Any]) -> None:
    """Make `values` `obj`'s loaded state: what the database now holds, nothing to flush."""
    for name, value in values.items():
        set_committed_value(obj, name, value)


def write_through(session: Session, obj: Any, **values: Any) -> None:
    """UPDATE `obj`'s row (a mapped object with an `id`) to `values` in `session`'s
    transaction, and make them `obj`'s loaded state."""
    params = {f"new_{name}": value for name, value in values.items()}
    stmt = _update_by_id(_table_of(obj), tuple(values))
    session.connection().execute(stmt, {"row_id": obj.id, **params})
    _record(obj, values)


Shape = tuple[tuple[Table, tuple[str, ...]], ...]


@cache
def _insert_with_updates(target: Table, columns: tuple[str, ...], shape: Shape) -> Insert:
    """One INSERT into `target` carrying each UPDATE of `shape` as a data-modifying CTE."""
    stmt = insert(target).values({name: bindparam(f"ins_{name}") for name in columns})
    for i, (table, names) in enumerate(shape):
        change = (
            update(table)
            .where(table.c.id == bindparam(f"u{i}_row_id"))
            .values({name: bindparam(f"u{i}_new_{name}") for name in names})
        )
        stmt = stmt.add_cte(change.cte(f"change_{i}"))
    return stmt


def write_together(
    session: Session,
    changes: Sequence[tuple[Any, dict[str, Any]]],
    target: Table,
    row: dict[str, Any],
) -> None:
    """`write_through` each (object, values) of `changes` and insert `row` into `target`.

    On PostgreSQL that is one statement (the updates as CTEs of the insert): one round trip
    instead of one per row, on the stop's hot path. Other databases get one statement each.
    """
    if session.get_bind().dialect.name != "postgresql":
        for obj, values in changes:
            write_through(session, obj, **values)
        session.connection().execute(insert(target), row)
        return
    shape = tuple((_table_of(obj), tuple(values)) for obj, values in changes)
    params = {f"ins_{name}": value for name, value in row.items()}
    for i, (obj, values) in enumerate(changes):
        params[f"u{i}_row_id"] = obj.id
        params |= {f"u{i}_new_{name}": value for name, value in values.items()}
    session.connection().execute(_insert_with_updates(target, tuple(row), shape), params)
    for obj, values in changes:
        _record(obj, values)
