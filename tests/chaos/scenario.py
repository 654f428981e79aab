"""One seeded chaos scenario: members act in their calendars, bookings are made
through spacecal's API, and the emulators misbehave, in an order drawn from the seed.

Phases:
1. Connect: 3 or 4 connections (Alice on Google and Microsoft, Bob on one or both),
   plus Carol on CalDAV (Radicale, behind the fault proxy) in even seeds, all for the
   meeting room, before any fault (connecting is the portal's job, not under test
   here).
2. Chaos: notifications dropped (5%), duplicated (10%) and delayed so later ones
   overtake them (10%) for the whole phase; `steps` actions drawn from the seed:
   member creates, moves, deletes (any event they see, spacecal's included),
   daily series and their instances; API bookings made, moved, cancelled; syncs
   (some with a member edit landing mid-sync); clock jumps; 429/403/5xx bursts and
   lost answers to writes that took effect (a gateway timing out);
   sync-token expiry; lost channels / removed subscriptions; a revoked consent.
   CalDAV (even seeds): Carol's app PUTs and DELETEs straight to Radicale (events,
   daily series, instance overrides and EXDATEs); the proxy answers 5xx or 429, loses
   the answer to a write Radicale applied, holds a request until it times out,
   refuses a sync token (full resync), or answers 401 (Carol changed her app
   password: the revocation). No push: her calendar is read by the sweep's polls.
3. Recovery: every fault off, a revoked member maybe connects again, the clocks jump
   past every backoff and the sweep span, and the periodic work runs until quiet.

The scenario records what it did (`log`), so a failing seed shows its story.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.chaos.harness import BACKOFF_SPAN, LONGEST_WAIT, ChaosEnv
from tests.support.member import Member

from spacecal import clock

LONDON = ZoneInfo("Europe/London")


@dataclass
class Calendar:
    who: str
    provider: str
    member: Member
    revoked: bool = False


@dataclass
class Tally:
    """What the scenario did, for the write bound and the report."""

    changes: int = 0  # member edits and API booking changes that took effect
    resets: int = 0  # sync-token expiries, lost channels, removed subscriptions
    skipped: int = 0  # actions the provider or API refused (event gone, slot taken)
    faults: dict[str, int] = field(default_factory=dict)

    def fault(self, name: str) -> None:
        self.faults[name] = self.faults.get(name, 0) + 1


class Scenario:
    def __init__(self, env: ChaosEnv, seed: int, steps: int) -> None:
        self.env = env
        self.seed = seed
        self.steps = steps
        self.rng = random.Random(seed)
        self.calendars: list[Calendar] = []
        self.series: list[tuple[Calendar, str, datetime, timedelta, int]] = []
        self.bookings: list[int] = []
        self.tally = Tally()
        self.log: list[str] = []
        self.revocations = 0
        self.writes_at_start = 0

    def note(self, line: str) -> None:
        self.log.append(line)

    # -- phase 1 -----------------------------------------------------------------

    async def connect(self) -> None:
        bob = self.rng.choice([["google"], ["microsoft"], ["google", "microsoft"]])
        plan = [("alice", "google"), ("alice", "microsoft"), *(("bob", p) for p in bob)]
        if self.env.caldav is not None:
            plan.append(("carol", "caldav"))
        for who, provider in plan:
            member = await self.env.connect_member(provider, who)
            self.calendars.append(Calendar(who, provider, member))
            self.note(f"connect {who} {provider}")
        await self.env.settle()
        for emulator in (self.env.env.google, self.env.env.microsoft):
            emulator.faults.reseed(self.seed)
        self.writes_at_start = self.env.event_writes()

    # -- phase 2 -----------------------------------------------------------------

    def background_faults(self) -> None:
        delay = round(self.rng.uniform(0.005, 0.03), 3)
        for emulator in (self.env.env.google, self.env.env.microsoft):
            emulator.faults.add("drop_notification", probability=0.05)
            emulator.faults.add("duplicate_notification", probability=0.10)
            emulator.faults.add("delay_notification", probability=0.10, seconds=delay)
        # Graph also re-sends unchanged instances in delta rounds (shuffled by default).
        self.env.env.microsoft.set_delta_behaviour(replay_rate=0.1)

    async def chaos(self) -> None:
        self.background_faults()
        actions = [
            (self.create, 18),
            (self.move, 14),
            (self.delete, 7),
            (self.make_series, 4),
            (self.api_book, 9),
            (self.api_move, 5),
            (self.api_cancel, 4),
            (self.sync, 14),
            (self.sync_with_edit, 10),
            (self.tick, 7),
            (self.burst, 7),
            (self.expire_cursor, 3),
            (self.lose_push, 3),
            (self.token_churn, 2),
            (self.revoke, 1),
        ]
        if self.env.caldav is not None:
            actions.append((self.caldav_burst, 5))
        funcs = [a for a, _ in actions]
        weights = [w for _, w in actions]
        for _ in range(self.steps):
            action = self.rng.choices(funcs, weights)[0]
            await action()

    # member edits ---------------------------------------------------------------

    def slot(self) -> tuple[datetime, datetime]:
        """A start and end on one of the next three days, mostly on the room's
        30-minute grid and within opening hours, sometimes not (refused)."""
        day = clock.now().astimezone(LONDON).date() + timedelta(days=self.rng.randint(1, 3))
        hour = self.rng.randint(8, 19)
        minute = self.rng.choice([0, 30]) if self.rng.random() < 0.9 else self.rng.choice([10, 45])
        start = datetime.combine(day, time(hour, minute), tzinfo=LONDON)
        length = timedelta(minutes=self.rng.choice([30, 60, 60, 90]))
        return start, start + length

    def pick(self) -> Calendar:
        return self.rng.choice(self.calendars)

    def _edit(self, what: str, do: Any) -> bool:
        try:
            do()
        except Exception as exc:  # the member's client got an error (event gone, ...)
            self.tally.skipped += 1
            self.note(f"  {what}: refused by the provider ({type(exc).__name__})")
            return False
        self.tally.changes += 1
        return True

    async def create(self) -> None:
        cal = self.pick()
        start, end = self.slot()
        title = f"{cal.who} {self.rng.randint(1, 999)}"
        self.note(f"create {cal.who}/{cal.provider} {title!r} {start:%a %H:%M}-{end:%H:%M}")
        self._edit("create", lambda: cal.member.create(title, start, end))

    async def move(self) -> None:
        cal = self.pick()
        seen = cal.member.events()
        if not seen:
            return
        event = self.rng.choice(seen)
        if self.rng.random() < 0.3:  # a nudge, often off the grid or into a neighbour
            shift = timedelta(minutes=self.rng.choice([-60, -30, -15, 15, 30, 60]))
            start, end = event.start + shift, event.end + shift
        else:
            start, end = self.slot()
        self.note(
            f"move {cal.who}/{cal.provider} {event.title!r} {event.start:%a %H:%M}"
            f" -> {start:%a %H:%M}-{end:%H:%M}"
        )
        self._edit("move", lambda: cal.member.move(event.id, start, end))

    async def delete(self) -> None:
        cal = self.pick()
        seen = cal.member.events()
        if not seen:
            return
        event = self.rng.choice(seen)
        self.note(f"delete {cal.who}/{cal.provider} {event.title!r} {event.start:%a %H:%M}")
        self._edit("delete", lambda: cal.member.delete(event.id))

    async def make_series(self) -> None:
        cal = self.pick()
        start, end = self.slot()
        days = self.rng.randint(2, 3)
        self.note(f"series {cal.who}/{cal.provider} {start:%a %H:%M}-{end:%H:%M} x{days} daily")
        self._edit("series", lambda: cal.member.series(f"{cal.who} daily", start, end, days))

    # API bookings ---------------------------------------------------------------

    async def api_book(self) -> None:
        who = self.rng.choice(["alice", "bob", *(["carol"] if self.env.caldav else [])])
        space = self.env.env.space
        start, end = self.slot()
        answer = await self.env.env.api.post(
            "/api/spaces/bookings",
            json={
                "ResourceId": space.room_id,
                "CoworkerId": self.env.coworker(who),
                "FromTime": start.isoformat(),
                "ToTime": end.isoformat(),
            },
        )
        ok = answer.status_code == 200 and answer.json().get("WasSuccessful") is True
        self.note(f"api book {who} {start:%a %H:%M}-{end:%H:%M}: {'ok' if ok else 'refused'}")
        if ok:
            self.bookings.append(int(answer.json()["Value"]["Id"]))
            self.tally.changes += 1
        else:
            assert answer.status_code < 500, answer.text
            self.tally.skipped += 1

    async def _record(self, booking_id: int) -> dict[str, Any] | None:
        answer = await self.env.env.api.get(f"/api/spaces/bookings/{booking_id}")
        if answer.status_code != 200:
            return None
        record: dict[str, Any] = answer.json()
        return record

    async def api_move(self) -> None:
        if not self.bookings:
            return
        booking_id = self.rng.choice(self.bookings)
        record = await self._record(booking_id)
        if record is None:
            return
        start, end = self.slot()
        answer = await self.env.env.api.put(
            "/api/spaces/bookings",
            json={
                "Id": booking_id,
                "ResourceId": record["ResourceId"],
                "CoworkerId": record["CoworkerId"],
                "FromTime": start.isoformat(),
                "ToTime": end.isoformat(),
            },
        )
        ok = answer.status_code == 200 and answer.json().get("WasSuccessful") is True
        self.note(f"api move #{booking_id} -> {start:%a %H:%M}-{end:%H:%M}: {ok}")
        assert answer.status_code < 500, answer.text
        self.tally.changes += ok
        self.tally.skipped += not ok

    async def api_cancel(self) -> None:
        if not self.bookings:
            return
        booking_id = self.bookings.pop(self.rng.randrange(len(self.bookings)))
        answer = await self.env.env.api.delete(f"/api/spaces/bookings/{booking_id}")
        self.note(f"api cancel #{booking_id}: {answer.status_code}")
        assert answer.status_code < 500, answer.text
        self.tally.changes += answer.status_code == 200

    # the engine running ---------------------------------------------------------

    async def sync(self) -> None:
        self.note("sync")
        await self.env.settle()

    async def sync_with_edit(self) -> None:
        """A member edit lands while the worker is in the middle of a sync."""
        turns = self.rng.randint(1, 60)
        edit = self.rng.choice([self.create, self.move, self.delete])
        self.note(f"sync, with an edit after {turns} loop turns:")
        running = asyncio.create_task(self.env.settle())
        for _ in range(turns):
            await asyncio.sleep(0)
        await edit()
        await running

    async def tick(self) -> None:
        seconds = self.rng.choice([1, 3, 10, 30, 90, 200])
        if self.rng.random() < 0.08:  # a long quiet spell: renewals come due
            seconds = self.rng.randint(6, 20) * 3600
        self.note(f"clock +{seconds}s, periodic work")
        await self.env.advance(timedelta(seconds=seconds))
        await self.env.periodic()

    # faults -----------------------------------------------------------------------

    def _emulator(self, provider: str) -> Any:
        return self.env.env.google if provider == "google" else self.env.env.microsoft

    async def burst(self) -> None:
        cal = self.pick()
        if cal.provider == "caldav":
            await self.caldav_burst()
            return
        kind = self.rng.choice(["http_429", "http_403_rate_limit", "http_5xx", "lost_response"])
        times = self.rng.randint(1, 4)
        params: dict[str, Any] = {}
        method = None
        if kind in ("http_429", "http_403_rate_limit"):
            params["retry_after"] = self.rng.choice([1, 2, 5, 30])
        elif kind == "http_5xx":
            params["status"] = self.rng.choice([500, 502, 503])
        else:  # the write happens, its answer is lost: retries must not duplicate it
            method = self.rng.choice(["POST", "PATCH", "DELETE"])
        account = cal.member.email if self.rng.random() < 0.5 else None
        self._emulator(cal.provider).faults.add(
            kind, times=times, account=account, method=method, **params
        )
        self.tally.fault(kind)
        self.note(
            f"fault {cal.provider} {kind} x{times} {method or ''} {account or 'any account'}"
            f" {params or ''}"
        )

    async def expire_cursor(self) -> None:
        cal = self.pick()
        if cal.provider == "caldav":
            assert self.env.caldav is not None
            self.env.caldav.proxy.add("sync_token_invalid")
            self.tally.resets += 1
            self.tally.fault("sync_token_expired")
            self.note("fault caldav sync token of carol refused at the next pull (403)")
            return
        emu = self._emulator(cal.provider)
        if self.rng.random() < 0.5:
            emu.faults.add("sync_token_expired", times=1, account=cal.member.email)
            how = "next use"
        elif cal.provider == "google":
            emu.expire_sync_tokens(cal.member.calendar_id)
            how = "now"
        else:
            emu.reset_delta(cal.member.email)
            how = "now"
        self.tally.resets += 1
        self.tally.fault("sync_token_expired")
        self.note(f"fault {cal.provider} sync token of {cal.who} expired ({how})")

    async def lose_push(self) -> None:
        cal = self.pick()
        if cal.provider == "caldav":
            self.note("fault caldav: no push to lose (carol is polled)")
            return
        if cal.provider == "google":
            lost = self.env.env.google.lose_channels(cal.member.calendar_id)
            self.note(f"fault google lost {lost} channel(s) of {cal.who}, silently")
        else:
            subs = [
                s["id"]
                for s in self.env.env.microsoft.list_subscriptions()
                if cal.member.calendar_id in str(s.get("resource", ""))
            ]
            for sub in subs:
                self.env.env.microsoft.trigger_lifecycle(sub, "subscriptionRemoved")
            self.note(f"fault microsoft removed {len(subs)} subscription(s) of {cal.who}")
        self.tally.resets += 1
        self.tally.fault("push_lost")

    async def token_churn(self) -> None:
        """Access tokens die early (a refresh follows); at Microsoft every refresh
        token but the newest is also invalidated (rotation must have been saved)."""
        cal = self.pick()
        if cal.provider == "caldav":
            self.note("fault caldav: no tokens to churn (an app password)")
            return
        if cal.provider == "microsoft":
            self.env.env.microsoft.expire_access_tokens(cal.member.email)
            self.env.env.microsoft.invalidate_old_refresh_tokens(cal.member.email)
        else:
            self.env.env.google.faults.add("http_5xx", times=1, account=cal.member.email)
        self.tally.fault("token_churn")
        self.note(f"fault {cal.provider} tokens of {cal.who} churned")

    async def revoke(self) -> None:
        if self.revocations:
            return
        cal = self.pick()
        if cal.provider == "caldav":
            assert self.env.caldav is not None
            self.env.caldav.proxy.unauthorized()  # a new app password: 401 from now on
        else:
            self._emulator(cal.provider).revoke_consent(cal.member.email)
        for other in self.calendars:
            if other.provider == cal.provider and other.who == cal.who:
                other.revoked = True
        self.revocations += 1
        self.tally.fault("consent_revoked")
        self.note(f"fault {cal.who} revoked spacecal's access at {cal.provider}")

    async def caldav_burst(self) -> None:
        """A fault between spacecal and Carol's server (tests/support/caldav_proxy.py)."""
        assert self.env.caldav is not None
        kind = self.rng.choice(["http_5xx", "http_429", "lost_response", "timeout"])
        times = self.rng.randint(1, 3)
        method: str | None = None
        params: dict[str, Any] = {}
        if kind == "http_5xx":
            params["status"] = self.rng.choice([500, 502, 503])
        elif kind == "http_429":
            params["status"] = self.rng.choice([429, 503])
            params["retry_after"] = self.rng.choice([1, 2, 5, 30])
        elif kind == "lost_response":  # the write happens, its answer is lost
            method = self.rng.choice(["PUT", "DELETE"])
        else:  # held until spacecal's client gives up; any request
            times = 1
        self.env.caldav.proxy.add(kind, times=times, method=method, **params)
        self.tally.fault(f"caldav_{kind}")
        self.note(f"fault caldav {kind} x{times} {method or ''} {params or ''}")

    # -- phase 3 -----------------------------------------------------------------

    async def recover(self) -> None:
        """Faults stop; the sweep runs once over everything (quiet spans passed),
        then again while anything is still backing off, until nothing is due."""
        for emulator in (self.env.env.google, self.env.env.microsoft):
            emulator.faults.clear()
        if self.env.caldav is not None:
            self.env.caldav.proxy.clear()
        self.env.env.microsoft.set_delta_behaviour(replay_rate=0.0)
        self.note("faults off")
        for cal in self.calendars:
            if cal.revoked and self.rng.random() < 0.5:
                await self.env.reconnect(cal.provider, cal.who)
                cal.revoked = False
                self.note(f"{cal.who} connects {cal.provider} again")
        await self.env.settle()
        await self.env.advance(LONGEST_WAIT)
        await self.env.periodic()
        for _ in range(6):
            if not await self.env.anything_due():
                return
            await self.env.advance(BACKOFF_SPAN)
            await self.env.periodic()
        self.note("recovery: still something due after 6 rounds")

    async def run(self) -> None:
        await self.connect()
        await self.chaos()
        await self.recover()
