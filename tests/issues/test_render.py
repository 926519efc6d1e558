"""Rendering: Jinja → MJML → HTML → premailer, and the plain-text twin."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from digest.issues.issue import load_view
from digest.issues.render import TOKENS, mjml_to_html, render_issue
from digest.issues.typeset import wrap
from tests.golden import assert_golden, html_outline


@pytest.fixture
def rendered(engine, settings, sample_issue):  # type: ignore[no-untyped-def]
    return render_issue(load_view(engine, settings, "2025-04-10"), settings)


def test_html_matches_the_golden_outline(rendered, request) -> None:  # type: ignore[no-untyped-def]
    assert_golden(request, "sample-issue.html.outline", html_outline(rendered.html))


def test_text_matches_the_golden_file(rendered, request) -> None:  # type: ignore[no-untyped-def]
    assert_golden(request, "sample-issue.txt", rendered.text)


def test_doctype_media_queries_and_inlined_styles_survive(rendered) -> None:  # type: ignore[no-untyped-def]
    html = rendered.html
    assert html.startswith("<!doctype html>")
    # MJML's column-stacking rule and our mobile rules keep their !important.
    stacking = re.search(r"@media only screen and \(min-width:480px\) \{(.*?)\}\s*\}", html, re.S)
    assert stacking and ".mj-column-per-100 { width:100% !important; max-width:100%;" in stacking.group(1)
    assert "@media only screen and (max-width: 479px)" in html
    assert ".lead-title { font-size: 22px !important; }" in html
    assert "@media (prefers-color-scheme: dark)" in html
    # Our class rules were inlined onto the elements (premailer did its job).
    assert re.search(r'<h3 class="story-title" dir="auto" style="[^"]*font-size:20px', html)
    assert re.search(r'<a href="[^"]+" class="title-link" style="[^"]*color:#12355b', html)
    # No network: no Google Fonts link, no remote stylesheet.
    assert "fonts.googleapis.com" not in html
    assert '<link rel="stylesheet"' not in html


def test_layout_is_600px_with_lang_and_presentation_tables(rendered) -> None:  # type: ignore[no-untyped-def]
    html = rendered.html
    assert '<html lang="en-GB"' in html
    assert "max-width:600px" in html
    tables = re.findall(r"<table[^>]*>", html)
    assert tables and all('role="presentation"' in t for t in tables)
    assert '<meta name="color-scheme" content="light dark">' in html


def test_recipient_tokens_survive_mjml_and_premailer_unchanged(rendered) -> None:  # type: ignore[no-untyped-def]
    for token in ("unsubscribe_url", "preferences_url", "view_url"):
        assert f'href="{TOKENS[token]}"' in rendered.html
        assert TOKENS[token] in rendered.text
    assert f"Dear {TOKENS['greeting_name']}," in rendered.html


def test_preheader_is_in_the_html(rendered) -> None:  # type: ignore[no-untyped-def]
    assert rendered.preheader.startswith("Also: Online forum shut down and details of 40 users passed to police;")
    assert re.search(r'<div style="display:none;[^"]*">Also: Online forum', rendered.html)


def test_article_text_is_never_markup(engine, settings, project) -> None:  # type: ignore[no-untyped-def]
    from datetime import date

    from digest.articles.store import import_articles
    from digest.issues.drafting import new_issue

    hostile = (
        "<img src=x onerror=alert(1)> title\n\nSource: Evil <b>Org</b> published on this site Friday 4 April 2025\n\n"
        "<script>alert('x')</script> & more\n"
    )
    (project / "evil.txt").write_text(hostile, encoding="utf-8")
    import_articles(engine, settings, [str(project / "evil.txt")])
    new_issue(engine, settings, issue_date=date(2025, 4, 10))
    rendered = render_issue(load_view(engine, settings, "2025-04-10"), settings)
    assert "<script>" not in rendered.html
    # lxml re-serialises the text, so the quote comes back unescaped: still text.
    assert "&lt;script&gt;alert('x')&lt;/script&gt; &amp; more" in rendered.html
    assert "<img src=x" not in rendered.html
    assert "Evil &lt;b&gt;Org&lt;/b&gt;" in rendered.html
    assert "<script>alert('x')</script> & more" in rendered.text


def test_full_stories_keep_headings_and_bullets(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    text = sample_issue.read_text(encoding="utf-8")
    water = "2025-04-08-cold-water-safety-advice-as-the-weather-warms-up"
    sample_issue.write_text(
        text.replace(f"- {water}", f"- {{id: {water}, full: true, note: Share with PE staff.}}"), encoding="utf-8"
    )
    rendered = render_issue(load_view(engine, settings, "2025-04-10"), settings)
    assert re.search(r'<ul class="bullets"[^>]*>\s*<li[^>]*>Only swim in open water', rendered.html)
    assert "Editor's note:</strong> Share with PE staff." in rendered.html
    assert (
        " * Talk to children and teenagers about the risks—many of the people we rescue\n   are young." in rendered.text
    )


def test_text_lines_are_wrapped_at_78_columns_except_urls(rendered) -> None:  # type: ignore[no-untyped-def]
    for line in rendered.text.splitlines():
        assert len(line) <= 78 or re.fullmatch(r"(\[\d+\] |[A-Za-z ]+: )?(https://|%%)\S+", line), line


def test_links_are_numbered_references_collected_at_the_end(rendered, settings) -> None:  # type: ignore[no-untyped-def]
    text = rendered.text
    assert "Read the full story [1]" in text
    links = text.split("Links\n-----\n", 1)[1]
    assert links.startswith(
        "[1] https://news.safe.example.org/archive/2025-04-10/2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report.html\n"
    )


def test_article_without_url_links_to_the_archive_page(rendered) -> None:  # type: ignore[no-untyped-def]
    assert (
        'href="https://news.safe.example.org/archive/2025-04-10/2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son.html"'
        in rendered.html
    )


def test_wrap_never_breaks_words_or_urls() -> None:
    url = "https://example.org/" + "x" * 100
    assert wrap(f"see {url} now") == f"see\n{url}\nnow"


def test_mjml_to_html_keeps_a_lowercase_doctype_that_lxml_drops() -> None:
    html = mjml_to_html(
        "<mjml><mj-body><mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section></mj-body></mjml>"
    )
    assert html.startswith("<!doctype html>\n<html")


def test_template_mistakes_are_errors_naming_the_template(engine, settings, sample_issue, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from digest.errors import DigestError

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "digest.mjml.j2").write_text("<mjml>{% if %}</mjml>", encoding="utf-8")
    broken = replace(settings, template_dirs=(templates, *settings.template_dirs))
    with pytest.raises(DigestError) as caught:
        render_issue(load_view(engine, broken, "2025-04-10"), broken)
    assert "digest.mjml.j2, line 1: template error:" in str(caught.value)


def test_a_projects_own_template_replaces_only_that_file(engine, settings, sample_issue, project) -> None:  # type: ignore[no-untyped-def]
    from digest.config import load_settings

    own = project / "templates" / "partials"
    own.mkdir(parents=True)
    (own / "story.txt.j2").write_text("{% macro story_text(s, refs) %}STORY BY {{ s.source }}{% endmacro %}\n")
    overridden = load_settings(project / "digest.toml")
    assert overridden.template_dirs[0] == project / "templates"
    rendered = render_issue(load_view(engine, overridden, "2025-04-10"), overridden)
    assert "STORY BY Riverside Police" in rendered.text
    assert "Dear %%greeting_name%%," in rendered.text  # the rest is still the packaged template
    assert "STORY BY" not in render_issue(load_view(engine, settings, "2025-04-10"), settings).text
