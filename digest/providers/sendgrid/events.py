"""SendGrid's Event Webhook payloads: read a body, and translate each event into ours.

SendGrid posts a JSON array of event objects (``event`` names the type), may
post the same event twice (dedupe on ``sg_event_id``), sends our
``custom_args`` back as top-level keys, and is messier in real traffic than in
its documentation: ``status`` missing on blocked bounces, an empty
``sg_message_id`` on asynchronous bounces, ``attempt`` and ``timestamp`` as
strings, milliseconds in marketing events, events without ``email``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from digest.errors import InputError
from digest.events.event import Event

# SendGrid's event names → ours (digest.events.event.EVENT_TYPES); anything else is "unknown".
SENDGRID_TYPES = {
    "processed": "processed",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "dropped",
    "open": "opened",
    "click": "clicked",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "group-unsubscribed",
    "group_resubscribe": "group-resubscribed",
}
MAX_FIELD = 2000
MAX_EVENT_ID = 200  # events.provider_event_id


def parse_sendgrid_body(data: bytes | str, *, origin: str = "the request") -> list[Any]:
    """The list of event objects in a webhook body or a saved export (a JSON array, or one object a line)."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    stripped = text.strip()
    if not stripped:
        raise InputError("is empty; expected a JSON array of events", path=origin)
    try:
        parsed = json.loads(stripped)
    except json.JSONDecodeError as exc:
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1:
            try:
                return [json.loads(line) for line in lines]
            except (ValueError, RecursionError):
                pass
        raise InputError(f"not valid JSON ({exc.msg})", path=origin, line=exc.lineno) from None
    except RecursionError:
        # json.loads recurses once per level: a body nested thousands deep cannot be read (nor is it SendGrid's).
        raise InputError("nested too deeply to read as events", path=origin) from None
    except ValueError as exc:
        # Python refuses to convert integers of more than 4300 digits.
        raise InputError(f"not readable as events ({exc})", path=origin) from None
    if isinstance(parsed, dict) and isinstance(parsed.get("events"), list):
        parsed = parsed["events"]
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list):
        raise InputError("expected a JSON array of events", path=origin)
    return parsed


_DECODER = json.JSONDecoder()


def read_sendgrid_body(data: bytes | str, *, origin: str = "the request") -> list[tuple[Any, str]]:
    """The event objects of a body, each with the text kept for it (``raw``).

    A plain JSON array (what SendGrid posts) is read element by element, and
    each event keeps its own text as received: no second encoding of every
    event. Text with escapes (``\\u00e9``, ``\\/``) is kept in canonical form
    instead, so an address in it can still be found (and erased) as written.
    Anything else is read by :func:`parse_sendgrid_body`, canonical throughout.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    pieces = _array_items(text)
    if pieces is None:
        return [(obj, canonical(obj)) for obj in parse_sendgrid_body(text, origin=origin)]
    return [(obj, piece if "\\" not in piece else canonical(obj)) for obj, piece in pieces]


def _skip(text: str, at: int) -> int:
    """Where the JSON whitespace from ``at`` ends."""
    while at < len(text) and text[at] in " \t\n\r":
        at += 1
    return at


def _array_items(text: str) -> list[tuple[Any, str]] | None:
    """Each element of a JSON array with its text, or None when the text is not one well-formed array."""
    at = _skip(text, 0)
    if text[at : at + 1] != "[":
        return None
    at = _skip(text, at + 1)
    items: list[tuple[Any, str]] = []
    if text[at : at + 1] == "]":
        return items if _skip(text, at + 1) == len(text) else None
    try:
        while True:
            obj, end = _DECODER.raw_decode(text, at)
            items.append((obj, text[at:end]))
            at = _skip(text, end)
            if text[at : at + 1] == ",":
                at = _skip(text, at + 1)
            elif text[at : at + 1] == "]":
                break
            else:
                return None
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; so is a 5,000-digit integer
        return None  # parse_sendgrid_body says what is wrong, and where
    return items if _skip(text, at + 1) == len(text) else None


def text_field(value: Any, limit: int = MAX_FIELD) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        # PostgreSQL's text cannot hold NUL, nor either database a lone surrogate ("\ud800" in JSON).
        return storable(value.replace("\x00", "")[:limit])
    if isinstance(value, bool | int | float):
        try:
            return str(value)[:limit]
        except ValueError:  # an integer of more than 4300 digits
            return ""
    return ""


def storable(text: str) -> str:
    """``text`` as UTF-8 can hold it: a lone surrogate becomes U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text


