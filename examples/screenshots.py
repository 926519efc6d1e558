"""The README's pictures: the demo issue at 600 and 375 pixels and in dark mode, and its report.

Run after `make demo` (or use `make screenshots`, which runs both): it opens the
demo's own preview and report in Chromium and writes cropped, palette-reduced
PNGs into docs/screenshots/. Everything shown is the demo's invented content.

Usage: python examples/screenshots.py [DEMO_FOLDER]
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from digest.issues import browser

REPO = Path(__file__).resolve().parent.parent
ISSUE = "2026-11-23"
# (file, page, viewport width, colour scheme, height kept)
SHOTS = (
    ("email-600.png", f"preview/{ISSUE}/email.html", 600, "light", 1700),
    ("email-375.png", f"preview/{ISSUE}/email.html", 375, "light", 1500),
    ("email-dark.png", f"preview/{ISSUE}/email.html", 600, "dark", 1700),
    ("report-375.png", "reports/report.html", 375, "light", 1900),
    ("report.png", "reports/report.html", 1000, "light", 1500),
)


def main(demo: Path) -> None:
    from PIL import Image

    out = REPO / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    with browser.browser() as context:
        page = context.new_page()
        for name, relative, width, scheme, height in SHOTS:
            page.set_viewport_size({"width": width, "height": 900})
            page.emulate_media(color_scheme=scheme)
            page.goto((demo / relative).resolve().as_uri())
            png = page.screenshot(full_page=True)
            image = Image.open(io.BytesIO(png)).convert("RGB")
            image = image.crop((0, 0, image.width, min(height, image.height)))
            # 96 colours keep text crisp and the files small enough to commit.
            image.quantize(colors=96, method=Image.Quantize.MEDIANCUT).save(out / name, optimize=True)
            print(f"wrote {out / name} ({(out / name).stat().st_size // 1024} KB)")
        page.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "demo")
