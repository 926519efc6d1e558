"""The studio page's one form, read back into a draft and the page's other choices.

The whole editor is one form, so the page works without JavaScript: every
button submits everything, and the draft travels in the form rather than in
server memory. Stories and sections are listed in page order by ``order``
fields (``section:<key>`` then its ``story:<id>`` entries); the lead is the
``lead`` field; a story's overrides are ``summary.<id>``, ``note.<id>``,
``full.<id>``, ``pin.<id>``, ``topics.<id>`` and ``url.<id>``. The file as it
was when the page was opened travels too (``base``, with its hash), so a
save can tell whether the file changed on disk in the meantime.

A field the studio cannot take (longer than :data:`MAX_FIELD`) is kept on
the page as typed and marked with a message at that field
(:attr:`PageState.field_errors`); only a form that is damaged or out of date
is refused as a whole.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Protocol

from digest.errors import InputError
from digest.issues.issue import text_hash
from digest.studio.candidates import Filters
from digest.studio.draft import Draft, SectionDraft, StoryDraft

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_KEY = re.compile(r"^[sn][0-9]{1,6}$")
WIDTHS = (600, 375)
MAX_FIELD = 20_000  # characters in any one text field


class FormData(Protocol):
    """What the studio needs of a form: werkzeug's MultiDict has it."""

    def get(self, key: str, default: str) -> str: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass
class PageState:
    """Everything the page's form carries besides the draft's stories."""

    base_text: str
    base_hash: str
    draft: Draft
    filters: Filters = field(default_factory=Filters)
    segment: str = ""
    width: int = 600
    new_section: str = ""
    approver: str = ""
    test_to: str = ""
    test_segment: str = ""
    import_url: str = ""
    import_source: str = ""
    overwrite_hash: str = ""
    move_id: str = ""  # drag and drop: this story goes…
    move_before: str = ""  # …before this one,
    move_section: str = ""  # …or at the end of this section
    view: str = "email"  # the preview shows the email, the email in dark mode, or its plain text
    field_errors: dict[str, str] = field(default_factory=dict)  # form field name → what is wrong with it


def encode_base(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _base(form: FormData) -> tuple[str, str]:
    try:
        text = base64.b64decode(form.get("base", ""), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InputError("this page is out of date or damaged; reload the issue") from None
    given = form.get("base_hash", "")
    if not text or given != text_hash(text):
        raise InputError("this page is out of date or damaged; reload the issue")
    return text, given


VIEWS = ("email", "dark", "text")


def field_id(name: str) -> str:
    """The page's element id of a form field (``summary.<id>`` → ``summary-<id>``)."""
    return name.replace("editor_note", "editor-note").replace(".", "-", 1)


def _text(form: FormData, name: str, errors: dict[str, str] | None = None) -> str:
    value = form.get(name, "") or ""
    if len(value) > MAX_FIELD:
        if errors is None:
            raise InputError(f"{name.split('.')[0]} is longer than {MAX_FIELD} characters")
        errors[name] = (
            f"this is {len(value):,} characters long; a field takes up to {MAX_FIELD:,}. Shorten it: "
            "nothing else on the page is lost"
        )
    # Browsers send CRLF for textarea line breaks; the file uses LF.
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


def _short(form: FormData, name: str, limit: int) -> str:
    """A field of the page's own choices (a filter, a name, an address), cut to ``limit`` characters."""
    return (form.get(name, "") or "").replace("\r\n", "\n").replace("\r", "\n").strip()[:limit]


def _story(form: FormData, article_id: str, errors: dict[str, str] | None) -> StoryDraft:
    topics: tuple[str, ...] | None = None
    if form.get(f"topics_shown.{article_id}", ""):
        chosen = tuple(dict.fromkeys(t for t in form.getlist(f"topics.{article_id}") if t))
        own = tuple(t for t in form.get(f"topics_default.{article_id}", "").split(",") if t)
        explicit = form.get(f"topics_explicit.{article_id}", "") == "1"
        # The article's own topics need no override, unless the file already wrote one.
        topics = chosen if explicit or set(chosen) != set(own) else None
    return StoryDraft(
        id=article_id,
        summary=_text(form, f"summary.{article_id}", errors),
        note=_text(form, f"note.{article_id}", errors),
        full=form.get(f"full.{article_id}", "") == "1",
        pin=form.get(f"pin.{article_id}", "") == "1",
        topics=topics,
        url=_text(form, f"url.{article_id}", errors),
    )


def draft_from_form(form: FormData, errors: dict[str, str] | None = None) -> Draft:
    """The draft as the page shows it (ids and keys that are not well formed are refused).

    With ``errors``, a field that is too long is kept and noted there instead of refused.
    """
    seen: set[str] = set()
    lead = None
    lead_id = form.get("lead", "")
    if lead_id:
        if not _ID.match(lead_id):
            raise InputError("this page is damaged; reload the issue")
        lead = _story(form, lead_id, errors)
        seen.add(lead_id)
    sections: list[SectionDraft] = []
    for entry in form.getlist("order"):
        kind, _, value = entry.partition(":")
        if kind == "section" and _KEY.match(value) and all(s.key != value for s in sections):
            sections.append(SectionDraft(value, _text(form, f"title.{value}", errors)))
        elif kind == "story" and _ID.match(value) and sections and value not in seen:
            seen.add(value)
            sections[-1].stories.append(_story(form, value, errors))
        else:
            raise InputError("this page is damaged; reload the issue")
    return Draft(
        subject=_text(form, "subject", errors),
        preheader=_text(form, "preheader", errors),
        introduction=_text(form, "introduction", errors),
        editor_note=_text(form, "editor_note", errors),
        lead=lead,
        sections=sections,
    )


def _width(value: str) -> int:
    return int(value) if value in {str(w) for w in WIDTHS} else WIDTHS[0]


def state_from_form(form: FormData) -> PageState:
    """Read the whole form; a damaged or stale form is an InputError, never a crash."""
    base_text, base_hash = _base(form)
    errors: dict[str, str] = {}
    return PageState(
        base_text=base_text,
        base_hash=base_hash,
        draft=draft_from_form(form, errors),
        filters=Filters(
            query=_short(form, "q", 200),
            topic=_short(form, "topic", 100),
            source=_short(form, "source", 300),
            any_date=form.get("any_date", "") == "1",
        ),
        segment=_short(form, "segment", 100),
        width=_width(form.get("width", "")),
        new_section=_short(form, "new_section", 200),
        approver=_short(form, "approver", 200),
        test_to=_short(form, "test_to", 1000),
        test_segment=_short(form, "test_segment", 100),
        import_url=_short(form, "import_url", 2000),
        import_source=_short(form, "import_source", 300),
        overwrite_hash=_short(form, "overwrite_hash", 64),
        move_id=_short(form, "move_id", 200),
        move_before=_short(form, "move_before", 200),
        move_section=_short(form, "move_section", 20),
        view=form.get("view", "") if form.get("view", "") in VIEWS else VIEWS[0],
        field_errors=errors,
    )


def fresh_state(base_text: str, draft: Draft, previous: PageState | None = None) -> PageState:
    """The state of a page opened on ``base_text``, keeping the page's other choices."""
    state = PageState(base_text=base_text, base_hash=text_hash(base_text), draft=draft)
    if previous is not None:
        state.filters = previous.filters
        state.segment = previous.segment
        state.width = previous.width
        state.view = previous.view
        state.approver = previous.approver
        state.test_to = previous.test_to
        state.test_segment = previous.test_segment
    return state
