"""The calendarView delta round of `MicrosoftProvider.pull`.

Apart from the other calls because a delta link is state spacecal stores and follows
later: it is checked to read this calendar, on this Graph base, before it is used.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from spacecal.domain import CalendarEvent
from spacecal.providers.base import ProviderError, PullResult, SyncReset, SyncWindow
from spacecal.providers.microsoft.graph import GraphClient, graph_time
from spacecal.providers.microsoft.wire import to_event
from spacecal.providers.paths import calendar_segment


def _for_calendar(link: str, own: str) -> bool:
    """Whether a stored delta link reads the calendar whose delta URL starts `own`:
    compared segment by segment, percent-decoded (Graph may encode an id's `=`
    either way), with no dot segment the HTTP client would collapse."""
    got = [unquote(part) for part in urlsplit(link).path.split("/")]
    want = [unquote(part) for part in urlsplit(own).path.split("/")][:-1]
    return got[: len(want)] == want and not {".", ".."} & set(got)


class GraphDelta(GraphClient):
    """The pull half of `MicrosoftProvider`."""

    async def pull(
        self, access: str, calendar_id: str, cursor: str | None, window: SyncWindow
    ) -> PullResult:
        """A calendarView delta round: every page, instances only, times in UTC.
        Without a cursor the round starts over for `window`; with one, the deltaLink
        (which holds its own window) is followed. 410 / SyncStateNotFound /
        resyncRequired raise SyncReset."""
        headers = {
            "Prefer": f'odata.maxpagesize={self._page_size}, outlook.timezone="UTC"',
        }
        url: str | None
        params: dict[str, str] | None = None
        own = f"{self._graph}/me/calendars/{calendar_segment(calendar_id)}/calendarView/"
        if cursor:
            url = self._own_link(cursor)
            if url is None or not _for_calendar(url, own):
                # Made for another calendar (stored before CalendarId changed): following
                # it would read that calendar. Start over for this one.
                raise SyncReset("the stored delta link is for another calendar", status=0)
        else:
            url = own + "delta"
            params = {
                "startDateTime": graph_time(window.start),
                "endDateTime": graph_time(window.end),
            }
        found: dict[str, CalendarEvent] = {}
        etags: dict[str, str] = {}
        while url:
            body = await self._call("GET", url, access, params=params, headers=headers, sync=True)
            params = None
            for item in body.get("value") or []:
                event = to_event(item)
                if event is None:
                    continue
                found.pop(event.key, None)  # a repeat: keep the last
                found[event.key] = event
                etags.pop(event.key, None)
                if item.get("changeKey") and not event.cancelled:
                    etags[event.key] = str(item["changeKey"])
            url = self._own_link(body.get("@odata.nextLink"))
            if url is None:
                delta = self._own_link(body.get("@odata.deltaLink"))
                if delta is None:
                    raise ProviderError("Graph's last delta page carried no deltaLink", status=200)
                return PullResult(
                    events=list(found.values()), cursor=delta, full=not cursor, etags=etags
                )
        raise ProviderError("unreachable: delta loop ended without a page")
