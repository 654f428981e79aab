"""One POST of a signed body, with a short timeout and redirects kept on the same origin.

A webhook URL is operator-chosen, but where it redirects is the receiver's choice:
following a redirect to another host would hand the signed record to whoever that
is, and one to another port of the same host reaches whatever listens there. Only a
redirect to the same host and port (a moved path) or the plain http -> https upgrade
is re-POSTed, with the same body and signature; https -> http never is. Every
connection, redirects included, goes through the outbound guard of the client
(providers/guard.py, built in tasks.py).

Errors are put in words without the URL, which may carry a token in its query, and
every failure to get an answer reads the same (refused, reset, timed out, no such
name): LastError must not tell an open port from a closed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx2

from spacecal.providers.guard import TargetRefused

REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None  # the final HTTP status, None when no answer came
    error: str | None  # why it failed, in words; None when ok


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def _port(parts: SplitResult) -> int | None:
    try:
        return parts.port or _DEFAULT_PORTS.get(parts.scheme.lower())
    except ValueError:
        return None


def _redirect_refusal(url: str, target: str) -> str | None:
    """Why a redirect from `url` to `target` is not followed, or None."""
    here, there = urlsplit(url), urlsplit(target)
    host = _host(url)
    scheme, new_scheme = here.scheme.lower(), there.scheme.lower()
    if new_scheme not in ("http", "https"):
        return (
            f"{host} redirected to another host ({new_scheme or 'an unknown place'}); not followed"
        )
    if _host(target) != host:
        return f"{host} redirected to another host ({_host(target)}); not followed"
    if scheme == "https" and new_scheme == "http":
        return f"{host} redirected from https to http; not followed"
    port, new_port = _port(here), _port(there)
    if new_port == port or (scheme, new_scheme, port, new_port) == ("http", "https", 80, 443):
        return None
    return f"{host} redirected to another port ({new_port}); not followed"


async def post(
    client: httpx2.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout_seconds: float,
    max_redirects: int,
) -> SendResult:
    host = _host(url)
    for _ in range(max_redirects + 1):
        try:
            answer = await client.post(
                url, content=body, headers=headers, timeout=timeout_seconds, follow_redirects=False
            )
        except TargetRefused as exc:
            return SendResult(False, None, str(exc))
        except httpx2.HTTPError:
            return SendResult(False, None, f"no answer from {host} within {timeout_seconds:g} s")
        await answer.aclose()
        if answer.status_code in REDIRECTS and "location" in answer.headers:
            target = urljoin(url, answer.headers["location"])
            refused = _redirect_refusal(url, target)
            if refused is not None:
                return SendResult(False, answer.status_code, refused)
            url = target
            continue
        if 200 <= answer.status_code < 300:
            return SendResult(True, answer.status_code, None)
        return SendResult(False, answer.status_code, f"HTTP {answer.status_code} from {host}")
    return SendResult(False, None, f"{host} redirected more than {max_redirects} times")