# Our ids are 32-bit integer columns on PostgreSQL: anything larger cannot be ours,
# and must not reach a query (psycopg refuses it, which would fail the whole batch).
MAX_ID = 2**31 - 1


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 < value <= MAX_ID else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= 10:
            number = int(text)
            return number if 0 < number <= MAX_ID else None
    return None


def timestamp(value: Any, fallback: datetime) -> datetime:
    if type(value) in (int, str, float):
        return _moment(value) or fallback  # a body's events share a handful of seconds: each read once
    return _read_moment(value) or fallback


@lru_cache(maxsize=4096)
def _moment(value: int | str | float) -> datetime | None:
    return _read_moment(value)


def _read_moment(value: Any) -> datetime | None:
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer of hundreds of digits
        return None
    if seconds > 100_000_000_000:  # some marketing events give milliseconds
        seconds /= 1000
    if not 0 < seconds < 32_503_680_000:  # before year 3000
        return None
    return datetime.fromtimestamp(seconds, UTC)


# One encoder for every event: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str)
_CANONICAL_ASCII = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=True, default=str)


def canonical(obj: Any) -> str:
    """The payload as kept: compact, keys sorted, non-ASCII as is (so erasure can find an address in it).

    Escaped only where UTF-8 cannot hold it (a lone surrogate).
    """
    text = _CANONICAL.encode(obj)
    if storable(text) != text:
        text = _CANONICAL_ASCII.encode(obj)
    return text


def normalise_sendgrid(obj: Any, *, received_at: datetime | None = None, raw: str | None = None) -> Event:
    """A SendGrid event object → Event. Never raises: what it cannot read becomes 'unknown'.

    ``raw`` is the text to keep for it (see :func:`read_sendgrid_body`); by default its canonical form.
    """
    now = received_at or datetime.now(UTC)
    raw = canonical(obj) if raw is None else raw
    if not isinstance(obj, dict):
        digest = hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()
        return Event("sendgrid", f"sha256:{digest}", "unknown", type(obj).__name__, now, raw)
    raw_type = text_field(obj.get("event"), 64)
    kind = SENDGRID_TYPES.get(raw_type.strip().lower(), "unknown")
    bounce_class = None
    status = text_field(obj.get("status"), 32)
    if kind == "bounced":
        bounce_type = text_field(obj.get("type")).lower()
        if bounce_type == "blocked" or (bounce_type != "bounce" and status.startswith("4")):
            kind, bounce_class = "blocked", "soft"
        else:
            bounce_class = "hard"
    event_id = text_field(obj.get("sg_event_id"), 160)
    if event_id:
        # The event type too: SendGrid's documented samples reuse one placeholder id.
        event_id = f"{event_id}/{raw_type.strip().lower()}"
        if len(event_id) > MAX_EVENT_ID:  # the column's width; SendGrid's own ids are about 22 characters
            event_id = "sha256:" + hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    else:
        # The same event's id whatever its text looked like: its canonical form, hashed.
        event_id = "sha256:" + hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()
    message_id = text_field(obj.get("sg_message_id"), 300).split(".", 1)[0] or None
    return Event(
        provider="sendgrid",
        provider_event_id=event_id,
        type=kind,
        raw_type=raw_type or "(none)",
        occurred_at=timestamp(obj.get("timestamp"), now),
        raw=raw,
        email=text_field(obj.get("email"), 320).strip(),
        delivery_id=_int(obj.get("delivery_id")),
        issue_id=text_field(obj.get("issue_id"), 120) or None,
        message_id=message_id,
        bounce_class=bounce_class,
        status=status,
        reason=text_field(obj.get("reason")) or text_field(obj.get("response")),
        url=text_field(obj.get("url")),
        machine_open=obj.get("sg_machine_open") in (True, "true", "True", 1, "1"),
    )
