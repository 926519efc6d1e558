"""SendGrid's v3 mail/send through the official `sendgrid` library.

One request carries up to 1000 personalizations sharing the variant's HTML and
text; per-recipient links and names travel as `substitutions`, and
`custom_args` carry the issue, send and delivery ids so events map back to the
ledger. Retries and their limits follow SendGrid's documentation:

* 429 and 5xx, and failures to connect, are retried with exponential backoff
  and jitter; a 429 waits for `X-RateLimit-Reset` when SendGrid gives it.
* No answer within the timeout is ambiguous (SendGrid may have accepted the
  batch), so it is reported as uncertain, never blindly retried.
* 400 fails the batch with SendGrid's error text; 401/403 stop the send.
"""

from __future__ import annotations

import html as html_lib
import json
import random
import socket
import time
import urllib.error
from typing import Any

from digest.config import Settings
from digest.errors import ConfigError
from digest.mime import LIST_UNSUBSCRIBE_POST, list_unsubscribe_header
from digest.providers.base import (
    Batch,
    BatchResult,
    ProviderFatal,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUncertain,
    Recipient,
)

MAX_PERSONALIZATIONS = 1000
MAX_SUBSTITUTION_BYTES = 10_000
MAX_CUSTOM_ARGS_BYTES = 10_000
MAX_CATEGORIES = 10
MAX_BACKOFF_SECONDS = 60.0
# The HTML part gets its own, HTML-escaped copy of the greeting: SendGrid
# substitutes the same value into both parts, and a name may hold "&" or "<".
HTML_GREETING = "%%greeting_name_html%%"
# Each recipient's link token, inside the unsubscribe and preference addresses.
TOKEN = "%%token%%"  # noqa: S105 - a placeholder, not a secret


