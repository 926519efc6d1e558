"""`digest serve` and `digest studio` as processes (waitress, as in production), reached over 127.0.0.1."""

from __future__ import annotations

import os
import re
import resource
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def digest_serve(project: Path, *args: str, file_size_limit: int | None = None) -> Iterator[int]:
    """Start `digest serve` in ``project``; yields its port once /healthz answers, stops it after.

    ``file_size_limit`` caps every file the server writes (RLIMIT_FSIZE): a
    write past it fails with "File too large", which the server logs.
    """
    port = free_port()
    with _process(project, ["serve", "--port", str(port), *args], file_size_limit) as (server, log):
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                    if answer.read() == b"ok\n":
                        break
            except OSError:
                if server.poll() is not None:
                    raise AssertionError(f"digest serve exited: {log.read_text()}") from None
                time.sleep(0.1)
        else:
            raise AssertionError("digest serve did not answer /healthz within 15 s")
        yield port


@contextmanager
def digest_studio(project: Path, *args: str) -> Iterator[str]:
    """Start `digest studio` in ``project``; yields the address it prints (with its token), stops it after."""
    port = free_port()
    with _process(project, ["studio", "--port", str(port), *args]) as (studio, log):
        for _ in range(150):
            found = re.search(r"The studio is at (\S+)", log.read_text())
            if found:
                yield found.group(1)
                return
            if studio.poll() is not None:
                raise AssertionError(f"digest studio exited: {log.read_text()}")
            time.sleep(0.1)
        raise AssertionError("digest studio did not print its address within 15 s")


@contextmanager
def _process(
    project: Path, args: list[str], file_size_limit: int | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """`digest ARGS` running in ``project``, with its stderr in a log file; stopped after."""
    # The project's .env is what configures it, as for a real service.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIGEST_", "SENDGRID_"))}
    log_path = project / f"{args[0]}.log"
    log = log_path.open("ab")  # a file, not a pipe: a full pipe would stall the server
    limit: Callable[[], None] | None = None
    if file_size_limit is not None:

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    process = subprocess.Popen(
        [sys.executable, "-m", "digest", *args],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        preexec_fn=limit,  # only setrlimit, between fork and exec
    )
    try:
        yield process, log_path
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
