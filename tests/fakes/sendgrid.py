"""A fake SendGrid on 127.0.0.1, reached through the real `sendgrid` library.

It checks every mail/send body against the required fields, types and limits
SendGrid documents for v3 mail/send (our own check, :func:`body_problems`) and,
in the corpus tier, also against SendGrid's official JSON Schema from
../shared/sendgrid (``schema=``). It records what it accepted, and can be told to answer 429 (with X-RateLimit-Reset), 500, 400,
401 or to hang past the client's timeout. It can also produce the
"processed" events SendGrid would post for what it accepted.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "shared" / "sendgrid" / "mail-send.schema.json"
TOP_LEVEL_KEYS = {
    "personalizations", "from", "reply_to", "reply_to_list", "subject", "content", "attachments",
    "template_id", "headers", "categories", "custom_args", "send_at", "batch_id", "asm",
    "ip_pool_name", "mail_settings", "tracking_settings",
}  # fmt: skip
PERSONALIZATION_KEYS = {
    "to", "cc", "bcc", "from", "subject", "headers", "substitutions", "dynamic_template_data",
    "custom_args", "send_at",
}  # fmt: skip
API_KEY = "SG.test-key-not-real"


@dataclass
class Accepted:
    message_id: str
    body: dict[str, Any]
    received_at: float

    def recipients(self) -> list[str]:
        return [p["to"][0]["email"] for p in self.body["personalizations"]]

    def delivery_ids(self) -> list[str]:
        return [p.get("custom_args", {}).get("delivery_id", "") for p in self.body["personalizations"]]


@dataclass
class FakeSendGrid:
    """The server's state; tests script answers with :meth:`script` or a failure rate."""

    validate: bool = True
    schema: Path | None = None  # also validate against the official JSON Schema (corpus tier)
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)
    answers: deque[str] = field(default_factory=deque)
    failure_rate: float = 0.0
    hang_seconds: float = 2.0
    requests: int = 0
    on_request: Callable[[int, dict[str, Any]], None] | None = None
    seed: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    suppressions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Addresses SendGrid refuses as it documents, naming each in the error's field (personalizations.N.to.0.email).
    invalid_addresses: set[str] = field(default_factory=set)
    # What a scripted 400 says: SendGrid lists every problem it found, one error object each.
    bad_request_messages: list[str] = field(
        default_factory=lambda: ["The from address does not match a verified Sender Identity"]
    )

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)
        self.validator = _validator(self.schema) if self.schema is not None else None

    def script(self, *answers: str) -> None:
        """Answers for the next requests: ok, 429, 500, 400, 401, 403, hang (taken, answered too late)
        or lose (not taken, answered too late)."""
        self.answers.extend(answers)

    def next_answer(self) -> str:
        with self.lock:
            if self.answers:
                return self.answers.popleft()
            if self.failure_rate and self.random.random() < self.failure_rate:
                return self.random.choice(["429", "500"])
            return "ok"

    def recipient_counts(self) -> Counter[str]:
        return Counter(email.lower() for item in self.accepted for email in item.recipients())

    def processed_events(self) -> list[dict[str, Any]]:
        """What SendGrid's Event Webhook would post: one 'processed' event per accepted recipient."""
        events = []
        for item in self.accepted:
            for index, personalization in enumerate(item.body["personalizations"]):
                event = {
                    "email": personalization["to"][0]["email"],
                    "timestamp": int(item.received_at),
                    "event": "processed",
                    "sg_event_id": uuid.uuid4().hex,
                    "sg_message_id": f"{item.message_id}.filter{index}.{index}",
                    "category": item.body.get("categories", []),
                }
                event.update(personalization.get("custom_args", {}))
                events.append(event)
        return events


