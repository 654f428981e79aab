"""One POST of a signed body, with a short timeout and redirects kept on the same host.

A webhook URL is operator-chosen, but where it redirects is the receiver's choice:
following a redirect to another host would hand the signed record to whoever that
is. Same-host redirects (http->https upgrades, a moved path) are re-POSTed with the
same body and signature. Errors are put in words without the URL, which may carry
a token in its query.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx2

REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None  # the final HTTP status, None when no answer came
    error: str | None  # why it failed, in words; None when ok


def _host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


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
        except httpx2.TimeoutException:
            return SendResult(False, None, f"no answer from {host} within {timeout_seconds:g} s")
        except httpx2.ConnectError:
            return SendResult(False, None, f"could not connect to {host}")
        except httpx2.HTTPError as exc:
            return SendResult(False, None, f"request to {host} failed ({type(exc).__name__})")
        await answer.aclose()
        if answer.status_code in REDIRECTS and "location" in answer.headers:
            target = urljoin(url, answer.headers["location"])
            scheme = urlsplit(target).scheme.lower()
            if _host(target) != host or scheme not in ("http", "https"):
                where = _host(target) or scheme or "an unknown place"
                return SendResult(
                    False,
                    answer.status_code,
                    f"{host} redirected to another host ({where}); not followed",
                )
            url = target
            continue
        if 200 <= answer.status_code < 300:
            return SendResult(True, answer.status_code, None)
        return SendResult(False, answer.status_code, f"HTTP {answer.status_code} from {host}")
    return SendResult(False, None, f"{host} redirected more than {max_redirects} times")
