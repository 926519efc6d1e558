"""Which tool wrote a subscriber CSV, and what each of its columns means.

A file's layout decides the status of everyone in it: Mailchimp exports one
file per status (subscribed, unsubscribed, cleaned, non-subscribed) and the
status is in which file it is, not in a column. The plan made here says, for
every column, what the import does with it and why, so `--dry-run` can show
the admin exactly how the file was understood before anything is written.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from digest.errors import InputError
from digest.people.csvimport.tools import (
    AMBIGUOUS_NAMES,
    LEAVING_NAMES,
    LOCALISED_HEADERS,
    MAILCHIMP_CLEAN,
    MAILCHIMP_COLUMNS,
    MAILCHIMP_MARKERS,
    MAILCHIMP_UNSUB,
    MOMENTS,
    NOT_SUBSCRIBED,
    TOOLS,
    StatusRule,
    Tool,
)
from digest.people.subscribers import ACTIVE, BOUNCED, COMPLAINED, PROFILE_FIELDS, UNSUBSCRIBED

# Header names from our own exports and from common tools (CRMs, spreadsheets),
# compared after lower-casing and folding spaces, "_" and "-".
HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        [
            "email",
            "email address",
            "e mail",
            "e mail address",
            "emailaddress",
            "mail",
            "email addr",
            "work email",
            "primary email",
        ],
        "email",
    ),
    **dict.fromkeys(["first name", "firstname", "first", "given name", "forename", "fname"], "first_name"),
    **dict.fromkeys(["last name", "lastname", "last", "surname", "family name", "lname"], "last_name"),
    **dict.fromkeys(["name", "full name", "fullname", "contact name"], "name"),
    # Mailchimp's default fields as audiences in other languages name them ("E-Mail-Adresse", "Prénom").
    **{alias: target for target, aliases in LOCALISED_HEADERS.items() for alias in aliases},
    **dict.fromkeys(
        [
            "organisation",
            "organization",
            "company",
            "school",
            "employer",
            "org",
            "organisation name",
            "organization name",
            "setting",
        ],
        "organisation",
    ),
    **dict.fromkeys(["role", "job title", "position", "job role", "jobtitle"], "role"),
    **dict.fromkeys(["sector"], "sector"),
    **dict.fromkeys(["region", "county", "area", "local authority"], "region"),
    **dict.fromkeys(["topics", "interests"], "topics"),
    **dict.fromkeys(["tags"], "tags"),
    **dict.fromkeys(["key contact", "keycontact"], "key_contact"),
    **dict.fromkeys(
        ["consent date", "consent at", "consent_at", "subscribed at", "date subscribed"],
        "consent_at",
    ),
    **dict.fromkeys(["optin time", "opt in time", "opt in date", "optin date"], "optin_at"),
    **dict.fromkeys(["confirm time", "confirmed at", "confirm date"], "confirm_at"),
    **dict.fromkeys(["optin ip", "opt in ip"], "optin_ip"),
    **dict.fromkeys(["confirm ip"], "confirm_ip"),
    **dict.fromkeys(["consent text", "consent", "consent wording", "notice version", "privacy notice"], "consent_text"),
    **dict.fromkeys(["status", "member status", "subscription status"], "status"),
}

# What each target means, for the --dry-run column report.
TARGET_NAMES = {
    "email": "email address",
    "name": "full name, split into first and last name",
    "topics": "topics (by slug or label)",
    "tags": "tags: those naming a topic become topics, the rest attribute 'tags'",
    "key_contact": "key contact (yes/no)",
    "consent_at": "consent time",
    "optin_at": "opt-in time (the consent time when there is no confirmation time)",
    "confirm_at": "confirmation time (the consent time)",
    "optin_ip": "opt-in IP address, kept in the history as consent evidence",
    "confirm_ip": "confirmation IP address, kept in the history as consent evidence",
    "consent_text": "consent wording",
    "status": "status (subscribed, unsubscribed, cleaned, bounced, complained…)",
    "attributes_json": "attributes (a JSON object, kept as free attributes)",
    **{name: name.replace("_", " ") for name in PROFILE_FIELDS},
}

_MAILCHIMP_FILE_RE = re.compile(
    r"^(?P<kind>non[-_ ]?subscribed|unsubscribed|cleaned|subscribed)[-_ ].*export", re.IGNORECASE
)

# Columns of other tools that are bookkeeping, not facts about a person.
IGNORED_COLUMNS = {
    "member rating": "a mailing tool's engagement rating",
    "last changed": "when the old tool's record last changed",
    "leid": "the old tool's own id",
    "euid": "the old tool's own id",
    "marketing permissions": "the old tool's permission flags",
    "status reason": "our own export's status reason (the history is not re-imported)",
    "status changed at": "our own export's status date",
    "created at": "when the old record was made, not evidence of consent",
    "attributes": "our own export's attributes column (key=value text)",
}


# A Status column in a file of no known tool: our own export's words, Mailchimp's and listmonk's.
FILE_STATUSES = {
    "subscribed": ACTIVE,
    "active": ACTIVE,
    "enabled": ACTIVE,
    "unsubscribed": UNSUBSCRIBED,
    "blocklisted": UNSUBSCRIBED,
    "blacklisted": UNSUBSCRIBED,
    "cleaned": BOUNCED,
    "bounced": BOUNCED,
    "complained": COMPLAINED,
    "spam": COMPLAINED,
    "erased": UNSUBSCRIBED,
    "disabled": NOT_SUBSCRIBED,
    "non-subscribed": NOT_SUBSCRIBED,
    "nonsubscribed": NOT_SUBSCRIBED,
    "transactional": NOT_SUBSCRIBED,
    "pending": NOT_SUBSCRIBED,
}
GENERIC_STATUS = StatusRule(("status",), FILE_STATUSES, empty=ACTIVE)
GENERIC_STATUS_WORDS = (
    "subscribed, unsubscribed, cleaned, bounced, complained, non-subscribed "
    "(or listmonk's enabled, disabled, blocklisted)"
)
ANY_VALUE = "*"  # --left-values '*': any value at all means the person left (a date in "unsubscribed_at")

MAP_TARGETS = (*PROFILE_FIELDS, "topics", "key_contact", "ignore")


@dataclass(frozen=True)
class Layout:
    """The kind of file: who wrote it and what it says about everyone in it."""

    name: str  # generic, a tool's name, mailchimp-subscribed, -unsubscribed, -cleaned, -nonsubscribed
    description: str
    evidence: str  # why we think so: the columns or the file name
    status: str | None  # every row's status; None: active unless a status column says otherwise
    tool: Tool | None = None

    def summary(self) -> str:
        """One sentence for the admin: what the file is, how we know, and what it does to the people in it."""
        known = f" (known by {self.evidence})" if self.evidence else ""
        effect = {
            UNSUBSCRIBED: ": everyone in it is unsubscribed and suppressed",
            BOUNCED: ": everyone in it is bounced and suppressed",
            NOT_SUBSCRIBED: ": nobody in it opted in, so nobody is imported or mailed",
        }.get(self.status or "", "")
        return f"{self.description[0].upper()}{self.description[1:]}{known}{effect}."


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    target: str | None  # a field, "attr:<key>", "evidence", "status", or None (ignored)
    note: str = ""
    rule: StatusRule | None = None  # for a status column: what its values mean
    words: str = ""  # for a status column: the values it knows, for a refusal

    def describe(self) -> str:
        """One line for --dry-run: the column, what it becomes, and why."""
        if self.target is None:
            what = "ignored"
        elif self.target.startswith("attr:"):
            what = f"attribute {self.target[5:]}"
        elif self.target == "evidence":
            what = "kept in the history as evidence of the status"
        elif self.rule is not None and self.rule is not GENERIC_STATUS:
            what = f"status ({_rule_summary(self.rule)})"
        else:
            what = TARGET_NAMES.get(self.target, self.target)
        note = f" ({self.note})" if self.note else ""
        return f"{self.header or '(no name)'} → {what}{note}"


def _rule_summary(rule: StatusRule) -> str:
    """What a status rule's values mean: "cancelled → unsubscribed; inactive → not-subscribed; …"."""
    meanings: dict[str, list[str]] = {}
    for value, status in rule.values.items():
        if status != ACTIVE:
            meanings.setdefault(status, []).append(value)
    parts = [f"{', '.join(values)} → {status}" for status, values in meanings.items()]
    if rule.other not in (None, ACTIVE):
        parts.append(f"any value → {rule.other}")
    return "; ".join(parts) or "every value active"