def _validator(path: Path) -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(path.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def _is_address(value: Any) -> bool:
    """An address object as SendGrid takes it: an ASCII address (the schema's format is "email", not "idn-email")."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("email"), str)
        and "@" in value["email"]
        and value["email"].isascii()
    )


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def body_problems(body: Any) -> list[str]:
    """What SendGrid's v3 mail/send documentation requires of a body, checked by hand:
    required fields, their types, and the limits (see :func:`limit_problems`)."""
    if not isinstance(body, dict):
        return ["the body is not a JSON object"]
    problems = [f"unknown field {key!r}" for key in body if key not in TOP_LEVEL_KEYS]
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        return [*problems, "personalizations must be a non-empty array"]
    if not _is_address(body.get("from")):
        problems.append("from must be an object with an email")
    if "reply_to" in body and not _is_address(body["reply_to"]):
        problems.append("reply_to must be an object with an email")
    for number, item in enumerate(personalizations):
        where = f"personalizations[{number}]"
        if not isinstance(item, dict):
            problems.append(f"{where} is not an object")
            continue
        problems += [f"{where}: unknown field {key!r}" for key in item if key not in PERSONALIZATION_KEYS]
        to = item.get("to")
        if not isinstance(to, list) or not to or not all(_is_address(a) for a in to):
            problems.append(f"{where}.to must be a non-empty array of objects with an email")
        for key in ("headers", "substitutions", "custom_args"):
            if key in item and not _string_map(item[key]):
                problems.append(f"{where}.{key} must map strings to strings")
        if not body.get("subject") and not item.get("subject") and not body.get("template_id"):
            problems.append(f"{where} has no subject, and the body has none either")
    content = body.get("content")
    if content is not None:
        if not isinstance(content, list) or not content:
            problems.append("content must be a non-empty array")
        else:
            kinds = [part.get("type") if isinstance(part, dict) else None for part in content]
            for part in content:
                if not isinstance(part, dict) or not isinstance(part.get("value"), str) or not part.get("value"):
                    problems.append("each content part needs a type and a non-empty value")
            if "text/plain" in kinds and kinds[0] != "text/plain":
                problems.append("text/plain must be the first content part")
    for key in ("headers", "custom_args"):
        if key in body and not _string_map(body[key]):
            problems.append(f"{key} must map strings to strings")
    categories = body.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) and 0 < len(c) <= 255 for c in categories):
        problems.append("categories must be strings of 1 to 255 characters")
    asm = body.get("asm")
    if asm is not None and not (isinstance(asm, dict) and isinstance(asm.get("group_id"), int)):
        problems.append("asm needs an integer group_id")
    return problems + limit_problems(body)


def limit_problems(body: dict[str, Any]) -> list[str]:
    """SendGrid's documented limits that its schema does not enforce."""
    problems = []
    personalizations = body.get("personalizations", [])
    if len(personalizations) > 1000:
        problems.append(f"{len(personalizations)} personalizations; the limit is 1000")
    seen: set[str] = set()
    for personalization in personalizations:
        for kind in ("to", "cc", "bcc"):
            for recipient in personalization.get(kind, []):
                address = recipient["email"].lower()
                if address in seen:
                    problems.append(f"{address} appears twice in one request")
                seen.add(address)
        for key in ("substitutions", "custom_args"):
            size = len(json.dumps(personalization.get(key, {})).encode("utf-8"))
            if size > 10_000:
                problems.append(f"{key} of {size} bytes; the limit is 10000")
    if len(body.get("categories", [])) > 10:
        problems.append("more than 10 categories")
    if not body.get("content") and not body.get("template_id"):
        problems.append("neither content nor template_id")
    send_at = body.get("send_at")
    if send_at is not None and send_at > time.time() + 72 * 3600:
        problems.append("send_at more than 72 hours ahead")
    return problems


def start(fake: FakeSendGrid) -> ThreadingHTTPServer:
    """Serve ``fake`` on 127.0.0.1 in a thread; sets ``fake.url``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                self._answer(401, {"errors": [{"message": "authorization required"}]})
                return
            from urllib.parse import parse_qs

            path, _, query = self.path.partition("?")
            path = path.rstrip("/")
            params = parse_qs(query)
            limit = int(params.get("limit", ["500"])[0])
            offset = int(params.get("offset", ["0"])[0])
            prefix = "/v3/suppression/"
            if path.startswith(prefix):
                entries = fake.suppressions.get(path[len(prefix) :], [])
                self._answer(200, entries[offset : offset + limit])
                return
            self._answer(404, {"errors": [{"message": "not found"}]})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            with fake.lock:
                fake.requests += 1
                number = fake.requests
            if self.path.rstrip("/") != "/v3/mail/send":
                self._answer(404, {"errors": [{"message": "not found"}]})
                return
            if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                self._answer(401, {"errors": [{"message": "The provided authorization grant is invalid"}]})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._answer(400, {"errors": [{"message": "Bad Request", "field": None}]})
                return
            if fake.on_request is not None:
                fake.on_request(number, body)
            answer = fake.next_answer()
            if answer == "401":
                self._answer(401, {"errors": [{"message": "The provided authorization grant is invalid"}]})
                return
            if answer == "403":
                self._answer(403, {"errors": [{"message": "access forbidden"}]})
                return
            if answer == "400":
                self._answer(400, {"errors": [{"message": m, "field": None} for m in fake.bad_request_messages]})
                return
            if answer == "429":
                reset = str(int(time.time()) + 1)
                self._answer(429, {"errors": [{"message": "too many requests"}]}, {"X-RateLimit-Reset": reset})
                return
            if answer == "lose":
                # Lost on the way: nothing is taken, and the answer comes too late to matter.
                time.sleep(fake.hang_seconds)
                self._answer(500, {"errors": [{"message": "lost"}]})
                return
            if answer == "500":
                self._answer(500, {"errors": [{"message": "internal error"}]})
                return
            if fake.validate:
                problems = body_problems(body)
                if fake.validator is not None:
                    problems += [e.message for e in fake.validator.iter_errors(body)]
                if problems:
                    with fake.lock:
                        fake.rejected.append((number, "; ".join(problems)))
                    self._answer(400, {"errors": [{"message": p} for p in problems]})
                    return
            refused = [
                {"message": "Does not contain a valid address.", "field": f"personalizations.{index}.to.0.email"}
                for index, personalization in enumerate(body["personalizations"])
                if personalization["to"][0]["email"].lower() in fake.invalid_addresses
            ]
            if refused:
                with fake.lock:
                    fake.rejected.append((number, "; ".join(e["field"] for e in refused)))
                self._answer(400, {"errors": refused})
                return
            message_id = uuid.uuid4().hex[:22]
            with fake.lock:
                fake.accepted.append(Accepted(message_id, body, time.time()))
            if answer == "hang":
                # Accepted, but the answer comes too late: the client cannot know.
                time.sleep(fake.hang_seconds)
            self._answer(202, None, {"X-Message-Id": message_id})

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    return server
