"""A real Dovecot (Debian's dovecot-imapd and dovecot-pop3d) for the bounce mailbox tests.

Each `Dovecot` runs from its own folder: config, passwd file, a self-signed certificate, the
Maildir, the logs and the runtime sockets, listening on 127.0.0.1 on four free ports (IMAP,
IMAPS, POP3, POP3S). Where it cannot start (not installed: `make dovecot`; or not root) the
tests skip loudly, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import mailbox
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
USER, PASSWORD = "bounces@news.example.org", "s3cret p@ss/word"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
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
pop3_uidl_format = %08Xu%08Xv
service auth {{
  user = root
}}
service imap-login {{
  inet_listener imap {{
    port = {imap}
  }}
  inet_listener imaps {{
    port = {imaps}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = {pop3s}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0600
  }}
  unix_listener stats-writer {{
    mode = 0600
  }}
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot and the Maildir behind its one user."""

    root: Path
    ports: dict[str, int]

    @property
    def maildir(self) -> mailbox.Maildir:
        return mailbox.Maildir(self.root / "home" / USER / "Maildir", create=False)

    def deliver(self, raw: bytes) -> None:
        """Put a message in the inbox as an MTA's local delivery does: a file in Maildir/new."""
        self.maildir.add(raw)

    def url(self, scheme: str, *, password: str = PASSWORD, path: str = "", query: str = "") -> str:
        port = self.ports[scheme]
        credentials = f"{quote(USER, safe='')}:{quote(password, safe='')}"
        return f"{scheme}://{credentials}@127.0.0.1:{port}{path}" + (f"?{query}" if query else "")

    @property
    def doveadm(self) -> list[str]:
        """The admin command of this instance, e.g. `[*server.doveadm, "kick", USER]`."""
        return ["doveadm", "-c", str(self.root / "dovecot.conf")]

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _cannot_run(reason: str) -> None:
    message = f"Dovecot cannot run here ({reason}): the bounce mailbox tests are SKIPPED"
    if IN_CI:
        pytest.fail(f"{message.split(':')[0]} in CI; refusing to skip", pytrace=False)
    print(f"\n!!! {message} !!!\n")  # noqa: T201 - say it loudly where people look
    pytest.skip(message)


def _self_signed_certificate(root: Path) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
        + ["-subj", "/CN=localhost", "-keyout", str(root / "key.pem")]
        + ["-out", str(root / "cert.pem")],
        check=True,
        capture_output=True,
    )


def _wait_for_port(port: int, process: subprocess.Popen[bytes], root: Path) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (root / "dovecot.log").read_text(errors="replace")
            raise RuntimeError(f"dovecot exited with {process.returncode}:\n{log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"dovecot did not listen on {port} within 15 s")


@pytest.fixture(scope="module")
def dovecot_server() -> Iterator[Dovecot]:
    """One Dovecot per test module (starting one takes a fraction of a second)."""
    if not (Path(DOVECOT).exists() and Path("/usr/lib/dovecot/pop3").exists()):
        _cannot_run("dovecot-imapd and dovecot-pop3d are not installed; run `make dovecot`")
    if os.geteuid() != 0:
        _cannot_run("it runs its login and auth processes as other users, which needs root")
    if shutil.which("openssl") is None:
        _cannot_run("openssl is needed for the self-signed certificate")
    # Not under pytest's 0700 folder: the mail user (Dovecot refuses root) must reach the Maildir.
    root = Path(tempfile.mkdtemp(prefix="digest-dovecot-"))
    root.chmod(0o755)
    mail_user = pwd.getpwnam("nobody")
    for folder in ("cur", "new", "tmp"):
        (root / "home" / USER / "Maildir" / folder).mkdir(parents=True)
    for path in [root / "home", *(root / "home").rglob("*")]:
        os.chown(path, mail_user.pw_uid, mail_user.pw_gid)
    ports = dict(zip(("imap", "imaps", "pop3", "pop3s"), _free_ports(4), strict=True))
    _self_signed_certificate(root)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    (root / "dovecot.conf").write_text(
        CONFIG.format(root=root, uid=mail_user.pw_uid, gid=mail_user.pw_gid, **ports)
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=(root / "stderr.log").open("wb"),
    )
    try:
        for port in ports.values():
            _wait_for_port(port, process, root)
        yield Dovecot(root=root, ports=ports)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)
