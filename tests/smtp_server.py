"""A real in-process SMTP server (aiosmtpd) with fault injection; a pytest plugin."""

from __future__ import annotations

import asyncio
import atexit
import email
import email.policy
import functools
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

Matcher = str | Callable[[str], bool] | None
STAGES = ("rcpt", "data")


@dataclass
class Fault:
    """One injected misbehaviour: for whom (None = anyone), at which stage, and what happens."""

    match: Matcher = None
    stage: str = "rcpt"
    reply: str | None = None  # answer this instead of accepting
    drop: bool = False  # close the connection without answering ("data": after storing it)
    delay: float = 0.0  # seconds to wait before doing the above (or accepting)
    times: int | None = None  # fire this many times, then vanish; None = forever

    def matches(self, addresses: Iterable[str]) -> bool:
        """Whether the rule applies to any of these recipients."""
        if self.match is None:
            return True
        if callable(self.match):
            return any(self.match(address) for address in addresses)
        return any(address.lower() == self.match.lower() for address in addresses)


class Faults:
    """Runtime fault rules keyed by recipient; the first matching rule at a stage fires."""

    def __init__(self) -> None:
        self._rules: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, match: Matcher = None, **options: Any) -> Fault:
        """Add a rule (see `Fault` for the options) and return it."""
        rule = Fault(match, **options)
        if rule.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {rule.stage!r}")
        if rule.reply is not None and not re.match(r"^[2-5]\d\d[ -]", rule.reply):
            raise ValueError(f"reply {rule.reply!r} must start with a 3-digit SMTP code")
        with self._lock:
            self._rules.append(rule)
        return rule

    def __setitem__(self, recipient: Matcher, reply: str) -> None:
        """`faults["a@example.org"] = "550 5.1.1 User unknown"` answers that RCPT with the reply."""
        self.add(recipient, reply=reply)

    def reject(
        self, match: Matcher, reply: str, *, stage: str = "rcpt", times: int | None = None
    ) -> Fault:
        """Answer `reply` at RCPT or at the end of DATA (then the message is not stored)."""
        return self.add(match, stage=stage, reply=reply, times=times)

    def drop_after_data(self, match: Matcher = None, *, times: int | None = None) -> Fault:
        """Store the message, then hang up instead of answering the final dot."""
        return self.add(match, stage="data", drop=True, times=times)

    def slow(
        self, match: Matcher, seconds: float, *, stage: str = "rcpt", times: int | None = None
    ) -> Fault:
        """Wait `seconds` before answering at `stage`."""
        return self.add(match, stage=stage, delay=seconds, times=times)

    def fail_next(self, n: int, reply: str = "451 4.3.0 Try again later") -> Fault:
        """Refuse the next `n` RCPTs (any recipient) with `reply`, then accept again."""
        return self.add(None, reply=reply, times=n)

    def clear(self) -> None:
        """Remove every rule."""
        with self._lock:
            self._rules.clear()

    def take(self, stage: str, addresses: Iterable[str]) -> Fault | None:
        """The rule that fires now, counting it down."""
        addresses = list(addresses)
        with self._lock:
            for rule in self._rules:
                if rule.stage == stage and rule.matches(addresses):
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            self._rules.remove(rule)
                    return rule
        return None


@dataclass
class ReceivedMessage:
    """One message the server accepted (or stored before a dropped reply)."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    session: int  # which connection brought it (1 = first since start)
    tls: bool
    authenticated: bool
    _parsed: EmailMessage | None = field(default=None, repr=False)

    @property
    def message(self) -> EmailMessage:
        """The data parsed with the modern email policy."""
        if self._parsed is None:
            parsed = email.message_from_bytes(self.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self._parsed = parsed
        return self._parsed


def missing(what: str) -> None:
    """Skip on a developer's machine; in CI a missing tool is a failure, never a quiet skip."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(what)
    pytest.skip(what)


@functools.lru_cache(maxsize=1)
def self_signed_cert() -> tuple[Path, Path]:
    """A throwaway certificate for localhost/127.0.0.1 (made once per process with openssl)."""
    if shutil.which("openssl") is None:
        missing("the openssl command is needed to make a test certificate")
    folder = Path(tempfile.mkdtemp(prefix="smtp-test-cert-"))
    atexit.register(shutil.rmtree, folder, True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


class _Handler:
    """aiosmtpd hooks that consult the fault rules and record what arrives."""

    def __init__(self, owner: SMTPTestServer) -> None:
        self.owner = owner

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,  # noqa: N802
        address: str,
        rcpt_options: list[str],
    ) -> str:
        fault = self.owner.faults.take("rcpt", [address])
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.drop:
                _hang_up(server)
                return "421 4.4.2 Connection dropped (not sent: the transport is closed)"
            if fault.reply:
                return fault.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        fault = self.owner.faults.take("data", envelope.rcpt_tos)
        if fault is not None:
            await asyncio.sleep(fault.delay)
            if fault.reply and not fault.drop:
                return fault.reply
        self.owner._store(server, session, envelope)
        if fault is not None and fault.drop:
            _hang_up(server)
            return "421 4.4.2 Connection dropped (not sent: the transport is closed)"
        return "250 2.0.0 Message accepted"


def _hang_up(server: SMTP) -> None:
    # The reply aiosmtpd then tries to push goes nowhere: the client sees a disconnect.
    if server.transport is not None:
        server.transport.close()


