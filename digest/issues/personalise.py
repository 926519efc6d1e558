"""Per-recipient values: fill the placeholders of a rendered variant.

Rendering leaves ``%%name%%`` placeholders (see :data:`digest.issues.render.TOKENS`);
sending fills them per recipient with plain string substitution, so an issue
is rendered and inlined once per variant, never once per person.
"""

from __future__ import annotations

import html as html_lib
from collections.abc import Mapping
from typing import NamedTuple

from digest.config import Settings
from digest.errors import DigestError
from digest.issues.render import TOKEN_RE, RenderedEmail, archive_url

PREVIEW_TOKEN = "preview"  # noqa: S105 - a placeholder shown in previews, not a secret
DEFAULT_GREETING = "colleague"


class Personal(NamedTuple):
    """The values one recipient's copy needs (a named tuple: a send makes one per reader)."""

    unsubscribe_url: str
    preferences_url: str
    view_url: str
    greeting_name: str
    token: str = ""  # the link token inside both URLs, when they are the standard ones

    def as_dict(self) -> dict[str, str]:
        return {
            "unsubscribe_url": self.unsubscribe_url,
            "preferences_url": self.preferences_url,
            "view_url": self.view_url,
            "greeting_name": self.greeting_name,
        }


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/unsubscribe/{token}"


def preferences_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/preferences/{token}"


def view_url(settings: Settings, issue_id: str, segment: str | None = None) -> str:
    """The "view in browser" page: the issue's archive page, or its segment's variant."""
    base = archive_url(settings, issue_id)
    return f"{base}{segment}.html" if segment else base


# What a spreadsheet runs as a formula when a cell starts with it (OWASP's list for
# CSV injection): such a "first name" is an import's mistake or an attack, never a
# name to greet someone by.
_FORMULA_START = ("=", "+", "-", "@")


def greeting_name(first_name: str | None) -> str:
    """The name after "Dear": the first name, or the generic greeting when there is none fit to use."""
    name = (first_name or "").strip()
    if not name or name.startswith(_FORMULA_START):
        return DEFAULT_GREETING
    return name


def preview_values(settings: Settings, issue_id: str) -> Personal:
    """What a preview shows in place of one reader's links."""
    return Personal(
        unsubscribe_url=unsubscribe_url(settings, PREVIEW_TOKEN),
        preferences_url=preferences_url(settings, PREVIEW_TOKEN),
        view_url=view_url(settings, issue_id),
        greeting_name=DEFAULT_GREETING,
    )


def fill(template: str, values: Mapping[str, str], *, html: bool) -> str:
    """Replace every placeholder; values are HTML-escaped for the HTML part."""

    def replace(match: object) -> str:
        name = match.group(1)  # type: ignore[attr-defined]
        if name not in values:
            raise DigestError(f"the template uses %%{name}%%, which digest does not fill")
        value = values[name]
        return html_lib.escape(value, quote=True) if html else value

    return TOKEN_RE.sub(replace, template)


def personalise(rendered: RenderedEmail, personal: Personal) -> tuple[str, str]:
    """(html, text) of one recipient's copy."""
    values = personal.as_dict()
    return fill(rendered.html, values, html=True), fill(rendered.text, values, html=False)
