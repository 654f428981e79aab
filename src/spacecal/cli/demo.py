"""`spacecal demo` and `spacecal emulate`: trying spacecal without real accounts."""

from __future__ import annotations

import argparse

from spacecal.cli.common import CliError, Subparsers

DEMO_HELP = """\
Start a complete, throwaway spacecal on this machine and watch it work.

In one process, on loopback only:
  - the embedded PostgreSQL in a fresh temporary data directory (always: DATABASE_URL
    and SPACECAL_SECRET_KEYS are ignored, so a demo never touches real data);
  - the Google Calendar and Microsoft Graph emulators (with their OAuth consent pages),
    each on a free port;
  - spacecal's API, members' portal and webhooks on --port, with a job worker, and
    every provider setting pointing at the emulators.

It then creates the business "Riverside" (Europe/London) with two rooms and two desks,
an admin API user, and the member Alice, whose Google and Microsoft accounts are
connected through the portal's real OAuth flow (the emulators' consent forms), each
with a calendar for "Meeting Room A".

Then it narrates, with timestamps and measured delays: an event Alice creates in her
Google calendar becomes a booking, the same through Microsoft, a conflicting event is
refused and marked with the reason, and a booking made through the API appears in
both calendars.

Finally it prints the portal URL with Alice's password and a one-time sign-in link,
the admin console URL, an admin API token and a ready curl for
GET /api/spaces/coworkergooglecalendars/{id}, and keeps running until Ctrl-C (or
SIGTERM). Stopping ends the worker, the servers and the embedded database, and removes
the data directory unless --keep.
"""


def cmd_demo(args: argparse.Namespace) -> int:
    from spacecal.demo import DemoOptions, run

    return run(
        DemoOptions(port=args.port, keep=args.keep, exit_after_narration=args.exit_after_narration)
    )


def cmd_emulate(args: argparse.Namespace) -> int:
    try:
        from spacecal.emulators.server import serve
    except ImportError as exc:  # pragma: no cover - present in every build
        raise CliError(f"the emulators are not available: {exc}") from None
    serve(
        args.provider, args.host, args.port, seed=args.seed, clock_offset_seconds=args.clock_offset
    )
    return 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    demo = sub.add_parser(
        "demo",
        help="try spacecal: emulated Google and Microsoft, a seeded space, live narration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=DEMO_HELP,
    )
    demo.add_argument(
        "--port", type=int, default=8000, help="spacecal's port (default 8000; 0 picks a free one)"
    )
    demo.add_argument(
        "--keep",
        action="store_true",
        help="keep the temporary data directory after stopping (its path is printed)",
    )
    demo.add_argument(
        "--exit-after-narration",
        action="store_true",
        help="stop right after printing the narration and the sign-in details (for tests)",
    )
    demo.set_defaults(func=cmd_demo)

    emulate = sub.add_parser(
        "emulate",
        help="run a provider emulator",
        description="Run the Google or Microsoft emulator as a server. Prints one name=url "
        "line per base URL a client needs, then serves until stopped.",
    )
    emulate.add_argument("provider", choices=["google", "microsoft"])
    emulate.add_argument("--host", default="127.0.0.1")
    emulate.add_argument("--port", type=int, default=8100)
    emulate.add_argument("--seed", type=int, default=0, help="random seed (reproducible runs)")
    emulate.add_argument(
        "--clock-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="run the emulator's clock this many seconds from the machine's (tests pass "
        "the same offset as spacecal's SPACECAL_CLOCK_OFFSET_SECONDS)",
    )
    emulate.set_defaults(func=cmd_emulate)