@dataclass(frozen=True)
class Plan:
    layout: Layout
    columns: tuple[Column, ...]
    # Columns kept as attributes whose name and values may say the person left: (index, header, any value counts).
    watched: tuple[tuple[int, str, bool], ...] = ()

    @cached_property
    def used(self) -> dict[int, str]:
        """Column index → target, for the columns the import reads (worked out once: every row asks)."""
        return {column.index: column.target for column in self.columns if column.target and column.rule is None}

    @cached_property
    def fields(self) -> list[tuple[int, str]]:
        """(index, field) of the columns read as fields, in column order."""
        return [(i, t) for i, t in self.used.items() if not t.startswith("attr:") and t != "evidence"]

    @cached_property
    def attribute_columns(self) -> list[tuple[int, str]]:
        """(index, attribute key) of the columns kept as attributes, in column order."""
        return [(i, t[5:]) for i, t in self.used.items() if t.startswith("attr:")]

    @cached_property
    def evidence_columns(self) -> list[tuple[int, str]]:
        """(index, header) of the columns kept as evidence of the status, in column order."""
        return [(c.index, c.header) for c in self.columns if c.target == "evidence"]

    @cached_property
    def status_columns(self) -> list[Column]:
        """The columns that say whether a person is still subscribed, in column order."""
        return [c for c in self.columns if c.rule is not None]

    @cached_property
    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for column in self.columns:
            if column.target:
                headers.setdefault(column.target, column.header)
        return headers

    def header_of(self, target: str) -> str:
        return self._headers.get(target, target)


