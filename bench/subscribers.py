"""Import 100,000 subscribers from CSV (5% invalid, 5% duplicates) and compute an audience.

Run: .venv/bin/python bench/subscribers.py [ROWS]
"""

from __future__ import annotations

import csv
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, REPO, machine, measure_python, remove, scratch_project

SECTORS = ["education", "education", "education", "health", "health", "sport", "charity", "faith", "community", ""]
ROLES = ["Designated Safeguarding Lead", "Headteacher", "Named Nurse", "Club Welfare Officer", "Trustee", "Manager"]


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    emails: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["Email Address", "First Name", "Last Name", "Organisation", "Role", "Sector", "Region", "Phase"]
        )
        for number in range(rows):
            roll = rng.random()
            if roll < 0.05:
                email = rng.choice(["no-at-sign.example.org", "two@@example.org", "space in@example.org", "", "x@y"])
            elif roll < 0.10 and emails:
                email = rng.choice(emails).upper()
            else:
                email = f"person.{number}@org{number % 5000}.example.org"
                emails.append(email)
            writer.writerow(
                [
                    email,
                    f"First{number}",
                    f"Last{number}",
                    f"Organisation {number % 5000}",
                    rng.choice(ROLES),
                    rng.choice(SECTORS),
                    rng.choice(["Norfolk", "Suffolk", "Essex"]),
                    rng.choice(["primary", "secondary", ""]),
                ]
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    folder = scratch_project()
    try:
        (folder / "subscribers").mkdir()
        shutil.copy(REPO / "subscribers" / "segments.yaml", folder / "subscribers" / "segments.yaml")
        path = folder / "people.csv"
        write_csv(path, rows)
        size_mb = path.stat().st_size / 1e6
        digest = str(BIN / "digest")
        subprocess.run([digest, "db", "upgrade"], cwd=folder, check=True, stdout=subprocess.DEVNULL)
        run = measure_python(["-m", "digest", "subscribers", "import", str(path)], folder)
        elapsed, peak_mb = run.seconds, run.peak_mb or 0.0
        summary = run.stdout.strip().splitlines()[-1]

        from digest.config import load_settings
        from digest.people.segments import iter_audience, load_segments
        from digest.store.db import open_database

        settings = load_settings(folder / "digest.toml")
        engine = open_database(settings.database_url)
        segments = load_segments(settings)
        times = []
        members = 0
        for _ in range(5):
            start_a = time.perf_counter()
            members = sum(1 for _ in iter_audience(engine, segments))
            times.append(time.perf_counter() - start_a)

        print(f"machine: {machine()}")
        print(
            f"import {rows:,} rows ({size_mb:.1f} MB CSV) as a process: {elapsed:.2f} s, "
            f"{rows / elapsed:,.0f} rows/s, peak RSS {peak_mb:.0f} MB"
        )
        print(f"  {summary}")
        print(
            f"audience over {members:,} eligible subscribers and {len(segments)} segments: "
            f"best {min(times) * 1000:.0f} ms, median {sorted(times)[2] * 1000:.0f} ms of 5"
        )
    finally:
        remove(folder)


if __name__ == "__main__":
    main()
