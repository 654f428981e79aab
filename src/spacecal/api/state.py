"""What the API's handlers share: settings, the database and the authenticator."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from spacecal.api.auth import Authenticator, Principal
from spacecal.config import Settings
from spacecal.db.engine import Database


@dataclass
class AppState:
    settings: Settings
    db: Database
    auth: Authenticator


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def principal_for(request: Request) -> Principal:
    state: AppState = request.app.state.spacecal
    return await state.auth.authenticate(
        request.headers.get("authorization"), client_address(request)
    )
