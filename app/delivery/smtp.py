"""The SMTP transport: one connection for many messages, and what each refusal means."""

from __future__ import annotations

import logging
import re
import smtplib
import ssl

from app.delivery.transports import (
    DeliveryError,
    HardBounce,
    OutcomeUnknown,
    PermanentFailure,
    TemporaryFailure,
    TransportUnavailable,
    envelope_address,
)
from app.mailservers import SMTPConfig, parse_smtp_url

logger = logging.getLogger(__name__)


# --- reply classification ---------------------------------------------------------------------

_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
_UNKNOWN_MAILBOX = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|mailbox (unavailable|not found)"
    r"|does not exist|invalid (recipient|mailbox)|recipient address rejected",
    re.IGNORECASE,
)
# 5.1.7 / 5.1.8 are about the *sender* address: suppressing the recipient would be wrong.
_SENDER_STATUS = {("1", "7"), ("1", "8")}


def classify_reply(code: int, reply: str, *, stage: str) -> DeliveryError:
    """Map a refusal at `stage` ("mail", "rcpt", "data") to the error the send engine acts on."""
    if code == 530 or (stage == "mail" and 500 <= code < 600):
        # Auth required, or the server refuses our sender: every message would fail alike.
        return TransportUnavailable(reply, code)
    if 400 <= code < 500:
        return TemporaryFailure(reply, code)
    if not 500 <= code < 600:
        return TransportUnavailable(f"unexpected reply at {stage}: {reply}", code)
    enhanced = _ENHANCED.match(reply)
    if enhanced:
        subject, detail = enhanced.group(2), enhanced.group(3)
        if subject == "1" and (subject, detail) not in _SENDER_STATUS:
            return HardBounce(reply, code)
    elif code in (550, 551, 553) and _UNKNOWN_MAILBOX.search(reply):
        return HardBounce(reply, code)
    return PermanentFailure(reply, code)


def _dot_stuffed(message: bytes) -> bytes:
    # RFC 5321 §4.5.2 transparency, then the terminating "." line. bytes.replace does what
    # re.sub(rb"(?m)^\.", ...) does at a fraction of the cost (it ran per 60 KB digest).
    body = message.replace(b"\n.", b"\n..")
    if body.startswith(b"."):
        body = b"." + body
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return body + b".\r\n"


def _unavailable(what: str, error: Exception) -> TransportUnavailable:
    if isinstance(error, smtplib.SMTPAuthenticationError):
        what = "authentication failed"
    if isinstance(error, smtplib.SMTPResponseException):
        reply = error.smtp_error.decode("utf-8", "replace")
        return TransportUnavailable(f"{what}: {reply}", error.smtp_code)
    return TransportUnavailable(f"{what}: {error!r}")


class _DroppedBeforeData(Exception):
    """The server hung up before it saw any message data: the message was certainly not sent."""


# --- SMTP transport ---------------------------------------------------------------------------


