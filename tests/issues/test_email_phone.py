"""The email on a phone, measured in Chromium at 375 pixels (an iPhone's width): text sizes, tap targets,
and names, dates and separators that hold together where a client ignores CSS.

Sizes follow WCAG 2.2: body text at least 16 px and no text under 14 px; every link that is not a word
inside a sentence (2.5.8's inline exception) at least 24 px tall and wide and 8 px from the next; the
main buttons 44 px tall (2.5.5).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from digest.issues.preview import write_preview

PHONE = 375
BODY_TEXT_MIN, TEXT_MIN = 16, 14
TARGET_MIN, TARGET_GAP, BUTTON_MIN = 24, 8, 44

# Measured in the page: every visible text's size, and every link a reader taps.
MEASURE_JS = """
() => {
  const visible = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden'
    && !e.closest('[style*="display:none"]');
  const texts = [];
  for (const e of document.body.querySelectorAll('*')) {
    const own = [...e.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (own && visible(e)) {
      texts.push({text: own.slice(0, 50), size: parseFloat(getComputedStyle(e).fontSize),
                  body: !!e.closest('.intro-text p, p.summary, p.editor-note, .bullets li, .contents-list li')});
    }
  }
  // A link that is a word inside a sentence is exempt (WCAG 2.5.8): its block holds other words.
  const inSentence = a => {
    const block = a.parentElement.closest('p, li, h1, h2, h3, h4, td');
    let rest = block.textContent;
    for (const link of block.querySelectorAll('a[href]')) rest = rest.replace(link.textContent, '');
    return rest.replace(/[\\s\\u00a0·|]/g, '') !== '';
  };
  const targets = [...document.querySelectorAll('a[href]')].filter(visible).filter(a => !inSentence(a))
    .map(a => {
      const box = a.getBoundingClientRect();
      return {text: a.textContent.trim().slice(0, 40), width: box.width, height: box.height,
              button: !!a.closest('.dm-button'),
              rects: [...a.getClientRects()].map(r => [r.left, r.top, r.right, r.bottom])};
    });
  return {texts, targets, scroll: document.documentElement.scrollWidth};
}
"""


def distance(one: list[float], two: list[float]) -> float:
    """The gap between two boxes (left, top, right, bottom); 0 when they touch or overlap."""
    dx = max(0.0, two[0] - one[2], one[0] - two[2])
    dy = max(0.0, two[1] - one[3], one[1] - two[3])
    return float((dx * dx + dy * dy) ** 0.5)


def measure(page: Any) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(MEASURE_JS)
    return found


@pytest.fixture(params=[("sample", None), ("demo", None), ("demo", "health")], ids=["sample", "demo", "demo-health"])
def phone_email(request, engine, settings):  # type: ignore[no-untyped-def]
    """The preview of a whole issue or a segment's copy, as a file Chromium opens."""
    issue, segment = request.param
    if issue == "sample":
        request.getfixturevalue("audience")
        ref = "2025-04-10"
    else:
        request.getfixturevalue("demo_issue")
        ref = "2026-11-23"
    return write_preview(engine, settings, ref, segment=segment, screenshots=False).folder / "email.html"


@pytest.mark.parametrize("width", [PHONE, 600])
def test_text_and_tap_targets_fit_a_finger(chromium, phone_email, width: int) -> None:  # type: ignore[no-untyped-def]
    """At 375 pixels, and at 600 where most titles fit on one line (so each link's own height counts)."""
    page = chromium.new_page()
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(phone_email.as_uri())
    found = measure(page)
    assert found["scroll"] <= width
    small = [(t["text"], t["size"]) for t in found["texts"] if t["size"] < TEXT_MIN]
    assert small == [], f"text under {TEXT_MIN} px"
    body = [t for t in found["texts"] if t["body"]]
    assert len(body) >= 5 and all(t["size"] >= BODY_TEXT_MIN for t in body), [
        (t["text"], t["size"]) for t in body if t["size"] < BODY_TEXT_MIN
    ]
    targets = found["targets"]
    buttons = [t for t in targets if t["button"]]
    assert buttons and all(t["height"] >= BUTTON_MIN for t in buttons), [(t["text"], t["height"]) for t in buttons]
    tiny = [
        (t["text"], round(t["width"]), round(t["height"])) for t in targets if min(t["width"], t["height"]) < TARGET_MIN
    ]
    assert tiny == [], f"tap targets under {TARGET_MIN} px"
    close = []
    for index, one in enumerate(targets):
        for two in targets[index + 1 :]:
            gap = min(distance(a, b) for a in one["rects"] for b in two["rects"])
            if gap < TARGET_GAP:
                close.append((one["text"], two["text"], round(gap, 1)))
    assert close == [], f"tap targets closer than {TARGET_GAP} px"
    # The links a reader taps were all measured: the contents and the titles (two per story), the footer's.
    named = {t["text"] for t in targets}
    assert {"View this email in your browser", "Unsubscribe", "Choose your topics", "Privacy notice"} <= named
    assert len([t for t in targets if t["text"] == "Read the full story"]) == len(buttons)
    assert len(targets) >= 2 * page.locator("h3").count() + 4


# Each line of an element as the reader sees it: the characters grouped by the line they sit on.
LINES_JS = """
(selector) => [...document.querySelectorAll(selector)].map(element => {
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  const chars = [];
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.textContent.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getBoundingClientRect();
      chars.push({c: node.textContent[i], top: rect.height ? rect.top : null});
    }
  }
  const lines = [];
  let top = null;
  for (const {c, top: at} of chars) {
    if (at !== null && /\\S/.test(c) && (top === null || at > top + 4)) { lines.push(''); top = at; }
    if (!lines.length) lines.push('');
    lines[lines.length - 1] += c;
  }
  return lines;
})
"""
NO_CSS_NOWRAP = re.compile(r"white-space\s*:\s*nowrap\s*(!important)?\s*;?")


@pytest.fixture
def demo_email(engine, settings, demo_issue):  # type: ignore[no-untyped-def]
    return write_preview(engine, settings, "2026-11-23", screenshots=False).folder / "email.html"


def test_names_dates_and_separators_hold_together_where_css_is_ignored(chromium, demo_email) -> None:  # type: ignore[no-untyped-def]
    """As Outlook for Windows shows it (no white-space: nowrap), at every width from 360 to 600 pixels: a
    line never ends in "·", and a source, date or byline of up to 40 characters is never split. (360: the
    narrowest common phone; narrower, a 40-character name in bold is wider than the line.)"""
    html = NO_CSS_NOWRAP.sub("", demo_email.read_text(encoding="utf-8"))
    page = chromium.new_page()
    broken, seen = [], 0
    for width in range(360, 601, 10):
        page.set_viewport_size({"width": width, "height": 800})
        page.set_content(html)
        for selector in (".source", ".dateline", ".kicker", ".footer-links"):
            for lines in page.evaluate(LINES_JS, selector):
                seen += len(lines) > 1
                text = "".join(lines)
                if any(line.rstrip().endswith("·") for line in lines):
                    broken.append((width, "ends a line with '·'", lines))
                if selector in (".source", ".dateline"):
                    start = 0
                    for part in text.split(" ·\u00a0"):
                        inside = [s for s in _line_starts(lines) if start < s < start + len(part)]
                        if inside and len(part) <= 40:
                            broken.append((width, f"splits {part!r}", lines))
                        start += len(part) + 3
    assert seen > 20  # lines did wrap: the widths were narrow enough to test something
    assert broken == []


def _line_starts(lines: list[str]) -> list[int]:
    """Where each line after the first starts, as an offset into the element's whole text."""
    starts, offset = [], 0
    for line in lines[:-1]:
        offset += len(line)
        starts.append(offset)
    return starts
