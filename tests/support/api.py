"""Helpers for API tests."""

from __future__ import annotations

from typing import Any

import httpx2


async def create(
    client: httpx2.AsyncClient, headers: dict[str, str], path: str, body: dict[str, Any]
) -> int:
    answer = await client.post(f"/api/spaces/{path}", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["WasSuccessful"] is True
    return int(answer.json()["Value"]["Id"])
