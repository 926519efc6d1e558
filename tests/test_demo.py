"""The README's first command, end to end: examples/demo.sh on a copy of the repository."""

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
    bin_dir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    env.update(DIGEST=str(bin_dir / "digest"), PYTHON=sys.executable)
    result = subprocess.run(
        ["bash", str(copy / "examples" / "demo.sh")],
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
    assert sorted(p.name for p in copy.iterdir()) == ["demo", "examples", "subscribers"]
