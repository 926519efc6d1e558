"""A real IMAP server for tests: Debian's dovecot, started on 127.0.0.1 with a throwaway configuration.

Everything lives in one temporary folder (configuration, passwd-file, mail,
sockets, log); the server listens on a free port of the loopback address only
and is stopped when the test ends. Run as root (CI), mail is stored as the
unprivileged ``nobody``; run as anyone else, as that user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER = "bounces@safe.example.org"
PASSWORD = "imap-test-password-0123"
DOVECOT = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
# Plain-text logins only because the server is on the loopback address of a test.
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass(frozen=True)
class ImapServer:
    host: str
    port: int
    user: str
    password: str

    def url(self, folder: str = "INBOX") -> str:
        return f"imap://{self.user.replace('@', '%40')}@{self.host}:{self.port}/{folder}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dovecot() -> Iterator[ImapServer]:
    """A running dovecot whose only user is USER with PASSWORD, in a folder of its own, removed afterwards."""
    assert DOVECOT is not None
    # Not under pytest's tmp_path: its folders are private to us, and mail may be stored as nobody.
    root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "home"):
        (root / sub).mkdir(exist_ok=True)
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        login_user = "dovenull" if _has_user("dovenull") else "nobody"
        internal_user = "dovecot" if _has_user("dovecot") else "nobody"
        os.chown(root / "home", uid, gid)
    else:
        uid, gid = os.geteuid(), os.getegid()
        login_user = internal_user = pwd.getpwuid(uid).pw_name
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(
        CONFIG.format(root=root, port=port, uid=uid, gid=gid, login_user=login_user, internal_user=internal_user),
        encoding="utf-8",
    )
    # The master process forks into the background and keeps any pipes open: give it none.
    quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run([DOVECOT, "-c", str(config)], check=True, timeout=30, **quiet)
    try:
        _wait_for(port, root / "dovecot.log")
        yield ImapServer("127.0.0.1", port, USER, PASSWORD)
    finally:
        subprocess.run([DOVECOT, "-c", str(config), "stop"], check=False, timeout=30, **quiet)
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _wait_for(port: int, log: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    detail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else "(no log)"
    raise RuntimeError(f"dovecot did not start on port {port}: {detail}")
