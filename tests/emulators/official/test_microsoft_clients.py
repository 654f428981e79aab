"""msal and msgraph-sdk against the Microsoft emulator, over real HTTPS (a loopback TLS
front with a throw-away CA): the token flows and everything spacecal relies on in
Graph, driven through the official libraries.

msal needs an https authority and `instance_discovery=False` (or it asks Microsoft's
discovery endpoint); it reads the OpenID configuration document, sends PKCE and a
nonce, and checks the nonce in the id_token. msgraph-sdk's request adapter has its
base_url at the emulator, and the auth provider's `allowed_hosts` names the
emulator's host (otherwise no token is sent). Its credential is msal's token cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import httpx2
import msal
import pytest
import requests
from azure.core.credentials import AccessToken
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.calendar import Calendar
from msgraph.generated.models.date_time_time_zone import DateTimeTimeZone
from msgraph.generated.models.event import Event
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendars.item.calendar_view.delta.delta_request_builder import (
    DeltaRequestBuilder,
)
from msgraph.graph_request_adapter import options as sdk_options
from msgraph_core import GraphClientFactory
from msgraph_core.requests.batch_request_content import BatchRequestContent
from msgraph_core.requests.batch_request_item import BatchRequestItem
from tests.emulators.microsoft.conftest import HOOK, LIFECYCLE, Peer
from tests.emulators.official.conftest import START, Served, Tls

from spacecal.emulators.common import EmulatorClock
from spacecal.emulators.microsoft import MicrosoftEmulator

# msal recommends response_mode=form_post; spacecal (and this flow) use the query.
pytestmark = pytest.mark.filterwarnings("ignore:response_mode:UserWarning")

CLIENT_ID = "spacecal-msal-test"
REDIRECT = "http://localhost/connect/microsoft/callback"
SCOPES = ["User.Read", "Calendars.ReadWrite"]
EMAIL = "member@outlook.test"


@pytest.fixture(scope="module")
def peer() -> Peer:
    return Peer()


@pytest.fixture(scope="module")
def served(peer: Peer, tls: Tls) -> Iterator[Served[MicrosoftEmulator]]:
    def start(url: str) -> MicrosoftEmulator:
        return MicrosoftEmulator(
            seed=5,
            base_url=url,
            push_client=httpx2.AsyncClient(transport=httpx2.ASGITransport(app=peer.app)),
            clock=EmulatorClock(START, frozen=True),
            notification_timeout=1.0,
            validation_timeout=1.0,
            retry_base=0.01,
            retry_cap=0.05,
        )

    server = Served(start, tls)
    yield server
    server.close()


@pytest.fixture(scope="module")
def session(tls: Tls) -> Iterator[requests.Session]:
    """msal's HTTP client, trusting only the throw-away CA (`trust_env` off, or a
    REQUESTS_CA_BUNDLE in the environment would override `verify`)."""
    http = requests.Session()
    http.trust_env = False
    http.verify = str(tls.ca_path)
    yield http
    http.close()


@pytest.fixture(scope="module")
def app(
    served: Served[MicrosoftEmulator], session: requests.Session
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential="emulator-ignores-the-secret",
        authority=f"{served.url}/common",
        instance_discovery=False,
        http_client=session,
    )


def _consent(
    served: Served[MicrosoftEmulator], session: requests.Session, auth_uri: str
) -> dict[str, str]:
    """The member accepts on the emulator's authorize page; the redirect's query."""
    assert auth_uri.startswith(f"{served.url}/common/oauth2/v2.0/authorize?")
    params = {k: v[0] for k, v in parse_qs(urlsplit(auth_uri).query).items()}
    assert params["code_challenge_method"] == "S256" and params["nonce"]
    page = session.get(auth_uri, timeout=10)
    assert page.status_code == 200 and "Calendars.ReadWrite" in page.text
    answer = session.post(
        auth_uri.split("?")[0],
        data={**params, "login": EMAIL, "decision": "accept"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


@pytest.fixture(scope="module")
def tokens(
    served: Served[MicrosoftEmulator],
    session: requests.Session,
    app: msal.ConfidentialClientApplication,
) -> dict[str, Any]:
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    result = app.acquire_token_by_auth_code_flow(flow, _consent(served, session, flow["auth_uri"]))
    assert "access_token" in result, result
    return dict(result)


def test_msal_code_flow_with_pkce_and_nonce(tokens: dict[str, Any]) -> None:
    claims = tokens["id_token_claims"]
    assert claims["preferred_username"] == EMAIL and claims["nonce"]
    assert tokens["refresh_token"] and tokens["token_type"] == "Bearer"


def test_msal_refresh_token_grant(
    app: msal.ConfidentialClientApplication, tokens: dict[str, Any]
) -> None:
    again = app.acquire_token_by_refresh_token(tokens["refresh_token"], SCOPES)
    assert "access_token" in again, again
    assert again["access_token"] != tokens["access_token"]
    dead = app.acquire_token_by_refresh_token("not-a-refresh-token", SCOPES)
    assert dead.get("error") == "invalid_grant"


#: 2100-01-01 UTC as epoch seconds.
FAR_EXPIRY = 4_102_444_800


class MsalCredential:
    """azure-core's TokenCredential protocol over a refresh token held by msal."""

    def __init__(self, app: msal.ConfidentialClientApplication, refresh_token: str) -> None:
        self.app = app
        self.refresh_token = refresh_token
        self.token: AccessToken | None = None

    def get_token(self, *scopes: str, **_: Any) -> AccessToken:
        """One access token from a refresh, kept for the test's short life: the
        emulator's clock, not the machine's, decides when it expires."""
        if self.token is None:
            result = self.app.acquire_token_by_refresh_token(self.refresh_token, SCOPES)
            self.refresh_token = result.get("refresh_token", self.refresh_token)
            # azure-core wants an epoch expiry; a far fixed one keeps its cache from
            # ever asking again, so no test reads the machine's clock for it.
            self.token = AccessToken(result["access_token"], FAR_EXPIRY)
        return self.token


