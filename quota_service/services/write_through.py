"""Write a loaded row's new values at once, in one UPDATE, bypassing the unit of work.

The hot paths of spawn decisions and stops change two or three rows per request; a flush
(dirty tracking, sorting, per-mapper batching) cost more CPU than the statements it sends.
The values are recorded on the object as loaded state, so it stays current and a later
flush has nothing of them to send.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, inspect, update
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


def write_through(session: Session, obj: Any, **values: Any) -> None:
    """UPDATE `obj`'s row (a mapped object with an `id`) to `values` in `session`'s
    transaction, and make them `obj`'s loaded state."""
    state = inspect(obj)
    table = state.mapper.local_table
    assert isinstance(table, Table)
    params = {f"new_{name}": value for name, value in values.items()}
    session.connection().execute(_update_by_id(table, tuple(values)), {"row_id": obj.id, **params})
    for name, value in values.items():
        set_committed_value(obj, name, value)
