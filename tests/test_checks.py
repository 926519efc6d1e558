"""`digest check`: each rule, and the exit status that gates a send."""

from __future__ import annotations

from dataclasses import replace

from digest.checks import GMAIL_CLIP_BYTES, SIZE_WARNING_BYTES, check_rendered
from digest.issues import load_view
from digest.render import render_issue


def codes(report, level):  # type: ignore[no-untyped-def]
    return [(c.code, c.message) for c in report.checks if c.level == level]


def test_sample_issue_passes(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    report = check_rendered(view, [render_issue(view, settings)])
    assert report.passed
    assert codes(report, "warning") == []


def test_size_thresholds(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    view = load_view(engine, settings, "2025-04-10")
    rendered = render_issue(view, settings)
    padded = replace(rendered, html=rendered.html + " " * (SIZE_WARNING_BYTES - len(rendered.html) + 10))
    assert [c for c, _ in codes(check_rendered(view, [padded]), "warning")] == ["size"]
    clipped = replace(rendered, html=rendered.html + " " * (GMAIL_CLIP_BYTES - len(rendered.html) + 10))
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


def test_story_outside_window_and_missing_preheader_warn(engine, settings, sample_issue) -> None:  # type: ignore[no-untyped-def]
    text = sample_issue.read_text(encoding="utf-8")
    text = text.replace("  from: 2025-04-03", "  from: 2025-04-05")
    preheader = next(line for line in text.splitlines() if line.startswith("preheader:"))
    sample_issue.write_text(text.replace(preheader, "preheader: ''"), encoding="utf-8")
    view = load_view(engine, settings, "2025-04-10")
    report = check_rendered(view, [render_issue(view, settings)])
    warnings = codes(report, "warning")
    assert ("preheader", "no preheader: inboxes will show the first words of the email instead") in warnings
    assert sorted(c for c, _ in warnings) == ["preheader", "window", "window"]
