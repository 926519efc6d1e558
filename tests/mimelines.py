"""Line lengths of a message as written: RFC 2045 and RFC 5322 limits.

RFC 2045 caps quoted-printable and base64 lines at 76 characters (6.7 rule 5,
6.8); RFC 5322 caps every line at 998. The suite applies this to every .eml a
test leaves in its temporary folder (see conftest), so each outbox, preview and
SMTP capture is checked, not only the messages a dedicated test builds.
"""

from __future__ import annotations

import email
from email.message import Message
from pathlib import Path

ENCODED_LINE_MAX = 76
ANY_LINE_MAX = 998


def line_problems(data: bytes) -> list[str]:
    """What in ``data`` (a whole message) breaks a line-length limit, or []."""
    problems = []
    for number, line in enumerate(data.split(b"\n"), 1):
        length = len(line.rstrip(b"\r"))
        if length > ANY_LINE_MAX:
            problems.append(f"line {number} is {length} octets (RFC 5322 allows {ANY_LINE_MAX})")
    message = email.message_from_bytes(data)
    for part in _leaves(message):
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        if encoding not in ("quoted-printable", "base64"):
            continue
        payload = part.get_payload()
        for line in str(payload).splitlines():
            if len(line) > ENCODED_LINE_MAX:
                problems.append(
                    f"a {encoding} line of {part.get_content_type()} is {len(line)} characters "
                    f"(RFC 2045 allows {ENCODED_LINE_MAX}): {line[:40]}…"
                )
                break
    return problems


def _leaves(message: Message) -> list[Message]:
    return [part for part in message.walk() if not part.is_multipart()]


# Where digest writes messages; other .eml files in a test's folder are mail from
# elsewhere (bounces, replies) that a test feeds in, broken on purpose at times.
WRITTEN_BY_DIGEST_FOLDERS = frozenset({"outbox", "preview"})


def folder_problems(folder: Path) -> list[str]:
    """Line-length problems of every .eml digest wrote under ``folder`` (an outbox or a preview), by file."""
    found = []
    for path in sorted(folder.rglob("*.eml")):
        if not WRITTEN_BY_DIGEST_FOLDERS.intersection(path.relative_to(folder).parts):
            continue
        found += [f"{path.relative_to(folder)}: {problem}" for problem in line_problems(path.read_bytes())]
    return found
