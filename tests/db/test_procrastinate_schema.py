"""procrastinate's schema is frozen in the migrations (db/alembic/sql/); this test
makes an upgrade of procrastinate fail CI until a frozen revision follows it.

It builds two scratch databases: one with spacecal's migrations, one with the
installed procrastinate's own `SchemaManager.get_schema()`, and compares their
catalogs restricted to procrastinate's objects (names starting `procrastinate`):
tables and columns with types, defaults and nullability, constraints, composite
types and enums with their labels, functions with argument signatures, results
and bodies, indexes and triggers. spacecal's own additions (the lock index of
0010, prefixed `spacecal_`) are not procrastinate's and stay out of it."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from procrastinate.schema import SchemaManager

from spacecal.db.migrate import upgrade
from spacecal.db.url import to_libpq

CATALOG = {
    "columns": (
        "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,"
        " pg_get_expr(d.adbin, d.adrelid)"
        " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum"
        " WHERE n.nspname = 'public' AND c.relname LIKE 'procrastinate%'"
        " AND c.relkind IN ('r', 'v', 'c') AND a.attnum > 0 AND NOT a.attisdropped"
    ),
    "constraints": (
        "SELECT c.relname, k.conname, pg_get_constraintdef(k.oid)"
        " FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid"
        " WHERE c.relname LIKE 'procrastinate%'"
    ),
    "types": (
        "SELECT t.typname, t.typtype, coalesce(string_agg(e.enumlabel, ','"
        " ORDER BY e.enumsortorder), '')"
        " FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        " LEFT JOIN pg_enum e ON e.enumtypid = t.oid"
        " WHERE n.nspname = 'public' AND t.typname LIKE 'procrastinate%'"
        " GROUP BY t.typname, t.typtype"
    ),
    "functions": (
        "SELECT p.proname, pg_get_function_identity_arguments(p.oid),"
        " pg_get_function_result(p.oid), p.prokind, md5(p.prosrc)"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public' AND p.proname LIKE 'procrastinate%'"
    ),
    "indexes": (
        "SELECT indexname, indexdef FROM pg_indexes"
        " WHERE schemaname = 'public' AND indexname LIKE 'procrastinate%'"
    ),
    "triggers": (
        "SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid)"
        " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " WHERE NOT t.tgisinternal AND t.tgname LIKE 'procrastinate%'"
    ),
}


def _catalog(url: str) -> dict[str, set[tuple[object, ...]]]:
    with psycopg.connect(to_libpq(url)) as conn:
        return {name: set(conn.execute(sql).fetchall()) for name, sql in CATALOG.items()}  # type: ignore[arg-type]


def test_the_frozen_migrations_build_the_installed_procrastinates_schema(
    server_url: str, fresh_database_on: Callable[[str], str]
) -> None:
    migrated = fresh_database_on(server_url)
    upgrade(migrated)
    reference = fresh_database_on(server_url)
    with psycopg.connect(to_libpq(reference), autocommit=True) as conn:
        conn.execute(SchemaManager.get_schema())  # type: ignore[arg-type]

    frozen, installed = _catalog(migrated), _catalog(reference)
    assert installed["functions"] and installed["types"] and installed["indexes"]
    for part in CATALOG:
        assert frozen[part] == installed[part], (
            f"procrastinate's {part} differ from the frozen migrations: the installed "
            "procrastinate is not the one db/alembic/sql/ froze. Add a revision applying "
            "its migration files (procrastinate/sql/migrations) as frozen SQL. "
            f"Only in the migrations: {sorted(map(str, frozen[part] - installed[part]))}; "
            f"only in procrastinate: {sorted(map(str, installed[part] - frozen[part]))}"
        )
