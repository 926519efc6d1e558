"""Keystroke to updated preview in `digest studio`: the editor types, how soon does the email show it?

Run: .venv/bin/python bench/studio_preview.py [--rounds 40]

A scratch project holds the example week (examples/articles) drafted into an
issue, with the repository's digest.toml and segments. The studio is served
as `digest studio` serves it (waitress, four threads), and Debian's Chromium
types into the editor's note as a person does: a word of six letters, 110 ms
between keys, then a pause. The time measured runs from the last key of the
word (its ``keydown`` in the page) to the ``load`` of the preview frame whose
email contains the whole word, both read from the page's own clock. The
studio's answer time for each preview request is read from the page's
resource timing (answered requests only: the page cancels a preview that newer
typing made stale). Percentiles are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import math
import secrets
import shutil
import statistics
import sys
import threading
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, load_average, machine, remove, scratch_project

ISSUE = "2026-11-23"
KEY_DELAY_MS = 110
PAUSE_MS = 1200  # after each word: long enough for any preview to land

# Runs in the page: stamps the last keydown and every preview frame that loads with the word in it.
WATCH = """() => {
  window.__bench = { key: 0, seen: {}, answers: [] };
  document.addEventListener("keydown", () => { window.__bench.key = performance.now(); }, true);
  document.addEventListener("load", (event) => {
    const frame = event.target;
    if (!frame || frame.id !== "preview-frame") { return; }
    const doc = frame.getAttribute("srcdoc") || "";
    for (const word of (doc.match(/Zq[a-z]{6}/g) || [])) {
      if (!(word in window.__bench.seen)) { window.__bench.seen[word] = performance.now(); }
    }
  }, true);
  // Each answered request (one the page cancelled, as newer typing made it stale, is not counted).
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.initiatorType === "fetch" && entry.responseStatus === 200) {
        window.__bench.answers.push(entry.responseEnd - entry.requestStart);
      }
    }
  }).observe({ type: "resource" });
}"""


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def word(number: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    tail = ""
    for _ in range(4):
        number, digit = divmod(number, 26)
        tail += letters[digit]
    return "Zq" + tail + "xy"


def build_project() -> Path:
    folder = scratch_project()
    shutil.copy(REPO / "digest.toml", folder / "digest.toml")
    shutil.copytree(REPO / "subscribers", folder / "subscribers")
    (folder / ".env").write_text(f"DIGEST_SECRET_KEY={secrets.token_urlsafe(40)}\n", encoding="utf-8")
    return folder


def run(rounds: int) -> dict[str, list[float]]:
    from playwright.sync_api import expect

    from digest.articles.store import import_articles
    from digest.config import load_settings
    from digest.issues import browser
    from digest.issues.drafting import new_issue
    from digest.store.db import open_database
    from digest.studio.server import start_studio

    folder = build_project()
    settings = load_settings(folder / "digest.toml")
    engine = open_database(settings.database_url)
    try:
        import_articles(engine, settings, [str(p) for p in sorted((REPO / "examples" / "articles").glob("*.*"))])
        new_issue(engine, settings, issue_date=date.fromisoformat(ISSUE))
        studio = start_studio(settings, engine, port=0, issue_file=settings.issues_dir / ISSUE / "issue.yaml")
        thread = threading.Thread(target=studio.server.run, daemon=True)
        thread.start()
        try:
            with browser.browser() as context:
                page = context.new_page()
                page.set_viewport_size({"width": 1440, "height": 1000})
                page.on("dialog", lambda dialog: dialog.accept())
                page.goto(studio.url)
                expect(page.locator("html")).to_have_attribute("data-studio", "ready")
                page.evaluate(WATCH)
                page.click("#editor-note")
                latencies: list[float] = []
                for number in range(rounds):
                    text = word(number)
                    page.keyboard.type(" " + text, delay=KEY_DELAY_MS)
                    page.wait_for_timeout(PAUSE_MS)
                    key, seen = page.evaluate(f"[window.__bench.key, window.__bench.seen['{text}'] || 0]")
                    latencies.append(seen - key if seen else float("inf"))
                answers = page.evaluate("window.__bench.answers")
                # No page.close(): the context's close takes the page with it (tests/conftest.py says why).
        finally:
            studio.server.close()
            thread.join(timeout=10)
    finally:
        engine.dispose()
        remove(folder)
    return {"latency": latencies, "answer": answers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    from digest.issues import browser

    if not browser.available():
        sys.exit("Chromium (Debian package chromium) and the playwright package are needed")
    print(f"machine: {machine()}; load average before: {load_average()}")
    found = run(args.rounds)
    for name, label in (("latency", "last keystroke to updated preview"), ("answer", "studio's answer per request")):
        values = found[name]
        missed = sum(1 for v in values if v == float("inf"))
        shown = [v for v in values if v != float("inf")]
        if not shown:
            print(f"{label}: nothing measured")
            continue
        print(
            f"{label} ({len(values)} samples{f', {missed} never updated' if missed else ''}): "
            f"median {statistics.median(shown):.0f} ms, p95 {percentile(values, 0.95):.0f} ms, "
            f"max {max(values):.0f} ms"
        )
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