@pytest.fixture
async def graph(
    served: Served[MicrosoftEmulator],
    tls: Tls,
    app: msal.ConfidentialClientApplication,
    tokens: dict[str, Any],
) -> Any:
    credential = MsalCredential(app, tokens["refresh_token"])
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=SCOPES, allowed_hosts=[urlsplit(served.url).hostname or ""]
    )
    # The SDK's own middleware options (its "/users/me-token-to-replace" -> "/me"
    # rewrite among them), on a client that trusts the throw-away CA.
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=tls.client_context(), timeout=30), options=sdk_options
    )
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = f"{served.url}/v1.0"
    yield GraphServiceClient(request_adapter=adapter)
    await http.aclose()


def _when(days: int, hour: int = 10) -> DateTimeTimeZone:
    moment = (START + timedelta(days=days)).replace(hour=hour)
    return DateTimeTimeZone(date_time=moment.strftime("%Y-%m-%dT%H:%M:%S"), time_zone="UTC")


async def test_graph_calendars_and_events_with_transaction_id(graph: Any) -> None:
    made = await graph.me.calendars.post(Calendar(name="Room A"))
    assert made is not None and made.id
    got = await graph.me.calendars.by_calendar_id(made.id).get()
    assert got.name == "Room A"
    with pytest.raises(ODataError) as twice:
        await graph.me.calendars.post(Calendar(name="Room A"))
    assert twice.value.response_status_code == 409
    events = graph.me.calendars.by_calendar_id(made.id).events
    body = Event(subject="Booking", start=_when(1), end=_when(1, 11), transaction_id="tx-1")
    first = await events.post(body)
    repeat = await events.post(body)
    assert first.id == repeat.id
    listed = await events.get()
    assert [e.id for e in listed.value] == [first.id]


