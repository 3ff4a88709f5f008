"""Server sessions: which ones are open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, select

from ..schema import ServerSession


def is_open(row: type[ServerSession] = ServerSession) -> ColumnElement[bool]:
    """The session (`row`: the table or an alias of it) has not ended."""
    return row.ended_at.is_(None)


def open_sessions(*columns: Any) -> Select[Any]:
    """`columns` (by default the rows) of the sessions still open; callers add clauses."""
    return select(*(columns or (ServerSession,))).where(is_open())
