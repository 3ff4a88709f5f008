"""Statements several services and jobs share, defined once: a person's newest storage
snapshot, open sessions, pending and restorable purge manifests, and the lock statements.

The layer below services and jobs: it imports only `schema/` and SQLAlchemy. Functions return
select builders and clauses that callers extend; none opens or ends a transaction.
"""
