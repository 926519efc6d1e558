"""A real browser (Debian's Chromium, driven by Playwright) for screenshots and checks.

Playwright's own browser download is not used (it needs the internet at
install time); it drives the system Chromium through ``executable_path``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# What the browser needs on a machine with no network and no display.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
SHOTS = (
    ("email-desktop.png", "Desktop, 600 pixels wide", 600, "light"),
    ("email-phone.png", "Phone, 375 pixels wide", 375, "light"),
    ("email-dark.png", "Dark mode, 600 pixels wide", 600, "dark"),
)


@dataclass(frozen=True)
class Screenshot:
    file: str
    caption: str
    width: int


def chromium_path() -> str | None:
    """The Chromium to drive: DIGEST_CHROMIUM, else the system's chromium."""
    named = os.environ.get("DIGEST_CHROMIUM")
    if named:
        return named if Path(named).exists() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str:
    """Why no screenshots can be taken here, with what to install; '' when they can."""
    if chromium_path() is None:
        if os.environ.get("DIGEST_CHROMIUM"):
            return f"DIGEST_CHROMIUM names {os.environ['DIGEST_CHROMIUM']}, which does not exist"
        return "no Chromium found; install Debian's chromium package, or set DIGEST_CHROMIUM to a Chromium binary"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return (
            "Playwright is not installed; install digest with its browser extra, "
            "pip install 'safe-digest[browser]' (with pipx: pipx inject safe-digest playwright)"
        )
    return ""


def available() -> bool:
    """Whether screenshots can be taken: Chromium and Playwright are both here."""
    return not missing()


@contextmanager
def browser(*, bypass_csp: bool = False) -> Iterator[Any]:
    """A headless Chromium with a throwaway profile.

    ``bypass_csp`` lets a test inject a checker (axe-core) into pages whose
    Content-Security-Policy would otherwise refuse it.
    """
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no Chromium found; install Debian's chromium package or set DIGEST_CHROMIUM")
    with tempfile.TemporaryDirectory(prefix="digest-chromium-") as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=path, headless=True, args=CHROMIUM_ARGS, bypass_csp=bypass_csp
        )
        try:
            yield context
        finally:
            context.close()


def screenshot_email(
    html_file: Path, folder: Path, *, on_progress: Callable[[str], None] | None = None
) -> list[Screenshot]:
    """Full-page screenshots of the email: desktop, phone and dark mode, written into ``folder``.

    ``on_progress`` hears a line as the browser starts and as each screenshot is taken.
    """
    say = on_progress or (lambda _line: None)
    shots = []
    say(f"Starting Chromium for {len(SHOTS)} screenshots…")
    with browser() as context:
        page = context.new_page()
        for number, (name, caption, width, scheme) in enumerate(SHOTS, 1):
            say(f"  [{number}/{len(SHOTS)}] {caption}")
            page.set_viewport_size({"width": width, "height": 900})
            page.emulate_media(color_scheme=scheme)
            page.goto(html_file.resolve().as_uri())
            page.screenshot(path=str(folder / name), full_page=True)
            shots.append(Screenshot(name, caption, width))
        # No page.close(): closing the context closes the browser and every page
        # in it, and a page's own close can hang in Chromium (tests/conftest.py).
    return shots
