"""Every procrastinate function, type and table that spacecal's SQL names
(jobs/sql.py) is declared there and exists after the migrations (`spacecal db
upgrade`): a procrastinate upgrade that retires one fails here, not in production."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
from sqlalchemy import TextClause

from spacecal.db.migrate import upgrade
from spacecal.db.url import to_libpq
from spacecal.jobs import sql

_NAME = re.compile(r"\bprocrastinate_\w+")


def _statements() -> list[str]:
    statements = [
        str(value)
        for name, value in vars(sql).items()
        if not name.startswith("__") and isinstance(value, TextClause | str)
    ]
    return [*statements, str(sql.JOBS.select())]


def test_every_procrastinate_name_in_the_sql_is_declared() -> None:
    used = {name for text in _statements() for name in _NAME.findall(text)}
    declared = set(sql.FUNCTIONS) | set(sql.TYPES) | set(sql.TABLES)
    assert used and used <= declared, used - declared


def test_each_declared_name_exists_after_the_migrations(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    url = fresh_database_on(server_url)
    upgrade(url)  # what `spacecal db upgrade` runs
    with psycopg.connect(to_libpq(url)) as conn:
        for function, arguments in sql.FUNCTIONS.items():
            conn.execute("SELECT %s::regprocedure", (f"{function}({arguments})",))
        for type_name in sql.TYPES:
            conn.execute("SELECT %s::regtype", (type_name,))
        for table in (*sql.TABLES, sql.OUTBOX):
            conn.execute("SELECT %s::regclass", (table,))
