"""The email and the web pages in a real browser (Chromium via Playwright), with axe-core.

At 375 pixels there is no horizontal scrolling and the columns stack; at 600
the layout is centred and no wider than 600; axe-core finds no serious or
critical violation in the email (light and dark), the preview, the archive,
or the unsubscribe and preference pages.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from digest.config import load_settings
from digest.issues.preview import write_preview
from digest.people.links import make_token
from digest.people.subscribers import add_subscriber
from tests.conftest import SECRET, axe, describe_violations
from tests.httpserve import serve_app


def new_page(context, width: int, height: int):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    return page


@pytest.fixture
def preview(engine, settings, sample_issue):  # type: ignore[no-untyped-def]
    # Screenshots start their own browser; tests/issues/test_screenshots.py checks them.
    return write_preview(engine, settings, "2025-04-10", screenshots=False)


def test_phone_width_has_no_horizontal_scroll_and_reads_in_order(chromium_for_axe, preview) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium_for_axe, 375, 800)
    page.goto((preview.folder / "email.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    contents = page.locator(".contents-title").bounding_box()
    lead = page.locator(".lead-title").bounding_box()
    assert contents["y"] < lead["y"]  # the contents first, then the lead
    assert lead["width"] > 300


def test_desktop_layout_is_centred_at_most_600_wide_and_one_column(chromium_for_axe, preview) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium_for_axe, 800, 800)
    page.goto((preview.folder / "email.html").as_uri())
    box = page.locator(".dm-card").first.bounding_box()
    assert box["width"] <= 600
    assert abs(box["x"] - (800 - box["x"] - box["width"])) <= 2
    contents = page.locator(".contents-list").bounding_box()
    lead = page.locator(".lead-title").bounding_box()
    # Full width, above the lead: nothing beside the lead to leave a hole when it is the taller.
    assert contents["y"] + contents["height"] < lead["y"]
    assert contents["width"] >= 0.9 * lead["width"]


# For each visible piece of content, the distance to the next piece below it that
# overlaps it horizontally: an empty stretch of the email, such as a column left
# empty beside a taller one, shows up as a large gap.
GAPS_JS = """
() => {
  const boxes = [...document.querySelectorAll('p, h1, h2, h3, h4, li, img, a')]
    .map(e => ({r: e.getBoundingClientRect(), text: (e.textContent || e.tagName).trim().slice(0, 60)}))
    .filter(b => b.r.width > 0 && b.r.height > 0);
  let worst = {gap: 0, after: '', before: ''};
  for (const a of boxes) {
    let next = null;
    for (const b of boxes) {
      if (b.r.top >= a.r.bottom - 0.5 && b.r.left < a.r.right - 1 && b.r.right > a.r.left + 1
          && (!next || b.r.top < next.r.top)) next = b;
    }
    if (next && next.r.top - a.r.bottom > worst.gap) {
      worst = {gap: next.r.top - a.r.bottom, after: a.text, before: next.text};
    }
  }
  return worst;
}
"""
MAX_GAP = 48


@pytest.mark.parametrize("segment", [None, "health"])
def test_no_vertical_gap_over_48_pixels_at_600(
    chromium_for_axe, engine, settings, sample_issue, audience, segment
) -> None:  # type: ignore[no-untyped-def]
    result = write_preview(engine, settings, "2025-04-10", segment=segment, screenshots=False)
    page = new_page(chromium_for_axe, 600, 900)
    page.goto((result.folder / "email.html").as_uri())
    worst = page.evaluate(GAPS_JS)
    print(f"\nlargest gap at 600 px ({segment or 'whole issue'}): {worst['gap']:.0f} px")
    assert worst["gap"] <= MAX_GAP, worst


def luminance(rgb: str) -> float:
    channels = [int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, two: str) -> float:
    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


DARK_JS = """
() => {
  const style = (selector, property) => {
    const found = document.querySelector(selector);
    return found ? getComputedStyle(found)[property] : null;
  };
  return {
    body: style('.dm-text div p:not([class])', 'color'),
    label: style('.label', 'color'),
    contents: style('.contents-title', 'color'),
    kicker: style('.kicker-topic', 'color'),
    section: style('.section-title', 'color'),
    title: style('.story-title', 'color'),
    source: style('.source', 'color'),
    card: style('.dm-card', 'backgroundColor'),
    page: style('body', 'backgroundColor'),
    header: style('.dm-header', 'backgroundColor'),
    rule: style('.dm-rule p', 'borderTopColor'),
    ruled: style('.ruled', 'borderTopColor'),
  };
}
"""


def test_dark_mode_keeps_accents_apart_dims_dividers_and_lifts_the_header(
    chromium_for_axe, engine, settings, sample_issue
) -> None:  # type: ignore[no-untyped-def]
    # Two stories in one section, so a section heading is on the page too.
    text = sample_issue.read_text(encoding="utf-8")
    cps = "2025-04-07-father-found-guilty-of-causing-the-death-of-his-baby-son"
    forum = "2025-04-03-online-forum-shut-down-and-details-of-40-users-passed-to-police"
    text = re.sub(rf"\n      - {forum}[^\n]*", "", text).replace(f"      - {cps}", f"      - {cps}\n      - {forum}")
    sample_issue.write_text(text.replace("stories:\n  - title", "stories: []\n  - title", 1), encoding="utf-8")
    result = write_preview(engine, settings, "2025-04-10", screenshots=False)
    page = new_page(chromium_for_axe, 600, 900)
    page.emulate_media(color_scheme="dark")
    page.goto((result.folder / "email.html").as_uri())
    dark = page.evaluate(DARK_JS)
    page.emulate_media(color_scheme="light")
    light = page.evaluate(DARK_JS)
    print("\ndark:", dark)
    assert all(dark.values()), dark
    assert dark != light
    for accent in ("label", "contents", "kicker", "section", "title", "source"):
        assert dark[accent] != dark["body"], accent  # the body colour no longer flattens them
        assert contrast(dark[accent], dark["card"]) >= 4.5, accent
    assert contrast(dark["header"], dark["page"]) >= 1.8  # the header stands out from the page
    assert contrast(dark["rule"], dark["card"]) < 1.6  # dividers are dim lines, not bright ones
    assert contrast(dark["ruled"], dark["card"]) < 1.6
    assert contrast(light["rule"], light["card"]) < 1.6


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_email_has_no_serious_accessibility_problems(chromium_for_axe, preview, scheme) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium_for_axe, 600, 800)
    page.emulate_media(color_scheme=scheme)
    page.goto((preview.folder / "email.html").as_uri())
    violations = axe(page)
    assert violations == [], describe_violations(violations)


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "archive/index.html",
        "archive/2025-04-10/index.html",
        "archive/2025-04-10/2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report.html",
    ],
)
def test_preview_and_archive_pages_have_no_serious_accessibility_problems(chromium_for_axe, preview, name) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium_for_axe, 1100, 900)
    page.goto((preview.folder / name).as_uri())
    violations = axe(page)
    assert violations == [], describe_violations(violations)


@pytest.fixture
def site(project: Path, engine):  # type: ignore[no-untyped-def]
    """The pages over a real HTTP server on 127.0.0.1."""
    from digest.web import create_app

    settings = load_settings(project / "digest.toml")
    person = add_subscriber(engine, settings, "reader@example.org", {"first_name": "Rita"}, consent_source="test")
    with serve_app(create_app(settings, engine, background=False)) as base:
        yield base, make_token(SECRET.encode(), person.id, 0)


@pytest.mark.parametrize("path", ["/unsubscribe/{token}", "/preferences/{token}", "/subscribe"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_web_pages_have_no_serious_accessibility_problems(chromium_for_axe, site, path, scheme) -> None:  # type: ignore[no-untyped-def]
    base, token = site
    page = new_page(chromium_for_axe, 900, 900)
    page.emulate_media(color_scheme=scheme)
    page.goto(base + path.format(token=token))
    violations = axe(page)
    assert violations == [], describe_violations(violations)


@pytest.fixture
def report_page(engine, settings, audience, project):  # type: ignore[no-untyped-def]
    from digest.reports.report import issue_outcome, write_html_report
    from digest.sending import start_send

    start_send(engine, settings, "2025-04-10", ["health", "schools", "everyone"])
    path = project / "report.html"
    write_html_report(settings, issue_outcome(engine, settings, "2025-04-10"), path)
    return path


REPORT_JS = """
() => ({
  scroll: document.documentElement.scrollWidth,
  header: document.querySelector('header.site').getBoundingClientRect().width,
  inner: document.querySelector('header.site .inner').getBoundingClientRect().width,
  main: document.querySelector('main').getBoundingClientRect().width,
  footer: document.querySelector('footer.site').getBoundingClientRect().width,
  table: document.querySelector('table.report').getBoundingClientRect().right,
  wrap: document.querySelector('.table-wrap').getBoundingClientRect().right,
  smallest: Math.min(...[...document.querySelectorAll('figure svg text')]
    .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a)),
})
"""


@pytest.mark.parametrize("width", [375, 1100])
def test_the_report_fits_a_phone_with_readable_charts(chromium_for_axe, report_page, width: int) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium_for_axe, width, 900)
    page.goto(report_page.as_uri())
    found = page.evaluate(REPORT_JS)
    violations = axe(page)
    print(f"\nreport at {width} px: {found}")
    assert found["scroll"] <= width  # the page never scrolls sideways: the table scrolls inside its card
    assert found["main"] <= found["header"] and found["main"] <= found["footer"]
    assert found["main"] <= found["inner"] + 1 or width <= 400  # as wide as the header's content
    assert found["smallest"] >= 11, found  # chart labels stay readable, not shrunk to 6 px
    assert violations == [], describe_violations(violations)
