"""One CSV row → a subscriber profile, a status and the evidence for both."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from digest.config import Settings
from digest.errors import InputError
from digest.people.csvimport.layout import Plan
from digest.people.csvimport.summary import ImportSummary
from digest.people.csvimport.tools import CAUTION, NOT_SUBSCRIBED
from digest.people.csvimport.values import TopicMatcher, json_attributes, split_name, split_tags
from digest.people.emails import Address, check_address
from digest.people.plaintext import one_line
from digest.people.subscribers import ACTIVE, PROFILE_FIELDS

MAX_PROFILE_FIELD = 300
UNKNOWN_DATE = "unknown"  # how an export shows a consent date nobody recorded
MAX_EVIDENCE = 200  # characters of one evidence value kept in the history
_CONSENT_FIELDS = frozenset({"confirm_at", "confirm_ip", "optin_at", "optin_ip", "consent_at"})
_TRUE = {"yes", "y", "true", "1", "x"}
_FALSE = {"no", "n", "false", "0", ""}


@dataclass
class ImportRow:
    """One checked row, ready for the writer to classify against the store."""

    line: int
    address: Address
    profile: dict[str, Any]
    status: str
    consent_at: datetime | None
    consent_text: str
    detail: str  # the evidence for the status (or for consent, when active), for the history


@dataclass(frozen=True)
class _Shape:
    """What every row of one file can hold, worked out once: a row then skips what its file cannot need.

    ``status`` and ``consent`` are set only when no cell can change them (no status, evidence or
    consent columns); they are then the very answers :meth:`ProfileMapper.status` and
    :meth:`ProfileMapper.consent` give for such a row, asked once.
    """

    fields: tuple[tuple[int, str], ...]
    attribute_columns: tuple[tuple[int, str], ...]
    evidence_columns: tuple[tuple[int, str], ...]
    width: int  # cells a row needs for every column read to be there
    topics: bool  # a topics or tags column
    status: tuple[str, str] | None
    consent: tuple[datetime | None, str] | None

    @classmethod
    def of(cls, plan: Plan, mapper: ProfileMapper) -> _Shape:
        """The shape of ``plan``'s rows; the constant answers are asked of ``mapper`` itself."""
        targets = {target for _, target in plan.fields}
        fixed_status = (plan.layout.status is not None and not plan.evidence_columns) or (
            plan.layout.status is None and not plan.status_columns
        )
        return cls(
            fields=tuple(plan.fields),
            attribute_columns=tuple(plan.attribute_columns),
            evidence_columns=tuple(plan.evidence_columns),
            width=1 + max(index for index, _ in [*plan.fields, *((c.index, "") for c in plan.status_columns)]),
            topics=bool(targets & {"topics", "tags"}),
            status=mapper.status([], plan, []) if fixed_status else None,
            consent=mapper.consent({}, plan) if targets.isdisjoint(_CONSENT_FIELDS) else None,
        )


