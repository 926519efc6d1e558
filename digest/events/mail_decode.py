"""Decoding untrusted mail: headers, parts and text from whatever bytes a sender put on the wire.

Mislabelled charsets (``charset=us-ascii`` with 8-bit bytes), broken base64,
raw 8-bit headers: each is read as well as it can be and never raises.
Nothing here calls ``as_string()``, which fails on such messages.
"""

from __future__ import annotations

import codecs
import email
import re
from email.header import decode_header, make_header
from email.message import Message

TEXT_LIMIT = 200_000  # characters of decoded text looked at; real notices are far shorter


def parse_bytes(raw: bytes) -> Message:
    """A message from its bytes (the compat32 parser: lenient, keeps undecodable bytes)."""
    return email.message_from_bytes(raw)


def header(message: Message, name: str) -> str:
    """A header as text on one line, whatever its encoding; '' when absent or unreadable."""
    try:
        value = message.get(name)
        if value is None:
            return ""
        if isinstance(value, str):
            text = str(make_header(decode_header(value))) if "=?" in value else value
        else:  # an email.header.Header holding raw 8-bit bytes
            text = str(value)
    except Exception:  # a broken header is only unreadable, never fatal
        try:
            text = str(message.get(name, ""))
        except Exception:
            return ""
    return " ".join(text.replace("\x00", "").split())


def _codec(charset: str | None) -> str:
    name = (charset or "").strip().strip('"').lower()
    if not name or name in ("us-ascii", "ascii", "unknown-8bit", "x-unknown", "8bit", "default"):
        return "utf-8"  # mislabelled us-ascii with 8-bit bytes is usually UTF-8 (or Latin-1, tried next)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes as text: the declared charset, then UTF-8, then Windows-1252 (which never fails)."""
    for codec in dict.fromkeys((_codec(charset), "utf-8")):
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            continue
    return data.decode("cp1252", "replace")


def part_bytes(part: Message) -> bytes:
    """A leaf part's body after its transfer encoding, as bytes (never raises)."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # broken base64 and the like: fall back to the raw text
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("utf-8", "surrogateescape")
    return b""


def part_text(part: Message) -> str:
    try:
        charset = part.get_content_charset()
    except Exception:
        charset = None
    return decode_bytes(part_bytes(part), charset).replace("\x00", "")


def notice_text(message: Message, *, status_fields: bool = True) -> str:
    """The readable text of the notice itself: its text parts, not the returned message.

    ``status_fields=False`` leaves out the machine-readable delivery-status part too.
    """
    chunks: list[str] = []

    def walk(part: Message) -> None:
        ctype = part.get_content_type()
        if ctype in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            return
        if part.is_multipart():
            payload = part.get_payload()
            for sub in payload if isinstance(payload, list) else []:
                if isinstance(sub, Message):
                    walk(sub)
        elif part.get_content_maintype() == "text" or (status_fields and ctype == "message/delivery-status"):
            text = part_text(part)
            if ctype == "text/html":
                text = re.sub(r"<[^>]{0,2000}>", " ", text)
            chunks.append(text)

    walk(message)
    return "\n".join(chunks)[:TEXT_LIMIT]
