"""A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    mail_options: list[str] = field(default_factory=list)


@dataclass
class RecordingHandler:
    messages: list[Received] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    refusal: str = "550 5.1.1 No such user here"  # may quote the address as {address}, as Postfix does
    drop_at_rcpt: int | None = None  # close the connection at the RCPT of this message (once)
    drop_after_data: int | None = None  # take this message, then close without saying so (once)
    drop_after_data_to: str | None = None  # likewise, for the message to this address (once)
    rcpts: int = 0
    sessions: int = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]) -> str:
        self.rcpts += 1
        if self.drop_at_rcpt is not None and self.rcpts == self.drop_at_rcpt:
            self.drop_at_rcpt = None
            server.transport.close()
            return "421 closing"
        if address.lower() in self.refuse:
            return self.refusal.format(address=address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content, list(envelope.mail_options)
            )
        )
        if self.drop_after_data is not None and len(self.messages) == self.drop_after_data:
            self.drop_after_data = None
            server.transport.close()
        if self.drop_after_data_to is not None and self.drop_after_data_to in envelope.rcpt_tos:
            self.drop_after_data_to = None
            server.transport.close()
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(handler: RecordingHandler, *, smtputf8: bool = False) -> Controller:
    """Serve ``handler``; ``smtputf8`` makes the server offer SMTPUTF8 (RFC 6531), as aiosmtpd can."""
    # aiosmtpd's controller checks readiness by connecting, so it needs a real port, not 0.
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8)
    controller.start()
    return controller
