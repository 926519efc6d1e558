"""Run a Python module or script and write its own peak resident set (VmHWM, in kB) to a file at exit.

    python bench/peak.py OUT_FILE -m digest send …     (or: OUT_FILE script.py args…)

A child's ``ru_maxrss`` is no use here: Linux carries the launcher's resident
set over into the child's at fork and exec, so every process started by a big
benchmark process would seem at least as big as it. ``VmHWM`` belongs to the
address space that exec makes afresh, so it is this process's alone.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def _report(out: Path) -> None:
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                out.write_text(line.split()[1])


def main() -> None:
    out = Path(sys.argv[1])
    atexit.register(_report, out)
    if sys.argv[2] == "-m":
        sys.argv = [sys.argv[3], *sys.argv[4:]]
        runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
    else:
        sys.argv = sys.argv[2:]
        sys.path.insert(0, str(Path(sys.argv[0]).resolve().parent))
        runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
