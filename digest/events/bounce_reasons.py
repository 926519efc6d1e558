"""Why a message could not be delivered, and whether that is final.

A bounce is judged by its **reason**, in the spirit of sisimai's classes, not
by the first digit of its status alone: a full mailbox is not a dead address
even when the server answers 5.2.2, and a blocklisting of our sending address
says nothing about the reader at all. Only four reasons mean the address is
gone (``HARD_REASONS``); everything else is soft and counts towards the
soft-bounce threshold. Whatever the reason, a temporary failure (a 4.x.x
status, a 4xx reply, or a report that says it will retry) is never hard.

The reason comes from the server's own words where they are clear (they are
more specific than the status: Microsoft answers 5.1.10 for an unknown
recipient, qmail-toaster "over quota (#5.1.1)"), else from the RFC 3463
status code, else it is ``undefined`` (soft).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HARD_REASONS = ("user-unknown", "host-unknown", "has-moved", "not-accepting")
SOFT_REASONS = (
    "mailbox-full",
    "exceeds-limit",
    "blocked",
    "policy",
    "spam-detected",
    "rejected",
    "filtered",
    "suspended",
    "expired",
    "system-error",
    "network-error",
    "too-many-connections",
    "content-error",
    "undefined",
)
REASONS = HARD_REASONS + SOFT_REASONS

# Checked in this order; the first that matches names the reason. Signs that
# the problem is on our side or temporary (blocklists, spam, limits) come
# before "user unknown", so a message that mentions both is never hard.
_TEXT_RULES: tuple[tuple[str, str], ...] = (
    (
        # Our own sender address or domain refused ("sender rejected", "after MAIL FROM", 5.1.7/5.1.8):
        # about us, never about the reader, whatever else the words say ("does not exist").
        "rejected",
        r"sender (?:address )?(?:rejected|refused|denied|verify failed|not allowed|invalid|domain)"
        r"|unroutable sender|domain of sender address|after mail from|mail from not|sender verification"
        r"|bad sender|invalid sender|sender unknown|sender was rejected|(?<![\d.])5\.1\.[78](?!\.?\d)",
    ),
    (
        "mailbox-full",
        r"(?:mail ?box|inbox|mail ?folder|maildir|disk|storage|account)(?: is)? (?:full|over (?:the )?quota)"
        r"|over (?:the |its |their )?(?:allowed |disk |storage )?quota|quota (?:exceeded|violation|full|usage)"
        r"|exceed(?:ed|s|ing)? (?:its |their |the |his |her )?(?:mailbox |storage |disk |mail )?(?:quota|storage)"
        r"|(?:insufficient|not enough) (?:free )?(?:disk |storage )?(?:space|storage)|mailbox size limit|full mailbox"
        r"|space has been used up|too many messages (?:in|on) (?:the|this) (?:mailbox|server)|overquota"
        r"|space not enough",
    ),
    (
        "exceeds-limit",
        r"message (?:is |file )?too (?:large|big)|message size (?:exceed(?:s|ed)|too)|exceed(?:s|ed)? (?:the )?"
        r"(?:maximum|max|size|message)(?: inbound)?(?: message)? (?:size|length|limit)|message length exceeds"
        r"|size limit",
    ),
    (
        "too-many-connections",
        r"too many (?:connections|concurrent|smtp sessions|sessions|errors|messages from|recipients)"
        r"|(?:connection|sending|message) rate (?:limit|exceeded)|rate limit|receiving mail at a rate|throttl"
        r"|exceeded the (?:max(?:imum)?|allowed) (?:number of )?(?:emails|messages|mails) per",
    ),
    (
        "blocked",
        r"block ?list|black ?list|deny ?list|dnsbl|\brbl\b|spamhaus|spamcop|sorbs|barracuda|cloudmark"
        r"|(?<!not )listed (?:at|on|by) |(?:poor|bad|low) reputation|sender reputation|ip reputation"
        r"|client host .{0,80}(?:rejected|blocked)|(?:your|sending|the) ip (?:address )?(?:is |has been )?"
        r"(?:blocked|banned|rejected|not allowed)|reverse dns|\bptr\b|\brdns\b|\bblocked\b",
    ),
    (
        "spam-detected",
        r"\bspam\b|spam (?:message|content|detected|score)|junk mail|unsolicited|\bu\.?c\.?e\.?\b"
        r"|(?:looks|appears to be|classified as|considered|identified as) (?:like )?(?:spam|junk|bulk)"
        r"|(?:message|content) (?:was )?(?:rejected|refused) (?:as|because of|due to) (?:its )?content",
    ),
    (
        "content-error",
        r"virus|malware|infected|(?:dangerous|prohibited|banned|forbidden|illegal) (?:attachment|content|file)"
        r"|mime (?:error|violation)|bare (?:lf|line ?feed)|line (?:is )?too long",
    ),
    (
        "policy",
        r"polic(?:y|ies)|dmarc|\bspf\b|\bdkim\b|authenticat(?:ion|ed)|sender id|not permitted|prohibited"
        r"|members[- ]only|closed (?:mailing )?list|not subscribed to this (?:group|list)",
    ),
    (
        "has-moved",
        r"has been replaced by|(?:mailbox|address|user|recipient) has (?:moved|changed)|moved permanently",
    ),
    (
        "suspended",
        r"suspended|(?:account|mailbox|user|address|recipient)(?: is| has been)? (?:disabled|deactivated|inactive"
        r"|frozen|locked|closed|blocked)|(?:inactive|disabled|deactivated|expired) (?:user|account|mailbox)"
        r"|temporarily inactive|extended inactivity|no longer active",
    ),
    (
        "not-accepting",
        r"(?:host|domain|system|server)(?:/domain)? (?:does not|doesn't|will not) accept (?:any )?mail|null ?mx",
    ),
    (
        "network-error",
        r"name service error|dns (?:error|failure|timeout)|temporary dns|servfail",
    ),
    (
        "host-unknown",
        r"host (?:or domain name )?(?:not found|unknown)|unknown (?:host|domain)|domain (?:does not|doesn't) exist"
        r"|no such (?:domain|host)|domain (?:name )?not found|name or service not known|unrout(?:e)?able"
        r"|no (?:valid )?mx (?:record|host)|mx (?:lookup|record) (?:failed|not found)|nxdomain"
        r"|no mail ?hosts? for domain|unable to route",
    ),
    (
        "user-unknown",
        r"user(?:name)? (?:unknown|not found|doesn'?t exist|does not exist)|unknown (?:user|recipient|local[- ]?part"
        r"|mailbox|address|alias)|no such (?:user|mailbox|recipient|address|account|person|local user)"
        r"|(?:mailbox|account|address|recipient|user|e-?mail account)(?: name)? (?:\S+ )?(?:does not|doesn'?t|dose not)"
        r" exist|does not exist|not (?:a )?(?:valid|known) (?:user|recipient|mailbox|address)"
        r"|invalid (?:recipient|mailbox|user|address|account)|recipient ?not ?found|recip ?not ?found"
        r"|mailbox not found|no mailbox here|not listed in|(?:is|address) not listed|not our customer"
        # Hotmail and Outlook.com answer an unknown address with RFC 5321's own 550 wording;
        # Domino's notice in French and Japanese.
        r"|requested action not taken: mailbox unavailable"
        r"|non répertorié dans l'annuaire|ディレクトリには見つかりません"
        r"|no longer (?:valid|exists?)"
        r"|(?:doesn'?t|does not) have an? \S+ account|address (?:is )?unknown|bad destination mailbox"
        r"|recent history of bouncing as an invalid address|unknown or illegal alias|invalid (?:final delivery )?userid"
        r"|n'existe pas|existiert nicht|no existe",
    ),
    (
        "filtered",
        r"filtered|(?:refused|rejected) (?:due to|by) (?:the )?(?:recipient|user)'?s? (?:preferences|rules|filter)"
        r"|only accepting mail from|blocked by the recipient|recipient (?:does not|doesn't) accept",
    ),
    (
        "expired",
        r"expired|delivery time|timed? ?out|giving up|gave up|retry (?:time ?out|timeout|period) exceeded"
        r"|too long in (?:the )?queue|(?:could not|unable to|cannot) (?:be )?deliver(?:ed)? .{0,40}(?:for|after|within)"
        r" .{0,20}(?:days|hours|retries|attempts)|have been failing for|maximum (?:time|number of attempts)"
        r"|not (?:been )?collected",
    ),
    (
        "network-error",
        r"connection (?:refused|reset|lost|closed|timed out|dropped|failed)"
        r"|network (?:error|unreachable|is unreachable)"
        r"|no route to host|(?:unable|could not|couldn't|failed) to connect|lost connection|routing loop|mail loop"
        r"|loops? back|looping|too many hops|hop count|tls (?:negotiation|handshake)",
    ),
    (
        "system-error",
        r"system error|internal (?:server )?error|server error|local error|configuration error|misconfigur"
        r"|resources? (?:temporarily )?unavailable|out of memory|system (?:full|not accepting)|insufficient system"
        r"|service (?:unavailable|not available)|mailer error|program exited|command died|transport error"
        r"|temporar(?:y|ily) (?:failure|unavailable|error|rejected|deferred)",
    ),
    (
        "rejected",
        r"relay(?:ing)? (?:access )?(?:denied|not permitted|prohibited)"
        r"|\brejected\b|\brefused\b|\bdenied\b|not allowed|administrative prohibition",
    ),
)
_TEXT_PATTERNS = tuple((reason, re.compile(pattern, re.IGNORECASE)) for reason, pattern in _TEXT_RULES)
# The last rule is only generic refusal words: too general to beat a specific status code
# ("Recipient address rejected: …" with 5.1.1 is an unknown user).
_WEAK_RULE = len(_TEXT_PATTERNS) - 1

# RFC 3463 subject.detail → reason, for when the words say nothing clear.
_STATUS_DETAIL = {
    "1.0": "user-unknown",
    "1.1": "user-unknown",
    "1.2": "host-unknown",
    "1.3": "user-unknown",
    "1.4": "filtered",
    "1.6": "has-moved",
    "1.7": "rejected",
    "1.8": "rejected",
    "1.9": "system-error",
    "1.10": "not-accepting",
    "2.0": "filtered",
    "2.1": "suspended",
    "2.2": "mailbox-full",
    "2.3": "exceeds-limit",
    "2.4": "system-error",
    "3.1": "system-error",
    "3.2": "not-accepting",
    "3.4": "exceeds-limit",
    "4.1": "network-error",
    "4.2": "network-error",
    "4.4": "host-unknown",
    "4.6": "network-error",
    "4.7": "expired",
    "5.3": "too-many-connections",
    "7.1": "blocked",
    "7.13": "suspended",
    "7.17": "has-moved",
    "7.18": "has-moved",
    "7.25": "blocked",
    "7.27": "not-accepting",
}
_STATUS_SUBJECT = {
    "3": "system-error",
    "4": "network-error",
    "5": "system-error",
    "6": "content-error",
    "7": "policy",
}

STATUS_RE = re.compile(r"(?<![\d.])([45])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
REPLY_RE = re.compile(r"(?<![\d.#-])([245])[0-9]{2}(?:[ -]|$)")
_TEMPORARY_RE = re.compile(
    r"temporar(?:y|ily)|will (?:be )?(?:retr(?:y|ied)|tried again)|try again later|still (?:being )?(?:retried|trying)"
    r"|warning only|do not need to resend|,\s*try again\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Verdict:
    """A reason from the lists above and whether it makes the address bounced at once."""

    reason: str
    hard: bool


def find_status(text: str) -> str:
    """The first RFC 3463 status code (``5.1.1``) in ``text``, or ''."""
    match = STATUS_RE.search(text)
    return match.group(0) if match else ""


def reason_from_text(text: str, *, weak: bool = True) -> str:
    """The reason the server's words give, or '' when they say nothing clear (``weak=False``: nor generic words)."""
    for number, (reason, pattern) in enumerate(_TEXT_PATTERNS):
        if (weak or number != _WEAK_RULE) and pattern.search(text):
            return reason
    return ""


