"""Where the mail servers are: DIGEST_SMTP_URL and DIGEST_BOUNCE_MAILBOX, parsed and checked.

The settings validate both URLs when they load, so a mistyped one stops every command at start
with a reason that never shows the password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

# --- DIGEST_SMTP_URL: parsed with the settings, so a bad one stops the start ---------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_QUERY_KEYS = ("starttls", "timeout", "verify")


@dataclass(frozen=True)
class SMTPConfig:
    """Where and how to reach the SMTP server, parsed from DIGEST_SMTP_URL."""

    host: str
    port: int
    username: str = ""
    password: str = field(default="", repr=False)
    implicit_tls: bool = False
    starttls: bool = False
    verify: bool = True
    timeout: float = 30.0


def _redact(url: str) -> str:
    # Error messages end up in logs and the admin UI: never show the password.
    return re.sub(r"(://[^:@/?#]*:)[^/?#]*@", r"\1***@", url)


def _flag(value: str, name: str, shown: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ValueError(f"SMTP URL {shown}: {name}={value!r} must be true or false")


def parse_smtp_url(url: str) -> SMTPConfig:
    """Parse `smtp://user:pass@host:port?starttls=true` or `smtps://…`; ValueError if bad."""
    shown = _redact(url)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise ValueError(f"SMTP URL {shown}: {error} (the port must be 1-65535)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise ValueError(f"SMTP URL {shown}: scheme must be smtp:// or smtps://, not {scheme!r}")
    if not parts.hostname:
        raise ValueError(f"SMTP URL {shown}: the host is missing")
    if port == 0:
        raise ValueError(f"SMTP URL {shown}: port 0 is not a usable port")
    if parts.path not in ("", "/") or parts.fragment:
        raise ValueError(f"SMTP URL {shown}: unexpected path or fragment")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_QUERY_KEYS))
    if unknown:
        raise ValueError(f"SMTP URL {shown}: unknown option(s) {unknown}; known: {_QUERY_KEYS}")
    starttls = _flag(options.get("starttls", "false"), "starttls", shown)
    if scheme == "smtps" and starttls:
        raise ValueError(f"SMTP URL {shown}: smtps:// is already TLS; drop ?starttls=true")
    try:
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        timeout = -1.0
    if not 0 < timeout < 3600:
        raise ValueError(
            f"SMTP URL {shown}: timeout must be a number of seconds between 0 and 3600"
        )
    default_port = 465 if scheme == "smtps" else 587 if starttls else 25
    return SMTPConfig(
        host=parts.hostname,
        port=port or default_port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        implicit_tls=scheme == "smtps",
        starttls=starttls,
        verify=_flag(options.get("verify", "true"), "verify", shown),
        timeout=timeout,
    )


# --- DIGEST_BOUNCE_MAILBOX: the mailbox of late bounces, checked with the settings too -----------

_MAILBOX_PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}
_MAILBOX_KEYS = ("starttls", "verify", "timeout", "delete")


@dataclass(frozen=True)
class MailboxConfig:
    """Where the bounce mailbox is and how to log in to it, parsed from DIGEST_BOUNCE_MAILBOX."""

    protocol: str  # "imap" or "pop3"
    host: str
    port: int
    username: str
    password: str = field(default="", repr=False)
    folder: str = "INBOX"
    implicit_tls: bool = True
    starttls: bool = False
    verify: bool = True
    timeout: float = 30.0
    delete: bool = True  # ?delete=false: IMAP only flags what it processed \\Seen
    shown: str = ""  # the URL without its password, for messages and logs


def parse_mailbox_url(url: str) -> MailboxConfig:
    """Parse `imaps://user:pass@host/Folder`, `pop3s://user:pass@host` (or plain `imap`/`pop3`
    with `?starttls=true`); options `verify`, `timeout`, `delete`. ValueError says what is bad."""
    shown = _redact(url.strip())

    def bad(reason: str) -> ValueError:
        return ValueError(f"bounce mailbox URL {shown}: {reason}")

    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as error:
        raise bad(f"{error} (the port must be 1-65535)") from None
    scheme = parts.scheme.lower()
    if scheme not in _MAILBOX_PORTS:
        raise bad(f"scheme must be one of {', '.join(_MAILBOX_PORTS)}, not {scheme!r}")
    if not parts.hostname or port == 0:
        raise bad("the host (and a port other than 0) is needed")
    if not parts.username:
        raise bad("the user to log in as is missing (imaps://user:password@host/INBOX)")
    protocol = scheme.rstrip("s")
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    if parts.fragment or (protocol == "pop3" and parts.path not in ("", "/")):
        raise bad("unexpected fragment, or a folder on POP3 (it has only the inbox)")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(options) - set(_MAILBOX_KEYS))
    if unknown:
        raise bad(f"unknown option(s) {unknown}; known: {_MAILBOX_KEYS}")
    flags = {}
    for name in ("starttls", "verify", "delete"):
        value = options.get(name, "false" if name == "starttls" else "true").lower()
        if value not in _TRUE | _FALSE:
            raise bad(f"{name}={value!r} must be true or false")
        flags[name] = value in _TRUE
    if scheme.endswith("s") and flags["starttls"]:
        raise bad(f"{scheme}:// is already TLS; drop ?starttls=true")
    if protocol == "pop3" and not flags["delete"]:
        raise bad("POP3 cannot flag a message as processed: it must delete (drop ?delete=false)")
    try:
        timeout = float(options.get("timeout", "30"))
    except ValueError:
        timeout = -1.0
    if not 0 < timeout < 3600:
        raise bad("timeout must be a number of seconds between 0 and 3600")
    return MailboxConfig(
        protocol=protocol,
        host=parts.hostname,
        port=port or _MAILBOX_PORTS[scheme],
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=folder,
        implicit_tls=scheme.endswith("s"),
        starttls=flags["starttls"],
        verify=flags["verify"],
        timeout=timeout,
        delete=flags["delete"],
        shown=shown,
    )