class SendGridProvider:
    name = "sendgrid"

    def __init__(self, settings: Settings, *, sleep: Any = time.sleep) -> None:
        config = settings.sendgrid
        if not config.api_key:
            raise ConfigError(
                "SENDGRID_API_KEY is not set; add an API key with the Mail Send scope to .env "
                "(or choose another provider with --provider)"
            )
        from sendgrid import SendGridAPIClient

        self.settings = settings
        self.config = config
        self.batch_size = min(config.batch_size, MAX_PERSONALIZATIONS)
        self.client = SendGridAPIClient(api_key=config.api_key, host=config.api_host)
        # The library's default timeout is None: a hung connection would hang the send.
        self.client.client.timeout = config.timeout
        self.sleep = sleep
        self.requests = 0

    # --- translating a batch --------------------------------------------------------

    def body(self, batch: Batch, recipients: list[tuple[int, Recipient]]) -> dict[str, Any]:
        """The mail/send request body for ``recipients`` (position, recipient) of ``batch``."""
        email = self.settings.email
        shared = _shared_values(self.settings, [recipient for _, recipient in recipients])
        text, html = batch.variant.text, batch.variant.html.replace("%%greeting_name%%", HTML_GREETING)
        for key, value in shared.items():
            # Written once into the shared content, not once per person: the issue's web page, and
            # the unsubscribe and preference addresses with only their token left to substitute.
            text = text.replace(f"%%{key}%%", value)
            html = html.replace(f"%%{key}%%", html_lib.escape(value, quote=True))
        message: dict[str, Any] = {
            "from": {"email": email.from_address, "name": email.from_name},
            "subject": batch.subject,
            "content": [{"type": "text/plain", "value": text}, {"type": "text/html", "value": html}],
            "personalizations": [self._personalization(batch, recipient, shared) for _, recipient in recipients],
            "categories": ["safe-digest", batch.issue_id][:MAX_CATEGORIES],
            # We carry our own unsubscribe links and List-Unsubscribe headers.
            "tracking_settings": {"subscription_tracking": {"enable": False}},
        }
        if email.reply_to:
            message["reply_to"] = {"email": email.reply_to}
        if self.config.asm_group_id:
            message["asm"] = {"group_id": self.config.asm_group_id}
        if batch.send_at is not None:
            message["send_at"] = int(batch.send_at.timestamp())
        if batch.provider_batch_id:
            message["batch_id"] = batch.provider_batch_id
        return message

    def _personalization(self, batch: Batch, recipient: Recipient, shared: dict[str, str]) -> dict[str, Any]:
        personal = recipient.personal
        if "token" in shared:
            substitutions = {TOKEN: personal.token}
        else:
            substitutions = {
                "%%unsubscribe_url%%": personal.unsubscribe_url,
                "%%preferences_url%%": personal.preferences_url,
            }
        if "view_url" not in shared:
            substitutions["%%view_url%%"] = personal.view_url
        substitutions["%%greeting_name%%"] = personal.greeting_name
        substitutions[HTML_GREETING] = html_lib.escape(personal.greeting_name, quote=True)
        to: dict[str, str] = {"email": recipient.email}
        if recipient.name:
            to["name"] = recipient.name
        custom_args = {"issue_id": batch.issue_id, "digest": "safe-digest"}
        if batch.send_id is not None:
            custom_args["send_id"] = str(batch.send_id)
        if recipient.delivery_id is not None:
            custom_args["delivery_id"] = str(recipient.delivery_id)
        found: dict[str, Any] = {"to": [to], "substitutions": substitutions, "custom_args": custom_args}
        if personal.unsubscribe_url:  # a sign-up confirmation is not list mail and has none
            found["headers"] = {
                "List-Unsubscribe": list_unsubscribe_header(self.settings, personal.unsubscribe_url),
                "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
            }
        return found

    @staticmethod
    def _too_big(personalization: dict[str, Any]) -> str | None:
        for key, limit in (("substitutions", MAX_SUBSTITUTION_BYTES), ("custom_args", MAX_CUSTOM_ARGS_BYTES)):
            # A JSON character costs at most 6 bytes (\uXXXX): measure exactly only when that could exceed.
            if sum(map(len, personalization[key].values())) * 6 + 600 <= limit:
                continue
            size = len(json.dumps(personalization[key]).encode("utf-8"))
            if size > limit:
                return f"{key} are {size} bytes; SendGrid allows {limit} per recipient"
        return None

    # --- sending --------------------------------------------------------------------

    def send(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        chosen: list[tuple[int, Recipient]] = []
        seen: set[str] = set()
        for position, recipient in enumerate(batch.recipients):
            key = recipient.email.strip().lower()
            if key in seen:  # SendGrid rejects a request naming an address twice
                result.failed[position] = "the same address twice in one request"
                continue
            seen.add(key)
            chosen.append((position, recipient))
        for start in range(0, len(chosen), self.batch_size):
            part = chosen[start : start + self.batch_size]
            body = self.body(batch, part)
            sendable = []
            for (position, _), personalization in zip(part, body["personalizations"], strict=True):
                problem = self._too_big(personalization)
                if problem:
                    result.failed[position] = problem
                else:
                    sendable.append((position, personalization))
            if not sendable:
                continue
            body["personalizations"] = [p for _, p in sendable]
            message_id = self._post(body)
            for position, _ in sendable:
                result.accepted[position] = message_id
        return result

    def _post(self, body: dict[str, Any]) -> str:
        """POST one request, retrying what is safe to retry; returns SendGrid's message id."""
        from python_http_client import exceptions as http

        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                response = self.client.client.mail.send.post(request_body=body, timeout=self.config.timeout)
                return _header(response.headers, "X-Message-Id") or ""
            except (http.UnauthorizedError, http.ForbiddenError) as exc:
                raise ProviderFatal(
                    f"SendGrid refused the API key ({exc.status_code} {_error_text(exc)}); check that "
                    "SENDGRID_API_KEY in .env is current and has the Mail Send scope"
                ) from None
            except http.BadRequestsError as exc:
                raise ProviderRejected(f"SendGrid API response 400 (Bad Request): {_error_text(exc)}") from None
            except http.HTTPError as exc:
                status = int(getattr(exc, "status_code", 0) or 0)
                if status == 429 or status >= 500:
                    if attempt > self.config.max_retries:
                        raise ProviderUnavailable(
                            f"SendGrid answered {status} {attempt} times: {_error_text(exc)}"
                        ) from None
                    self.sleep(self._delay(attempt, exc.headers if status == 429 else None))
                    continue
                raise ProviderRejected(f"SendGrid API response {status}: {_error_text(exc)}") from None
            except TimeoutError as exc:
                raise ProviderUncertain(f"no answer from SendGrid within {self.config.timeout} s ({exc})") from None
            except urllib.error.URLError as exc:
                if isinstance(exc.reason, TimeoutError | socket.timeout):
                    raise ProviderUncertain(
                        f"no answer from SendGrid within {self.config.timeout} s ({exc.reason})"
                    ) from None
                # Refused or unreachable: the request never arrived, so retrying is safe.
                if attempt > self.config.max_retries:
                    raise ProviderUnavailable(
                        f"cannot reach SendGrid at {self.config.api_host} ({exc.reason})"
                    ) from None
                self.sleep(self._delay(attempt, None))
            except (ConnectionResetError, ConnectionAbortedError) as exc:
                raise ProviderUncertain(f"the connection to SendGrid broke during the request ({exc})") from None

    def _delay(self, attempt: int, headers: Any) -> float:
        reset = _header(headers, "X-RateLimit-Reset") if headers is not None else None
        if reset:
            try:
                wait = float(reset) - time.time()
            except ValueError:
                wait = 0.0
            if 0 < wait <= MAX_BACKOFF_SECONDS:
                return wait + random.uniform(0, self.config.retry_base_delay)  # noqa: S311 - jitter
        base = self.config.retry_base_delay * (2 ** (attempt - 1))
        return float(min(MAX_BACKOFF_SECONDS, base * random.uniform(0.5, 1.5)))  # noqa: S311 - jitter

    def close(self) -> None:
        pass


def _shared_values(settings: Settings, recipients: list[Recipient]) -> dict[str, str]:
    """Content that is the same for every recipient of the request, apart from a substitution."""
    from digest.personalise import preferences_url, unsubscribe_url

    if not recipients:
        return {}
    shared: dict[str, str] = {}
    first = recipients[0].personal.view_url
    if all(r.personal.view_url == first for r in recipients):
        shared["view_url"] = first
    if all(
        r.personal.token
        and r.personal.unsubscribe_url == unsubscribe_url(settings, r.personal.token)
        and r.personal.preferences_url == preferences_url(settings, r.personal.token)
        for r in recipients
    ):
        shared["unsubscribe_url"] = unsubscribe_url(settings, TOKEN)
        shared["preferences_url"] = preferences_url(settings, TOKEN)
        shared["token"] = TOKEN
    return shared


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name) or getter(name.lower())
    return str(value) if value else None


def _error_text(exc: Any) -> str:
    """SendGrid's own error messages, never our request (which holds no key, but is big)."""
    body = getattr(exc, "body", b"") or b""
    try:
        data = json.loads(body)
        messages = [e.get("message", "") for e in data.get("errors", []) if isinstance(e, dict)]
        if messages:
            return "; ".join(m for m in messages if m)
    except (ValueError, AttributeError, TypeError):
        pass
    return body[:500].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:500]
