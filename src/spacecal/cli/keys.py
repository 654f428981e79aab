"""`spacecal keys`: encryption key care."""

from __future__ import annotations

import argparse
from typing import Any

from spacecal.cli.common import Subparsers, run_with_db


def cmd_keys_reencrypt(args: argparse.Namespace) -> int:
    from sqlalchemy import func, select

    from spacecal.cli.progress import Progress
    from spacecal.db.models import OAuthState, ProviderAccount
    from spacecal.db.rekey import reencrypt_tokens

    async def work(db: Any, settings: Any) -> int:
        async with db.engine.connect() as conn:
            accounts = await conn.scalar(select(func.count()).select_from(ProviderAccount))
            states = await conn.scalar(select(func.count()).select_from(OAuthState))
        total = int(accounts or 0) + int(states or 0)
        with Progress("Re-encrypting stored tokens", total) as progress:
            return await reencrypt_tokens(db.engine, db.cipher, progress=progress.advance)

    count = run_with_db(args, work)
    print(
        f"Re-encrypted {count} stored provider secrets under the first key of "
        "SPACECAL_SECRET_KEYS; the other keys can now be removed."
    )
    return 0


def register(sub: Subparsers, data_dir: argparse.ArgumentParser) -> None:
    keys = sub.add_parser("keys", help="encryption keys", description="Encryption key care.")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    reenc = keys_sub.add_parser(
        "reencrypt",
        parents=[data_dir],
        help="re-encrypt stored provider tokens under the newest key",
        description="Key rotation: set SPACECAL_SECRET_KEYS=new,old, run this, then drop old. "
        "Everything is rewritten in one transaction (all or nothing); progress goes to "
        "stderr (a bar on a terminal, a line every few seconds otherwise).",
    )
    reenc.set_defaults(func=cmd_keys_reencrypt)
