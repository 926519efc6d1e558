"""Which field of the studio's page a problem belongs to, and what the editor calls that field.

The draft is checked as the file it would be saved as (the same
:func:`digest.issues.issue.parse_issue_text` as `digest check`), and a problem
there names a line of that text. The line names a place in the YAML
(``sections → 2 → stories → 0 → url``), and the place names the form field
the editor typed it in, so the message can stand beside that field.
"""

from __future__ import annotations

from collections.abc import Callable

from digest.errors import InputError
from digest.studio.draft import Draft
from digest.yamlfile import YamlPath, load_yaml

_ISSUE_FIELDS = ("subject", "preheader", "introduction", "editor_note")
_STORY_FIELDS = ("summary", "note", "url")
_LABELS = {
    "subject": "Subject",
    "preheader": "Preheader",
    "introduction": "Introduction",
    "editor_note": "Editor's note",
}
_STORY_LABELS = {"summary": "Summary of “{}”", "note": "Editor's note under “{}”", "url": "Link of “{}”"}


def field_at_line(text: str, draft: Draft, line: int | None) -> str | None:
    """The form field whose value stands on ``line`` of ``text``, the draft written out; None if none does."""
    if line is None:
        return None
    try:
        doc = load_yaml(text, "issue.yaml")
    except InputError:
        return None
    # The deepest place on the line: "- id: x" is both the list item and its id.
    for path in sorted((path for path, at in doc.lines.items() if at == line), key=len, reverse=True):
        name = _field_of(path, draft)
        if name:
            return name
    return None


def _field_of(path: YamlPath, draft: Draft) -> str | None:
    match path:
        case (str(key),) if key in _ISSUE_FIELDS:
            return key
        case ("lead", str(key)) if draft.lead is not None and key in _STORY_FIELDS:
            return f"{key}.{draft.lead.id}"
        case ("sections", int(index), "title") if index < len(draft.sections):
            return f"title.{draft.sections[index].key}"
        case ("sections", int(index), "stories", int(number), str(key)) if key in _STORY_FIELDS:
            if index < len(draft.sections) and number < len(draft.sections[index].stories):
                return f"{key}.{draft.sections[index].stories[number].id}"
    return None


def field_label(name: str, title_of: Callable[[str], str]) -> str:
    """What the page calls the field ``name``; ``title_of`` gives a story's title from its id."""
    kind, _, rest = name.partition(".")
    if kind in _LABELS:
        return _LABELS[kind]
    if kind == "title":
        return "Section title"
    if kind in _STORY_LABELS:
        return _STORY_LABELS[kind].format(title_of(rest))
    return name
