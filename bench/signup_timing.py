"""Does the sign-up form's answer time tell an active address from an unknown one?

Starts `digest serve` (waitress, outbox provider) on a scratch project with
ROUNDS active subscribers, then posts the sign-up form over HTTP, an active
subscriber's address and a never-seen one in random order, and prints the
median answer time of each. Equal medians mean the timing reveals nothing.

Run: .venv/bin/python bench/signup_timing.py [ROUNDS]
"""

from __future__ import annotations

import http.client
import random
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import BIN, machine, remove, scratch_project

LIMITS = "\n[events]\nsubscribe_rate_limit = 1000000\n"
# Between requests: a queued confirmation is mailed in the background, and a request
# that overlapped that work would measure the previous request's address, not its own.
PAUSE = 0.03


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post_signup(port: int, email: str) -> float:
    """Seconds from sending the form to the whole answer (the form page and its cookie fetched first)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/subscribe")
    page = conn.getresponse()
    body = page.read().decode()
    cookie = (page.getheader("Set-Cookie") or "").split(";", 1)[0]
    token = re.search(r'name="form_token" value="([^"]+)"', body)
    assert token, "no form token on the sign-up page"
    form = urllib.parse.urlencode({"form_token": token.group(1), "email": email, "consent": "yes"})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie}
    start = time.perf_counter()
    conn.request("POST", "/subscribe", body=form, headers=headers)
    answer = conn.getresponse()
    answer.read()
    elapsed = time.perf_counter() - start
    conn.close()
    assert answer.status == 200, answer.status
    return elapsed


def main(rounds: int) -> None:
    folder = scratch_project(LIMITS)
    digest = str(BIN / "digest")
    rows = "email\n" + "".join(f"reader{n}@school{n}.example.org\n" for n in range(rounds))
    (folder / "people.csv").write_text(rows, encoding="utf-8")
    subprocess.run(
        [digest, "subscribers", "import", "people.csv", "--consent-source", "bench"],
        cwd=folder,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    port = free_port()
    server = subprocess.Popen(
        [digest, "serve", "--port", str(port)], cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        post_signup(port, "warm-up@example.org")
        active: list[float] = []
        unknown: list[float] = []
        order = random.Random(5)
        for n in range(rounds):
            pair = [(active, f"reader{n}@school{n}.example.org"), (unknown, f"stranger{n}@elsewhere{n}.example.org")]
            order.shuffle(pair)  # neither kind always follows the other
            for times, address in pair:
                times.append(post_signup(port, address))
                time.sleep(PAUSE)
    finally:
        server.terminate()
        server.wait(timeout=10)
        remove(folder)
    print(machine())
    print(f"{rounds} sign-ups each, outbox provider, over HTTP to `digest serve`")
    for name, times in (("active address", active), ("unknown address", unknown)):
        ms = sorted(t * 1000 for t in times)
        print(f"  {name:<16} median {statistics.median(ms):6.2f} ms   p90 {ms[int(len(ms) * 0.9)]:6.2f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
