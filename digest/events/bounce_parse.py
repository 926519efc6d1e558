"""Reading one message from a bounce mailbox: what it is and what it says.

A bounce mailbox holds more than bounces: RFC 3464 delivery status
notifications, older servers' plain-text notices (read by flufl.bounce),
delay warnings, RFC 3834 out-of-office replies (they go to the Return-Path,
which is our VERP address), ARF spam complaints, Amazon SES notifications in
JSON, and spam. :func:`read_message` sorts each into one :class:`Reading`
and never trusts the message to be well formed: text is decoded from bytes
with the declared charset and sensible fall-backs (``charset=us-ascii`` with
8-bit bytes is common), and nothing calls ``as_string()`` on it.

Whether a reading may change anybody is not decided here: that needs our own
records (digest.events.bounces ties a reading to a message we sent).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import HeaderParser
from typing import Any

from digest.events.bounce_reasons import REPLY_RE, Verdict, classify, find_status, reason_from_text
from digest.events.mail_decode import header, notice_text, part_text

# What a message is. Only "bounce" and "complaint" can ever change a subscriber.
BOUNCE, DELAYED, AUTOREPLY, COMPLAINT, NOT_UNDERSTOOD = "bounce", "delayed", "autoreply", "complaint", "not-understood"

_ADDRESS_RE = re.compile(r"^[^@\s\"'<>(){}\[\],;:\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+[A-Za-z0-9-]{2,63}$")
_AUTO_SUBJECT_RE = re.compile(
    r"out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response|antwort)|autoreply|autoresponder"
    r"|vacation|on holiday|on leave|away from (?:my|the) (?:desk|office)|abwesen|abwesenheit|automatische antwort"
    r"|réponse automatique|absence|fuera de la oficina|respuesta automática|risposta automatica|fuori ufficio"
    r"|afwezig|automatisch antwoord|niet aanwezig|frånvaro|autosvar|automaattinen vastaus|不在|自動応答|自动回复",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered|returned mail|delivery (?:status notification|failure|failed|has failed|problem"
    r"|notification)|failure notice|mail delivery (?:failed|failure|system)|could not be delivered|non[- ]?remis"
    r"|unzustellbar|nicht zustellbar|delivery report|returned to sender|mail system error|nondeliverable"
    r"|non-delivery|rejected|bounce|mail error|delivery error|user unknown|unknown user|no such user",
    re.IGNORECASE,
)
_BOUNCE_SENDER_RE = re.compile(
    r"mailer-daemon|postmaster|mail delivery (?:subsystem|system)|mailerdaemon|mdaemon", re.I
)
_DELAY_SUBJECT_RE = re.compile(
    r"\(delay\)|delayed|delay(?:ed)? (?:notification|notice|warning)|still being retried|not (?:yet )?been delivered"
    r"|warning: (?:could not send|message .{0,80}delayed)|verzögert|retard",
    re.IGNORECASE,
)
_DELAY_BODY_RE = re.compile(
    r"this is a warning (?:message )?only|you do not need to resend|will (?:continue|keep)(?: to)? (?:try|retry)"
    r"|delivery attempts will continue|has not yet been delivered|message (?:has been |was |is )?delayed"
    r"|delayed (?:for )?(?:\d+|more than|over)|still (?:being )?(?:retried|trying)|will be retried"
    r"|no action is required"
    r"|server will retry|will retry (?:for|until|delivery)",
    re.IGNORECASE,
)
_MESSAGE_ID_RE = re.compile(r"^\s*(?:message-id|resent-message-id)\s*:\s*(<[^<>\s]{3,250}>)", re.I | re.M)
_IN_REPLY_RE = re.compile(r"<[^<>\s]{3,250}>")
# Where non-MIME notices start quoting the returned message (qmail, Exim, Sendmail, Exchange and others).
_RETURNED_MARKER_RE = re.compile(
    r"^.{0,20}(?:below this line is a copy of the message|this is a copy of the message|original message follows"
    r"|returned message follows|unsent message below|headers of the original message|original message headers"
    r"|message headers follow|--- ?original message ?---|the original message was received|-+ ?returned mail ?-+"
    r"|header of the source mail)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class Finding:
    """One recipient a report speaks of."""

    address: str  # Final-Recipient, or the address a detector found
    original: str  # Original-Recipient (a DSN's idea of the address we sent to), when given
    action: str  # "failed" or "delayed" ("complaint" for feedback reports)
    status: str
    diagnostic: str  # the server's words, on one line
    verdict: Verdict
    parser: str

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(a for a in (self.address, self.original) if a)


@dataclass
class Reading:
    """What one message is and what it says."""

    kind: str
    parser: str  # which reader decided: dsn, arf, ses-json, flufl.bounce:<detector>, headers, subject, text
    note: str = ""  # why (which header made it an auto-reply, which words a delay)
    findings: list[Finding] = field(default_factory=list)
    referenced_ids: list[str] = field(default_factory=list)  # Message-IDs of ours it may quote
    sender: str = ""
    subject: str = ""
    message_id: str = ""
    date: str = ""


def clean_address(value: str) -> str:
    """A plain address from ``rfc822; <a@b>``, ``<a@b>``, ``"a@b"``…, or '' when it is not one."""
    text = value.split(";", 1)[1] if ";" in value and "@" not in value.split(";", 1)[0] else value
    text = text.strip().strip("<>\"' \t").strip()
    match = re.search(r"<([^<>\s]+@[^<>\s]+)>", text)
    if match:
        text = match.group(1)
    text = text.rstrip(".,;:")
    return text if _ADDRESS_RE.match(text) else ""


# --- the readers --------------------------------------------------------------------------------


def read_message(message: Message) -> Reading:
    """Sort one message into bounce, delay, auto-reply, complaint or not understood."""
    reading = Reading(kind=NOT_UNDERSTOOD, parser="none")
    reading.sender = header(message, "From")[:320]
    reading.subject = header(message, "Subject")[:500]
    reading.message_id = header(message, "Message-ID")[:300]
    reading.date = header(message, "Date")[:100]
    text = notice_text(message)
    reading.referenced_ids = referenced_ids(message, text)

    found = _read_report(message) or _read_ses(text)
    if found is not None:
        found.sender, found.subject, found.message_id, found.date = (
            reading.sender,
            reading.subject,
            reading.message_id,
            reading.date,
        )
        found.referenced_ids = reading.referenced_ids + [
            i for i in found.referenced_ids if i not in reading.referenced_ids
        ]
        return found

    looks_like_bounce = bool(_BOUNCE_SENDER_RE.search(reading.sender) or _BOUNCE_SUBJECT_RE.search(reading.subject))
    auto = auto_reply_sign(message, reading.subject)
    if auto and auto[0] != "precedence" and not looks_like_bounce:
        reading.kind, reading.parser, reading.note = AUTOREPLY, auto[0], auto[1]
        return reading
    delay = delay_sign(reading.subject, text)
    if delay:
        reading.kind, reading.parser, reading.note = DELAYED, "text", delay
        return reading
    findings = _read_plain_bounce(message, text)
    if not findings and looks_like_bounce:
        findings = _read_text_bounce(text, reading.sender)
    if findings:
        reading.kind, reading.findings = BOUNCE, findings
        reading.parser = findings[0].parser
        return reading
    if auto:
        reading.kind, reading.parser, reading.note = AUTOREPLY, "headers", auto[1]
    elif looks_like_bounce:
        reading.note = "looks like a bounce, but no reader could find who failed"
    return reading


def auto_reply_sign(message: Message, subject: str) -> tuple[str, str] | None:
    """(parser, note) when RFC 3834 headers or a common subject say this is an automatic reply."""
    submitted = header(message, "Auto-Submitted").lower()
    if submitted and not submitted.startswith("no"):
        return "headers", f"Auto-Submitted: {submitted[:60]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation"):
        value = header(message, name)
        if value and value.lower() not in ("no", "false", "0"):
            return "headers", f"{name}: {value[:60]}"
    if header(message, "X-Autogenerated").lower() == "reply":  # CommuniGate; its Mirror and Forward are not replies
        return "headers", "X-Autogenerated: Reply"
    precedence = header(message, "Precedence").lower()
    if precedence == "auto_reply":
        return "headers", "Precedence: auto_reply"
    if _AUTO_SUBJECT_RE.search(subject):
        return "subject", f"subject {subject[:80]!r}"
    if precedence in ("bulk", "junk"):
        # Weak: mailing lists and some bounce daemons say it too, so a real bounce report still wins.
        return "precedence", f"Precedence: {precedence}"
    return None


def delay_sign(subject: str, text: str) -> str:
    """The words that make a notice a delay warning, or ''."""
    match = _DELAY_SUBJECT_RE.search(subject) or _DELAY_BODY_RE.search(text[:20000])
    return match.group(0) if match else ""


def referenced_ids(message: Message, text: str) -> list[str]:
    """Message-IDs the message quotes: the returned headers, inline copies, In-Reply-To and References."""
    found: list[str] = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822":
            payload = part.get_payload()
            for sub in payload if isinstance(payload, list) else []:
                if isinstance(sub, Message):
                    found.append(header(sub, "Message-ID"))
        elif ctype in ("text/rfc822-headers", "message/rfc822-headers"):
            returned = HeaderParser().parsestr(part_text(part), headersonly=True)
            found.append(header(returned, "Message-ID"))
    found.extend(_MESSAGE_ID_RE.findall(text))
    for name in ("In-Reply-To", "References"):
        found.extend(_IN_REPLY_RE.findall(header(message, name)))
    cleaned = [item.strip() for item in found if item and item.strip().startswith("<")]
    return list(dict.fromkeys(cleaned))[:20]


def _read_report(message: Message) -> Reading | None:
    """An RFC 3464 DSN or an RFC 5965 (ARF) feedback report, when the message carries one."""
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            findings = dsn_findings(part, notice_text(message, status_fields=False))
            if findings:
                failed = [f for f in findings if f.action == "failed"]
                kind = BOUNCE if failed else DELAYED
                note = "" if failed else "Action: delayed"
                return Reading(kind=kind, parser="dsn", note=note, findings=failed or findings)
        if ctype == "message/feedback-report":
            return _read_arf(message, part)
    return None


def _status_groups(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        groups = [g for g in payload if isinstance(g, Message)]
        if groups:
            return groups
    # Some servers send the status fields as an opaque (or base64) body: parse it ourselves.
    text = part_text(part).replace("\r\n", "\n")
    return [HeaderParser().parsestr(block.strip() + "\n") for block in re.split(r"\n\s*\n", text) if block.strip()]


def dsn_findings(part: Message, notice: str = "") -> list[Finding]:
    """Per-recipient results of a message/delivery-status part (failed and delayed; delivered is dropped).

    ``notice`` is the report's human-readable text. Where a ``Diagnostic-Code``
    says nothing clear, the notice's words about the same recipient decide:
    Domino cuts its ``X-Notes`` diagnostic short, or folds it inside a word
    ("not li sted in Domino Directory"), while its text says it whole.
    """
    found: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for group in _status_groups(part):
        final = clean_address(header(group, "Final-Recipient"))
        original = clean_address(header(group, "Original-Recipient"))
        if not final and not original:
            continue  # the per-message group (Reporting-MTA…), or an unreadable one
        action = header(group, "Action").lower().split(" ")[0] if header(group, "Action") else ""
        status_field = header(group, "Status")
        status = find_status(status_field)
        diagnostic = header(group, "Diagnostic-Code")
        diagnostic = diagnostic.split(";", 1)[1].strip() if ";" in diagnostic[:20] else diagnostic
        said = find_status(diagnostic)
        if not status or (status.endswith(".0.0") and said[:1] == status[:1]):
            status = said or status  # Exim writes 5.0.0 beside the server's own 5.1.1
        if action in ("delivered", "relayed", "expanded") or ((final or original).lower(), action) in seen:
            continue
        seen.add(((final or original).lower(), action))
        if not reason_from_text(diagnostic, weak=False):
            said_in_notice = _diagnostic_near(notice, final or original)
            if reason_from_text(said_in_notice, weak=False):
                diagnostic = said_in_notice
        if action == "delayed" or (not action and status.startswith("4")):
            verdict = classify(status, diagnostic, permanent=False)
            found.append(Finding(final or original, original, "delayed", status, diagnostic[:1000], verdict, "dsn"))
            continue
        # "failed", or no action at all (some servers leave it out) with a 5.x.x status.
        verdict = classify(status, diagnostic or status_field, permanent=True)
        found.append(Finding(final or original, original, "failed", status, diagnostic[:1000], verdict, "dsn"))
    return found


def _read_arf(message: Message, part: Message) -> Reading:
    groups = _status_groups(part)
    fields = groups[0] if groups else Message()
    feedback_type = header(fields, "Feedback-Type").lower() or "abuse"
    address = clean_address(header(fields, "Original-Rcpt-To"))
    if not address:
        for sub in message.walk():
            if sub.get_content_type() == "message/rfc822":
                payload = sub.get_payload()
                returned = payload[0] if isinstance(payload, list) and payload else None
                if isinstance(returned, Message):
                    address = clean_address(header(returned, "To"))
            elif sub.get_content_type() in ("text/rfc822-headers", "message/rfc822-headers"):
                address = clean_address(header(HeaderParser().parsestr(part_text(sub), headersonly=True), "To"))
            if address:
                break
    if feedback_type not in ("abuse", "fraud", "other"):
        return Reading(kind=NOT_UNDERSTOOD, parser="arf", note=f"a feedback report of type {feedback_type}")
    verdict = Verdict("complaint", False)
    finding = Finding(address, "", "complaint", "", f"feedback report: {feedback_type}", verdict, "arf")
    # Feedback loops often redact the recipient: the finding stands without an address, and the
    # returned Message-ID or VERP tag says whose message it was.
    return Reading(kind=COMPLAINT, parser="arf", findings=[finding])


def _read_ses(text: str) -> Reading | None:
    """An Amazon SES notification (straight, or wrapped in an SNS envelope), as JSON in the body."""
    start = text.find("{")
    if start < 0 or ('"notificationType"' not in text and '"eventType"' not in text):
        return None
    data = _json_object(text[start:])
    if isinstance(data, dict) and isinstance(data.get("Message"), str):  # the SNS envelope
        data = _json_object(data["Message"])
    if not isinstance(data, dict):
        return Reading(kind=NOT_UNDERSTOOD, parser="ses-json", note="an SES notification whose JSON is broken")
    kind = str(data.get("notificationType") or data.get("eventType") or "")
    mail = _dict(data.get("mail"))
    ids: list[str] = []
    for item in mail.get("headers") or []:
        if isinstance(item, dict) and str(item.get("name", "")).lower() == "message-id":
            ids.append(str(item.get("value", "")).strip())
    common = _dict(mail.get("commonHeaders"))
    if isinstance(common.get("messageId"), str):
        ids.append(common["messageId"].strip())
    ids = [i if i.startswith("<") else f"<{i}>" for i in ids if i]
    if kind == "Bounce":
        bounce = _dict(data.get("bounce"))
        permanent = str(bounce.get("bounceType", "")) == "Permanent"
        findings = []
        for recipient in bounce.get("bouncedRecipients") or []:
            if not isinstance(recipient, dict):
                continue
            address = clean_address(str(recipient.get("emailAddress", "")))
            if not address:
                continue
            diagnostic = str(recipient.get("diagnosticCode") or bounce.get("bounceSubType") or "")[:1000]
            diagnostic = diagnostic.split(";", 1)[1].strip() if diagnostic.lower().startswith("smtp;") else diagnostic
            status = find_status(str(recipient.get("status", ""))) or find_status(diagnostic)
            verdict = classify(status, diagnostic, permanent=permanent)
            findings.append(Finding(address, "", "failed", status, diagnostic, verdict, "ses-json"))
        reading = Reading(kind=BOUNCE if findings else NOT_UNDERSTOOD, parser="ses-json", findings=findings)
    elif kind == "Complaint":
        complaint = _dict(data.get("complaint"))
        findings = []
        for recipient in complaint.get("complainedRecipients") or []:
            address = clean_address(str(recipient.get("emailAddress", ""))) if isinstance(recipient, dict) else ""
            if address:
                note = f"feedback report: {complaint.get('complaintFeedbackType') or 'abuse'}"
                findings.append(Finding(address, "", "complaint", "", note, Verdict("complaint", False), "ses-json"))
        reading = Reading(kind=COMPLAINT if findings else NOT_UNDERSTOOD, parser="ses-json", findings=findings)
    elif kind == "DeliveryDelay":
        reading = Reading(kind=DELAYED, parser="ses-json", note="SES DeliveryDelay")
    else:
        reading = Reading(kind=NOT_UNDERSTOOD, parser="ses-json", note=f"an SES {kind or 'unknown'} notification")
    reading.referenced_ids = ids
    return reading


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _json_object(text: str) -> Any:
    decoder = json.JSONDecoder()
    for candidate in (text, re.sub(r"\s*\n\s*", "", text)):
        try:
            value, _ = decoder.raw_decode(candidate.strip())
            return value
        except (json.JSONDecodeError, ValueError):
            continue
    return None


def _read_plain_bounce(message: Message, text: str) -> list[Finding]:
    """Older servers' plain-text notices, through flufl.bounce's detectors."""
    # Only the notice, not the quoted original: a detector must not find our own reader in the copy.
    notice = text
    marker = _RETURNED_MARKER_RE.search(text)
    head = text[: marker.start()] if marker else text
    findings: dict[str, Finding] = {}
    for name, detect in _detectors():
        try:
            temporary, permanent = detect(message)
        except Exception:  # noqa: S112 - a detector tripping on odd input is not our reader's failure
            continue
        for raw_address, is_permanent in [(a, False) for a in temporary] + [(a, True) for a in permanent]:
            address = clean_address(_text(raw_address))
            if not address or address.lower() in findings:
                continue
            diagnostic = _diagnostic_near(head, address) or _diagnostic_near(notice, address)
            status = find_status(diagnostic) or find_status(head)
            permanent_here = is_permanent and not (status.startswith("4") or _reply_class(diagnostic) == "4")
            verdict = classify(status, diagnostic, permanent=permanent_here)
            if verdict.reason == "undefined" and len(temporary) + len(permanent) == 1:
                # The line naming the address says nothing: the notice's own words are about this one address.
                verdict = classify(status, head[:1500], permanent=permanent_here)
            finding = Finding(address, "", "failed", status, diagnostic, verdict, name)
            findings[address.lower()] = finding
        if temporary or permanent:
            break  # flufl.bounce's own rule: the first (most specific) detector that finds anything decides
    return list(findings.values())


_TEXT_ADDRESS_RE = re.compile(r"[^\s<>()\[\]\"',;:]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ROLE_RE = re.compile(r"^(?:mailer-daemon|postmaster|mail-daemon|noreply|no-reply|bounces?)(?:[+@]|$)", re.I)


def _read_text_bounce(text: str, sender: str) -> list[Finding]:
    """Last resort for a notice no detector knows: the addresses its own words name, with those words.

    Loose on purpose: a finding acts only when it names the very person a
    proven delivery went to (digest.events.bounces), and it is hard only when the
    server's words carry a 5xx reply or a 5.x.x status.
    """
    marker = _RETURNED_MARKER_RE.search(text)
    head = (text[: marker.start()] if marker else text)[:5000]
    own = clean_address(sender.split("<")[-1]) if sender else ""
    addresses: list[str] = []
    for match in _TEXT_ADDRESS_RE.finditer(head):
        address = clean_address(match.group(0))
        if address and address.lower() != own.lower() and not _ROLE_RE.match(address):
            if address.lower() not in (a.lower() for a in addresses):
                addresses.append(address)
    findings = []
    for address in addresses[:5]:
        diagnostic = _diagnostic_near(head, address)
        status = find_status(diagnostic)
        permanent = status.startswith("5") or (not status and _reply_class(diagnostic) == "5")
        verdict = classify(status, diagnostic, permanent=permanent)
        findings.append(Finding(address, "", "failed", status, diagnostic, verdict, "text"))
    return findings


def _detectors() -> list[tuple[str, Any]]:
    """flufl.bounce's detectors one by one (to name the one that decided), or its public scan as one."""
    try:
        from flufl.bounce._scan import _DETECTORS
    except ImportError:  # a flufl.bounce without the list: its public function, unnamed
        from flufl.bounce import all_failures

        return [("flufl.bounce", all_failures)]
    return [(f"flufl.bounce:{cls.__name__.lower()}", lambda m, c=cls: c().process(m)) for cls in _DETECTORS]


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _reply_class(text: str) -> str:
    match = REPLY_RE.search(text)
    return match.group(1) if match else ""


def _diagnostic_near(text: str, address: str) -> str:
    """The server's words about one address: its line and the few lines after it, joined."""
    lowered = text.lower()
    at = lowered.find(address.lower())
    if at < 0:
        return ""
    start = lowered.rfind("\n", 0, at) + 1
    lines: list[str] = []
    for line in text[start:].splitlines()[:8]:
        if not line.strip():
            if len(" ".join(lines)) > len(address) + 12:
                break  # a paragraph about the address is enough; a bare address line takes the next one too
            continue
        first = _LEADING_ADDRESS_RE.match(line)
        if lines and first and first.group(1).lower() != address.lower():
            break  # the next recipient's entry: its words are not about this one
        lines.append(line.strip())
    return " ".join(" ".join(lines).split())[:1000]


_LEADING_ADDRESS_RE = re.compile(r"^\s*<?([^\s<>@:;,]+@[^\s<>:;,]+?)>?(?:[\s:;,]|$)")
