"""Where bounce messages are read from: an mbox file, a Maildir folder, or an IMAP mailbox.

Each source hands out raw message bytes (never parsed text: what a message
is made of is digest.events.bounce_parse's business) and can be told which messages
were dealt with. Files are left as they are (reading them twice changes
nothing: each event is stored once). On IMAP a processed message gets the
keyword ``$DigestProcessed`` and later scans skip it, so a mailbox that keeps
filling up is read once per message; messages are fetched with ``BODY.PEEK``
so their \\Seen flag is left for people.
"""

from __future__ import annotations

import imaplib
import mailbox
import re
import ssl
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from digest.config import Settings
from digest.errors import ConfigError, InputError, ProviderError

PROCESSED_KEYWORD = "$DigestProcessed"
IMAP_TIMEOUT = 60.0
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class MailItem:
    """One message as bytes, and how to name it in a report."""

    key: str
    raw: bytes


class MailSource(Protocol):
    label: str

    def messages(self) -> Iterator[MailItem]: ...

    def processed(self, items: Sequence[MailItem]) -> None: ...

    def close(self) -> None: ...


def open_source(settings: Settings, where: str) -> MailSource:
    """An mbox file, a Maildir folder, or an ``imaps://user@host[:port]/MAILBOX`` URL."""
    if re.match(r"^imaps?://", where, re.IGNORECASE):
        password = settings.imap_password
        return ImapSource(where, password.reveal() if password else None)
    return FileSource(Path(where))


class FileSource:
    """An mbox file (or a single message file) or a Maildir folder."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.label = str(path)
        if path.is_dir():
            if not (path / "cur").is_dir() and not (path / "new").is_dir():
                raise InputError("is a folder but not a Maildir (no cur/ or new/)", path=path)
        elif not path.is_file():
            raise InputError("no such mailbox", path=path)

    def messages(self) -> Iterator[MailItem]:
        if self.path.is_dir():
            box: Any = mailbox.Maildir(self.path, factory=None, create=False)
        else:
            with self.path.open("rb") as handle:
                first = handle.read(5)
            if first != b"From ":
                # One message saved on its own (.eml), not an mbox.
                yield MailItem(self.path.name, self.path.read_bytes())
                return
            box = mailbox.mbox(self.path, factory=None, create=False)
        for number, key in enumerate(box.iterkeys(), start=1):
            yield MailItem(f"message {number} ({key})", box.get_bytes(key))

    def processed(self, items: Sequence[MailItem]) -> None:
        """Files are not changed: rescanning them stores nothing twice."""

    def close(self) -> None:
        pass


class ImapSource:
    """An IMAP mailbox: unprocessed messages in, ``$DigestProcessed`` out."""

    def __init__(self, url: str, password: str | None, *, timeout: float = IMAP_TIMEOUT) -> None:
        parts = urlsplit(url)
        self.secure = parts.scheme.lower() == "imaps"
        self.host = parts.hostname or ""
        try:
            self.port = parts.port or (993 if self.secure else 143)
        except ValueError:
            raise InputError("the port in the IMAP address is not a number", path=_safe(url)) from None
        self.user = unquote(parts.username or "")
        self.folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self.label = f"{parts.scheme.lower()}://{parts.username or ''}@{self.host}:{self.port}/{self.folder}"
        self.timeout = timeout
        if parts.password is not None:
            raise ConfigError(
                "put the IMAP password in .env as IMAP_PASSWORD, not in the address (it would be kept in shell history)"
            )
        if not self.host or not self.user:
            raise InputError("an IMAP address needs a user and a host: imaps://user@host/INBOX", path=_safe(url))
        if not self.secure and self.host not in _LOOPBACK:
            raise ConfigError(
                f"imap:// would send the password to {self.host} unencrypted; use imaps:// "
                "(plain imap:// is allowed only to this machine)"
            )
        if not password:
            raise ConfigError(f"IMAP_PASSWORD is not set; add the password of {self.user} to .env")
        self.connection = self._connect(password)

    def _connect(self, password: str) -> imaplib.IMAP4:
        try:
            if self.secure:
                connection: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    self.host, self.port, ssl_context=ssl.create_default_context(), timeout=self.timeout
                )
            else:
                connection = imaplib.IMAP4(self.host, self.port, timeout=self.timeout)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise ProviderError(f"cannot connect to the IMAP server {self.host}:{self.port} ({exc})") from None
        try:
            connection.login(self.user, password)
        except imaplib.IMAP4.error:
            _logout(connection)
            raise ProviderError(
                f"the IMAP server {self.host} refused the login for {self.user!r}; check IMAP_PASSWORD in .env"
            ) from None
        try:
            status, _ = connection.select(_quote(self.folder))
        except imaplib.IMAP4.error as exc:
            status = f"NO {exc}"
        if status != "OK":
            _logout(connection)
            raise InputError("no such IMAP mailbox (or it cannot be opened)", path=self.label)
        answers = connection.untagged_responses.get("PERMANENTFLAGS", [])
        flags = b" ".join(item for item in answers if isinstance(item, bytes))
        if flags and b"\\*" not in flags and PROCESSED_KEYWORD.encode() not in flags:
            _logout(connection)
            raise ProviderError(
                f"the IMAP mailbox {self.folder} does not allow the keyword {PROCESSED_KEYWORD}, "
                "so processed messages could not be told apart"
            )
        return connection

    def messages(self) -> Iterator[MailItem]:
        status, data = self.connection.uid("SEARCH", "UNDELETED", "UNKEYWORD", PROCESSED_KEYWORD)
        if status != "OK":
            raise ProviderError(f"the IMAP server refused to search {self.folder}: {_said(data)}")
        uids = b" ".join(item for item in data if isinstance(item, bytes)).split()
        for uid in uids:
            status, fetched = self.connection.uid("FETCH", uid.decode("ascii"), "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched if isinstance(item, tuple) and len(item) > 1), None)
            if status != "OK" or not isinstance(raw, bytes):
                continue  # deleted meanwhile by someone else
            yield MailItem(f"UID {uid.decode('ascii')}", raw)

    def processed(self, items: Sequence[MailItem]) -> None:
        """Mark messages whose events are stored, so the next scan skips them."""
        uids = [item.key.removeprefix("UID ") for item in items if item.key.startswith("UID ")]
        for start in range(0, len(uids), 500):
            chunk = ",".join(uids[start : start + 500])
            status, data = self.connection.uid("STORE", chunk, "+FLAGS.SILENT", f"({PROCESSED_KEYWORD})")
            if status != "OK":
                raise ProviderError(f"the IMAP server refused to mark processed messages: {_said(data)}")

    def close(self) -> None:
        try:
            self.connection.close()
        except (imaplib.IMAP4.error, OSError):
            pass
        _logout(self.connection)


def _quote(folder: str) -> str:
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _logout(connection: imaplib.IMAP4) -> None:
    try:
        connection.logout()
    except (imaplib.IMAP4.error, OSError):
        pass


def _said(data: Any) -> str:
    parts = [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in data or []]
    return " ".join(parts)[:200]


def _safe(url: str) -> str:
    """The URL without any password in it, fit for a message."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)
