"""What several benchmarks set up the same way: a scratch database on the server
`DATABASE_URL` names (dropped at the end, whatever happened), and the settings of an
in-process mail deployment with an empty DNS overrides file (no network lookups)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from cryptography.fernet import Fernet

from spacecal.config import Settings
from spacecal.db.url import to_libpq


@contextmanager
def scratch_database(prefix: str) -> Iterator[str]:
    """A fresh database's URL, on the PostgreSQL server of `DATABASE_URL`."""
    server = os.environ.get("DATABASE_URL")
    if not server:
        raise SystemExit("set DATABASE_URL to a PostgreSQL server (a database is made in it)")
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(to_libpq(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield to_libpq(server).rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(to_libpq(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def mail_settings(database_url: str, tmp: Path, domain: str) -> Settings:
    """Settings for a receiver and worker in this process: DKIM and DMARC answered
    from an empty overrides file, so every lookup is "no record", offline."""
    dns = tmp / "dns.json"
    dns.write_text("{}")
    return Settings(
        database_url=database_url,
        secret_keys=Fernet.generate_key().decode(),
        log_level="WARNING",
        mail_domain=domain,
        dns_overrides_file=dns,
        data_dir=tmp / "data",
    )
