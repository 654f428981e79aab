"""Progress output (a bar on a terminal, plain lines otherwise) and `spacecal keys
reencrypt` showing it while it rotates real stored tokens."""

from __future__ import annotations

import asyncio
import io
import os
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from spacecal import clock
from spacecal.cli import main
from spacecal.cli.progress import Progress
from spacecal.config import Settings
from spacecal.crypto import TokenCipher
from spacecal.db.engine import open_database
from spacecal.db.models import Business, Coworker, ProviderAccount


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_bar_redrawn_in_place() -> None:
    screen = Terminal()
    with Progress("Resyncing", 4, stream=screen) as progress:
        for _ in range(4):
            progress.advance()
    drawn = screen.getvalue()
    frames = drawn.split("\r")[1:]
    assert len(frames) == 6  # the empty bar, one per step, the final one
    assert frames[0].startswith("Resyncing [" + "-" * 30 + "] 0/4")
    assert frames[2].startswith("Resyncing [" + "#" * 15 + "-" * 15 + "] 2/4  50%")
    assert frames[-1].startswith("Resyncing [" + "#" * 30 + "] 4/4 100%")
    assert drawn.endswith("\n") and drawn.count("\n") == 1


def test_a_pipe_gets_periodic_plain_lines() -> None:
    log = io.StringIO()
    with Progress("Resyncing", 3, stream=log, every_seconds=0) as progress:
        for _ in range(3):
            progress.advance()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("Resyncing: 1/3 (33%)")
    assert lines[-1].startswith("Resyncing: 3/3 (100%)")
    assert "\r" not in log.getvalue()
    quiet = io.StringIO()
    with Progress("Resyncing", 1000, stream=quiet, every_seconds=3600) as progress:
        for _ in range(1000):
            progress.advance()
    assert quiet.getvalue().count("\n") == 1  # only the final line


async def test_keys_reencrypt_rotates_with_progress(
    server_url: str,
    fresh_database_on: Callable[[str], str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = fresh_database_on(server_url)
    db = await open_database(Settings(database_url=url, secret_keys=old))
    now = clock.now()
    try:
        async with db.engine.begin() as conn:
            business = await conn.scalar(
                insert(Business)
                .values(
                    unique_id=uuid.uuid4(),
                    created_on=now,
                    updated_on=now,
                    name="Riverside",
                    time_zone="UTC",
                )
                .returning(Business.id)
            )
            for n in range(3):
                coworker = await conn.scalar(
                    insert(Coworker)
                    .values(
                        unique_id=uuid.uuid4(),
                        created_on=now,
                        updated_on=now,
                        business_id=business,
                        full_name=f"M{n}",
                        email=f"m{n}@x.test",
                    )
                    .returning(Coworker.id)
                )
                await conn.execute(
                    insert(ProviderAccount).values(
                        coworker_id=coworker,
                        provider="google",
                        refresh_token_enc=db.cipher.encrypt(f"refresh-{n}"),
                        access_token_enc=db.cipher.encrypt(f"access-{n}"),
                        access_token_expires_at=now + timedelta(hours=1),
                        created_at=now,
                        updated_at=now,
                    )
                )
    finally:
        await db.dispose()

    for name in [k for k in os.environ if k.startswith("SPACECAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SPACECAL_SECRET_KEYS", f"{new},{old}")
    monkeypatch.setenv("SPACECAL_DATA_DIR", str(tmp_path))
    code = await asyncio.to_thread(main, ["keys", "reencrypt"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Re-encrypted 6 stored provider secrets" in out
    assert "Re-encrypting stored tokens: 3/3 (100%)" in err

    only_new = TokenCipher([new])
    db = await open_database(Settings(database_url=url, secret_keys=new))  # old key dropped
    try:
        async with db.engine.connect() as conn:
            stored = list(await conn.scalars(select(ProviderAccount.refresh_token_enc)))
    finally:
        await db.dispose()
    assert sorted(only_new.decrypt(s) for s in stored) == ["refresh-0", "refresh-1", "refresh-2"]
