"""Delta query over a calendar view: pages, delta tokens, ``@removed`` and resets.

How the emulator computes a round (the rules a client may rely on, no more):

* A delta token remembers, server side, the window, the calendar and a snapshot
  ``{instance id: changeKey}`` of everything the client was shown. The next round
  diffs the current calendar view against that snapshot: new or changed instances are
  returned whole; instances gone from the view (deleted, cancelled occurrence, moved
  out of the window) come back as ``{"id", "@removed": {"reason": "deleted"}}``.
* Like the real service, a single event created/changed/deleted OUTSIDE the window
  since the previous round is also reported as ``@removed`` even though the client
  never saw it (``report_outside_window``, on by default): clients must ignore removals
  of ids they do not know.
* The snapshot of the deltaLink is taken when the round starts; a change made while
  the client pages is reported again next round. The same deltaLink may be used again
  (it answers the changes since ITS snapshot); a nextLink may be fetched again too
  (same page).
* Order within a round is shuffled from the seeded RNG (``shuffle``, on by default);
  ``replay_rate`` (default 0) re-sends unchanged instances. Series masters never
  appear: recurring events arrive as occurrences and exceptions.
* Reset: after ``reset(user, mode)`` (or a ``sync_token_expired`` fault) every older
  token answers 410 with ``error.code`` ``SyncStateNotFound`` or ``resyncRequired``.
  A token the emulator never issued answers 400 ``ErrorInvalidUrlQuery``.
* Page size: ``Prefer: odata.maxpagesize`` (capped at 1000; default 10), echoed in
  ``Preference-Applied``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .errors import GraphError
from .ids import IdFactory
from .mailbox import Mailbox
from .model import Instance
from .render import event_json

DEFAULT_PAGE = 10
MAX_PAGE = 1000


@dataclass
class DeltaState:
    user_id: str
    calendar_id: str
    start: datetime
    end: datetime
    snapshot: dict[str, str]
    seq: int
    generation: int


@dataclass
class PageState:
    state: DeltaState  # the state the round ends in (its snapshot is for the deltaLink)
    entries: list[Instance | str]  # an instance to send, or the id of a removed item
    offset: int = 0


class DeltaEngine:
    def __init__(self, ids: IdFactory, rng_random: Any) -> None:
        self._ids = ids
        self._rng = rng_random
        self._deltas: dict[str, DeltaState] = {}
        self._skips: dict[str, PageState] = {}
        self._generation: dict[str, int] = {}
        self._reset_mode: dict[tuple[str, int], str] = {}
        self.shuffle = True
        self.replay_rate = 0.0
        self.report_outside_window = True

    # -- resets ----------------------------------------------------------------------------
    def reset(self, user_id: str, mode: str = "SyncStateNotFound") -> None:
        """Invalidate every delta and skip token the mailbox holds (410 on next use)."""
        if mode not in ("SyncStateNotFound", "resyncRequired"):
            raise ValueError("mode must be SyncStateNotFound or resyncRequired")
        gen = self._generation.get(user_id, 0)
        self._reset_mode[(user_id, gen)] = mode
        self._generation[user_id] = gen + 1

    def _check(self, state: DeltaState) -> None:
        current = self._generation.get(state.user_id, 0)
        if state.generation >= current:
            return
        mode = self._reset_mode.get((state.user_id, state.generation), "SyncStateNotFound")
        if mode == "resyncRequired":
            raise GraphError(
                410,
                "resyncRequired",
                "Resync required. Replace any local cached data with data from the server "
                "and restart the synchronization from the beginning.",
            )
        raise GraphError(
            410,
            "SyncStateNotFound",
            f"The sync state generation is not found; generation={state.generation};"
            f"[highest={current}].",
        )

    # -- rounds ------------------------------------------------------------------------
    def begin(
        self, mailbox: Mailbox, calendar_id: str, start: datetime, end: datetime
    ) -> PageState:
        """A first (full) round for a new window."""
        base = DeltaState(
            mailbox.user_id,
            calendar_id,
            start,
            end,
            {},
            0,
            self._generation.get(mailbox.user_id, 0),
        )
        return self._round(mailbox, base)

    def resume(self, mailbox: Mailbox, token: str) -> PageState:
        state = self._deltas.get(token)
        if state is None or state.user_id != mailbox.user_id:
            raise GraphError(400, "ErrorInvalidUrlQuery", "The delta token is invalid.")
        self._check(state)
        return self._round(mailbox, state)

    def expire(self, token: str, mode: str) -> None:
        """Kill one delta token (the ``sync_token_expired`` fault)."""
        state = self._deltas.get(token)
        if state is not None:
            self.reset(state.user_id, mode)

    def page_state(self, mailbox: Mailbox, token: str) -> PageState:
        page = self._skips.get(token)
        if page is None or page.state.user_id != mailbox.user_id:
            raise GraphError(400, "ErrorInvalidUrlQuery", "The skip token is invalid.")
        self._check(page.state)
        return page

    def _round(self, mailbox: Mailbox, prev: DeltaState) -> PageState:
        view = mailbox.calendar_view(prev.calendar_id, prev.start, prev.end)
        current = {inst.id: inst for inst in view}
        entries: list[Instance | str] = []
        for inst_id, inst in current.items():
            known = prev.snapshot.get(inst_id)
            if known != inst.change_key or (
                self.replay_rate > 0 and self._rng.random() < self.replay_rate
            ):
                entries.append(inst)
        removed = [i for i in prev.snapshot if i not in current]
        if self.report_outside_window and prev.snapshot:
            seen = set(prev.snapshot) | set(current)
            for event in mailbox.events.values():
                if (
                    event.calendar_id == prev.calendar_id
                    and event.seq > prev.seq
                    and event.recurrence is None
                    and event.id not in seen
                ):
                    removed.append(event.id)
            for event_id, (seq, cal_id) in mailbox.deleted.items():
                if cal_id == prev.calendar_id and seq > prev.seq and event_id not in seen:
                    removed.append(event_id)
        entries.extend(dict.fromkeys(removed))
        if self.shuffle:
            self._rng.shuffle(entries)
        state = DeltaState(
            prev.user_id,
            prev.calendar_id,
            prev.start,
            prev.end,
            {i: inst.change_key for i, inst in current.items()},
            mailbox.seq,
            self._generation.get(mailbox.user_id, 0),
        )
        return PageState(state, entries)

    def serve_page(
        self, page: PageState, size: int | None, zone: str, link_base: str
    ) -> dict[str, Any]:
        """Render the next page of a round; registers the next skip or delta token."""
        size = min(size or DEFAULT_PAGE, MAX_PAGE)
        chunk = page.entries[page.offset : page.offset + size]
        value: list[dict[str, Any]] = []
        for entry in chunk:
            if isinstance(entry, str):
                value.append(
                    {
                        "@odata.type": "#microsoft.graph.event",
                        "id": entry,
                        "@removed": {"reason": "deleted"},
                    }
                )
            else:
                value.append(event_json(entry, zone))
        body: dict[str, Any] = {"value": value}
        next_offset = page.offset + len(chunk)
        if next_offset < len(page.entries):
            token = self._ids.token("", 96)
            self._skips[token] = PageState(page.state, page.entries, next_offset)
            body["@odata.nextLink"] = f"{link_base}?$skiptoken={token}"
        else:
            token = self._ids.token("", 96)
            self._deltas[token] = page.state
            body["@odata.deltaLink"] = f"{link_base}?$deltatoken={token}"
        return body

    def token_of(self, token: str) -> DeltaState | None:
        return self._deltas.get(token)
