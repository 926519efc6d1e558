"""SpamAssassin (local rules only: there is no network) scores the demo issue's complete message."""

from __future__ import annotations

import re
import shutil
import subprocess

from digest.issues.preview import write_preview
from tests.conftest import require_tool

LIMIT = 2.0


def test_the_demo_issue_scores_well_under_the_limit(engine, settings, demo_issue) -> None:  # type: ignore[no-untyped-def]
    require_tool(shutil.which("spamassassin") is not None, "no SpamAssassin for the spam score", tool="spamassassin")
    result = write_preview(engine, settings, "2026-11-23", screenshots=False)
    message = (result.folder / "email.eml").read_bytes()
    run = subprocess.run(["spamassassin", "-L", "-t"], input=message, capture_output=True, timeout=120, check=False)
    output = run.stdout.decode("utf-8", "replace")
    score = float(re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", output, re.M).group(1))
    details = output.split("Content analysis details:", 1)[1].strip()
    print(f"\nSpamAssassin score {score} (limit {LIMIT}):\n{details}")
    assert score <= LIMIT, f"SpamAssassin scored {score}:\n{details}"
    assert "HTML_FONT_LOW_CONTRAST" not in details
