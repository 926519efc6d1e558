"""`digest check`: each rule, and the exit status that gates a send."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from digest.issues.checks import GMAIL_CLIP_BYTES, SIZE_WARNING_BYTES, check_rendered
from digest.issues.issue import load_view
from digest.issues.render import render_issue


def codes(report, level):  # type: ignore[no-untyped-def]
    return [(c.code, c.message) for c in report.checks if c.level == level]


FORUM = "2025-04-03-online-forum-shut-down-and-details-of-40-users-passed-to-police"


def test_sample_issue_passes_and_repeats_the_import_warning(engine, settings, sample_issue, sample_copy) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    report = check_rendered(view, [render_issue(view, settings)], from_name=settings.email.from_name)
    assert report.passed
    # The export's wrong weekday was said once at import; `digest check` says it again for the story.
    line = next(n for n, text in enumerate(sample_copy.read_text().splitlines(), 1) if "Source: National" in text)
    assert codes(report, "warning") == [
        (
            "import",
            f"{FORUM}: {sample_copy}, line {line}: says Wednesday 3 April 2025, which was a Thursday; keeping the date",
        )
    ]


def not_import(report):  # type: ignore[no-untyped-def]
    return [code for code, _ in codes(report, "warning") if code != "import"]


def test_size_thresholds(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    rendered = render_issue(view, settings)
    size = len(rendered.html.encode("utf-8"))  # bytes, not characters: the email holds no-break spaces
    padded = replace(rendered, html=rendered.html + " " * (SIZE_WARNING_BYTES - size + 10))
    assert not_import(check_rendered(view, [padded])) == ["size"]
    clipped = replace(rendered, html=rendered.html + " " * (GMAIL_CLIP_BYTES - size + 10))
    report = check_rendered(view, [clipped])
    assert not report.passed
    assert report.errors[0].message.startswith("HTML is 102.0 KB; Gmail clips emails above 102.0 KB")


def test_bad_links_missing_alt_and_missing_unsubscribe(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    rendered = render_issue(view, settings)
    html = rendered.html.replace(
        "</body>", '<a href="http://plain.example.org">x</a><a href="">y</a><img src="https://x.example/a.png"></body>'
    )
    html = html.replace("%%unsubscribe_url%%", "https://x.example/u")
    report = check_rendered(view, [replace(rendered, html=html)])
    assert codes(report, "error") == [
        ("links", "a link that is not https: http://plain.example.org"),
        ("links", "an empty link"),
        ("images", "image https://x.example/a.png has no alt text"),
        ("unsubscribe", "the unsubscribe link is missing from the HTML or text"),
    ]


def test_story_outside_window_and_a_preheader_repeating_the_subject_warn(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    text = sample_issue.read_text(encoding="utf-8")
    text = text.replace("  from: 2025-04-03", "  from: 2025-04-05")
    sample_issue.write_text(text.replace("preheader: ''", "preheader: 'Protecting children from sexual abuse'"))
    view = load_view(engine, settings, "2025-04-10")
    report = check_rendered(view, [render_issue(view, settings)])
    warnings = codes(report, "warning")
    assert ("preheader", next(m for c, m in warnings if c == "preheader")) in warnings
    assert "the preheader repeats the subject" in next(m for c, m in warnings if c == "preheader")
    assert sorted(c for c, _ in warnings if c != "import") == ["preheader", "window", "window"]


def set_field(path, name: str, value: str) -> None:  # type: ignore[no-untyped-def]
    lines = path.read_text(encoding="utf-8").splitlines()
    at = next(n for n, line in enumerate(lines) if line.startswith(f"{name}:"))
    # A block scalar's lines go with it.
    end = at + 1
    while end < len(lines) and lines[end].startswith("  "):
        end += 1
    lines[at:end] = [f"{name}: {value}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_subject_repeating_the_senders_name_or_stacking_colons_warns(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    set_field(sample_issue, "subject", "'SAFE Newsfeed: Protecting children: progress report'")
    view = load_view(engine, settings, "2025-04-10")
    report = check_rendered(view, [render_issue(view, settings)], from_name="SAFE Newsfeed")
    assert [m for c, m in codes(report, "warning") if c == "subject"] == [
        "the subject repeats the sender's name 'SAFE Newsfeed', which inboxes already show beside it; "
        "use the room for the news",
        "the subject has two colons; it reads better with one",
    ]
    set_field(sample_issue, "subject", "'Training at 10:30: book now'")  # a time is not a second colon
    view = load_view(engine, settings, "2025-04-10")
    assert not [c for c, _ in codes(check_rendered(view, [render_issue(view, settings)]), "warning") if c == "subject"]


def test_an_introduction_with_its_own_greeting_is_greeted_once_and_warned(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    set_field(sample_issue, "introduction", "'Dear colleague, here is the news.'")
    view = load_view(engine, settings, "2025-04-10")
    rendered = render_issue(view, settings)
    assert "Dear %%greeting_name%%" not in rendered.html and "Dear %%greeting_name%%" not in rendered.text
    assert rendered.html.count("Dear colleague,") == 1
    report = check_rendered(view, [rendered])
    assert [c for c, _ in codes(report, "warning") if c != "import"] == ["greeting"]
    assert "'Dear colleague,'" in next(m for c, m in codes(report, "warning") if c == "greeting")


def test_the_editors_words_are_checked_against_every_copy(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    set_field(sample_issue, "introduction", "'Five stories this week, from the Riverside Police and others.'")
    view = load_view(engine, settings, "2025-04-10")
    whole = render_issue(view, settings)
    water = replace(render_issue(view, settings, topics=frozenset({"courts-justice"})), segment="courts")
    report = check_rendered(view, [whole, water])
    assert [m for c, m in codes(report, "warning") if c == "copy"] == [
        "the courts copy: the introduction says 'Five stories', but this copy has 3",
        "the courts copy: the introduction names Riverside Police, but no story in this copy comes from it",
    ]


def test_links_within_the_email_must_reach_a_story(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    rendered = render_issue(view, settings)
    assert 'href="#story-2"' in rendered.html and '<a name="story-2" id="story-2"></a>' in rendered.html
    assert not codes(check_rendered(view, [rendered]), "error")
    assert not not_import(check_rendered(view, [rendered]))
    gone = replace(rendered, html=rendered.html.replace('name="story-2" id="story-2"', 'name="elsewhere"'))
    assert codes(check_rendered(view, [gone]), "error") == [("links", "a link to #story-2, which is not in the email")]
    # A project's own template that marks its stories with ids only: a browser jumps, Outlook and Gmail do not.
    by_id = replace(rendered, html=rendered.html.replace('<a name="story-2" id="story-2"></a>', '<b id="story-2"></b>'))
    report = check_rendered(view, [by_id])
    assert not codes(report, "error")
    assert [warning for warning in codes(report, "warning") if warning[0] == "links"] == [
        (
            "links",
            "a link to #story-2, which only browsers follow: Outlook for Windows and Gmail jump only to an "
            '<a name="story-2">',
        )
    ]


def test_what_counts_as_a_greeting() -> None:
    from digest.issues.wording import greeting_of

    for greeting in ("Dear colleague,", "Dear all,", "Hello everyone!", "Hi all,", "Good morning,"):
        assert greeting_of(f"{greeting} here is the news.") == greeting
    for opening in ("Welcome to this week's SAFE Newsfeed, with news", "Dearth of places: a report.", "This week,"):
        assert greeting_of(opening) == ""


def without(project, *keys: str) -> None:  # type: ignore[no-untyped-def]
    toml = project / "digest.toml"
    lines = toml.read_text(encoding="utf-8").splitlines()
    toml.write_text("\n".join(line for line in lines if line.split(" = ")[0] not in keys) + "\n", encoding="utf-8")


def test_check_warns_of_a_footer_without_a_privacy_link_or_postal_address(invoke, project, sample_issue) -> None:  # type: ignore[no-untyped-def]
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 0 and "privacy" not in result.output and "postal address" not in result.output
    without(project, "address", "privacy_url")
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 0  # a warning: the editor may still send
    assert (
        "  warning  footer       the footer has no privacy notice link: set [organisation] privacy_url in "
        "digest.toml (a reader is owed one where their address is used)\n"
    ) in result.output
    assert (
        "  warning  footer       the footer has no postal address: set [organisation] address in digest.toml "
        "(UK rules on marketing email and on company stationery expect the sender's name and address)\n"
    ) in result.output


def test_check_warns_when_the_templates_leave_out_a_configured_address_and_errors_without_unsubscribe(
    invoke, project, sample_issue
) -> None:  # type: ignore[no-untyped-def]
    import digest

    own = project / "templates" / "partials"
    own.mkdir(parents=True)
    packaged = Path(digest.__file__).parent / "templates" / "partials"
    text = (packaged / "footer.txt.j2").read_text(encoding="utf-8")
    cut = text.replace("{% if org.address %}\n{{ org.address }}\n{% endif %}\n", "")
    assert cut != text
    (own / "footer.txt.j2").write_text(cut, encoding="utf-8")
    result = invoke("check", "2025-04-10")
    assert (
        "  warning  footer       the text part leaves out [organisation] address (1 Test Street, Diss IP22 4AA)\n"
    ) in result.output
    (own / "footer.txt.j2").write_text(cut.replace("Unsubscribe: {{ links.unsubscribe_url }}\n", ""), encoding="utf-8")
    result = invoke("check", "2025-04-10")
    assert result.exit_code == 1
    assert "  error    unsubscribe  the unsubscribe link is missing from the HTML or text\n" in result.output


# --- a story under another topic's heading; a summary that is an article ------------------------------


def test_a_story_under_the_heading_of_a_topic_it_lacks_is_warned_about(invoke, engine, settings) -> None:  # type: ignore[no-untyped-def]
    from tests.studio_support import ISSUE_ID, RECRUITMENT, SEXTORTION, draft_week

    path = draft_week(engine, settings)
    assert "is under" not in invoke("check", ISSUE_ID).stdout  # as drafted: each story under its first topic
    text = path.read_text(encoding="utf-8")
    # The old lead (sport and community) swapped into Online safety, as "Make lead" once did.
    text = text.replace(f"lead: {RECRUITMENT}\n", f"lead: {SEXTORTION}\n")
    text = text.replace(f"      - {SEXTORTION}   #", f"      - {RECRUITMENT}   #")
    path.write_text(text, encoding="utf-8")
    output = invoke("check", ISSUE_ID).stdout
    assert (
        f"{RECRUITMENT} is under 'Online safety' but is not about online-safety (its topics: sport-community): "
        "move it, or give it that topic in this issue"
    ) in output
    assert output.count("is under") == 1
    # Given that topic for this issue, it belongs there.
    text = text.replace(f"      - {RECRUITMENT}   #", f"      - id: {RECRUITMENT}\n        topics: [online-safety]   #")
    path.write_text(text, encoding="utf-8")
    assert "is under" not in invoke("check", ISSUE_ID).stdout


def test_a_summary_as_long_as_an_article_is_warned_about(invoke, engine, settings) -> None:  # type: ignore[no-untyped-def]
    from digest.issues.checks import SUMMARY_WARN_CHARS
    from tests.studio_support import ISSUE_ID, JAILED, draft_week

    path = draft_week(engine, settings)
    text = path.read_text(encoding="utf-8")

    def with_summary(length: int) -> str:
        summary = "x" * length
        path.write_text(
            text.replace(f"      - {JAILED}   #", f"      - id: {JAILED}\n        summary: {summary}   #"),
            encoding="utf-8",
        )
        return invoke("check", ISSUE_ID).stdout

    assert "summary of" not in with_summary(SUMMARY_WARN_CHARS)
    assert f"the summary of {JAILED} is 1,001 characters" in with_summary(SUMMARY_WARN_CHARS + 1)
    long = with_summary(10_000)
    assert (
        f"the summary of {JAILED} is 10,000 characters; readers expect a paragraph (under 1,000): shorten it, "
        "or show the whole article instead"
    ) in long
