"""The README's first command, end to end: `make demo` on a copy of the repository.

The copy's `.venv` is a link to the environment running the tests, and make is
told that it is installed (`-o .venv/.installed`), so the Makefile's own recipe
runs as a new user's does: from the copy's root, with the Makefile's paths.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    copy.mkdir()
    for name in ("examples", "subscribers"):
        shutil.copytree(REPO / name, copy / name)
    shutil.copy2(REPO / "Makefile", copy / "Makefile")
    (copy / ".venv").symlink_to(Path(sys.prefix))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    result = subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed", "demo"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Imported 8 new, 0 updated, 0 skipped." in out
    assert "0 errors, 0 warnings." in out
    assert "Imported: 6 new, 0 updated, 0 unchanged, 1 duplicate, 1 invalid, 0 suppressed (8 rows)." in out
    assert "Send #1: done. accepted 6, failed 0, skipped 0, pending 0, uncertain 0." in out
    assert "14 events: 14 stored, 0 already known, 0 not placed" in out
    # The correction of a story schools' and sport's copies held (health's left it out): the three of those
    # readers still subscribed after the events (a bounce and a complaint among them) are told.
    assert "Send #2: done. accepted 3, failed 0, skipped 0, pending 0, uncertain 0." in out
    demo = copy / "demo"
    assert len(list((demo / "outbox" / "2026-11-23").glob("*.eml"))) == 6
    assert len(list((demo / "outbox" / "2026-11-23" / "correction-1").glob("*.eml"))) == 3
    assert (demo / "preview" / "2026-11-23" / "index.html").is_file()
    assert (demo / "reports" / "report.html").read_text().count("<svg") == 3
    assert (demo / "digest.db").is_file() and (demo / ".env").is_file()
    # The demo keeps to its own folder: nothing beside it was written.
    assert sorted(p.name for p in copy.iterdir()) == [".env", ".venv", "Makefile", "demo", "examples", "subscribers"]
