"""The email and the web pages in a real browser (Chromium via Playwright), with axe-core.

At 375 pixels there is no horizontal scrolling and the columns stack; at 600
the layout is centred and no wider than 600; axe-core finds no serious or
critical violation in the email (light and dark), the preview, the archive,
or the unsubscribe and preference pages.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from digest import browser
from digest.config import load_settings
from digest.links import make_token
from digest.preview import write_preview
from digest.subscribers import add_subscriber
from tests.conftest import REPO, SECRET, require_tool

AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"


@pytest.fixture(scope="module")
def chromium():  # type: ignore[no-untyped-def]
    require_tool(browser.available(), "no Chromium for the browser checks", tool="chromium")
    require_tool(AXE.is_file(), "no axe-core for the accessibility checks", tool="axe-core")
    with browser.browser(bypass_csp=True) as context:
        yield context


def new_page(context, width: int, height: int):  # type: ignore[no-untyped-def]
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    return page


def axe(page) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict]) -> str:  # type: ignore[type-arg]
    return json.dumps(
        [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["html"][:160] for n in v["nodes"][:3]]}
            for v in violations
        ],
        indent=1,
    )


@pytest.fixture
def preview(engine, settings, sample_issue):  # type: ignore[no-untyped-def]
    # Screenshots start their own browser; tests/test_screenshots.py checks them.
    return write_preview(engine, settings, "2025-04-10", screenshots=False)


def test_phone_width_has_no_horizontal_scroll_and_the_columns_stack(chromium, preview) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium, 375, 800)
    page.goto((preview.folder / "email.html").as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    lead = page.locator(".dm-lead").bounding_box()
    contents = page.locator(".contents").bounding_box()
    assert contents["y"] >= lead["y"] + lead["height"] - 1  # below, not beside
    assert lead["width"] > 300 and contents["width"] > 300
    page.close()


def test_desktop_layout_is_centred_and_at_most_600_wide(chromium, preview) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium, 800, 800)
    page.goto((preview.folder / "email.html").as_uri())
    box = page.locator(".dm-card").first.bounding_box()
    assert box["width"] <= 600
    assert abs(box["x"] - (800 - box["x"] - box["width"])) <= 2
    lead = page.locator(".dm-lead").bounding_box()
    contents = page.locator(".contents").bounding_box()
    assert abs(contents["y"] - lead["y"]) <= 2  # side by side
    page.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_email_has_no_serious_accessibility_problems(chromium, preview, scheme) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium, 600, 800)
    page.emulate_media(color_scheme=scheme)
    page.goto((preview.folder / "email.html").as_uri())
    violations = axe(page)
    page.close()
    assert violations == [], describe(violations)


@pytest.mark.parametrize(
    "name",
    [
        "index.html",
        "archive/index.html",
        "archive/2025-04-10/index.html",
        "archive/2025-04-10/2025-04-09-protecting-children-from-sexual-abuse-and-exploitation-progress-report.html",
    ],
)
def test_preview_and_archive_pages_have_no_serious_accessibility_problems(chromium, preview, name) -> None:  # type: ignore[no-untyped-def]
    page = new_page(chromium, 1100, 900)
    page.goto((preview.folder / name).as_uri())
    violations = axe(page)
    page.close()
    assert violations == [], describe(violations)


@pytest.fixture
def site(project: Path, engine):  # type: ignore[no-untyped-def]
    """The pages over a real HTTP server on 127.0.0.1 (werkzeug's, which stops cleanly)."""
    from werkzeug.serving import make_server

    from digest.web import create_app

    settings = load_settings(project / "digest.toml")
    person = add_subscriber(engine, settings, "reader@example.org", {"first_name": "Rita"}, consent_source="test")
    server = make_server("127.0.0.1", 0, create_app(settings, engine), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", make_token(SECRET.encode(), person.id, 0)
    server.shutdown()
    thread.join(timeout=10)


@pytest.mark.parametrize("path", ["/unsubscribe/{token}", "/preferences/{token}", "/subscribe"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_web_pages_have_no_serious_accessibility_problems(chromium, site, path, scheme) -> None:  # type: ignore[no-untyped-def]
    base, token = site
    page = new_page(chromium, 900, 900)
    page.emulate_media(color_scheme=scheme)
    page.goto(base + path.format(token=token))
    violations = axe(page)
    page.close()
    assert violations == [], describe(violations)
