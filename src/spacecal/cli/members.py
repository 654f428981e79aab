"""`spacecal members`: members' portal sign-in."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from spacecal.cli.common import CliError, Subparsers, read_password, run_with_db


def cmd_members_set_password(args: argparse.Namespace) -> int:
    from spacecal.portal.members import MemberNotFound, find_coworker, set_password

    password = read_password(args)

    async def work(db: Any, settings: Any) -> int:
        coworker_id = await find_coworker(db.engine, args.email)
        await set_password(db.engine, coworker_id, password, settings)
        return coworker_id

    try:
        coworker_id = run_with_db(args, work)
    except (MemberNotFound, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(f"Set the portal password of member {args.email} (coworker {coworker_id}).")
    return 0


def cmd_members_sign_in_link(args: argparse.Namespace) -> int:
    from spacecal.portal.members import MemberNotFound, find_coworker, issue_sign_in_link

    async def work(db: Any, settings: Any) -> tuple[str, datetime]:
        coworker_id = await find_coworker(db.engine, args.email)
        return await issue_sign_in_link(db.engine, settings, coworker_id)

    try:
        url, expires = run_with_db(args, work)
    except MemberNotFound as exc:
        raise CliError(str(exc)) from None
    print(url)
    print(f"(works once, until {expires:%Y-%m-%d %H:%M} UTC)", file=sys.stderr)
    return 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    members = sub.add_parser(
        "members", help="members' portal access", description="Portal sign-in for members."
    )
    members_sub = members.add_subparsers(dest="members_command", metavar="ACTION")
    set_pw = members_sub.add_parser(
        "set-password",
        parents=[data_dir],
        help="set a member's portal password",
        description="Set the members' portal password of the coworker with this email; "
        "every portal session of theirs ends (they sign in again).",
    )
    set_pw.add_argument("email", help="the coworker's email")
    pw = set_pw.add_mutually_exclusive_group(required=True)
    pw.add_argument("--password", help="the password (prefer --password-stdin)")
    pw.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    set_pw.set_defaults(func=cmd_members_set_password)
    link = members_sub.add_parser(
        "sign-in-link",
        parents=[data_dir],
        help="issue a one-time portal sign-in link",
        description="Print a one-time sign-in link for the coworker with this email "
        "(SPACECAL_PUBLIC_URL is its base; it expires after SPACECAL_PORTAL_SIGN_IN_LINK_MINUTES).",
    )
    link.add_argument("email", help="the coworker's email")
    link.set_defaults(func=cmd_members_sign_in_link)