class ProfileMapper:
    """Turns the cells of one row into an :class:`ImportRow` by the file's column plan."""

    def __init__(
        self, path: Path, settings: Settings, summary: ImportSummary, consent_text: str, check_deliverability: bool
    ) -> None:
        self.path = path
        self.summary = summary
        self.consent_text = consent_text
        self.check_deliverability = check_deliverability
        self.topics = TopicMatcher(settings.topics)
        self.unknown_topics: dict[str, list[int]] = {}
        self.utf8_only: list[int] = []  # lines of addresses with non-ASCII characters before the @
        self._shape: tuple[Plan, _Shape] | None = None

    def row(self, line: int, cells: list[str], plan: Plan) -> ImportRow:
        """The row's address, profile, status and consent; an :class:`InputError` rejects the row."""
        shape = self._shape_of(plan)
        width = len(cells)
        if width >= shape.width:  # every column the plan reads is there: no check per cell
            values = {target: cells[index].strip() for index, target in shape.fields}
        else:
            values = {target: cells[index].strip() if index < width else "" for index, target in shape.fields}
        attributes: dict[str, str] = {}
        for index, key in shape.attribute_columns:
            if index < width and (cell := cells[index].strip()):
                attributes[key] = _cleaned(cell)
        address = check_address(values.get("email", ""), check_deliverability=self.check_deliverability)
        if not address.email.isascii() and not address.email.rpartition("@")[0].isascii():
            self.utf8_only.append(line)
        if values.get("name") and not (values.get("first_name") or values.get("last_name")):
            values["first_name"], values["last_name"] = split_name(values["name"], address.email)
        profile = _profile_fields(values)
        if values.get("attributes_json"):
            try:
                attributes = {**json_attributes(values["attributes_json"]), **attributes}
            except InputError as exc:
                self.summary.warnings.append(
                    f"{self.path}, line {line}: {exc.reason}; {address.email} imported without them"
                )
        topics = self.topic_cells(line, values, attributes) if shape.topics else []
        if attributes:
            profile["attributes"] = attributes
        if topics:
            profile["topics"] = topics
        if "key_contact" in values:
            flag = values["key_contact"].lower()
            if flag not in _TRUE | _FALSE:
                raise InputError(f"key contact {values['key_contact']!r} is not yes or no")
            profile["key_contact"] = flag in _TRUE
        status, status_evidence = shape.status or self.status(cells, plan, _evidence(cells, shape))
        placeholder = plan.layout.tool.placeholder_domains if plan.layout.tool else ()
        if placeholder and address.key.rpartition("@")[2] in placeholder:
            status, status_evidence = NOT_SUBSCRIBED, f"{plan.layout.description}: a placeholder address, not a person"
        try:
            consent_at, consent_evidence = shape.consent or self.consent(values, plan)
        except InputError:
            if status == ACTIVE:
                raise
            # A bad consent date must not keep someone the file says has left from leaving.
            consent_at, consent_evidence = None, ""
        if status == ACTIVE and plan.layout.name == "mailchimp-subscribed" and consent_at is None:
            raise InputError(
                "neither OPTIN_TIME nor CONFIRM_TIME: nothing shows this person opted in (Mailchimp's "
                "non-subscribed contacts look like this); add them with `digest subscribers add` if they did"
            )
        return ImportRow(
            line=line,
            address=address,
            profile=profile,
            status=status,
            consent_at=consent_at,
            consent_text=values.get("consent_text") or self.consent_text,
            detail=status_evidence if status != ACTIVE else consent_evidence,
        )

    def _shape_of(self, plan: Plan) -> _Shape:
        """The plan's :class:`_Shape`, worked out on its first row (a file has one plan)."""
        if self._shape is None or self._shape[0] is not plan:
            self._shape = (plan, _Shape.of(plan, self))
        return self._shape[1]

    def topic_cells(self, line: int, values: Mapping[str, str], attributes: dict[str, str]) -> list[str]:
        """Topics from a Topics column and from tags that name a topic; unknown topics are dropped, not the person."""
        if not values.get("topics") and not values.get("tags"):
            return []
        topics: list[str] = []
        if values.get("topics"):
            found, unknown = self.topics.match(values["topics"])
            topics.extend(found)
            for name in unknown:
                self.unknown_topics.setdefault(name, []).append(line)
        if values.get("tags"):
            others = []
            for tag in split_tags(values["tags"]):
                slug = self.topics.lookup(tag)
                if slug:
                    topics.append(slug)
                else:
                    others.append(tag)
            if others:
                attributes["tags"] = "; ".join(others)
        return list(dict.fromkeys(topics))

    def status(self, cells: list[str], plan: Plan, evidence: list[str]) -> tuple[str, str]:
        """The row's status and the evidence for it: the file's layout, or its status columns (the most cautious).

        A value a status column does not know refuses the row: guessing "active" would mail someone
        the old tool may have marked as gone.
        """
        layout = plan.layout
        if layout.status is not None:
            known = f"{layout.description}, known by {layout.evidence}"
            return layout.status, f"{known}; {', '.join(evidence)}" if evidence else known
        about = f"{layout.description}, known by {layout.evidence}" if layout.tool is not None else layout.description
        chosen, said = ACTIVE, ""
        width = len(cells)
        for column in plan.status_columns:
            assert column.rule is not None
            cell = cells[column.index].strip() if column.index < width else ""
            status = column.rule.status_of(cell)
            if status is None:
                raise InputError(f"{column.header} {cell!r} is not one of {column.words or column.rule.known_values()}")
            if not said or CAUTION[status] > CAUTION[chosen]:
                chosen = status
                chosen_by = f" ({column.note})" if column.note.startswith("--") else ""
                said = f"column {column.header!r} says {cell!r}{chosen_by}"
        return chosen, f"{about}; {said}" if layout.tool is not None else f"{about}, {said}"

    def consent(self, values: Mapping[str, str], plan: Plan) -> tuple[datetime | None, str]:
        """The consent time (CONFIRM_TIME, else OPTIN_TIME, else a consent date) and its evidence with the IPs."""
        if values.keys().isdisjoint(_CONSENT_FIELDS):
            return None, plan.layout.description  # a file without consent columns: nothing to read, row after row
        evidence = []
        chosen: datetime | None = None
        for time_field, ip_field in (("confirm_at", "confirm_ip"), ("optin_at", "optin_ip"), ("consent_at", "")):
            moment = parse_consent_date(values.get(time_field, ""))
            ip = values.get(ip_field, "") if ip_field else ""
            if moment is None and not ip:
                continue
            chosen = chosen or moment
            said = f"{plan.header_of(time_field)} {values[time_field]}" if moment else ""
            ip_said = f"from {plan.header_of(ip_field)} {_shown(ip)}" if ip else ""
            evidence.append(" ".join(part for part in (said, ip_said) if part))
        layout = plan.layout
        about = f"{layout.description}" + (f"; consent: {'; '.join(evidence)}" if evidence else "")
        return chosen, about

    def report_addresses(self) -> None:
        """One warning for the addresses only SMTPUTF8 can carry: imported, but not every provider can send to them."""
        if not self.utf8_only:
            return
        lines = ", ".join(str(n) for n in self.utf8_only[:10]) + (" …" if len(self.utf8_only) > 10 else "")
        self.summary.warnings.append(
            f"{self.path}: {len(self.utf8_only)} address{'es' if len(self.utf8_only) > 1 else ''} with non-ASCII "
            f"characters before the @ (line{'s' if len(self.utf8_only) > 1 else ''} {lines}) imported; only an SMTP "
            "server that offers SMTPUTF8 can send to them (the outbox writes them as UTF-8; SendGrid takes only "
            "ASCII addresses), so elsewhere each such delivery fails with that reason and the rest are sent"
        )

    def report_topics(self) -> None:
        """One warning per unknown topic, naming the lines it was on."""
        for name, lines in self.unknown_topics.items():
            shown = ", ".join(str(n) for n in lines[:10]) + (" …" if len(lines) > 10 else "")
            self.summary.warnings.append(
                f"{self.path}: unknown topic {name!r} left out on line{'s' if len(lines) > 1 else ''} {shown} "
                f"(the people were imported); topics are {self.topics.known()}"
            )


