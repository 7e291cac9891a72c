"""The PostgreSQL store: many engines on one database, asyncpg, group commit, leases."""

from asyncflow.storage.postgres.store import PostgresStore

__all__ = ["PostgresStore"]
