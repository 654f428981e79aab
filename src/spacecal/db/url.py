"""Which PostgreSQL this process talks to, and in which driver's dialect."""

from __future__ import annotations

from spacecal.config import Settings

_resolved: dict[str, str] = {}


def libpq_url(settings: Settings) -> str:
    """A plain `postgresql://` URL: `DATABASE_URL`, or the embedded server (started here)."""
    if settings.database_url:
        return to_libpq(settings.database_url)
    key = str(settings.data_dir.expanduser().resolve())
    if key not in _resolved:
        from spacecal.db.embedded import start_embedded

        _resolved[key] = start_embedded(settings.data_dir)
    return _resolved[key]


def to_libpq(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def to_sqlalchemy(url: str) -> str:
    """SQLAlchemy wants the driver in the scheme."""
    return "postgresql+psycopg://" + to_libpq(url)[len("postgresql://") :]


def uses_embedded(settings: Settings) -> bool:
    return not settings.database_url