class _Controller(Controller):
    """Controller on a free port that numbers each client connection."""

    def __init__(self, owner: SMTPTestServer, **kwargs: Any) -> None:
        super().__init__(_Handler(owner), hostname=owner.host, port=0, **kwargs)
        self.owner = owner

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            # "AUTH without TLS" is deliberate here (SMTPS, or a plain-auth test server).
            warnings.simplefilter("ignore", UserWarning)
            smtp = SMTP(self.handler, **self.SMTP_kwargs)
        smtp.test_session = self.owner._open_session(smtp)  # type: ignore[attr-defined]
        return smtp

    def _trigger_server(self) -> None:
        # Port 0 asked the OS for a free port; learn it before aiosmtpd's readiness probe.
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SMTPTestServer:
    """A real SMTP server on 127.0.0.1 for tests: plain, STARTTLS or SMTPS, optional AUTH."""

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        tls: str | None = None,
        auth: tuple[str, str] | None = None,
        require_starttls: bool = True,
    ) -> None:
        if tls not in (None, "starttls", "implicit"):
            raise ValueError(f"tls must be None, 'starttls' or 'implicit', not {tls!r}")
        self.tls = tls
        self.auth = auth
        self.require_starttls = require_starttls
        self.faults = Faults()
        self.messages: list[ReceivedMessage] = []
        self.port = 0
        self._sessions = 0
        self._live: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self._changed = threading.Condition()
        self._controller: _Controller | None = None

    # lifecycle ------------------------------------------------------------------------------

    def start(self) -> SMTPTestServer:
        """Start listening; returns self."""
        kwargs: dict[str, Any] = {"server_hostname": "localhost", "ready_timeout": 10}
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self_signed_cert())
            if self.tls == "implicit":
                kwargs["ssl_context"] = context
            else:
                kwargs.update(tls_context=context, require_starttls=self.require_starttls)
        if self.auth:
            # aiosmtpd only counts STARTTLS as TLS; an SMTPS connection is TLS from the start.
            kwargs.update(
                auth_required=True,
                auth_require_tls=self.tls == "starttls",
                authenticator=self._authenticate,
            )
        self._controller = _Controller(self, **kwargs)
        self._controller.start()
        self.port = self._controller.port
        with self._changed:
            self._sessions = 0  # forget aiosmtpd's own readiness probe
        return self

    def stop(self) -> None:
        """Stop the server and its thread."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SMTPTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # what tests use ------------------------------------------------------------------------

    @property
    def session_count(self) -> int:
        """Client connections opened since start."""
        with self._changed:
            return self._sessions

    def url(self, *, user: str | None = None, password: str | None = None, **query: str) -> str:
        """A DIGEST_SMTP_URL for this server (credentials from `auth`, TLS unverified)."""
        user, password = (user, password) if user is not None else (self.auth or (None, None))
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        if self.tls == "starttls":
            query.setdefault("starttls", "true")
        if self.tls:
            query.setdefault("verify", "false")
        login = f"{quote(user, safe='')}:{quote(password or '', safe='')}@" if user else ""
        tail = "&".join(f"{key}={value}" for key, value in query.items())
        return f"{scheme}://{login}{self.host}:{self.port}" + (f"?{tail}" if tail else "")

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's certificate."""
        return ssl.create_default_context(cafile=str(self_signed_cert()[0]))

    def wait_for(self, count: int, timeout: float = 10) -> list[ReceivedMessage]:
        """Wait until at least `count` messages arrived; return them all."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.messages)} of {count} messages after {timeout}s")
                self._changed.wait(left)
            return list(self.messages)

    def fail_next(self, n: int, reply: str = "451 4.3.0 Try again later") -> Fault:
        """Refuse the next `n` RCPTs with `reply` (a 4xx by default), then accept."""
        return self.faults.fail_next(n, reply)

    def drop_connections(self) -> None:
        """Close every open client connection, as a server does to idle clients."""
        assert self._controller is not None

        async def close_all() -> None:
            for smtp in list(self._live):
                _hang_up(smtp)
            await asyncio.sleep(0.01)  # let the FINs go out

        asyncio.run_coroutine_threadsafe(close_all(), self._controller.loop).result(5)

    def clear(self) -> None:
        """Forget messages and fault rules."""
        self.faults.clear()
        with self._changed:
            self.messages.clear()

    # called from the server thread ---------------------------------------------------------

    def _open_session(self, smtp: SMTP) -> int:
        with self._changed:
            self._sessions += 1
            self._live.add(smtp)
            return self._sessions

    def _store(self, server: SMTP, session: Session, envelope: Envelope) -> None:
        transport = server.transport
        received = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            session=getattr(server, "test_session", 0),
            tls=transport is not None and transport.get_extra_info("ssl_object") is not None,
            authenticated=bool(session.authenticated),
        )
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert self.auth is not None
        ok = (
            isinstance(auth_data, LoginPassword)
            and (auth_data.login.decode(), auth_data.password.decode()) == self.auth
        )
        # handled=False: aiosmtpd then answers a failure itself with "535 5.7.8".
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[SMTPTestServer]:
    """A plain SMTP server with no faults, stopped after the test."""
    with SMTPTestServer() as server:
        yield server


@pytest.fixture
def smtp_server_factory() -> Iterator[Callable[..., SMTPTestServer]]:
    """Start servers with options (tls=, auth=, require_starttls=); all stopped after the test."""
    started: list[SMTPTestServer] = []

    def make(**options: Any) -> SMTPTestServer:
        server = SMTPTestServer(**options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()
