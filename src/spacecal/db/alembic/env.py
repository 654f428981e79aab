"""Alembic environment: migrations run on a plain synchronous psycopg connection,
under an advisory lock so that several processes starting at once apply them once."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from spacecal.db.models import Base

MIGRATION_LOCK_ID = 727_011_001  # arbitrary, constant: serialises concurrent upgrades

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(conn) -> None:  # type: ignore[no-untyped-def]
    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_ID})
    try:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()
    finally:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_ID})
        conn.commit()


run_migrations_online()
