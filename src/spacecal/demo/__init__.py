"""`spacecal demo`: a newcomer's first minute with spacecal.

On a fresh temporary data directory with the embedded PostgreSQL it starts both
provider emulators, spacecal (API, portal, webhooks) and a job worker, seeds a
business with rooms and desks, connects a member's Google and Microsoft accounts
through the portal, then narrates live what happens when she books from her
calendars. It ends by printing how to look around (portal, admin console, API token, a ready
curl) and keeps running until Ctrl-C / SIGTERM, when it stops everything and
removes the data directory (unless --keep).

Why one process: a demo must start with one command and stop with one Ctrl-C,
leaving nothing behind; DATABASE_URL and SPACECAL_SECRET_KEYS are ignored so it can
never touch a real deployment's data.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import dataclass
from datetime import datetime

from spacecal.demo.stack import Stack, new_data_dir, start

__all__ = ["DemoOptions", "run"]


@dataclass(frozen=True)
class DemoOptions:
    port: int = 8000
    keep: bool = False
    exit_after_narration: bool = False


def say(line: str) -> None:
    """One narration line, stamped with the wall-clock time (HH:MM:SS.mmm)."""
    print(f"{datetime.now():%H:%M:%S.%f}"[:-3] + "  " + line, flush=True)


def _access(stack: Stack, space: object, link: str) -> str:
    from spacecal.demo.space import Space

    assert isinstance(space, Space)
    url = stack.spacecal_url
    record = f"{url}/api/spaces/coworkergooglecalendars/{space.google_connection}"
    return "\n".join(
        [
            "",
            "spacecal is running. Look around:",
            f"  Members' portal:  {url}/portal",
            f"    sign in as {space.member_email} with password {space.member_password}",
            f"    or open this one-time sign-in link: {link}",
            f"  Admin console:    {url}/admin",
            f"    sign in as {space.admin_email} with password {space.admin_password}",
            f"  API docs:         {url}/docs",
            f"  Admin API token:  {space.admin_token}",
            f"    (API user {space.admin_email}; it expires like any access token)",
            f"  Emulators:        Google {stack.google_url}/_control/info, "
            f"Microsoft {stack.microsoft_url}/_control/info",
            "  Try:",
            f"    curl -s -H 'Authorization: Bearer {space.admin_token}' {record}",
            "",
        ]
    )


async def _main(options: DemoOptions) -> int:
    from spacecal.demo.space import seed
    from spacecal.demo.story import Story
    from spacecal.portal.members import issue_sign_in_link

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    stack = Stack(data_dir=new_data_dir(), keep=options.keep)
    try:
        await start(stack, options.port, say)
        space = await seed(stack, say)
        say("Ready. Watch:")
        await Story(stack, space, say).tell()
        assert stack.settings is not None
        link, _ = await issue_sign_in_link(stack.database.engine, stack.settings, space.alice_id)
        print(_access(stack, space, link), flush=True)
        if not options.exit_after_narration:
            say("Press Ctrl-C to stop.")
            await stopping.wait()
    finally:
        await stack.stop(say)
    say("Stopped.")
    return 0


def run(options: DemoOptions) -> int:
    try:
        return asyncio.run(_main(options))
    except OSError as exc:
        if exc.errno == 98:  # EADDRINUSE
            print(
                f"spacecal demo: port {options.port} is taken; pick another with --port.",
                file=sys.stderr,
            )
            return 2
        raise