def normalise_header(name: str) -> str:
    """A header as the tables compare it: lower case, accents off, spaces, "_" and "-" folded to one space."""
    text = name.strip().strip("\ufeff*").lower()
    if not text.isascii():
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[\s_\-]+", " ", text).split())


def attribute_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_") or "column"


def parse_maps(items: Sequence[str]) -> dict[str, str]:
    """``--map COLUMN=FIELD`` options → {column: field}, checked."""
    maps: dict[str, str] = {}
    for item in items:
        column, sep, target = item.partition("=")
        column, target = column.strip(), target.strip()
        valid = target in MAP_TARGETS or (target.startswith("attributes.") and len(target) > len("attributes."))
        if not sep or not column or not valid:
            raise InputError(
                f"--map {item!r}: write COLUMN=FIELD, where FIELD is one of {', '.join(MAP_TARGETS)} "
                "or attributes.<name>"
            )
        maps[column] = target
    return maps


@dataclass(frozen=True)
class StatusChoice:
    """``--status-column COL`` and ``--left-values V1,V2``: the admin's answer to the import's question."""

    column: str | None = None
    left_values: tuple[str, ...] = ()

    def rule(self) -> tuple[StatusRule, str]:
        """The rule the answer makes, and the words for the row's evidence."""
        if not self.left_values:
            return GENERIC_STATUS, ""
        folded = [value.strip().casefold() for value in self.left_values if value.strip()]
        if not folded:
            raise InputError("--left-values names no value; list the values that mean the person left")
        if ANY_VALUE in folded:
            return StatusRule((), {}, empty=ACTIVE, other=UNSUBSCRIBED), f"--left-values {ANY_VALUE}"
        left = {value: _leaving(value) for value in folded}
        return StatusRule((), left, empty=ACTIVE, other=ACTIVE), f"--left-values {', '.join(self.left_values)}"


def _leaving(value: str) -> str:
    """The status a value the admin says means "left" stands for: a bounce or complaint when its word says so."""
    status = FILE_STATUSES.get(value, UNSUBSCRIBED)
    return status if status in (BOUNCED, COMPLAINED) else UNSUBSCRIBED


