"""Logging: text or JSON lines, a trace id that follows one change, and redaction.

The trace id lives in a contextvar. The HTTP middleware (web/trace.py) sets one per
request (the caller's `X-Request-ID` when it is a sane token, else a new one) and puts
it on `request.state.trace_id`; webhook intake keeps it on the connection's mark, the
dispatcher puts it in the reconcile job's `trace` argument, the job binds it again,
and every reconcile that job defers carries it on (jobs/reconcile.py). So one grep for
the id shows a change from the webhook to the booking to the write-back in another
calendar.

Secrets never belong in a log line; `Redactor` is the safety net for the day one
slips in: it masks bearer/basic credentials, `token=`/`secret=`-like pairs, JWTs,
Fernet ciphertexts and long opaque strings in the message and its extra fields.
Paths of routes that carry a secret in the path (`SECRET_ROUTES`: a sign-in link's
token) are redacted by where the secret sits, whatever it looks like; the access line
(web/trace.py) logs paths through `redact_path`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

TRACE_HEADER = "x-request-id"
_TRACE: contextvars.ContextVar[str | None] = contextvars.ContextVar("spacecal_trace", default=None)
_SANE_TRACE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# --- the trace id ---------------------------------------------------------------------


def new_trace_id() -> str:
    return secrets.token_hex(8)


def current_trace() -> str | None:
    """The trace id of the request or job running in this context, if any."""
    return _TRACE.get()


@contextlib.contextmanager
def bind_trace(trace: str | None = None) -> Iterator[str]:
    """Run the block under `trace` (a new id when None or not sane); yields the id."""
    value = trace if trace and _SANE_TRACE.match(trace) else new_trace_id()
    token = _TRACE.set(value)
    try:
        yield value
    finally:
        _TRACE.reset(token)


# --- redaction ------------------------------------------------------------------------

REDACTED = "[redacted]"
# Routes with a secret path segment: the segment after the prefix, whatever its shape
# (a token with no digit is as secret as any other).
SECRET_ROUTES = (
    re.compile(r"(/portal/signin/link/)[^/?#\s\"']+"),
    re.compile(r"(/portal/invitations/senders/confirm/)[^/?#\s\"']+"),
)


def redact_path(path: str) -> str:
    """`path` with the secret segment of a `SECRET_ROUTES` route replaced."""
    for route in SECRET_ROUTES:
        path = route.sub(lambda m: f"{m.group(1)}{REDACTED}", path)
    return path


_PATTERNS = [
    # Authorization: Bearer x / Basic x
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    # key=value / "key": "value" for secret-sounding keys
    re.compile(
        r"(?i)([\"']?\b[\w-]*(?:token|secret|password|passwd|clientstate|code_verifier|"
        r"api[_-]?key|authorization|credential)[\w-]*[\"']?\s*[=:]\s*[\"']?)"
        r"([^\s\"'&,;}]{4,})"
    ),
    re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),  # JWT
    re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"),  # Fernet ciphertext
    # Long opaque strings with letters and digits (tokens, delta links' skip tokens).
    re.compile(
        r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{40,}"
    ),
]


def redact(text: str) -> str:
    """`text` with secret-route segments and anything token-looking replaced by
    [redacted]."""
    text = redact_path(text)
    for index, pattern in enumerate(_PATTERNS):
        if index == 0:
            text = pattern.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
        elif index == 1:
            text = pattern.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "", None, None)).keys()) | {
    "message",
    "asctime",
    "trace_id",
    "trace",  # TextFormatter's rendering of trace_id
    "color_message",  # uvicorn's ANSI-coloured twin of msg
}


class Redactor(logging.Filter):
    """Rewrites each record's message (with its arguments) and string extras through
    `redact`, and stamps the current trace id on it. Attach to handlers."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = current_trace()
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# --- formats --------------------------------------------------------------------------


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, trace_id, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None) or current_trace(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = (
                    value if isinstance(value, (int, float, bool, type(None))) else str(value)
                )
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(trace)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        trace = getattr(record, "trace_id", None) or current_trace()
        record.trace = f" [{trace}]" if trace else ""
        return super().format(record)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of each line (a test's capture,
    a redirected stream), not the one at configuration time."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def use_json(log_format: str, stream: TextIO) -> bool:
    """`auto`: text on a terminal, JSON otherwise (a service's logs go to a collector)."""
    if log_format == "json":
        return True
    if log_format == "text":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure(
    log_format: str = "auto", level: str = "INFO", stream: TextIO | None = None
) -> logging.Handler:
    """Install one handler on the root logger (replacing earlier ones of ours):
    `log_format` json | text | auto, `level` for spacecal's loggers (others: WARNING,
    so libraries stay quiet). Returns the handler (tests capture through it)."""
    handler: logging.StreamHandler[TextIO] = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    stream = stream or sys.stderr
    handler.setFormatter(JsonFormatter() if use_json(log_format, stream) else TextFormatter())
    handler.addFilter(Redactor())
    handler.set_name("spacecal")
    root = logging.getLogger()
    for old in list(root.handlers):
        if old.get_name() == "spacecal":
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("spacecal").setLevel(level.upper())
    return handler