class SMTPTransport:
    """One SMTP connection reused for many messages; each `send` is one MAIL/RCPT/DATA transaction.

    If a *reused* connection turns out to be closed before DATA (the server timed us out or sent
    421 between messages), `send` reconnects once and retries that message: nothing was sent, so
    this cannot duplicate. A connection lost after DATA raises OutcomeUnknown and is never retried.
    """

    def __init__(
        self,
        url: str | SMTPConfig,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.config = url if isinstance(url, SMTPConfig) else parse_smtp_url(url)
        self._ssl_context = ssl_context
        self._smtp: smtplib.SMTP | None = None
        self._used = False  # has the open connection carried a transaction yet?

    def __enter__(self) -> SMTPTransport:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Connect, say EHLO, STARTTLS and log in if configured; TransportUnavailable on failure."""
        if self._smtp is None:
            self._smtp = self._connect()
            self._used = False

    def close(self) -> None:
        """Say QUIT and close; never raises."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            smtp.close()

    def _discard(self) -> None:
        # The connection is in an unknown protocol state: close without QUIT (it might hang).
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is not None:
            return self._ssl_context
        context = ssl.create_default_context()
        if not self.config.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        smtp: smtplib.SMTP | None = None
        try:
            if cfg.implicit_tls:
                context = self._tls_context()
                smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
            else:
                smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            smtp.ehlo_or_helo_if_needed()
            if cfg.starttls:
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError(f"{cfg.host} does not offer STARTTLS")
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if cfg.username:
                smtp.login(cfg.username, cfg.password)
        except (smtplib.SMTPException, OSError) as error:
            if smtp is not None:
                smtp.close()
            raise _unavailable(f"cannot use SMTP server {cfg.host}:{cfg.port}", error) from error
        logger.info("connected to SMTP server %s:%s", cfg.host, cfg.port)
        return smtp

    def send(self, *, sender: str, recipient: str, message: bytes) -> None:
        """Deliver `message` (finished CRLF bytes, sent as-is) to one recipient, or raise."""
        envelope_from = envelope_address(sender, role="sender")
        envelope_to = envelope_address(recipient, role="recipient")
        if not isinstance(message, bytes) or not message:
            raise ValueError("message must be non-empty bytes")
        payload = _dot_stuffed(message)
        while True:
            self.open()
            reused = self._used
            try:
                self._transaction(envelope_from, envelope_to, payload)
                return
            except _DroppedBeforeData as dropped:
                self._discard()
                # A fresh connection that hangs up is a broken server, not a stale connection.
                if not reused:
                    raise TransportUnavailable(
                        f"server hung up before DATA: {dropped}"
                    ) from dropped
                logger.info("SMTP connection was closed by the server; reconnecting once")

    def _transaction(self, envelope_from: str, envelope_to: str, payload: bytes) -> None:
        smtp = self._smtp
        assert smtp is not None
        self._used = True
        mail_options = self._mail_options(smtp, envelope_from, envelope_to, payload)
        try:
            code, reply = smtp.mail(envelope_from, mail_options)
            if code != 250:
                raise self._refused(smtp, code, reply, "mail")
            code, reply = smtp.rcpt(envelope_to)
            if code not in (250, 251):
                raise self._refused(smtp, code, reply, "rcpt")
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                raise self._refused(smtp, code, reply, "data")
        except (smtplib.SMTPException, OSError) as error:
            dropped = isinstance(error, smtplib.SMTPServerDisconnected | ConnectionError)
            # smtplib reports a read timeout as a disconnect; a silent server is not a stale one.
            if dropped and not isinstance(error.__context__, TimeoutError):
                raise _DroppedBeforeData(repr(error)) from error
            self._discard()
            raise TransportUnavailable(f"SMTP server stopped answering: {error!r}") from error
        try:
            smtp.send(payload)
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:
            self._discard()
            raise OutcomeUnknown(f"connection lost after the message data: {error!r}") from error
        if code != 250:
            # The transaction is over either way; no RSET needed.
            if code == 421:
                self._discard()
            raise classify_reply(code, reply.decode("utf-8", "replace"), stage="data")

    def _mail_options(
        self, smtp: smtplib.SMTP, envelope_from: str, envelope_to: str, payload: bytes
    ) -> list[str]:
        options = []
        if not payload.isascii() and smtp.has_extn("8bitmime"):
            options.append("BODY=8BITMIME")
        if not (envelope_from + envelope_to).isascii():
            if not smtp.has_extn("smtputf8"):
                if not envelope_from.isascii():
                    raise TransportUnavailable(f"server cannot take the sender {envelope_from!r}")
                raise PermanentFailure(f"server cannot take the address {envelope_to!r}")
            options.append("SMTPUTF8")
        return options

    def _refused(self, smtp: smtplib.SMTP, code: int, reply: bytes, stage: str) -> DeliveryError:
        """Reset the transaction so the connection serves the next message, and classify."""
        if code == 421:
            self._discard()  # the server is closing the channel
        else:
            try:
                smtp.rset()
            except (smtplib.SMTPException, OSError):
                self._discard()
        error = classify_reply(code, reply.decode("utf-8", "replace"), stage=stage)
        logger.info("SMTP refused at %s: %s", stage, error)
        return error
