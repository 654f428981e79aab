"""The application's routes, flattened through FastAPI's included routers."""

from __future__ import annotations

from typing import Any


def _leaves(routes: list[Any]) -> list[Any]:
    leaves = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's include_router
        leaves += _leaves(included.routes) if included is not None else [route]
    return leaves
