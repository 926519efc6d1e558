"""SendGrid's v3 mail/send: the request body, and posting it with SendGrid's retry rules.

One request carries up to 1000 personalizations sharing the variant's HTML and
text; per-recipient links and names travel as `substitutions`, and
`custom_args` carry the issue, send and delivery ids so events map back to the
ledger. Retries and their limits follow SendGrid's documentation:

* 429 and 5xx, and failures to connect, are retried with exponential backoff
  and jitter; a 429 waits for `X-RateLimit-Reset` when SendGrid gives it.
* No answer within the timeout is ambiguous (SendGrid may have accepted the
  batch), so it is reported as uncertain, never blindly retried.
* 400 fails the batch with SendGrid's error text, except where SendGrid names
  the recipients it refuses (``personalizations.3.to.0.email``): those fail
  with its words and the rest of the request is posted again. 401/403 stop
  the send.
* An address with non-ASCII characters before the @ is refused before any
  request: mail/send takes ASCII addresses only (the schema's ``format`` is
  ``email``, not ``idn-email``; SendGrid documents no SMTPUTF8). A non-ASCII
  domain is sent in its ASCII (IDNA) form.

The body is encoded once and posted on one kept-alive connection
(:mod:`digest.providers.sendgrid.transport`), so a batch costs its JSON and
its round trip, not a new connection and a debug copy of half a megabyte.
"""

from __future__ import annotations

import html as html_lib
import json
import random
import re
import time
from dataclasses import dataclass
from typing import Any

from digest.config import Settings
from digest.errors import ConfigError
from digest.issues.mime import LIST_UNSUBSCRIBE_POST, list_unsubscribe_header
from digest.people.emails import mailbox_for_sending
from digest.providers.base import (
    Batch,
    BatchResult,
    ProviderFatal,
    ProviderRejected,
    ProviderUnavailable,
    ProviderUncertain,
    Recipient,
)
from digest.providers.sendgrid.transport import Connection, NoAnswer, Unreachable

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
NOT_ASCII = (
    "SendGrid takes only ASCII addresses and this one has non-ASCII characters before the @; "
    "only an SMTP server that offers SMTPUTF8 can send to it"
)
# A 400 error that names one recipient: SendGrid's `field` is "personalizations.<index>.to.<n>.email" or the like.
_RECIPIENT_FIELD = re.compile(r"^personalizations\.(\d+)(\.|$)")


class _RecipientsRefused(Exception):
    """A 400 that names the personalizations (by index in the request) SendGrid refuses, and why."""

    def __init__(self, refused: dict[int, str]) -> None:
        super().__init__(refused)
        self.refused = refused


@dataclass(frozen=True)
class Prepared:
    """A batch ready to post: the encoded requests (with the batch positions each carries) and
    the positions refused before posting (an address twice, values over SendGrid's limits)."""

    refused: dict[int, str]
    requests: list[tuple[list[int], bytes]]


