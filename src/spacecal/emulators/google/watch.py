"""events.watch, channels.stop, and the notifications sent on every change.

Rules chosen (providers.md, Google's push documentation):
- channel ids are unique across the emulator; reusing one answers 400
  `channelIdNotUnique`; `type` must be `web_hook` (or `webhook`); the address may be
  http (real Google demands https; the emulator runs beside local servers);
- `params.ttl` (seconds) sets the lifetime, default 604800 s, capped at the
  emulator's maximum (30 days by default); `expiration` is epoch milliseconds as a
  string; an expired channel gets nothing more;
- `resourceId` is stable per calendar; `resourceUri` is the events URL;
- a calendar marked push-unsupported answers 400 `pushNotSupportedForRequestedResource`;
- the `sync` notification (message number 1) is queued when the channel is created
  (or sent before the watch answers when `sync_before_watch_response` is set); each
  change then queues one `exists` per live channel of the calendar, with message
  numbers that increase by 2 to 5 (so they skip);
- stop of an unknown channel, or with a resourceId that does not match, answers 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from spacecal.emulators.common import format_http_date
from spacecal.emulators.google import errors
from spacecal.emulators.google.auth import Caller
from spacecal.emulators.google.context import GoogleContext
from spacecal.emulators.google.state import Calendar, Channel


def resource_uri(ctx: GoogleContext, cal: Calendar) -> str:
    return f"{ctx.api_base}/calendars/{cal.id}/events?alt=json"


def create_channel(
    ctx: GoogleContext, cal: Calendar, caller: Caller, body: dict[str, Any]
) -> Channel:
    channel_id = body.get("id")
    if not isinstance(channel_id, str) or not channel_id:
        raise errors.required("Required: channel id.")
    if len(channel_id) > 64:
        raise errors.invalid("Invalid channel id.")
    if channel_id in ctx.store.channels:
        raise errors.bad_request("channelIdNotUnique", f"Channel id {channel_id} not unique")
    if body.get("type") not in ("web_hook", "webhook"):
        raise errors.bad_request("invalid", "Invalid value for: type")
    address = body.get("address")
    if not isinstance(address, str) or not address.startswith(("http://", "https://")):
        raise errors.bad_request("invalid", "Invalid value for: address")
    token = body.get("token")
    if token is not None and (not isinstance(token, str) or len(token) > 256):
        raise errors.invalid("Invalid value for: token")
    if not cal.push_supported:
        raise errors.bad_request(
            "pushNotSupportedForRequestedResource",
            "Push notifications are not supported by this resource.",
        )
    ttl = ctx.settings.channel_default_ttl
    params = body.get("params") or {}
    if isinstance(params, dict) and params.get("ttl") is not None:
        try:
            ttl = timedelta(seconds=int(str(params["ttl"])))
        except ValueError as exc:
            raise errors.invalid("Invalid value for: params.ttl") from exc
    ttl = max(timedelta(seconds=1), min(ttl, ctx.settings.channel_max_ttl))
    now = ctx.core.clock.now()
    expiration = (now + ttl).replace(microsecond=(now + ttl).microsecond // 1000 * 1000)
    channel = Channel(
        id=channel_id,
        resource_id=cal.resource_id,
        calendar_id=cal.id,
        account=caller.email,
        address=address,
        token=token,
        expiration=expiration,
        client_id=caller.client_id,
    )
    ctx.store.channels[channel_id] = channel
    return channel


def channel_json(ctx: GoogleContext, cal: Calendar, channel: Channel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": resource_uri(ctx, cal),
        "expiration": str(int(channel.expiration.timestamp() * 1000)),
    }
    if channel.token is not None:
        out["token"] = channel.token
    return out


def stop_channel(ctx: GoogleContext, caller: Caller, body: dict[str, Any]) -> None:
    channel = ctx.store.channels.get(str(body.get("id", "")))
    if (
        channel is None
        or channel.stopped
        or channel.resource_id != body.get("resourceId")
        or channel.account != caller.email
    ):
        raise errors.GoogleApiError(
            404, "notFound", f"Channel '{body.get('id')}' not found for project '0'"
        )
    channel.stopped = True


def live(ctx: GoogleContext, channel: Channel, now: datetime) -> bool:
    return not channel.stopped and channel.expiration > now


def headers_for(ctx: GoogleContext, cal: Calendar, channel: Channel, state: str) -> dict[str, str]:
    headers = {
        "X-Goog-Channel-ID": channel.id,
        "X-Goog-Message-Number": str(channel.message_number),
        "X-Goog-Resource-ID": channel.resource_id,
        "X-Goog-Resource-State": state,
        "X-Goog-Resource-URI": resource_uri(ctx, cal),
        "X-Goog-Channel-Expiration": format_http_date(channel.expiration.astimezone(UTC)),
    }
    if channel.token is not None:
        headers["X-Goog-Channel-Token"] = channel.token
    return headers


def sync_headers(ctx: GoogleContext, cal: Calendar, channel: Channel) -> dict[str, str]:
    channel.message_number = 1
    return headers_for(ctx, cal, channel, "sync")


def notify_change(ctx: GoogleContext, cal: Calendar) -> None:
    """Queue one `exists` notification per live channel of the calendar."""
    now = ctx.core.clock.now()
    for channel in list(ctx.store.channels.values()):
        if channel.calendar_id != cal.id or not live(ctx, channel, now):
            continue
        channel.message_number += ctx.core.rng.randint(2, 5)
        ctx.core.push.enqueue(
            channel.address,
            headers_for(ctx, cal, channel, "exists"),
            b"",
            account=channel.account,
            channel=channel.id,
        )