async def test_calendar_view_delta_with_paging_and_removed(
    served: Served[MicrosoftEmulator], graph: Any
) -> None:
    cal = (await graph.me.calendars.post(Calendar(name="Room B"))).id
    events = graph.me.calendars.by_calendar_id(cal).events
    ids = [
        (await events.post(Event(subject=f"b{i}", start=_when(i + 1), end=_when(i + 1, 11)))).id
        for i in range(5)
    ]
    view = graph.me.calendars.by_calendar_id(cal).calendar_view.delta
    config = RequestConfiguration(
        query_parameters=DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
            start_date_time=START.strftime("%Y-%m-%dT%H:%M:%SZ"),
            end_date_time=(START + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
    )
    config.headers.add("Prefer", "odata.maxpagesize=2")

    async def round_(page: Any) -> tuple[list[Any], str, int]:
        seen, pages = list(page.value), 1
        while page.odata_next_link:
            page = await view.with_url(page.odata_next_link).get(config_headers_only)
            seen.extend(page.value)
            pages += 1
        return seen, page.odata_delta_link, pages

    config_headers_only = RequestConfiguration()
    config_headers_only.headers.add("Prefer", "odata.maxpagesize=2")
    items, link, pages = await round_(await view.get(config))
    assert pages == 3 and sorted(e.id for e in items) == sorted(ids)
    assert "/calendarView/delta()?" in link  # the name the SDK wrote
    await graph.me.events.by_event_id(ids[0]).patch(Event(subject="renamed"))
    await graph.me.events.by_event_id(ids[1]).delete()
    changed, link, _ = await round_(await view.with_url(link).get(config_headers_only))
    by_id = {e.id: e for e in changed}
    assert by_id[ids[0]].subject == "renamed"
    assert by_id[ids[1]].additional_data.get("@removed") == {"reason": "deleted"}
    # A lost sync state: 410 SyncStateNotFound, which the SDK raises as ODataError.
    await served.acall(served.emu.reset_delta, EMAIL)
    with pytest.raises(ODataError) as expired:
        await view.with_url(link).get(config_headers_only)
    assert expired.value.response_status_code == 410
    assert expired.value.error.code == "SyncStateNotFound"


async def test_subscriptions_validation_renewal_reauthorize_and_lifecycle(
    served: Served[MicrosoftEmulator], peer: Peer, graph: Any
) -> None:
    cal = (await graph.me.calendars.post(Calendar(name="Room C"))).id
    request = Subscription(
        change_type="created,updated,deleted",
        notification_url=HOOK,
        lifecycle_notification_url=LIFECYCLE,
        resource=f"me/calendars/{cal}/events",
        # The SDK writes Python's isoformat: 6 fractional digits and +00:00.
        expiration_date_time=START + timedelta(hours=2, microseconds=783086),
        client_state="secret-1",
    )
    sub = await graph.subscriptions.post(request)
    assert sub.id and sub.client_state == "secret-1"
    assert {"/hooks/ms", "/hooks/ms-lifecycle"} <= set(peer.validations)
    renewed = await graph.subscriptions.by_subscription_id(sub.id).patch(
        Subscription(expiration_date_time=START + timedelta(days=2, microseconds=5))
    )
    assert renewed.expiration_date_time > sub.expiration_date_time
    # 204 No Content: the SDK answers None.
    assert await graph.subscriptions.by_subscription_id(sub.id).reauthorize.post() is None
    made = await graph.me.calendars.by_calendar_id(cal).events.post(
        Event(subject="seen", start=_when(2), end=_when(2, 11))
    )
    await served.acall(served.emu.trigger_lifecycle, sub.id, "reauthorizationRequired")
    await served.acall(served.emu.drain)
    changes = [i for i in peer.items() if i["subscriptionId"] == sub.id]
    assert {i["resourceData"]["id"] for i in changes} == {made.id}
    assert all(i["clientState"] == "secret-1" for i in changes)
    lifecycle = [i for i in peer.items("/hooks/ms-lifecycle") if i["subscriptionId"] == sub.id]
    assert [i["lifecycleEvent"] for i in lifecycle] == ["reauthorizationRequired"]
    await graph.subscriptions.by_subscription_id(sub.id).delete()
    with pytest.raises(ODataError) as gone:
        await graph.subscriptions.by_subscription_id(sub.id).get()
    assert gone.value.response_status_code == 404


async def test_json_batch_with_per_item_throttling(
    graph: Any, served: Served[MicrosoftEmulator]
) -> None:
    made = await graph.me.calendars.post(Calendar(name="Batch room"))
    events = graph.me.calendars.by_calendar_id(made.id).events

    async def batch_of(indexes: list[int]) -> dict[int, int]:
        content = BatchRequestContent()
        index_of: dict[str, int] = {}
        for n in indexes:
            body = Event(subject=f"Block {n}", start=_when(n + 1), end=_when(n + 1, 11))
            item = BatchRequestItem(request_information=events.to_post_request_information(body))
            content.add_request(item.id, item)
            index_of[item.id] = n
        answer = await graph.batch.post(batch_request_content=content)
        return {index_of[k]: v for k, v in answer.get_response_status_codes().items()}

    # More than 20 requests is the SDK's own refusal (and the emulator's 400).
    with pytest.raises((RuntimeError, ValueError)):
        content = BatchRequestContent()
        for n in range(21):
            content.add_request(
                f"x{n}", BatchRequestItem(request_information=events.to_get_request_information())
            )

    # The mailbox's 4 concurrent requests hold inside a batch: the items past them
    # answer 429 each and are retried alone.
    served.call(served.emu.set_concurrency_limit, 4, hold_seconds=0.2, retry_after=1)
    try:
        statuses = await batch_of(list(range(6)))
    finally:
        served.call(served.emu.set_concurrency_limit, None)
    assert sorted(statuses.values()) == [201, 201, 201, 201, 429, 429], statuses
    throttled = [n for n, status in statuses.items() if status == 429]
    assert set((await batch_of(throttled)).values()) == {201}
    listed = await events.get()
    assert sorted(e.subject for e in listed.value) == [f"Block {n}" for n in range(6)]
