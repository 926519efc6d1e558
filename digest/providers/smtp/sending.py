"""SMTP with the standard library: one connection for many messages, a result per message.

A refused recipient fails that delivery only, as does one whose message cannot
be made or whose address needs SMTPUTF8 (non-ASCII before the @) from a server
that does not offer it; a dropped connection is reopened and the message tried
once more. The envelope sender is a signed VERP address
(``bounces+<delivery id>-<tag>@domain``, see providers.smtp.verp), so a bounce names the
delivery it belongs to and a forged one cannot.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from digest.config import Settings
from digest.errors import ConfigError
from digest.issues.mime import message_bytes, needs_smtputf8
from digest.providers.base import Batch, BatchResult, ProviderFatal, message_or_reason
from digest.providers.smtp.verp import return_path


class SmtpProvider:
    name = "smtp"
    batch_size = 100
    requests = 0

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.config = settings.smtp
        if self.config.username and not self.config.password:
            raise ConfigError("[smtp] username is set but SMTP_PASSWORD is not; add it to .env")
        self.connection: smtplib.SMTP | None = None
        self.signer = _dkim_signer(settings)

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        try:
            if config.security == "tls":
                connection: smtplib.SMTP = smtplib.SMTP_SSL(
                    config.host, config.port, timeout=config.timeout, context=ssl.create_default_context()
                )
            else:
                connection = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
                if config.security == "starttls":
                    connection.starttls(context=ssl.create_default_context())
            connection.ehlo_or_helo_if_needed()
            if config.username:
                connection.login(config.username, config.password.reveal() if config.password else "")
        except smtplib.SMTPAuthenticationError:
            raise ProviderFatal(
                f"the SMTP server {config.host} refused the login for {config.username!r}; "
                "check [smtp] username and SMTP_PASSWORD in .env"
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ProviderFatal(f"cannot connect to the SMTP server {config.host}:{config.port} ({exc})") from None
        return connection

    def check(self) -> None:
        """Connect, secure and log in as a send would, then hang up (digest.providers.preflight)."""
        self.connection = self._connect()
        self.close()

    def send(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        for position, recipient in enumerate(batch.recipients):
            message = message_or_reason(self.settings, batch, recipient)
            if isinstance(message, str):
                result.failed[position] = message
                continue
            sender = return_path(self.settings, recipient.delivery_id)
            outcome, detail = self._deliver(message, sender, recipient.email)
            if outcome == "accepted":
                result.accepted[position] = str(message["Message-ID"])
            elif outcome == "failed":
                result.failed[position] = detail
            else:
                result.uncertain[position] = detail
        return result

    def _deliver(self, message: EmailMessage, sender: str, to: str) -> tuple[str, str]:
        """("accepted" | "failed" | "uncertain", detail) for one message.

        MAIL and RCPT are safe to repeat on a new connection; once DATA has
        been sent, a dropped connection leaves us not knowing whether the
        server took the message (RFC 5321 section 4.1.1.4), so it is
        uncertain rather than sent twice.
        """
        data = message_bytes(message)
        if self.signer is not None:
            data = self.signer(data)
        utf8 = needs_smtputf8(message)
        for attempt in (1, 2):
            if self.connection is None:
                self.connection = self._connect()
            connection = self.connection
            options: list[str] = []
            if utf8:
                if not connection.has_extn("smtputf8"):
                    return "failed", (
                        f"the SMTP server {self.config.host} does not offer SMTPUTF8, which an address with "
                        "non-ASCII characters before the @ needs"
                    )
                options = ["SMTPUTF8", *(["BODY=8BITMIME"] if connection.has_extn("8bitmime") else [])]
            try:
                code, reply = connection.mail(sender, options)
                if code != 250:
                    connection.rset()
                    return "failed", f"SMTP error {code}: {reply.decode('utf-8', 'replace')}"
                code, reply = connection.rcpt(to)
                if code not in (250, 251):
                    connection.rset()
                    return "failed", f"refused by the SMTP server: {code} {reply.decode('utf-8', 'replace')}"
            except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError):
                self.connection = None
                if attempt == 2:
                    return "failed", "the SMTP server closed the connection twice before taking the message"
                continue
            except (smtplib.SMTPNotSupportedError, UnicodeEncodeError) as exc:
                # Nothing was taken: the server would not hear this address (before DATA, safe to fail).
                connection.rset()
                return "failed", f"the SMTP server {self.config.host} cannot take this address ({exc})"
            try:
                code, reply = connection.data(data)
            except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError) as exc:
                self.connection = None
                return "uncertain", f"the connection broke after the message was sent ({exc})"
            except smtplib.SMTPDataError as exc:
                return "failed", f"SMTP error {exc.smtp_code}: {_text(exc.smtp_error)}"
            if code != 250:
                return "failed", f"SMTP error {code}: {reply.decode('utf-8', 'replace')}"
            return "accepted", ""
        return "failed", "not sent"

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self.connection = None


def _dkim_signer(settings: Settings):  # type: ignore[no-untyped-def]
    """A function that DKIM-signs message bytes, when the settings name a key."""
    from digest.providers.smtp.dkim import signer_from_settings

    return signer_from_settings(settings)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
