"""Rendering: issue + settings + templates → subject, preheader, HTML and plain text.

Jinja2 (autoescaped) writes MJML, mjml-python turns it into responsive HTML and
premailer inlines the CSS. Both libraries have defaults that break MJML output
(see the comments below); tests prove the doctype, the mobile media queries
and the inlined styles survive.

Per-recipient values are placeholders (see :data:`TOKENS`) that survive MJML and
premailer unchanged; sending substitutes them per recipient, so an issue is
rendered once per variant, never once per person.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from digest.config import Settings
from digest.errors import DigestError
from digest.issues.cache import cache_dir, cached_text
from digest.issues.issue import IssueView, Story, human_date, select_stories
from digest.issues.typeset import LinkReferences, keep_dates, nobreak, text_blocks, unbreakable, underline, wrap

# Placeholders filled per recipient at send time (by us, or by SendGrid's
# substitutions over the whole message). Only the templates write them: "%%"
# in any content (feeds, imports, the editor's own text) is broken up first, see
# neutralise_text and neutralise_url. %% passes through MJML, lxml's serializer
# and quoted-printable untouched.
TOKENS = {
    "unsubscribe_url": "%%unsubscribe_url%%",
    "preferences_url": "%%preferences_url%%",
    "view_url": "%%view_url%%",
    "greeting_name": "%%greeting_name%%",
}
TOKEN_RE = re.compile(r"%%([a-z_]+)%%")
# An invisible WORD JOINER between two percent signs: the text reads the same,
# and nothing downstream can see a placeholder in it.
_WORD_JOINER = "\u2060"
_PERCENTS = re.compile(r"%(?=%)")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Context keys whose values are addresses (percent-encoded, not joined).
_URL_KEYS = frozenset({"url", "archive_url", "href", "source_url"})


def neutralise_text(text: str) -> str:
    """Content that can never form a placeholder: ``%%`` becomes ``%<word joiner>%``."""
    return _PERCENTS.sub("%" + _WORD_JOINER, text) if "%%" in text else text


def neutralise_url(url: str) -> str:
    """An address whose stray ``%`` (not the start of a ``%XX`` escape) is encoded as ``%25``,
    as it should have been, so it can never hold a placeholder."""
    return _STRAY_PERCENT.sub("%25", url) if "%" in url else url


def _neutralised(value: Any, key: str = "") -> Any:
    if isinstance(value, str):
        return neutralise_url(value) if key in _URL_KEYS else neutralise_text(value)
    if isinstance(value, dict):
        return {k: _neutralised(v, k) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_neutralised(item, key) for item in value]
    return value


def unknown_placeholders(rendered_text: str) -> list[str]:
    """Placeholders in a rendering that sending would not know how to fill."""
    return sorted({name for name in TOKEN_RE.findall(rendered_text) if name not in TOKENS})


_DOCTYPE = "<!doctype html>"
# allow_network=True (the default) would fetch remote stylesheets. Keeping
# the style tags keeps the media queries and the dark-mode rules that cannot
# be inlined, with their !important intact: premailer's strip_important only
# touches the declarations it copies inline (measured: the same bytes with it
# on or off), and an inline !important would stop dark mode overriding it.
_INLINER_OPTIONS: dict[str, Any] = {
    "allow_network": False,
    "keep_style_tags": True,
    "remove_classes": False,
    "disable_validation": True,
}
INLINER_OPTIONS = repr(sorted(_INLINER_OPTIONS.items()))
INLINE_MARKER = "/* digest:inline */"
_PREHEADER_STYLE = (
    'style="display:none;font-size:1px;color:#ffffff;line-height:1px;max-height:0px;max-width:0px;'
    'opacity:0;overflow:hidden;"'
)
_HIDDEN_STYLE = 'style="display:none;max-height:0px;max-width:0px;opacity:0;overflow:hidden;mso-hide:all;"'
_FOREIGN_STYLE_RE = re.compile(r'<style type="text/css">(?!\s*/\* digest:inline \*/)')


@dataclass(frozen=True)
class RenderedEmail:
    """One variant of an issue, ready for personalisation and sending."""

    issue_id: str
    segment: str | None
    subject: str
    preheader: str
    html: str
    text: str
    story_ids: tuple[str, ...]

    @property
    def content_hash(self) -> str:
        """A fingerprint of exactly what readers of this variant get."""
        digest = hashlib.sha256()
        for part in (self.subject, self.preheader, self.html, self.text):
            digest.update(part.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()


def archive_url(settings: Settings, issue_id: str, article_id: str | None = None) -> str:
    """The public web-archive address of an issue or one of its articles."""
    base = f"{settings.base_url}/archive/{issue_id}/"
    return f"{base}{article_id}.html" if article_id else base


def story_url(settings: Settings, issue_id: str, story: Story) -> str:
    """Where "Read the full story" goes: the original, or our archive page without one."""
    return story.url or archive_url(settings, issue_id, story.article.id)


def build_context(
    view: IssueView,
    settings: Settings,
    *,
    segment: str | None = None,
    whole: IssueView | None = None,
    topics: frozenset[str] | None = None,
) -> dict[str, Any]:
    """Everything the HTML and text templates need, as plain values.

    ``view`` is the copy being rendered; ``whole`` the issue it was narrowed
    from to ``topics`` (a copy that leaves stories out says so). Counts, the
    preheader and the contents come from the copy's own stories.
    """
    from digest.issues.wording import automatic_preheader, byline, copy_shows, greeting_of, narrowed_topics

    issue = view.issue
    stories = view.stories()
    numbers = {story.id: number for number, story in enumerate(stories, 1)}

    def story_dict(story: Story, section: str = "", alone: bool = False) -> dict[str, Any]:
        article = story.article
        return {
            "id": article.id,
            "number": numbers[story.id],
            "anchor": f"story-{numbers[story.id]}",
            "title": article.title,
            "source": article.source,
            "author": byline(settings, story),
            "published": human_date(article.published),
            "published_iso": article.published.isoformat() if article.published else "",
            "url": story_url(settings, issue.id, story),
            "source_url": story.url,
            "archive_url": archive_url(settings, issue.id, article.id),
            "summary": story.summary,
            "note": story.note,
            "full": story.full,
            # A story shown in full links only to an original elsewhere, never to the same text again.
            "more": bool(story.url) or not story.full,
            "blocks": article.body,
            "topics": [settings.topic_label(t) for t in story.topics],
            "is_lead": story.is_lead,
            "section": section,
            "kicker": section if alone else "",
        }

    narrowed = narrowed_topics(settings, whole or view, view, topics)
    content = _neutralised(
        {
            "issue": {
                "id": issue.id,
                "date": human_date(issue.date),
                "date_iso": issue.date.isoformat(),
                "subject": issue.subject,
                "preheader": issue.preheader or automatic_preheader(issue.subject, stories),
                "introduction": paragraphs(issue.introduction),
                "editor_note": paragraphs(issue.editor_note),
            },
            "lead": story_dict(view.lead) if view.lead else None,
            "sections": [
                {
                    "title": section.title,
                    # A section of one story has no heading row of its own: its story carries the section's
                    # name as a small heading (still an H2 in the outline), above its source line.
                    "heading": len(section.stories) > 1,
                    "stories": [story_dict(s, section.title, len(section.stories) == 1) for s in section.stories],
                }
                for section in view.sections
            ],
            "copy": {"shows": copy_shows(settings, view, topics or (), narrowed)} if narrowed else None,
        }
    )
    return {
        **content,
        "org": settings.organisation,
        "sender": settings.email,
        "language": settings.language,
        "segment": segment,
        "story_count": len(stories),
        # The editor's introduction may greet readers itself ("Dear colleague,"): greet once.
        "greet": not greeting_of(issue.introduction),
        "links": {
            **TOKENS,
            "archive": f"{settings.base_url}/archive/",
            "issue_archive": archive_url(settings, issue.id),
            "subscribe": f"{settings.base_url}/subscribe",
            "privacy": settings.organisation.privacy_url,
            "website": settings.organisation.website,
        },
    }


def paragraphs(text: str) -> list[str]:
    """Paragraphs of free text written by an editor (blank lines separate them)."""
    return [" ".join(part.split()) for part in re.split(r"\n\s*\n", text or "") if part.strip()]


# --- environments and the pipeline ----------------------------------------------------


@lru_cache(maxsize=8)
def _environment(template_dirs: tuple[str, ...], kind: str) -> jinja2.Environment:
    # The project's folder comes first, so one overridden file replaces only that template.
    loader = jinja2.FileSystemLoader(list(template_dirs))
    compiled = _compiled_templates()
    if kind == "text":
        env = jinja2.Environment(
            loader=loader,
            autoescape=False,  # noqa: S701 - plain text is not HTML; nothing is interpreted
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            undefined=jinja2.StrictUndefined,
            bytecode_cache=compiled,
        )
    else:
        env = jinja2.Environment(
            loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, bytecode_cache=compiled
        )
        env.filters.update(keep_dates=keep_dates, unbreakable=unbreakable)
    env.filters.update(wrap=wrap, underline=underline, nobreak=nobreak)
    env.globals.update(text_blocks=text_blocks)
    return env


class _CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """Compiled templates kept between runs (Jinja checks each against its source's checksum); a cache
    that cannot be read or written is no cache, never an error."""

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except OSError:
            pass

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _compiled_templates() -> jinja2.BytecodeCache | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        (folder / "templates").mkdir(exist_ok=True)
    except OSError:
        return None
    return _CompiledTemplates(str(folder / "templates"))


def environment(settings: Settings, kind: str = "html") -> jinja2.Environment:
    """The Jinja environment for ``kind`` 'html' (autoescaped) or 'text'."""
    return _environment(tuple(str(folder) for folder in settings.template_dirs), kind)


@lru_cache(maxsize=1)
def _premailer() -> Any:
    _requests_on_use()
    import premailer

    return premailer.Premailer(**_INLINER_OPTIONS, cssutils_logging_level=logging.CRITICAL)


def _requests_on_use() -> None:
    """premailer imports requests (a fifth of a cold preview) only to fetch remote stylesheets, which
    we never let it do: the module is made lazy, so it loads only if something really uses it."""
    if "requests" in sys.modules:
        return
    spec = importlib.util.find_spec("requests")
    if spec is None or spec.loader is None:
        return
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["requests"] = module
    loader.exec_module(module)


@lru_cache(maxsize=1)
def _inliner_fingerprint() -> str:
    """What besides its input decides premailer's output: the installed inliner and CSS parser, and our options."""
    parts = [INLINER_OPTIONS]
    for name in ("premailer", "cssutils", "lxml"):
        spec = importlib.util.find_spec(name)
        origin = Path(spec.origin) if spec is not None and spec.origin else None
        stat = origin.stat() if origin is not None and origin.exists() else None
        parts.append(f"{name}:{origin}:{stat.st_size if stat else ''}:{stat.st_mtime_ns if stat else ''}")
    return "\n".join(parts)


def inline_css(html: str) -> str:
    """premailer's inlining of ``html``, done once for a given HTML (see :mod:`digest.issues.cache`)."""
    return cached_text(
        "inlined", (_inliner_fingerprint(), html), lambda: str(_premailer().transform(html, pretty_print=False))
    )


def mjml_to_html(mjml: str) -> str:
    """MJML → inlined HTML with the doctype and head meta an email needs."""
    from mjml import mjml2html

    # fonts={} stops mjml-python adding Google Fonts links (a network fetch and
    # a privacy leak in every email); we use a web-safe font stack instead.
    html = mjml2html(mjml, disable_comments=True, fonts={})
    # MJML hides the preheader with white, 1px text as well as display:none;
    # spam filters score both tricks (SpamAssassin's HTML_FONT_LOW_CONTRAST and
    # FONT_INVIS_MSGID), and display:none with a zero-size box hides it anyway.
    html = html.replace(_PREHEADER_STYLE, _HIDDEN_STYLE, 1)
    # Inline only our own rules. MJML's reset block (border-collapse on every
    # table, p margins) would otherwise be copied onto every element, costing
    # about 0.5 KB a story towards Gmail's clipping limit; MJML itself leaves
    # those rules in <head>.
    html = _FOREIGN_STYLE_RE.sub('<style type="text/css" data-premailer="ignore">', html)
    html = inline_css(html)
    # lxml drops MJML's lower-case doctype; without it clients fall into quirks mode.
    if not html.lstrip().lower().startswith("<!doctype"):
        html = f"{_DOCTYPE}\n{html}"
    return html.replace(
        "<head>",
        '<head><meta name="color-scheme" content="light dark">'
        '<meta name="supported-color-schemes" content="light dark">'
        # iOS would otherwise turn phone numbers, dates and addresses into blue links.
        '<meta name="format-detection" content="telephone=no, date=no, address=no, email=no">',
        1,
    )


def _render_template(settings: Settings, kind: str, name: str, context: Mapping[str, Any]) -> str:
    """Render a template, turning a template mistake into an error that names it."""
    try:
        return environment(settings, kind).get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise DigestError(f"{exc.filename or name}, line {exc.lineno}: template error: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        folders = " or ".join(str(folder) for folder in settings.template_dirs)
        raise DigestError(f"template {exc.name} not found in {folders}") from None
    except jinja2.UndefinedError as exc:
        raise DigestError(f"template {name}: {exc.message}") from None


def render_html(context: Mapping[str, Any], settings: Settings, template: str = "digest") -> str:
    """The HTML email from ``<template>.mjml.j2`` (the digest's, or another email's such as a correction)."""
    mjml = _render_template(settings, "html", f"{template}.mjml.j2", context)
    try:
        return mjml_to_html(mjml)
    except DigestError:
        raise
    except Exception as exc:  # mjml-python raises plain exceptions on bad markup
        raise DigestError(f"templates/{template}.mjml.j2 produced MJML that does not render: {exc}") from None


def render_text(context: Mapping[str, Any], settings: Settings, template: str = "digest") -> str:
    """The plain-text twin from ``<template>.txt.j2``."""
    text = _render_template(settings, "text", f"{template}.txt.j2", {**context, "refs": LinkReferences()})
    # Collapse runs of blank lines the template's conditionals leave behind.
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def render_issue(
    view: IssueView,
    settings: Settings,
    *,
    topics: frozenset[str] | None = None,
    segment: str | None = None,
) -> RenderedEmail:
    """Render one variant of an issue: the stories a reader limited to ``topics`` gets."""
    variant = select_stories(view, topics)
    context = build_context(variant, settings, segment=segment, whole=view, topics=topics)
    html, text = render_html(context, settings), render_text(context, settings)
    unknown = unknown_placeholders(html + text)
    if unknown:
        # Only a template can write one (content is neutralised): fail now, before any delivery is claimed.
        raise DigestError(
            f"the templates use %%{unknown[0]}%%, which sending does not fill; "
            f"the placeholders are {', '.join('%%' + name + '%%' for name in TOKENS)}"
        )
    return RenderedEmail(
        issue_id=view.issue.id,
        segment=segment,
        subject=context["issue"]["subject"],
        preheader=context["issue"]["preheader"],
        html=html,
        text=text,
        story_ids=tuple(story.id for story in variant.stories()),
    )


def render_web_page(settings: Settings, template: str, context: Mapping[str, Any]) -> str:
    """A page of the web archive or preview from ``templates/web/``."""
    return _render_template(settings, "html", f"web/{template}", context)


class Renderings:
    """An issue's variants, each rendered at most once.

    A send checks, approves and freezes the same renderings: the issue file is
    loaded once and each distinct set of topics is rendered once, so what was
    checked is byte for byte what was approved and what is sent.
    """

    def __init__(self, view: IssueView, settings: Settings) -> None:
        self.view = view
        self.settings = settings
        self._rendered: dict[frozenset[str] | None, RenderedEmail] = {}

    def variant(self, topics: frozenset[str] | None = None) -> RenderedEmail:
        """The variant for readers limited to ``topics`` (None: the whole issue)."""
        key = None if topics is None else frozenset(topics)
        if key not in self._rendered:
            self._rendered[key] = render_issue(self.view, self.settings, topics=key)
        return self._rendered[key]
