"""Replay protection (issue 17 item 15): each delivery carries `X-Spacecal-Signature:
t=…,v1=…` over the timestamp and the body. A receiver that checks it the way
docs/webhooks.md says (the snippet there is run here, as written) accepts the fresh
delivery and refuses the same request replayed later, a body changed in transit, or
a timestamp moved forward; `X-Nexudus-Hook-Signature` alone would accept the replay."""

from __future__ import annotations

import re
import textwrap
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2

from hooks.conftest import Receiver, RunWorker, create
from hooks.test_delivery import _book, _space
from spacecal import clock
from spacecal.outbound.signing import SIGNATURE_HEADER, TIMESTAMPED_HEADER, verify

DOC = Path(__file__).parents[2] / "docs" / "webhooks.md"
SECRET = "replay-secret-7c1d"


def _documented_check(now: float) -> Any:
    """docs/webhooks.md's receiver snippet, with its clock reading `now`."""
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"runs this snippet -->\s*```python\n(.*?)```", text, re.S)
    assert found, "the receiver snippet is missing from docs/webhooks.md"
    namespace: dict[str, Any] = {}
    exec(textwrap.dedent(found.group(1)), namespace)
    namespace["time"] = SimpleNamespace(time=lambda: now)
    return namespace["fresh_and_signed"]


async def test_a_replayed_delivery_is_refused_by_the_documented_check(
    client: httpx2.AsyncClient, admin: dict[str, str], receiver: Receiver, work: RunWorker
) -> None:
    await create(
        client,
        admin,
        "/api/sys/webhooks",
        {
            "Name": "stamped",
            "Action": "BookingCreate",
            "URL": receiver.url("stamped"),
            "Secret": SECRET,
        },
    )
    await _book(client, admin, await _space(client, admin))
    await work()
    [call] = receiver.to("stamped")
    header = call.headers[TIMESTAMPED_HEADER.lower()]
    stamp = int(re.fullmatch(r"t=(\d+),v1=[0-9a-f]{64}", header).group(1))  # type: ignore[union-attr]
    sent = clock.now().timestamp()
    assert sent - 60 <= stamp <= sent  # stamped on spacecal's clock, when sent

    fresh_and_signed = _documented_check(now=stamp + 2)
    assert fresh_and_signed(call.body, header, SECRET)
    assert not fresh_and_signed(call.body + b" ", header, SECRET)  # body changed
    assert not fresh_and_signed(call.body, header, "another secret")
    moved = header.replace(f"t={stamp}", f"t={stamp + 600}")
    assert not _documented_check(now=stamp + 600)(call.body, moved, SECRET)  # t forged

    # The same request, replayed ten minutes later: the Nexudus signature still
    # verifies (it cannot tell), the timestamped one does not.
    later = stamp + timedelta(minutes=10).total_seconds()
    assert verify(call.body, SECRET, call.headers[SIGNATURE_HEADER.lower()])
    assert not _documented_check(now=later)(call.body, header, SECRET)
