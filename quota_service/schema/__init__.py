"""ORM tables, one module per table. Importing this package registers them all on Base."""

from .allocation import USABLE_STATUSES, Allocation, AllocationKind, AllocationStatus
from .audit import AuditEvent, AuditLogIsAppendOnly
from .base import Base
from .charge import Charge
from .consortium import Consortium
from .membership import ConsortiumMember, MemberRole
from .request import AllocationRequest, RequestKind, RequestStatus
from .session import ServerSession
from .storage_usage import StorageUsageSnapshot
from .user import User
from .user_notice import UserNotice

__all__ = [
    "USABLE_STATUSES",
    "Allocation",
    "AllocationKind",
    "AllocationRequest",
    "AllocationStatus",
    "AuditEvent",
    "AuditLogIsAppendOnly",
    "Base",
    "Charge",
    "Consortium",
    "ConsortiumMember",
    "MemberRole",
    "RequestKind",
    "RequestStatus",
    "ServerSession",
    "StorageUsageSnapshot",
    "User",
    "UserNotice",
]


def _import_all_tables() -> None:
    """Import every table module so alembic sees tables added by other modules too."""
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_import_all_tables()
