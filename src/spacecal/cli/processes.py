"""`spacecal serve`, `spacecal worker` and `spacecal mail`: the long-running processes."""

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
    if args.smtp:
        _check_mail_settings(settings)
        with_worker += f", receiving mail on {settings.smtp_listen}"
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
                smtp=args.smtp,
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


def _check_mail_settings(settings: object) -> None:
    from spacecal.config import Settings
    from spacecal.mail.receiver import listen_address, tls_context

    assert isinstance(settings, Settings)
    if not settings.mail_domain or not settings.smtp_listen:
        raise SystemExit(
            "receiving mail needs SPACECAL_MAIL_DOMAIN (the invitation addresses' domain) "
            "and SPACECAL_SMTP_LISTEN (host:port, e.g. 0.0.0.0:25); see docs/invitations.md"
        )
    try:
        listen_address(settings)
        tls_context(settings)
    except (ValueError, OSError) as exc:
        raise SystemExit(str(exc)) from exc


def cmd_mail(args: argparse.Namespace) -> int:
    from spacecal import runner
    from spacecal.config import Settings

    settings = settings_for(args)
    assert isinstance(settings, Settings)
    configure_logging(settings, settings.log_level)
    _check_mail_settings(settings)
    tls = ", STARTTLS" if settings.smtp_tls_cert else ""
    print(
        f"spacecal {__version__}: receiving mail for {settings.mail_domain} on "
        f"{settings.smtp_listen}{tls}",
        flush=True,
    )
    try:
        asyncio.run(runner.receive_mail(settings))
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
    serve.add_argument(
        "--smtp",
        action="store_true",
        help="also receive invitation mail on SPACECAL_SMTP_LISTEN (single-process installs; "
        "run it in one process only, or use `spacecal mail`)",
    )
    serve.set_defaults(func=cmd_serve)

    mail = sub.add_parser(
        "mail",
        parents=[data_dir],
        help="receive invitation mail (SMTP)",
        description="Run the SMTP receiver for invitations on SPACECAL_SMTP_LISTEN: accepts "
        "mail only for SPACECAL_MAIL_DOMAIN's invitation addresses, stores each message and "
        "queues its processing for the workers (docs/invitations.md).",
    )
    mail.set_defaults(func=cmd_mail)

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