def _evidence(cells: list[str], shape: _Shape) -> list[str]:
    """The evidence columns' cells, for the history: "UNSUB_REASON 'moved school'"."""
    width = len(cells)
    return [
        f"{header} {_shown(cell)}"
        for index, header in shape.evidence_columns
        if index < width and (cell := cells[index].strip())
    ]


def _profile_fields(values: dict[str, str]) -> dict[str, Any]:
    """The profile's fields, each cleaned to one line and refused if too long.

    Most rows' fields are plain and short, and one look at them joined tells so (printable, no
    double space, all of them within the limit of one): they are then their own cleaned values.
    """
    profile = {name: values.get(name, "") for name in PROFILE_FIELDS}
    joined = "|".join(profile.values())  # a printable separator: it hides no double space
    if len(joined) <= MAX_PROFILE_FIELD and joined.isprintable() and "  " not in joined:
        return profile
    return _profile_fields_one_by_one(values)


def _profile_fields_one_by_one(values: dict[str, str]) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for name in PROFILE_FIELDS:
        value = values.get(name, "")
        if value:
            value = _cleaned(value)
            if len(value) > MAX_PROFILE_FIELD:
                raise InputError(f"{name} is longer than {MAX_PROFILE_FIELD} characters")
        profile[name] = value
    return profile


def _cleaned(value: str) -> str:
    """``one_line(value)`` for a value already stripped, without the call for the common case.

    Printable text holds no whitespace but the plain space (str.isprintable is False for every
    other), so stripped printable text without a double space is already one line.
    """
    if value.isprintable() and "  " not in value:
        return value
    return one_line(value)


def _shown(value: str) -> str:
    value = " ".join(value.split())
    return repr(value if len(value) <= MAX_EVIDENCE else value[: MAX_EVIDENCE - 1] + "…")


def parse_consent_date(text: str) -> datetime | None:
    """ISO dates and times, or UK spreadsheet dates (dd/mm/yyyy); naive times are taken as UTC.

    A trailing " UTC" (beehiiv writes "2023-03-24 10:23:10 UTC") is UTC; "unknown" (our own
    export's word for a consent date nobody recorded) and an empty cell are no date.
    """
    text = text.strip()
    if not text or text.casefold() == UNKNOWN_DATE:
        return None
    plain = text.upper()
    if plain.endswith((" UTC", " GMT")):
        plain = plain[:-4].rstrip()
    parsed: datetime | None = None
    try:
        parsed = datetime.fromisoformat(plain)  # Python 3.11 reads a trailing "Z" too
    except ValueError:
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y", "%d-%m-%Y"):
            try:
                parsed = datetime.strptime(plain, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise InputError(f"consent date {text!r} is not a date (use YYYY-MM-DD or DD/MM/YYYY)")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
