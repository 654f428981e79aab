"""Health, readiness and the published OpenAPI document."""

from __future__ import annotations

import httpx2


async def test_healthz_and_readyz(client: httpx2.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ok"
    assert ready.json()["database"] == "reachable"
    assert ready.json()["migrations"]


async def test_openapi_names_the_nexudus_fields(client: httpx2.AsyncClient) -> None:
    answer = await client.get("/openapi.json")
    assert answer.status_code == 200
    schemas = answer.json()["components"]["schemas"]
    google = schemas["CoworkerGoogleCalendar"]["properties"]
    assert {
        "ResourceId",
        "CoworkerId",
        "CoworkerFullName",
        "Name",
        "SubscriptionId",
        "CalendarId",
        "SubscriptionExpireDate",
        "WatchResourceId",
        "EventSyncToken",
        "Id",
        "UniqueId",
        "IsNew",
    } <= set(google)
    microsoft = schemas["CoworkerMsOfficeCalendar"]["properties"]
    assert "SubscriptionExpireDate" in microsoft
    assert "WatchResourceId" not in microsoft
    for name in ("Business", "Resource", "Coworker", "Booking"):
        assert name in schemas
    for schema in schemas.values():  # internal columns are never published
        assert not {"delta_link", "provider", "provider_account_id"} & set(
            schema.get("properties", {})
        )
    paths = answer.json()["paths"]
    assert "/api/spaces/coworkergooglecalendars" in paths
    assert "/api/spaces/coworkermsofficecalendars/{id}" in paths
    assert "/api/token" in paths


async def test_docs_page(client: httpx2.AsyncClient) -> None:
    answer = await client.get("/docs")
    assert answer.status_code == 200
    assert "openapi.json" in answer.text