def reason_from_status(status: str) -> str:
    """The reason an RFC 3463 status code stands for, or '' for x.0.0 and unknown codes."""
    match = STATUS_RE.fullmatch(status.strip())
    if not match:
        return ""
    detail = f"{int(match.group(2))}.{int(match.group(3))}"
    if detail in _STATUS_DETAIL:
        return _STATUS_DETAIL[detail]
    return _STATUS_SUBJECT.get(str(int(match.group(2))), "")


def is_temporary(status: str, diagnostic: str) -> bool:
    """Whether the report itself says the failure is not final (a 4.x.x status, a 4xx reply, "will retry")."""
    if status.startswith("4"):
        return True
    # A generic status (none, or x.0.0) says nothing about the remote server's own answer, which
    # may come after other words: "... Remote host said: 450 user unknown" is temporary.
    if not status or status.endswith(".0.0"):
        reply = REPLY_RE.search(diagnostic)
        if reply and reply.group(1) == "4":
            return True
    return bool(_TEMPORARY_RE.search(diagnostic))


def classify(status: str, diagnostic: str, *, permanent: bool = True) -> Verdict:
    """The reason for one failed recipient and whether it is hard.

    ``permanent`` is what the report's own shape says (a DSN's ``Action:
    failed``, flufl.bounce's permanent list); it can make a failure soft,
    never hard: only a hard *reason* with nothing temporary about it is hard.
    """
    status = status.strip()
    if not status:
        status = find_status(diagnostic)
    reason = (
        reason_from_text(diagnostic, weak=False)
        or reason_from_status(status)
        or reason_from_text(diagnostic)
        or "undefined"
    )
    hard = reason in HARD_REASONS and permanent and not is_temporary(status, diagnostic)
    return Verdict(reason, hard)
