"""`spacecal serve` and `spacecal worker`: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from spacecal import __version__
from spacecal.cli.common import Subparsers, configure_logging, release_embedded, settings_for


def cmd_serve(args: argparse.Namespace) -> int:
    from spacecal import runner
    from spacecal.config import Settings

    os.environ["SPACECAL_HOST"] = args.host
    os.environ["SPACECAL_PORT"] = str(args.port)
    settings = settings_for(args)
    assert isinstance(settings, Settings)
    configure_logging(settings, settings.log_level)
    where = (
        "DATABASE_URL" if settings.database_url else f"embedded PostgreSQL in {settings.data_dir}"
    )
    with_worker = "" if args.no_worker else ", with a worker"
    print(
        f"spacecal {__version__}: serving on http://{args.host}:{args.port} ({where}{with_worker})",
        flush=True,
    )
    # uvicorn re-raises the SIGTERM it caught once it has shut down; make that a clean
    # exit so the embedded database is released instead of the process dying on it.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        asyncio.run(
            runner.serve(
                settings,
                host=args.host,
                port=args.port,
                worker=not args.no_worker,
                log_level=args.log_level,
            )
        )
    finally:
        release_embedded(settings)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from spacecal import runner
    from spacecal.config import Settings

    settings = settings_for(args)
    assert isinstance(settings, Settings)
    configure_logging(settings, settings.log_level)
    concurrency = args.concurrency or settings.worker_concurrency
    metrics_port = (
        args.metrics_port if args.metrics_port is not None else settings.worker_metrics_port
    )
    metrics = ""
    if metrics_port is not None:
        metrics = f"; metrics on http://{settings.worker_metrics_host}:{metrics_port}/metrics"
    print(
        f"spacecal {__version__}: worker running {concurrency} job(s) at a time{metrics}",
        flush=True,
    )
    try:
        asyncio.run(runner.work(settings, concurrency=concurrency, metrics_port=metrics_port))
    finally:
        release_embedded(settings)
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[data_dir],
        help="serve the API",
        description="Serve the records API, the members' portal and the provider webhooks, "
        "with an in-process job worker unless --no-worker. "
        "Applies migrations first. Ctrl-C stops it and the embedded database cleanly.",
    )
    serve.add_argument(
        "--host",
        default=os.environ.get("SPACECAL_HOST", "127.0.0.1"),
        help="address to bind (default 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("SPACECAL_PORT", "8000")),
        help="port to bind (default 8000)",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="serve only; run jobs in separate `spacecal worker` processes",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker",
        parents=[data_dir],
        help="run sync jobs",
        description="Run the job worker: reconciles calendars after notifications and "
        "booking changes, and runs the periodic sweep and stalled-job recovery. Run as many "
        "as you like against one database; each calendar is synced by one at a time.",
    )
    worker.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="jobs run at once (default: SPACECAL_WORKER_CONCURRENCY, 4)",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus /metrics of this worker on this port, on "
        "SPACECAL_WORKER_METRICS_HOST (default: SPACECAL_WORKER_METRICS_PORT; unset: none). "
        "The API process serves its own at /metrics.",
    )
    worker.set_defaults(func=cmd_worker)