class SendGridProvider:
    name = "sendgrid"

    def __init__(self, settings: Settings, *, sleep: Any = time.sleep) -> None:
        config = settings.sendgrid
        if not config.api_key:
            raise ConfigError(
                "SENDGRID_API_KEY is not set; add an API key with the Mail Send scope to .env "
                "(or choose another provider with --provider)"
            )
        self.settings = settings
        self.config = config
        self.batch_size = min(config.batch_size, MAX_PERSONALIZATIONS)
        # Always with a timeout: a hung connection must not hang the send.
        self.connection = Connection(config.api_host, config.api_key.reveal(), config.timeout)
        self.sleep = sleep
        self.requests = 0
        # What follows each reader's own one-click address in List-Unsubscribe (see mime.list_unsubscribe_header).
        self._unsubscribe_tail = list_unsubscribe_header(settings, "")[2:]

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
            "personalizations": self._personalizations(batch, recipients, shared),
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

    def _personalizations(
        self, batch: Batch, recipients: list[tuple[int, Recipient]], shared: dict[str, str]
    ) -> list[dict[str, Any]]:
        """One personalization per recipient, built straight from its values (the hot loop of a send)."""
        escape = html_lib.escape
        by_token = "token" in shared
        view = "view_url" not in shared
        tail = self._unsubscribe_tail
        ids = {"issue_id": batch.issue_id, "digest": "safe-digest"}
        if batch.send_id is not None:
            ids["send_id"] = str(batch.send_id)
        out = []
        for _, recipient in recipients:
            personal = recipient.personal
            if by_token:
                substitutions = {TOKEN: personal.token}
            else:
                substitutions = {
                    "%%unsubscribe_url%%": personal.unsubscribe_url,
                    "%%preferences_url%%": personal.preferences_url,
                }
            if view:
                substitutions["%%view_url%%"] = personal.view_url
            greeting = personal.greeting_name
            substitutions["%%greeting_name%%"] = greeting
            substitutions[HTML_GREETING] = escape(greeting, quote=True)
            address = recipient.email if recipient.email.isascii() else mailbox_for_sending(recipient.email)[0]
            to = {"email": address, "name": recipient.name} if recipient.name else {"email": address}
            custom_args = ids.copy()
            if recipient.delivery_id is not None:
                custom_args["delivery_id"] = str(recipient.delivery_id)
            found: dict[str, Any] = {"to": [to], "substitutions": substitutions, "custom_args": custom_args}
            if personal.unsubscribe_url:  # a sign-up confirmation is not list mail and has none
                found["headers"] = {
                    "List-Unsubscribe": f"<{personal.unsubscribe_url}>{tail}",
                    "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
                }
            out.append(found)
        return out

    @staticmethod
    def _too_big(personalization: dict[str, Any]) -> str | None:
        for key, limit in (("substitutions", MAX_SUBSTITUTION_BYTES), ("custom_args", MAX_CUSTOM_ARGS_BYTES)):
            size = len(json.dumps(personalization[key]).encode("utf-8"))
            if size > limit:
                return f"{key} are {size} bytes; SendGrid allows {limit} per recipient"
        return None

    @staticmethod
    def _may_be_too_big(personalizations: list[dict[str, Any]]) -> list[int]:
        """Which personalizations need measuring: those whose values could exceed a limit.

        A JSON character costs at most 6 bytes (\\uXXXX) and the keys and quotes of
        ours fit in 600, so below that bound nothing is measured; one pass over
        the lengths per batch, not a JSON encoding per recipient.
        """
        return [
            index
            for index, p in enumerate(personalizations)
            if max(sum(map(len, p["substitutions"].values())), sum(map(len, p["custom_args"].values()))) * 6 + 600
            > min(MAX_SUBSTITUTION_BYTES, MAX_CUSTOM_ARGS_BYTES)
        ]

    # --- sending --------------------------------------------------------------------

    def send(self, batch: Batch) -> BatchResult:
        return self.deliver(self.prepare(batch))

    def prepare(self, batch: Batch) -> Prepared:
        """The requests for a batch, encoded, and the recipients refused before any request.

        Pure work on the batch (no network), so the runner can prepare the next
        batch while this one's request is in flight.
        """
        refused: dict[int, str] = {}
        chosen: list[tuple[int, Recipient]] = []
        seen: set[str] = set()
        for position, recipient in enumerate(batch.recipients):
            key = recipient.email.strip().lower()
            if key in seen:  # SendGrid rejects a request naming an address twice
                refused[position] = "the same address twice in one request"
                continue
            if not key.isascii() and mailbox_for_sending(recipient.email)[1]:
                refused[position] = NOT_ASCII
                continue
            seen.add(key)
            chosen.append((position, recipient))
        requests: list[tuple[list[int], bytes]] = []
        for start in range(0, len(chosen), self.batch_size):
            part = chosen[start : start + self.batch_size]
            body = self.body(batch, part)
            personalizations = body["personalizations"]
            too_big = set()
            for index in self._may_be_too_big(personalizations):
                problem = self._too_big(personalizations[index])
                if problem:
                    refused[part[index][0]] = problem
                    too_big.add(index)
            if too_big:
                body["personalizations"] = [p for index, p in enumerate(personalizations) if index not in too_big]
                part = [item for index, item in enumerate(part) if index not in too_big]
            if part:
                requests.append(([position for position, _ in part], json.dumps(body, separators=(",", ":")).encode()))
        return Prepared(refused, requests)

    def deliver(self, prepared: Prepared) -> BatchResult:
        """Post a prepared batch: each request once, retried only where that is safe.

        When SendGrid refuses a request for some of its recipients only, they fail with its words and
        the request goes again without them: nothing of a refused request was sent.
        """
        result = BatchResult(failed=dict(prepared.refused))
        for positions, body in prepared.requests:
            while positions:
                try:
                    message_id = self._post(body)
                except _RecipientsRefused as exc:
                    if max(exc.refused) >= len(positions):
                        raise ProviderRejected(f"SendGrid API response 400 (Bad Request): {exc.refused}") from None
                    for index, reason in exc.refused.items():
                        result.failed[positions[index]] = f"SendGrid refused this recipient: {reason}"
                    kept = [index for index in range(len(positions)) if index not in exc.refused]
                    positions, body = [positions[index] for index in kept], _without(body, kept)
                    continue
                for position in positions:
                    result.accepted[position] = message_id
                break
        return result

    def _post(self, body: bytes) -> str:
        """POST one request, retrying what is safe to retry; returns SendGrid's message id."""
        attempt = 0
        while True:
            attempt += 1
            self.requests += 1
            try:
                answer = self.connection.post("/v3/mail/send", body)
            except NoAnswer as exc:
                if exc.timed_out:
                    raise ProviderUncertain(f"no answer from SendGrid within {self.config.timeout} s ({exc})") from None
                raise ProviderUncertain(f"the connection to SendGrid broke during the request ({exc})") from None
            except Unreachable as exc:
                # Refused or unreachable: the request never arrived, so retrying is safe.
                if attempt > self.config.max_retries:
                    raise ProviderUnavailable(f"cannot reach SendGrid at {self.config.api_host} ({exc})") from None
                self.sleep(self._delay(attempt, None))
                continue
            status = answer.status
            if 200 <= status < 300:
                return _header(answer.headers, "X-Message-Id") or ""
            if status in (401, 403):
                raise ProviderFatal(
                    f"SendGrid refused the API key ({status} {_error_text(answer.body)}); check that "
                    "SENDGRID_API_KEY in .env is current and has the Mail Send scope"
                )
            if status == 400:
                refused = _refused_recipients(answer.body)
                if refused:
                    raise _RecipientsRefused(refused)
                raise ProviderRejected(f"SendGrid API response 400 (Bad Request): {_error_text(answer.body)}")
            if status == 429 or status >= 500:
                if attempt > self.config.max_retries:
                    raise ProviderUnavailable(f"SendGrid answered {status} {attempt} times: {_error_text(answer.body)}")
                self.sleep(self._delay(attempt, answer.headers if status == 429 else None))
                continue
            raise ProviderRejected(f"SendGrid API response {status}: {_error_text(answer.body)}")

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
        self.connection.close()


