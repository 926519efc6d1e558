"""Corpus tier: every HTML element, attribute and CSS feature the email uses, against caniemail's data.

caniemail.com records which mail client supports which HTML and CSS feature;
its data comes with the caniemail package on npm (dist/data/caniemail.json),
which `.ci/run` unpacks into the corpus cache. The audit renders the fullest
email the templates make (a logo, a story in full with its sub-headings and
lists, editor's notes, a copy narrowed to some topics), lists what it uses,
and looks each feature up for Outlook for Windows (the Word engine, at its
newest tested version) and every Gmail (webmail, iOS, Android, mobile
webmail), the clients UK schools and the NHS read mail in most.

It fails when a feature is not fully supported in one of them and FALLBACKS
does not say what the reader gets instead; when the email uses something
the audit cannot place in caniemail's data and that is not listed as having
no entry; and when a fallback is written for a feature the email no longer
uses (or that is now supported). The table in docs/email-clients.md is this
audit's result (`pytest --update-goldens` rewrites it).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from digest.config import load_settings
from digest.issues.issue import load_view
from digest.issues.render import Renderings
from tests.conftest import REPO
from tests.corpus import find_corpus

DOC = REPO / "docs" / "email-clients.md"
TABLE_START, TABLE_END = "<!-- caniemail audit: start -->", "<!-- caniemail audit: end -->"

CLIENTS = {
    "Outlook for Windows": ("outlook", ("windows",)),
    "Gmail": ("gmail", ("desktop-webmail", "ios", "android", "mobile-webmail")),
}

# What the reader gets where a client does not (fully) support a feature the email uses.
FALLBACKS = {
    "html-anchor-links": "Each story starts with an empty `<a name>` (and the `id`), the one target Outlook for Windows and Gmail's webmail jump to; where nothing jumps (Gmail on iOS) the contents is still the list of the copy's stories.",
    "html-body": "Gmail puts a `<div>` in place of `<body>`; the page colour `<body>` carries is on MJML's sections too.",
    "html-dir": "`dir` is only on text blocks (headings, paragraphs, list items), never on a link, where Outlook for Windows mishandles it; `ltr` on `<html>`.",
    "html-lists": "Only plain `<ul>`/`<ol>` (no `reversed`, no `value`); lists indent with `margin-left`, which Outlook honours.",
    "html-meta-color-scheme": "Where it is ignored, the client applies its own dark mode (or none) to the light design.",
    "html-style": "Every rule the email needs is inline too (premailer); `<style>`, in `<head>`, adds only the mobile sizes and the dark colours.",
    "html-width": "`width=\"100%\"` only on MJML's layout tables; the logo's width is in pixels.",
    "css-at-media": "Without media queries the email is one 600-pixel column that MJML's fluid tables shrink on a phone; the queries only refine sizes.",
    "css-at-media-prefers-color-scheme": "Without it, the client's own dark mode (or none) applies to the light design; the dark colours are an extra.",
    "css-background": "Only a colour, never an image or several values (`background` beside `background-color`, as MJML writes it).",
    "css-border": "Rules of 1 or 3 pixels; where Outlook drops one on a paragraph or heading, the text still reads, only without the line.",
    "css-display": "`display: block`/`inline-block` only make phone tap targets taller; Outlook for Windows (a desktop client) keeps ordinary text links, Gmail's apps support both values.",
    "css-display-none": "Hides only the preheader (a `<div>`, with `mso-hide: all` for Outlook), never an image or a table.",
    "css-font-weight": "`bold` (and `inherit` in the rule for iOS's data detectors), never a number.",
    "css-font-size": "Sizes in `px` only, never `rem`.",
    "css-border-radius": "The button's rounded corners: square in Outlook for Windows, the same button otherwise.",
    "css-border-spacing": "MJML's table reset; Outlook reads the tables' `cellspacing=\"0\"` instead.",
    "css-comments": "One comment, the marker of our inlined rules in `<style>`; those rules are inline as well.",
    "css-cursor": "MJML's `cursor: auto` on the button's cell, which changes nothing.",
    "css-direction": 'MJML\'s `direction: ltr` on layout cells; text blocks carry `dir="auto"` for right-to-left text.',
    "css-height": "Only MJML's `height: auto` on images (the logo).",
    "css-outline": "MJML's `outline: none` on images; Outlook draws no outline there anyway.",
    "css-text-align": "Only `left` and `center`.",
    "css-word-spacing": "MJML's `word-spacing: normal` on `<body>`, the default anyway.",
    "html-doctype": "Outlook for Windows lays out with Word whatever the doctype; it keeps the others out of quirks mode.",
    "html-height": 'Only MJML\'s `height="auto"` on the logo, whose width is in pixels.',
    "html-target": 'MJML\'s `target="_blank"` on the button: links open in a new window in both anyway.',
    "css-important": "Written lower-case with a space before it, only inside `<style>`, never inline; where `<style>` is dropped, the inline styles hold.",
    "css-letter-spacing": "Small, in `em`, on upper-case labels: a little tighter in Outlook, still legible.",
    "css-line-height": "Unitless, pixel and MJML's percentage line heights; Outlook spaces lines a little differently, and no text has a fixed height that could cut it off.",
    "css-margin": "No negative margins; `margin: 0 auto` only on MJML's section `<div>`s, which Outlook replaces with its centred conditional tables; where Outlook drops a paragraph's margin, text runs a little closer.",
    "css-max-height": "Only on the hidden preheader, which `display: none` and `mso-hide: all` hide anyway.",
    "css-max-width": "MJML's centred 600-pixel layout: Outlook gets the conditional 600-pixel table MJML writes for it.",
    "css-opacity": "Only on the hidden preheader, which Outlook hides with `mso-hide: all`.",
    "css-overflow": "Only on the hidden preheader, which Outlook hides with `mso-hide: all`.",
    "css-padding": "Layout padding is on table cells (MJML's), which Outlook honours; padding on links (taller tap targets) and on headings and paragraphs (room beside a rule) is lost there, which only tightens the spacing.",
    "css-selector-attribute": "Only `a[href]` (inlined) and `a[x-apple-data-detectors]` (for iOS Mail); Outlook and Gmail need neither.",
    "css-selector-child": "Only in the dark-mode rules, an extra those clients do not apply.",
    "css-selector-class": "Rules by class are inlined; in `<style>` they carry the dark-mode and mobile extras only.",
    "css-selector-descendant": "Rules that matter are inlined; in `<style>` descendants only carry the extras.",
    "css-selector-grouping": "Rules that matter are inlined; groups in `<style>` only carry the extras.",
    "css-selector-id": "Only MJML's `#outlook a`, a reset for Outlook.com.",
    "css-selector-type": "Rules that matter are inlined; type rules in `<style>` only carry the extras.",
    "css-text-decoration": "One value at a time (`underline` or `none`).",
    "css-text-transform": "Only `uppercase`, on short labels.",
    "css-width": "Widths on tables and cells (MJML's), which Outlook honours; the `width` on column `<div>`s is for the other clients.",
    "css-word-break": "MJML's `word-break: break-word` on text cells, so a long web address wraps instead of widening the email.",
}

# Used, but with no page in caniemail: what they are and why nothing is needed.
NO_ENTRY = {
    "element:html": "the document",
    "element:head": "the document",
    "element:title": "the subject, for a browser's tab",
    "element:meta": "charset, viewport, colour schemes, format detection",
    "element:br": "a line break in the footer's address",
    "element:tbody": "part of MJML's tables",
    "element:tr": "part of MJML's tables",
    "element:td": "part of MJML's tables",
    "element:a": "an ordinary link",
    "attribute:class": "classes, inlined by premailer",
    "attribute:id": "the contents' targets (with `name`)",
    "attribute:name": "the contents' targets",
    "attribute:style": "inline styles",
    "attribute:href": "links",
    "attribute:src": "the logo",
    "attribute:alt": "the logo's text",
    "attribute:border": "MJML's tables",
    "attribute:content": "`<meta>`",
    "attribute:http-equiv": "`<meta>`",
    "attribute:type": "`<style type>`",
    "attribute:media": "MJML's Thunderbird rule",
    "attribute:xmlns": "MJML's namespaces for Outlook's VML",
    "attribute:xmlns:v": "MJML's namespaces for Outlook's VML",
    "attribute:xmlns:o": "MJML's namespaces for Outlook's VML",
    "attribute:bgcolor": "MJML's section colour for Outlook",
    "attribute:vertical-align": "MJML writes it on cells; browsers ignore it, the inline style sets the alignment",
    "attribute:aria-roledescription": "MJML names the whole email for screen readers",
    "property:color": "text colour, supported everywhere",
    "property:font-family": "a web-safe stack (Arial, Helvetica, sans-serif), no web fonts",
    "property:mso-hide": "Outlook's own property (hides the preheader there)",
    "property:mso-padding-alt": "Outlook's own property (the button's padding there)",
    "property:mso-table-lspace": "Outlook's own property",
    "property:mso-table-rspace": "Outlook's own property",
    "property:-webkit-text-size-adjust": "WebKit's own property: iOS keeps the text size",
    "property:-ms-text-size-adjust": "Windows Phone's own property",
    "property:-ms-interpolation-mode": "old Internet Explorer's image scaling",
}

ELEMENTS = {
    "h1": "html-h1-h6", "h2": "html-h1-h6", "h3": "html-h1-h6", "h4": "html-h1-h6",
    "ul": "html-lists", "ol": "html-lists", "li": "html-lists",
    "table": "html-table", "p": "html-p", "div": "html-div", "span": "html-span",
    "strong": "html-strong", "style": "html-style", "body": "html-body", "img": "html-img",
}  # fmt: skip
ATTRIBUTES = {
    "lang": "html-lang", "dir": "html-dir", "align": "html-align", "role": "html-role",
    "aria-label": "html-aria-label", "aria-hidden": "html-aria-hidden", "width": "html-width",
    "height": "html-height", "cellpadding": "html-cellpadding", "cellspacing": "html-cellspacing",
    "valign": "html-valign", "target": "html-target", "background": "html-background", "hidden": "html-hidden",
}  # fmt: skip
UNITS = {"px": "css-unit-px", "%": "css-unit-percent", "em": "css-unit-em", "rem": "css-unit-rem", "pt": "css-unit-pt"}
_SIDES = re.compile(r"-(top|right|bottom|left)(-(width|style|color))?$")


@dataclass(frozen=True)
class Support:
    word: str  # yes | partly | no
    numbers: tuple[str, ...]  # the numbers of caniemail's notes on it (its page has them)
    notes: tuple[str, ...]  # their text, for a failing test's message (never copied into our docs)

    def cell(self) -> str:
        label = "note" if len(self.numbers) == 1 else "notes"
        return self.word + (f" ({label} {', '.join(self.numbers)})" if self.numbers else "")

    def explained(self) -> str:
        return self.word + (" (" + "; ".join(self.notes) + ")" if self.notes else "")


class CanIEmail:
    """caniemail's features by slug, and each one's support in the clients the audit weighs."""

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text(encoding="utf-8"))
        self.updated = str(data["last_update_date"])[:10]
        self.features: dict[str, dict[str, Any]] = {feature["slug"]: feature for feature in data["data"]}
        # Property names a feature covers besides its own (css-border: border-top, …): the keywords
        # with a hyphen; the others are search words ("color" is a keyword of accent-color).
        self.keywords: dict[str, str] = {}
        for slug, feature in self.features.items():
            for word in re.split(r",\s*", feature.get("keywords") or ""):
                if "-" in word:
                    self.keywords.setdefault(word.strip(), slug)

    def support(self, slug: str, client: str) -> Support:
        family, platforms = CLIENTS[client]
        feature = self.features[slug]
        stats = feature["stats"].get(family, {})
        results = []
        for platform in platforms:
            versions = stats.get(platform)
            if versions:
                results.append(versions[max(versions, key=_version)])  # its newest test
        letters = {result.split()[0] for result in results}
        word = "yes" if letters == {"y"} else "no" if letters <= {"n", "u"} else "partly"
        numbers = sorted({n for result in results for n in re.findall(r"#(\d+)", result)}, key=int)
        if word == "yes":
            return Support(word, (), ())
        notes = tuple((feature.get("notes_by_num") or {}).get(n, "").rstrip(".") for n in numbers)
        return Support(word, tuple(numbers), notes)

    def css_property(self, name: str, value: str) -> str | None:
        if name == "display":
            return "css-display-none" if value.strip() == "none" else "css-display"
        for candidate in (name, _SIDES.sub("", name), _SIDES.sub(r"\2", name)):
            if f"css-{candidate}" in self.features:
                return f"css-{candidate}"
            if candidate in self.keywords:
                return self.keywords[candidate]
        return None


def _version(key: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", key))


def features_used(html: str, caniemail: CanIEmail) -> dict[str, set[str]]:
    """Each caniemail slug (or "element:…", "attribute:…", "property:…" without one) the HTML uses,
    with where (a few examples). Outlook's conditional comments are Outlook's own and not counted."""
    import cssutils
    import lxml.html

    cssutils.log.setLevel(logging.CRITICAL)
    used: dict[str, set[str]] = {}

    def note(slug: str, where: str) -> None:
        used.setdefault(slug, set()).add(where[:60])

    if html.lower().startswith("<!doctype html>"):
        note("html-doctype", "<!doctype html>")
    if "<!--" in html:
        note("html-comments", "MJML's conditional comments for Outlook")
    root = lxml.html.fromstring(html)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # a comment
        tag = element.tag
        note(ELEMENTS.get(tag, f"element:{tag}"), f"<{tag}>")
        if tag == "meta" and element.get("name") == "color-scheme":
            note("html-meta-color-scheme", "<meta name=color-scheme>")
        if tag == "a" and element.get("href", "").startswith("#"):
            note("html-anchor-links", element.get("href", ""))
        if tag == "a" and element.get("href", "").startswith("mailto:"):
            note("html-mailto-links", "the footer's contact address")
        if tag == "img":
            note(f"image-{element.get('src', '').rsplit('.', 1)[-1].lower()}", element.get("src", ""))
        for name in element.attrib:
            note(ATTRIBUTES.get(name, f"attribute:{name}"), f"<{tag} {name}>")
        if element.get("style"):
            _note_declarations(cssutils.parseStyle(element.get("style")), f"<{tag} style>", caniemail, note)
        if tag == "style":
            _note_sheet(cssutils.parseString(element.text or ""), caniemail, note)
    return used


def _note_declarations(style: Any, where: str, caniemail: CanIEmail, note: Any) -> None:
    for declaration in style:
        slug = caniemail.css_property(declaration.name, declaration.value)
        note(slug or f"property:{declaration.name}", f"{declaration.name} ({where})")
        for unit in re.findall(r"\d(px|em|rem|pt|%)(?![\w-])", declaration.value):
            note(UNITS[unit], f"{declaration.name}: {declaration.value}")
        if declaration.priority:
            note("css-important", f"{declaration.name} !important")
        for function in re.findall(r"\b(rgba?|calc|min|max|clamp|var)\(", declaration.value):
            note(
                {"rgb": "css-rgb", "rgba": "css-rgba", "calc": "css-unit-calc"}.get(
                    function, f"css-function-{function}"
                ),
                declaration.value,
            )


def _note_sheet(sheet: Any, caniemail: CanIEmail, note: Any) -> None:
    for rule in sheet:
        kind = type(rule).__name__
        if kind == "CSSComment":
            note("css-comments", rule.cssText)
        elif kind == "CSSMediaRule":
            note("css-at-media", rule.media.mediaText)
            if "prefers-color-scheme" in rule.media.mediaText:
                note("css-at-media-prefers-color-scheme", rule.media.mediaText)
            _note_sheet(rule.cssRules, caniemail, note)
        elif kind == "CSSStyleRule":
            selectors = [selector.selectorText for selector in rule.selectorList]
            if len(selectors) > 1:
                note("css-selector-grouping", rule.selectorText)
            for selector in selectors:
                _note_selector(selector, note)
            _note_declarations(rule.style, rule.selectorText, caniemail, note)
        else:
            note(f"css-rule:{kind}", rule.cssText)


def _note_selector(selector: str, note: Any) -> None:
    if re.search(r"\s*>\s*", selector):
        note("css-selector-child", selector)
    if re.search(r"\s\+\s", selector):
        note("css-selector-adjacent-sibling", selector)
    if re.search(r"\s~\s", selector):
        note("css-selector-general-sibling", selector)
    if re.search(r"[\w\])]\s+[\w.#\[*]", selector):
        note("css-selector-descendant", selector)
    for pattern, slug in ((r"\.[\w-]", "css-selector-class"), (r"#[\w-]", "css-selector-id"), (r"\[", "css-selector-attribute"), (r"\*", "css-selector-universal")):  # fmt: skip
        if re.search(pattern, selector):
            note(slug, selector)
    if re.search(r"(^|[\s>+~])[a-z][\w-]*", selector):
        note("css-selector-type", selector)
    for pseudo in re.findall(r":([\w-]+)", selector):
        note(f"css-pseudo-class-{pseudo}", selector)


@pytest.fixture
def fullest_email(engine, settings, sample_issue, audience, project) -> list[str]:  # type: ignore[no-untyped-def]
    """The sample issue with everything the templates can show: a logo, a story in full (sub-headings,
    a numbered list), an editor's note on the issue and on a story; the whole issue and every copy."""
    toml = project / "digest.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace(
            "[organisation]\n",
            '[organisation]\nlogo_url = "https://safe.example.org/logo.png"\nlogo_alt = "SAFE CIC"\n'
            'contact_email = "newsfeed@safe.example.org"\nregistration = "Company no. 12345678"\n',
        ),
        encoding="utf-8",
    )
    water = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"
    text = sample_issue.read_text(encoding="utf-8").replace(
        f"- {water}", f"- {{id: {water}, full: true, note: PE staff.}}"
    )
    sample_issue.write_text(
        text.replace("editor_note: ''", "editor_note: 'Training dates are on our site.'"), encoding="utf-8"
    )
    full = load_settings(toml)
    renderings = Renderings(load_view(engine, full, "2025-04-10"), full)
    from digest.people.segments import load_segments

    return [renderings.variant().html] + [renderings.variant(s.topics).html for s in load_segments(full)]


