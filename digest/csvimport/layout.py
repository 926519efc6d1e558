"""Which tool wrote a subscriber CSV, and what each of its columns means.

A file's layout decides the status of everyone in it: Mailchimp exports one
file per status (subscribed, unsubscribed, cleaned, non-subscribed) and the
status is in which file it is, not in a column. The plan made here says, for
every column, what the import does with it and why, so `--dry-run` can show
the admin exactly how the file was understood before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from digest.errors import InputError
from digest.subscribers import ACTIVE, BOUNCED, PROFILE_FIELDS, UNSUBSCRIBED

# A status for rows that are neither mailed nor stored: Mailchimp's
# non-subscribed contacts and listmonk's disabled ones never opted in to this list.
NOT_SUBSCRIBED = "not-subscribed"

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

# Mailchimp's own columns, written in capitals; a merge field the audience's
# owner made ("Region") is told apart from Mailchimp's geo-IP guess ("REGION") by case.
MAILCHIMP_GEO = ("LATITUDE", "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION")
MAILCHIMP_UNSUB = ("UNSUB_TIME", "UNSUB_CAMPAIGN_TITLE", "UNSUB_CAMPAIGN_ID", "UNSUB_REASON", "UNSUB_REASON_OTHER")
MAILCHIMP_CLEAN = ("CLEAN_TIME", "CLEAN_CAMPAIGN_TITLE", "CLEAN_CAMPAIGN_ID")
MAILCHIMP_COLUMNS: dict[str, tuple[str | None, str]] = {
    "MEMBER_RATING": (None, "Mailchimp's engagement rating, not a fact about the person"),
    "OPTIN_TIME": ("optin_at", ""),
    "OPTIN_IP": ("optin_ip", ""),
    "CONFIRM_TIME": ("confirm_at", ""),
    "CONFIRM_IP": ("confirm_ip", ""),
    **{name: (None, "Mailchimp's guess from the IP address ({map})") for name in MAILCHIMP_GEO},
    "LAST_CHANGED": (None, "when the Mailchimp record last changed"),
    "LEID": (None, "Mailchimp's own id"),
    "EUID": (None, "Mailchimp's own id"),
    "NOTES": (None, "Mailchimp's internal notes ({map})"),
    "TAGS": ("tags", ""),
    **{name: ("evidence", "") for name in (*MAILCHIMP_UNSUB, *MAILCHIMP_CLEAN)},
}
# Enough of these in capitals and the file is a Mailchimp audience export.
_MAILCHIMP_MARKERS = {"MEMBER_RATING", "OPTIN_TIME", "CONFIRM_TIME", "LEID", "EUID", "LAST_CHANGED", "OPTIN_IP"}
_MAILCHIMP_FILE_RE = re.compile(
    r"^(?P<kind>non[-_ ]?subscribed|unsubscribed|cleaned|subscribed)[-_ ].*export", re.IGNORECASE
)

LISTMONK_COLUMNS: dict[str, tuple[str | None, str]] = {
    "uuid": (None, "listmonk's own id"),
    "email": ("email", ""),
    "name": ("name", ""),
    "attributes": ("attributes_json", ""),
    "status": ("status", ""),
    "created at": (None, "when the listmonk record was made, not evidence of consent"),
    "updated at": (None, "when the listmonk record last changed"),
}

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

FILE_STATUSES = {
    "subscribed": ACTIVE,
    "active": ACTIVE,
    "enabled": ACTIVE,
    "": ACTIVE,
    "unsubscribed": UNSUBSCRIBED,
    "blocklisted": UNSUBSCRIBED,
    "blacklisted": UNSUBSCRIBED,
    "cleaned": BOUNCED,
    "bounced": BOUNCED,
    "complained": "complained",
    "spam": "complained",
    "erased": UNSUBSCRIBED,
    "disabled": NOT_SUBSCRIBED,
    "non-subscribed": NOT_SUBSCRIBED,
    "nonsubscribed": NOT_SUBSCRIBED,
    "transactional": NOT_SUBSCRIBED,
    "pending": NOT_SUBSCRIBED,
}

MAP_TARGETS = (*PROFILE_FIELDS, "topics", "key_contact", "ignore")


@dataclass(frozen=True)
class Layout:
    """The kind of file: who wrote it and what it says about everyone in it."""

    name: str  # generic, listmonk, mailchimp-subscribed, -unsubscribed, -cleaned, -nonsubscribed
    description: str
    evidence: str  # why we think so: the columns or the file name
    status: str | None  # every row's status; None: active unless a Status column says otherwise

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
    target: str | None  # a field, "attr:<key>", "evidence", or None (ignored)
    note: str = ""

    def describe(self) -> str:
        """One line for --dry-run: the column, what it becomes, and why."""
        if self.target is None:
            what = "ignored"
        elif self.target.startswith("attr:"):
            what = f"attribute {self.target[5:]}"
        elif self.target == "evidence":
            what = "kept in the history as evidence of the status"
        else:
            what = TARGET_NAMES.get(self.target, self.target)
        note = f" ({self.note})" if self.note else ""
        return f"{self.header or '(no name)'} → {what}{note}"


@dataclass(frozen=True)
class Plan:
    layout: Layout
    columns: tuple[Column, ...]

    @cached_property
    def used(self) -> dict[int, str]:
        """Column index → target, for the columns the import reads (worked out once: every row asks)."""
        return {column.index: column.target for column in self.columns if column.target}

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
    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for column in self.columns:
            if column.target:
                headers.setdefault(column.target, column.header)
        return headers

    def header_of(self, target: str) -> str:
        return self._headers.get(target, target)


def normalise_header(name: str) -> str:
    return " ".join(re.sub(r"[\s_\-]+", " ", name.strip().strip("\ufeff*").lower()).split())


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


def plan_columns(header: Sequence[str], path: Path, maps: Mapping[str, str] | None = None) -> Plan:
    """Recognise the layout and decide what every column means; refuse what cannot be right."""
    maps = dict(maps or {})
    stripped = [name.strip().lstrip("\ufeff") for name in header]
    layout = _layout(stripped, path)
    columns = [_column(index, name, layout) for index, name in enumerate(stripped)]
    columns = _apply_maps(columns, maps, stripped, path)
    if layout.name == "generic":
        columns = _name_or_parts(columns)
    _check_targets(columns, path, stripped)
    return Plan(layout, tuple(columns))


def _layout(header: Sequence[str], path: Path) -> Layout:
    exact = set(header)
    normalised = {normalise_header(name) for name in header}
    if "email address" in normalised and len(exact & _MAILCHIMP_MARKERS) >= 3:
        return _mailchimp_layout(exact, path)
    if {"email", "name", "attributes"} <= normalised and not normalised & {"first name", "last name"}:
        return Layout("listmonk", "the listmonk subscriber export", "columns email, name and attributes", None)
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
    if layout.name == "listmonk" and normalised in LISTMONK_COLUMNS:
        target, note = LISTMONK_COLUMNS[normalised]
        return Column(index, name, target, note)
    if not normalised:
        return Column(index, name, None, "no header")
    if normalised in IGNORED_COLUMNS:
        return Column(index, name, None, IGNORED_COLUMNS[normalised])
    target = HEADER_ALIASES.get(normalised)
    if target is None:
        return Column(index, name, "attr:" + attribute_key(name), "not a field of ours; segments can match it")
    return Column(index, name, target)


def _apply_maps(columns: list[Column], maps: dict[str, str], header: Sequence[str], path: Path) -> list[Column]:
    for wanted, target in maps.items():
        matches = [c for c in columns if c.header == wanted] or [
            c for c in columns if normalise_header(c.header) == normalise_header(wanted)
        ]
        if len(matches) != 1:
            shown = ", ".join(repr(h) for h in header[:30])
            problem = "no column" if not matches else "more than one column"
            raise InputError(f"--map {wanted}={target}: {problem} {wanted!r}; the header has {shown}", path=path)
        (found,) = matches
        new_target = (
            None
            if target == "ignore"
            else ("attr:" + attribute_key(target.split(".", 1)[1]) if target.startswith("attributes.") else target)
        )
        columns[found.index] = Column(found.index, found.header, new_target, f"--map {wanted}={target}")
    return columns


def _name_or_parts(columns: list[Column]) -> list[Column]:
    """A full-name column is split only when there are no first- and last-name columns."""
    if not any(c.target in ("first_name", "last_name") for c in columns):
        return columns
    return [
        Column(c.index, c.header, None, "the first and last name columns are used") if c.target == "name" else c
        for c in columns
    ]


def _check_targets(columns: Sequence[Column], path: Path, header: Sequence[str]) -> None:
    taken: dict[str, str] = {}
    for column in columns:
        if column.target is None or column.target == "evidence":
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
