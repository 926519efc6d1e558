"""Installed, not only cloned: a wheel built from this checkout works in an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.checkout import source_copy
from tests.conftest import SAMPLE

pytestmark = pytest.mark.slow


def run(command: list[str], cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    source = source_copy(tmp_path_factory.mktemp("source"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (found,) = out.glob("*.whl")
    return found


def test_the_wheel_carries_templates_defaults_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "digest/templates/digest.mjml.j2",
        "digest/templates/digest.txt.j2",
        "digest/templates/partials/styles.mjml.j2",
        "digest/templates/web/base.html.j2",
        "digest/defaults/digest.toml",
        "digest/defaults/segments.yaml",
        "digest/store/migrations/script.py.mako",
    ):
        assert needed in names
    assert any(name.startswith("digest/store/migrations/versions/") for name in names)
    assert not any(name.startswith(("tests/", "examples/", "bench/")) for name in names)


def test_a_fresh_install_runs_the_weekly_routine_in_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_", "SMTP_", "PYTHON"))}
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(wheel)], tmp_path, env)
    digest = str(venv / "bin" / "digest")
    folder = tmp_path / "newsroom"
    folder.mkdir()
    run([digest, "init"], folder, env)
    assert "Imported 5 new" in run([digest, "articles", "import", str(SAMPLE)], folder, env)
    run([digest, "issue", "new", "--date", "2025-04-10"], folder, env)
    index = run([digest, "preview", "2025-04-10", "--no-screenshots"], folder, env).strip()
    assert Path(index).is_file() and "Protecting children" in (Path(index).parent / "email.html").read_text()
    # Installed without the [browser] extra, a preview says why it took no screenshots and how to get them.
    shots = subprocess.run([digest, "preview", "2025-04-10"], cwd=folder, env=env, capture_output=True, text=True)
    assert shots.returncode == 0, shots.stderr
    assert "No screenshots: " in shots.stderr
    if shutil.which("chromium"):
        assert "No screenshots: Playwright is not installed; install digest with its browser extra" in shots.stderr
    run([digest, "subscribers", "add", "lead@school.example.org", "--consent-source", "test"], folder, env)
    run([digest, "issue", "approve", "2025-04-10", "--by", "Test Editor"], folder, env)
    run([digest, "send", "2025-04-10", "--segment", "everyone", "--yes"], folder, env)
    sent = list((folder / "outbox" / "2025-04-10").glob("*.eml"))
    assert len(sent) == 1
    assert "lead@school.example.org" in sent[0].read_text(encoding="utf-8")
