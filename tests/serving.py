"""`digest serve` as a process (waitress, as in production), reached over 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def digest_serve(project: Path, *args: str) -> Iterator[int]:
    """Start `digest serve` in ``project``; yields its port once /healthz answers, stops it after."""
    port = free_port()
    # The project's .env is what configures it, as for a real service.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    log = (project / "serve.log").open("ab")  # a file, not a pipe: a full pipe would stall the server
    server = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--port", str(port), *args],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    if answer.read() == b"ok\n":
                        break
            except OSError:
                if server.poll() is not None:
                    raise AssertionError(f"digest serve exited: {(project / 'serve.log').read_text()}") from None
                time.sleep(0.1)
        else:
            raise AssertionError("digest serve did not answer /healthz within 15 s")
        yield port
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
