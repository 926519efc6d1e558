"""Take the README's screenshots of `digest studio` on the example week.

    .venv/bin/python examples/studio_screenshot.py        # writes docs/studio.png and docs/studio-arrange.png

Everything happens in a temporary project (its own database and issues
folder); Debian's chromium and the playwright package are needed.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import threading
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.articles.store import import_articles  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.issues import browser  # noqa: E402
from digest.issues.drafting import new_issue  # noqa: E402
from digest.store.db import open_database  # noqa: E402
from digest.studio.app import create_app  # noqa: E402
from digest.studio.auth import Gate  # noqa: E402

ISSUE = "2026-11-23"
SEXTORTION = "2026-11-20-sextortion-what-to-say-if-a-young-person-comes-to-you"
COLD_WATER = "2026-11-16-northshire-launches-summer-to-winter-cold-water-safety-campaign-for"


def main() -> None:
    from playwright.sync_api import expect
    from werkzeug.serving import make_server

    if not browser.available():
        sys.exit("Chromium (Debian package chromium) and the playwright package are needed")
    with tempfile.TemporaryDirectory(prefix="digest-studio-shots-") as scratch:
        project = Path(scratch)
        shutil.copy(REPO / "digest.toml", project / "digest.toml")
        shutil.copytree(REPO / "subscribers", project / "subscribers")
        (project / ".env").write_text(f"DIGEST_SECRET_KEY={secrets.token_urlsafe(40)}\n", encoding="utf-8")
        settings = load_settings(project / "digest.toml")
        engine = open_database(settings.database_url)
        import_articles(engine, settings, [str(p) for p in sorted((REPO / "examples" / "articles").glob("*.*"))])
        new_issue(engine, settings, issue_date=date.fromisoformat(ISSUE))
        gate = Gate()
        server = make_server("127.0.0.1", 0, create_app(settings, engine, gate), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            with browser.browser() as context:
                page = context.new_page()
                page.set_viewport_size({"width": 1440, "height": 960})
                page.goto(f"http://127.0.0.1:{server.server_port}/issue/{ISSUE}?token={gate.token}")
                expect(page.locator("html")).to_have_attribute("data-studio", "ready")
                page.click(f"#lead-{SEXTORTION}")
                expect(page.locator("#status")).to_contain_text("Now the lead")
                page.fill("#editor-note", "Our office is closed on Friday 27 November; the helpline is open as usual.")
                expect(page.frame_locator("#preview-frame").locator("body")).to_contain_text("Our office is closed")
                page.evaluate("window.scrollTo(0, 0)")
                page.screenshot(path=str(REPO / "docs" / "studio.png"))
                page.check("#width-375")
                page.locator(f"#more-{COLD_WATER} > summary").click()
                page.evaluate(
                    "window.scrollTo(0, document.querySelector('#section-s0').getBoundingClientRect().top"
                    " + window.scrollY - 70)"
                )
                page.screenshot(path=str(REPO / "docs" / "studio-arrange.png"))
                page.close()
        finally:
            server.shutdown()
            thread.join(timeout=10)
            engine.dispose()
    print("Wrote docs/studio.png and docs/studio-arrange.png")


if __name__ == "__main__":
    main()