def plan_columns(
    header: Sequence[str], path: Path, maps: Mapping[str, str] | None = None, choice: StatusChoice | None = None
) -> Plan:
    """Recognise the layout and decide what every column means; refuse what cannot be right."""
    maps = dict(maps or {})
    stripped = [name.strip().lstrip("\ufeff") for name in header]
    layout = _layout(stripped, path)
    columns = [_column(index, name, layout) for index, name in enumerate(stripped)]
    columns = _apply_maps(columns, maps, stripped, path)
    if not layout.name.startswith("mailchimp"):
        # Mailchimp's own "Full Name" merge field fills in, row by row, only where both name fields are empty.
        columns = _name_or_parts(columns)
    if choice is not None and (choice.column or choice.left_values):
        columns = _apply_choice(columns, choice, stripped, path)
    _check_targets(columns, path, stripped)
    return Plan(layout, tuple(columns), _watched(columns))


def _layout(header: Sequence[str], path: Path) -> Layout:
    exact = set(header)
    if len(exact & MAILCHIMP_MARKERS) >= 3:
        return _mailchimp_layout(exact, path)
    normalised = {normalise_header(name): name for name in header}
    for tool in TOOLS:
        if (
            all(name in normalised for name in tool.recognised_by)
            and (not tool.any_of or any(name in normalised for name in tool.any_of))
            and not any(name in normalised for name in tool.none_of)
        ):
            seen = [normalised[name] for name in (*tool.recognised_by, *tool.any_of) if name in normalised]
            shown = [name for name in seen if HEADER_ALIASES.get(normalise_header(name)) != "email"]
            return Layout(tool.name, tool.description, f"the columns {', '.join(shown)}", None, tool)
    return Layout("generic", "a spreadsheet or CRM export", "", None)


def _mailchimp_layout(exact: set[str], path: Path) -> Layout:
    unsub = [name for name in MAILCHIMP_UNSUB if name in exact]
    clean = [name for name in MAILCHIMP_CLEAN if name in exact]
    named = _MAILCHIMP_FILE_RE.match(path.name)
    kind = re.sub(r"[-_ ]", "", named.group("kind").lower()) if named else None
    if unsub and clean:
        raise InputError(
            f"has both Mailchimp's unsubscribe columns ({', '.join(unsub)}) and its cleaned columns "
            f"({', '.join(clean)}); import each of Mailchimp's files as it came",
            path=path,
            line=1,
        )
    if unsub:
        return Layout(
            "mailchimp-unsubscribed",
            "Mailchimp's unsubscribed audience export",
            f"the {', '.join(unsub)} column{'s' if len(unsub) > 1 else ''}",
            UNSUBSCRIBED,
        )
    if clean:
        return Layout(
            "mailchimp-cleaned",
            "Mailchimp's cleaned audience export, of addresses that bounced",
            f"the {', '.join(clean)} column{'s' if len(clean) > 1 else ''}",
            BOUNCED,
        )
    if kind in ("unsubscribed", "cleaned"):
        # A renamed or edited file: its name and its columns disagree about who these people are.
        raise InputError(
            f"the name says Mailchimp's {kind} export, but the file has none of its "
            f"{'UNSUB_' if kind == 'unsubscribed' else 'CLEAN_'} columns; import the file as Mailchimp wrote it",
            path=path,
            line=1,
        )
    if kind == "nonsubscribed":
        return Layout(
            "mailchimp-nonsubscribed",
            "Mailchimp's non-subscribed audience export, of contacts who never opted in",
            f"the file name {path.name}",
            NOT_SUBSCRIBED,
        )
    return Layout(
        "mailchimp-subscribed",
        "Mailchimp's subscribed audience export",
        "Mailchimp's columns (OPTIN_TIME, CONFIRM_TIME, LEID…) and no UNSUB_ or CLEAN_ columns",
        None,
    )


def _column(index: int, name: str, layout: Layout) -> Column:
    if layout.name.startswith("mailchimp") and name in MAILCHIMP_COLUMNS:
        target, note = MAILCHIMP_COLUMNS[name]
        return Column(index, name, target, note.format(map=f"--map {name}=FIELD to use it"))
    normalised = normalise_header(name)
    tool = layout.tool
    if tool is not None:
        for rule in tool.status:
            if normalised in rule.headers:
                return Column(index, name, "status", rule=rule, words=rule.known_values())
        if normalised in tool.columns:
            target, note = tool.columns[normalised]
            return Column(index, name, target, note)
    if not normalised:
        return Column(index, name, None, "no header")
    if normalised in IGNORED_COLUMNS:
        return Column(index, name, None, IGNORED_COLUMNS[normalised])
    target = HEADER_ALIASES.get(normalised)
    if target is None:
        return Column(index, name, "attr:" + attribute_key(name), "not a field of ours; segments can match it")
    if target == "status":
        return Column(index, name, "status", rule=GENERIC_STATUS, words=GENERIC_STATUS_WORDS)
    return Column(index, name, target)