def audit(caniemail: CanIEmail, pages: list[str]) -> tuple[list[tuple[str, str, Support, Support, str]], list[str]]:
    """(rows of the table, problems)."""
    used: dict[str, set[str]] = {}
    for page in pages:
        for slug, where in features_used(page, caniemail).items():
            used.setdefault(slug, set()).update(where)
    problems, rows = [], []
    for slug in sorted(used):
        if slug in NO_ENTRY:
            continue
        if slug not in caniemail.features:
            problems.append(
                f"{slug} ({', '.join(sorted(used[slug])[:3])}): not in caniemail; place it or list it in NO_ENTRY"
            )
            continue
        outlook, gmail = (caniemail.support(slug, client) for client in CLIENTS)
        fallback = FALLBACKS.get(slug, "")
        if "yes" != outlook.word or "yes" != gmail.word:
            if not fallback:
                problems.append(
                    f"{slug} ({', '.join(sorted(used[slug])[:3])}): Outlook for Windows {outlook.explained()}, "
                    f"Gmail {gmail.explained()}, and no fallback in FALLBACKS"
                )
        elif fallback:
            problems.append(f"{slug}: supported by both now; drop its entry from FALLBACKS")
        title = f"[{caniemail.features[slug]['title']}]({caniemail.features[slug]['url']})"
        rows.append((slug, title, outlook, gmail, fallback))
    problems += [f"{slug}: in FALLBACKS but the email no longer uses it" for slug in FALLBACKS if slug not in used]
    problems += [f"{key}: in NO_ENTRY but the email no longer uses it" for key in NO_ENTRY if key not in used]
    return rows, problems


