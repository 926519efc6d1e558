"""What the studio's buttons do, each through the same library function as the CLI.

A button names an action (``up:<id>``, ``save``, ``approve``…); :func:`perform`
applies it to the page's state and says what happened. Saving goes through
:func:`digest.issues.issue.save_issue_text`, approval through
:func:`digest.issues.approval.approve`, test copies through the function behind
`digest send --test-to`, imports through :func:`digest.articles.store.import_articles`.
Actions that act on the issue as stored (approve, test copy) refuse while the
page has unsaved changes, so what is approved or sent is what the file says.
Each outcome names where the page shows it (``at``): beside the control that
caused it, and the focus stays with the editor.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from digest.articles.store import get_article, get_articles, import_articles
from digest.config import Settings
from digest.errors import DigestError, InputError, NotFoundError, StateError
from digest.issues.drafting import section_title_for, story_comment
from digest.issues.issue import (
    ABSENT,
    IssueChangedError,
    parse_issue_text,
    read_issue_text,
    save_issue_text,
    text_hash,
)
from digest.studio import draft as moves
from digest.studio.document import apply_draft
from digest.studio.draft import StoryDraft, draft_from_issue
from digest.studio.fields import field_at_line, field_label
from digest.studio.forms import PageState, field_id, fresh_state
from digest.studio.merge import merge

MAX_UPLOAD_NAME = 100
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Conflict:
    """The file changed on disk while the page was open: what changed, and what saving would do."""

    disk_text: str | None
    disk_hash: str
    theirs: list[str]  # unified diff: the file as the page opened it → the file now
    mine: list[str]  # unified diff: the file now → the file as the page would save it


@dataclass
class Outcome:
    message: str = ""
    error: str = ""
    details: list[str] | None = None
    conflict: Conflict | None = None
    focus: str = ""  # the id of the element to give the focus to after the page changes ("": where it was)
    at: str = ""  # where the page shows it: beside the control that caused it ("": at the top)


@dataclass
class Upload:
    filename: str
    stream: IO[bytes]


def draft_text(engine: Engine, base_text: str, state: PageState) -> str:
    """The issue file as the page's draft would save it (a "date source: title" comment beside new stories)."""
    found = get_articles(engine, state.draft.story_ids())
    # Only stories new to the file use these: the others keep the comment they have.
    return apply_draft(base_text, state.draft, {article.id: story_comment(article) for article in found.values()})


def _diff(before: str, after: str, names: tuple[str, str]) -> list[str]:
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), *names, n=2)
    ]