def _shared_values(settings: Settings, recipients: list[Recipient]) -> dict[str, str]:
    """Content that is the same for every recipient of the request, apart from a substitution."""
    from digest.issues.personalise import preferences_url, unsubscribe_url

    if not recipients:
        return {}
    shared: dict[str, str] = {}
    first = recipients[0].personal.view_url
    if all(r.personal.view_url == first for r in recipients):
        shared["view_url"] = first
    unsubscribe, preferences = unsubscribe_url(settings, ""), preferences_url(settings, "")
    if all(
        (p := r.personal).token
        and p.unsubscribe_url == unsubscribe + p.token
        and p.preferences_url == preferences + p.token
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


def _refused_recipients(body: bytes) -> dict[int, str]:
    """{personalization index: SendGrid's message} when every error of a 400 names a recipient; else {}."""
    try:
        errors = json.loads(body).get("errors", [])
    except (ValueError, AttributeError):
        return {}
    refused: dict[int, str] = {}
    for error in errors if isinstance(errors, list) else []:
        match = _RECIPIENT_FIELD.match(str(error.get("field") or "")) if isinstance(error, dict) else None
        if match is None:
            return {}  # a problem with the request as a whole: the batch fails
        refused.setdefault(int(match.group(1)), str(error.get("message") or "invalid recipient"))
    return refused


def _without(body: bytes, kept: list[int]) -> bytes:
    """The request ``body`` with only the personalizations at ``kept``."""
    data = json.loads(body)
    data["personalizations"] = [data["personalizations"][index] for index in kept]
    return json.dumps(data, separators=(",", ":")).encode()


def _error_text(body: bytes) -> str:
    """SendGrid's own error messages, never our request (which holds no key, but is big)."""
    try:
        data = json.loads(body)
        messages = [e.get("message", "") for e in data.get("errors", []) if isinstance(e, dict)]
        if messages:
            return "; ".join(m for m in messages if m)
    except (ValueError, AttributeError, TypeError):
        pass
    return body[:500].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:500]