def table(caniemail: CanIEmail, rows: list[tuple[str, str, Support, Support, str]]) -> str:
    lines = [
        f"caniemail's data of {caniemail.updated} (npm package caniemail 2.0.2), each client at its newest "
        "test; the notes are on each feature's caniemail page.",
        "",
        "| feature | Outlook for Windows | Gmail (web, iOS, Android, mobile web) | our fallback |",
        "|---|---|---|---|",
    ]
    for slug, title, outlook, gmail, fallback in rows:
        cells = [f"{title} (`{slug}`)", outlook.cell(), gmail.cell(), fallback or "none needed"]
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


@pytest.mark.corpus
def test_every_feature_the_email_uses_works_or_falls_back_in_outlook_and_gmail(fullest_email, request) -> None:  # type: ignore[no-untyped-def]
    caniemail = CanIEmail(find_corpus("caniemail-*/dist/data/caniemail.json"))
    assert len(caniemail.features) > 250
    rows, problems = audit(caniemail, fullest_email)
    written = table(caniemail, rows)
    print("\n" + written)
    assert problems == [], "\n".join(problems)
    assert len(rows) > 40  # the audit found the email's features, not an empty page
    document = DOC.read_text(encoding="utf-8")
    before, rest = document.split(TABLE_START + "\n", 1)
    current, after = rest.split(TABLE_END, 1)
    if request.config.getoption("--update-goldens"):
        DOC.write_text(before + TABLE_START + "\n" + written + TABLE_END + after, encoding="utf-8")
        return
    assert current == written, f"{DOC.name} holds an older audit; run pytest --update-goldens and review it"


@pytest.mark.corpus
def test_the_audit_finds_a_feature_without_a_fallback(fullest_email) -> None:
    caniemail = CanIEmail(find_corpus("caniemail-*/dist/data/caniemail.json"))
    planted = fullest_email[0].replace("<p ", '<p style="background-image:url(x.png);position:absolute" ', 1)
    _rows, problems = audit(caniemail, [planted, *fullest_email[1:]])
    assert [problem.split(" ", 1)[0] for problem in problems] == ["css-background-image", "css-position"]
    unknown = fullest_email[0].replace("<p ", "<p data-x=1 ", 1)
    assert audit(caniemail, [unknown])[1][0].startswith("attribute:data-x (<p data-x>): not in caniemail")
