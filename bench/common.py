"""Helpers shared by the benchmark scripts: a scratch project, timing, machine facts."""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

PROJECT_TOML = """\
[organisation]
name = "SAFE CIC"
address = "1 Bench Street"
website = "https://safe.example.org"

[email]
from_address = "newsfeed@safe.example.org"

[web]
base_url = "https://news.safe.example.org"

[sending]
require_approval = false
"""


def scratch_project(extra_toml: str = "") -> Path:
    """A fresh project folder (digest.toml, .env) in a temporary directory."""
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-"))
    (folder / "digest.toml").write_text(PROJECT_TOML + extra_toml, encoding="utf-8")
    (folder / ".env").write_text("DIGEST_SECRET_KEY=" + "bench-key-" * 5 + "\n", encoding="utf-8")
    return folder


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def run_process(args: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.1f} ms"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def postgres_schema_url(base: str) -> tuple[str, Callable[[], None]]:
    """A fresh schema in the PostgreSQL database at ``base``; (URL using it, drop function)."""
    import uuid

    import sqlalchemy as sa

    from digest.store.db import create_db_engine

    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}", drop


def child_env(**extra: str) -> dict[str, str]:
    """The environment for measured processes: Python caches bytecode as it does by default.

    This machine sets PYTHONDONTWRITEBYTECODE, so every process would compile
    digest's modules afresh; an installed package has them compiled.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(extra)
    return env


@dataclasses.dataclass
class Measured:
    seconds: float
    peak_mb: float | None  # this process's own peak resident set (VmHWM), when asked for
    stdout: str
    stderr: str
    cpu: float = 0.0  # user + system seconds of the process (steadier than wall-clock on a busy machine)


def measure_process(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Measured:
    """Run a process; its wall-clock time (start-up included)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=err, env=env or child_env())
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {process.returncode}:\n{stdout}\n{stderr}")
    return Measured(seconds, None, stdout, stderr, usage.ru_utime + usage.ru_stime)


def measure_python(args: list[str], cwd: Path) -> Measured:
    """Run ``python ARGS`` (``-m module …`` or ``script.py …``); its time and its own peak RSS.

    The peak comes from the process itself (bench/peak.py), not from the
    parent's rusage, which Linux inflates with the launcher's own size.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as peak:
        measured = measure_process([sys.executable, str(REPO / "bench" / "peak.py"), peak.name, *args], cwd)
        text = Path(peak.name).read_text().strip()
    measured.peak_mb = int(text) / 1024 if text else None
    return measured


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"
