"""Run every detailed benchmark in turn (`make bench` prints the ratio table, bench/ratios.py).
The PostgreSQL comparison runs when DIGEST_TEST_DATABASE_URL names a database it may create schemas in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ["render.py"],
    ["subscribers.py"],
    ["send.py", "10000", "100000", "1000000"],
    ["events.py"],
    ["signup_timing.py"],
]


def main() -> None:
    scripts = list(SCRIPTS)
    if os.environ.get("DIGEST_TEST_DATABASE_URL"):
        scripts.append(["postgres.py"])
    else:
        print("postgres.py skipped: set DIGEST_TEST_DATABASE_URL to compare with PostgreSQL")
    for script, *args in scripts:
        print(f"\n## {script} {' '.join(args)}", flush=True)
        subprocess.run([sys.executable, str(HERE / script), *args], check=True)


if __name__ == "__main__":
    main()