class Studio:
    """The actions on one issue file, bound to the project's settings and database."""

    def __init__(self, settings: Settings, engine: Engine, path: Path) -> None:
        self.settings = settings
        self.engine = engine
        self.path = path

    @property
    def issue_id(self) -> str:
        return self.path.parent.name

    def perform(self, action: str, state: PageState, upload: Upload | None = None) -> tuple[PageState, Outcome]:
        """Apply one action; errors from the library become the outcome's message, never an exception."""
        name, _, argument = action.partition(":")
        handler = self._handlers().get(name)
        if handler is None:
            return state, Outcome(error="the page asked for something the studio does not know; reload the issue")
        try:
            state, outcome = handler(state, argument, upload)
        except IssueChangedError as exc:
            state, outcome = state, Outcome(error=str(exc), conflict=self.conflict(state, exc))
        except DigestError as exc:
            state, outcome = state, Outcome(error=str(exc).removeprefix(f"{self.path}: "))
        outcome.at = outcome.at or _anchor(name, argument)
        return state, outcome

    def _handlers(self) -> dict[str, Callable[[PageState, str, Upload | None], tuple[PageState, Outcome]]]:
        return {
            "preview": lambda state, _a, _u: (state, Outcome()),
            "filter": lambda state, _a, _u: (state, Outcome(focus="candidates-heading")),
            "up": self._bind(lambda d, a: moves.move_story(d, a, -1), lambda a: f"up-{a}"),
            "down": self._bind(lambda d, a: moves.move_story(d, a, +1), lambda a: f"down-{a}"),
            "lead": self._lead,
            "drop": self._drop,
            "leave": self._leave,
            "add": self._add,
            "move": self._move,
            "section-up": self._bind(lambda d, a: moves.move_section(d, a, -1), lambda a: f"section-up-{a}"),
            "section-down": self._bind(lambda d, a: moves.move_section(d, a, +1), lambda a: f"section-down-{a}"),
            "section-remove": self._bind(moves.remove_section, lambda _a: "new-section"),
            "section-add": self._add_section,
            "save": self._save,
            "overwrite": self._overwrite,
            "approve": self._approve,
            "test": self._test,
            "import": self._import,
        }

    # --- editing the draft ------------------------------------------------------------

    def _bind(
        self, change: Callable[[moves.Draft, str], str], focus: Callable[[str], str]
    ) -> Callable[[PageState, str, Upload | None], tuple[PageState, Outcome]]:
        def run(state: PageState, argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
            return state, Outcome(message=change(state.draft, argument), focus=focus(argument))

        return run

    def _drop(self, state: PageState, article_id: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        # The focus goes to the story that takes its place (or the one before), not back to the top.
        ids = state.draft.story_ids()
        place = ids.index(article_id) if article_id in ids else -1
        message = moves.leave_out(state.draft, article_id)
        rest = state.draft.story_ids()
        neighbour = rest[min(place, len(rest) - 1)] if rest and place >= 0 else ""
        if not neighbour:
            return state, Outcome(message=message, focus="stories-heading", at="arrange")
        return state, Outcome(message=message, focus=f"story-{neighbour}", at=f"story-{neighbour}")

    def _leave(self, state: PageState, article_id: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        """Leave out from the choose list: the focus and the message stay with the article there."""
        message = moves.leave_out(state.draft, article_id)
        return state, Outcome(message=message, focus=f"add-{article_id}", at=f"candidate-{article_id}")

    def _home(self, state: PageState, story: StoryDraft) -> str:
        """The section a story belongs in by its first topic for this issue (or its source)."""
        try:
            article = get_article(self.engine, story.id)
        except NotFoundError:
            return ""
        if story.topics:
            article = dataclasses.replace(article, topics=list(story.topics))
        issue = parse_issue_text(self.settings, state.base_text, self.path)
        return section_title_for(article, self.settings, issue.grouping)

    def _lead(self, state: PageState, article_id: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        old = state.draft.lead
        message = moves.make_lead(state.draft, article_id, self._home(state, old) if old else "")
        return state, Outcome(message=message, focus=f"story-{article_id}")

    def _add(self, state: PageState, article_id: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        article = get_article(self.engine, article_id)
        issue = parse_issue_text(self.settings, state.base_text, self.path)
        title = section_title_for(article, self.settings, issue.grouping)
        message = moves.include(state.draft, article.id, title)
        return state, Outcome(
            message=f"{article.title}: {message}", focus=f"leave-{article.id}", at=f"candidate-{article.id}"
        )

    def _move(self, state: PageState, _argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        old = state.draft.lead
        home = self._home(state, old) if old and state.move_before == old.id else ""
        message = moves.move_story_to(
            state.draft, state.move_id, state.move_before or None, state.move_section or None, home
        )
        return state, Outcome(message=message, focus=f"story-{state.move_id}", at=f"story-{state.move_id}")

    def _add_section(self, state: PageState, _argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        message = moves.add_section(state.draft, state.new_section)
        state.new_section = ""
        return state, Outcome(message=message, focus="new-section")

    # --- the file -----------------------------------------------------------------------

    def dirty(self, state: PageState) -> bool:
        """Whether saving the page would change the file as the page opened it."""
        return draft_text(self.engine, state.base_text, state) != state.base_text

    def invalid_fields(self, state: PageState, text: str) -> Outcome | None:
        """Why the draft cannot be saved because of a field, said at that field; None if no field is at fault.

        Problems found while reading the form (a field too long) are in
        ``state.field_errors`` already; the draft's text is then checked as
        the file would be, and a problem in one field is added there.
        """
        if not state.field_errors:
            try:
                parse_issue_text(self.settings, text, self.path)
            except InputError as exc:
                name = field_at_line(text, state.draft, exc.line)
                if name is None:
                    raise
                state.field_errors[name] = exc.reason
        if not state.field_errors:
            return None
        name, reason = next(iter(state.field_errors.items()))
        found = get_articles(self.engine, [name.partition(".")[2]])
        label = field_label(name, lambda i: found[i].title if i in found else i)
        more = len(state.field_errors) - 1
        also = f" (and {more} more field{'s' if more > 1 else ''} marked)" if more else ""
        return Outcome(error=f"Not saved: {label}: {reason}{also}.", focus=field_id(name))

    def _save(self, state: PageState, _argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        text = draft_text(self.engine, state.base_text, state)
        refused = self.invalid_fields(state, text)
        if refused is not None:
            return state, refused
        save_issue_text(self.settings, self.engine, self.path, text, expected_hash=state.base_hash)
        return self._reopened(state, text, "Saved issue.yaml.")

    def _merged_text(self, state: PageState, current: str) -> str:
        """The editor's changes made to the file as it is now (see :func:`digest.studio.draft.merge`)."""
        try:
            base = draft_from_issue(parse_issue_text(self.settings, state.base_text, self.path))
            theirs = draft_from_issue(parse_issue_text(self.settings, current, self.path))
        except DigestError:
            return draft_text(self.engine, current, state)  # their file does not load: the page's draft as it is
        merged = merge(base, state.draft, theirs)
        return draft_text(self.engine, current, dataclasses.replace(state, draft=merged))

    def _overwrite(self, state: PageState, _argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        """Save the editor's changes into a file that changed on disk, once they have seen the difference.

        Only if the file is still as it was when the difference was shown.
        """
        if not state.overwrite_hash:
            raise InputError("nothing to overwrite; save again")
        try:
            current: str | None = read_issue_text(self.path)
        except DigestError:
            current = None
        if current is None:
            text = draft_text(self.engine, state.base_text, state)
        else:
            text = self._merged_text(state, current)
        refused = self.invalid_fields(state, text)
        if refused is not None:
            return state, refused
        save_issue_text(self.settings, self.engine, self.path, text, expected_hash=state.overwrite_hash)
        return self._reopened(state, text, "Saved your changes into the changed file.")

    def _reopened(self, state: PageState, text: str, message: str) -> tuple[PageState, Outcome]:
        issue = parse_issue_text(self.settings, text, self.path)
        return fresh_state(text, draft_from_issue(issue), state), Outcome(message=message)

    def conflict(self, state: PageState, exc: IssueChangedError) -> Conflict:
        current = exc.current_text
        if current is not None:
            mine = self._merged_text(state, current)
        else:
            mine = draft_text(self.engine, state.base_text, state)
        name = f"issues/{self.issue_id}/issue.yaml"
        return Conflict(
            disk_text=current,
            disk_hash=text_hash(current) if current is not None else ABSENT,
            theirs=_diff(state.base_text, current or "", (f"{name} (when you opened it)", f"{name} (on disk now)")),
            mine=_diff(current or "", mine, (f"{name} (on disk now)", f"{name} (as you would save it)")),
        )

    def _require_saved(self, state: PageState, what: str) -> None:
        try:
            current = read_issue_text(self.path)
        except DigestError:
            current = None
        if current is None or text_hash(current) != state.base_hash:
            raise StateError(f"issue.yaml changed on disk since this page opened it; reload it before you {what}")
        if self.dirty(state):
            raise StateError(f"save your changes before you {what}: it acts on the saved issue")

    # --- approval, test copies, imports -----------------------------------------------------

    def _approve(self, state: PageState, _argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        from digest.issues.approval import approve

        if not state.approver:
            raise InputError("give your name to approve the issue")
        self._require_saved(state, "approve")
        approval = approve(self.engine, self.settings, str(self.path), approved_by=state.approver)
        return state, Outcome(
            message=f"Approved by {approval.approved_by}: this rendering of every variant may now be sent."
        )

    def _test(self, state: PageState, _argument: str, _upload: Upload | None) -> tuple[PageState, Outcome]:
        from digest.studio.bridge import send_test_copies

        addresses = [a for a in re.split(r"[\s,;]+", state.test_to) if a]
        if not addresses:
            raise InputError("give an address for the test copy")
        self._require_saved(state, "send a test copy")
        sent = send_test_copies(self.engine, self.settings, str(self.path), addresses, state.test_segment or None)
        accepted, failures = sent.accepted, sent.failures
        noun = "copy" if accepted == 1 else "copies"
        outcome = Outcome(
            message=f"Sent {accepted} test {noun} through {self.settings.provider}; nothing was recorded in the ledger."
        )
        if failures:
            outcome.error = "Some test copies were not sent."
            outcome.details = failures
        return state, outcome

    def _import(self, state: PageState, _argument: str, upload: Upload | None) -> tuple[PageState, Outcome]:
        return state, import_into_store(self.engine, self.settings, upload, state.import_url, state.import_source)


def import_into_store(engine: Engine, settings: Settings, upload: Upload | None, url: str, source_name: str) -> Outcome:
    """Import an uploaded file and/or a feed address, as `digest articles import` does."""
    if url and not re.match(r"^https?://[^\s]+$", url, re.IGNORECASE):
        raise InputError("a feed address starts with https:// (or http://)")
    if upload is None and not url:
        raise InputError("choose a file or give a feed address to import")
    with tempfile.TemporaryDirectory(prefix="digest-studio-upload-") as scratch:
        locations = []
        shown: dict[str, str] = {}
        if upload is not None:
            # The reader is chosen by the file's extension, so keep the name (made safe).
            name = _SAFE_NAME.sub("-", Path(upload.filename).name)[-MAX_UPLOAD_NAME:].lstrip(".-") or "upload.txt"
            target = Path(scratch) / name
            with target.open("wb") as handle:
                while chunk := upload.stream.read(64 * 1024):
                    handle.write(chunk)
            locations.append(str(target))
            shown[str(target)] = Path(upload.filename).name or name
        if url:
            locations.append(url)
        report = import_articles(engine, settings, locations, source_name=source_name or None, origins=shown)
    outcome = Outcome(
        message=f"Imported {report.new} new, {report.updated} updated, {report.skipped} skipped.",
        details=list(report.warnings) or None,
        at="import",
    )
    if report.failures:
        outcome.error = "Not imported: " + "; ".join(str(failure) for failure in report.failures)
    return outcome


# Where an action's outcome is shown when the action does not say: beside its control.
_ANCHORS = {"save": "save", "overwrite": "save", "approve": "approve", "test": "test", "import": "import"}
_ANCHORS |= {"section-add": "new-section", "section-remove": "new-section", "filter": "choose", "move": "arrange"}


def _anchor(action: str, argument: str) -> str:
    if action in _ANCHORS:
        return _ANCHORS[action]
    if action in ("up", "down", "lead", "drop"):
        return f"story-{argument}"
    if action in ("add", "leave"):
        return f"candidate-{argument}"
    if action.startswith("section-"):
        return f"section-{argument}"
    return ""