def _find(columns: Sequence[Column], wanted: str, header: Sequence[str], path: Path, option: str) -> Column:
    """The one column named ``wanted`` (as written, else as normalised), or an error naming the header."""
    matches = [c for c in columns if c.header == wanted] or [
        c for c in columns if normalise_header(c.header) == normalise_header(wanted)
    ]
    if len(matches) != 1:
        shown = ", ".join(repr(h) for h in header[:30])
        problem = "no column" if not matches else "more than one column"
        raise InputError(f"{option}: {problem} {wanted!r}; the header has {shown}", path=path)
    return matches[0]


def _apply_maps(columns: list[Column], maps: dict[str, str], header: Sequence[str], path: Path) -> list[Column]:
    for wanted, target in maps.items():
        found = _find(columns, wanted, header, path, f"--map {wanted}={target}")
        new_target = (
            None
            if target == "ignore"
            else ("attr:" + attribute_key(target.split(".", 1)[1]) if target.startswith("attributes.") else target)
        )
        columns[found.index] = Column(found.index, found.header, new_target, f"--map {wanted}={target}")
    return columns


def _apply_choice(columns: list[Column], choice: StatusChoice, header: Sequence[str], path: Path) -> list[Column]:
    if not choice.column:
        raise InputError("--left-values needs the column they are values of: add --status-column COLUMN", path=path)
    found = _find(columns, choice.column, header, path, f"--status-column {choice.column}")
    rule, said = choice.rule()
    words = GENERIC_STATUS_WORDS if rule is GENERIC_STATUS else ""
    columns[found.index] = Column(found.index, found.header, "status", said or "--status-column", rule, words)
    return columns


def _name_or_parts(columns: list[Column]) -> list[Column]:
    """A name column beside first- and last-name columns is not used; beside a last-name column only,
    it is the first name (MailerLite's ``name`` and ``last_name``); alone, it is split."""
    targets = {c.target for c in columns}
    if "name" not in targets or not targets & {"first_name", "last_name"}:
        return columns
    if "first_name" in targets:
        replacement = Column(0, "", None, "the first and last name columns are used")
    else:
        replacement = Column(0, "", "first_name", "the first name, beside the last-name column")
    return [
        Column(c.index, c.header, replacement.target, replacement.note) if c.target == "name" else c for c in columns
    ]


def _watched(columns: Sequence[Column]) -> tuple[tuple[int, str, bool], ...]:
    """Attribute columns whose name says subscription (``Unsubscribed``, ``EMAIL_BLACKLISTED``, ``State``…):
    their values are looked at as rows are read, and one that says the person left stops the import."""
    watched = []
    for column in columns:
        if not (column.target or "").startswith("attr:"):
            continue
        name = f" {normalise_header(column.header)} "
        leaving = any(word in name for word in LEAVING_NAMES)
        if leaving or any(word in name for word in AMBIGUOUS_NAMES):
            moment = leaving and any(name.rstrip().endswith(word) or f"{word} " in name for word in MOMENTS)
            watched.append((column.index, column.header, moment))
    return tuple(watched)


def _check_targets(columns: Sequence[Column], path: Path, header: Sequence[str]) -> None:
    taken: dict[str, str] = {}
    for column in columns:
        if column.target is None or column.target == "evidence" or column.rule is not None:
            continue
        if column.target in taken:
            raise InputError(
                f"columns {taken[column.target]!r} and {column.header!r} both mean {column.target}; remove one "
                f"(or choose with --map {column.header}=ignore)",
                path=path,
                line=1,
            )
        taken[column.target] = column.header
    if "email" not in taken:
        shown = ", ".join(repr(h) for h in header[:12])
        raise InputError(
            f"no email column; the header has {shown}. Name the column 'email' (or 'Email Address', 'E-mail')",
            path=path,
            line=1,
        )
