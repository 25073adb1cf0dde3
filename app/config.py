"""Settings from DIGEST_* environment variables and `.env`; defaults serve the embedded mode."""

from __future__ import annotations

import os
import secrets
import stat
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated

from celery.schedules import crontab
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.mailservers import parse_mailbox_url, parse_smtp_url
from app.sections import DEFAULT_SECTIONS, Sections, parse_sections

DEFAULT_TOPICS = (
    "sustainability",
    "energy",
    "climate",
    "renewables",
    "solar",
    "wind",
    "hydrogen",
    "batteries",
    "grid",
    "electric vehicles",
    "decarbonisation",
    "carbon",
    "nuclear",
    "efficiency",
    "circular economy",
    "biodiversity",
)

# Secrets that must never sign tokens in production: the empty value and the examples we ship.
PLACEHOLDER_SECRETS = frozenset({"", "change-me", "changeme", "secret", "dev", "insecure"})
PLACEHOLDER_POSTAL_ADDRESS = "Set DIGEST_POSTAL_ADDRESS to your postal address (required by law)"


SERVED_URL_FILE = "served-url"


def private_folder(path: Path) -> Path:
    """`path` as a folder only this user can open (0700), made if missing, tightened if open.

    var/ holds the database, the signing key and whole mails: nobody else on the machine may
    read them, whatever the umask."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """`path` as a file only this user can read or write (0600), made empty if missing."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o600)
    return path


class ConfigurationError(RuntimeError):
    """The settings cannot run the requested mode; the message says what to set."""


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every knob of the service. Names are a public contract (SPEC §4)."""

    model_config = SettingsConfigDict(
        env_prefix="DIGEST_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
        hide_input_in_errors=True,  # a bad URL's error must not print the password in it
    )

    var_dir: Path = Path("var")
    database_url: str = ""
    broker_url: str = ""
    queue: str = "digest"
    smtp_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    secret_key: Annotated[list[str], NoDecode] = Field(default_factory=list)
    admin_token: str = ""
    from_address: str = Field(default="Weekly Digest <digest@localhost>", alias="DIGEST_FROM")
    site_name: str = "Weekly Digest"
    tagline: str = "Weekly. Free. Your Top 10 Sustainability & Energy Posts."
    postal_address: str = PLACEHOLDER_POSTAL_ADDRESS
    topics: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_TOPICS))
    # Reader-selectable sections (`app.sections`): "Label: kw, kw | Label: kw, …".
    sections: Annotated[Sections, NoDecode] = Field(
        default_factory=lambda: Sections(parse_sections(DEFAULT_SECTIONS))
    )
    # How long a "Manage your subscription" link works; every mail carries a fresh one.
    manage_link_days: int = Field(default=120, ge=1, le=3650)
    subscribe_rate: str = "10/minute"
    login_rate: str = "5/minute"
    # Failed logins per account, whatever the address they come from (an IP limit alone lets a
    # botnet guess one admin's password slowly from many addresses).
    login_account_rate: str = "10/15 minutes"
    # Wrong admin bearer tokens per client address on /api.
    admin_token_rate: str = "10/minute"
    # Peers whose X-Forwarded-For is believed (app/web/forwarded.py); none by default.
    trusted_proxies: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    schedule: str = "0 6 * * mon"
    autosend: bool = False
    max_per_source: int = 3
    issue_size: int = 10
    confirm_ttl_days: int = 7
    confirm_resend_seconds: int = 600
    check_deliverability: bool = False
    dns_timeout: float = 1.5
    batch_size: int = 200
    lease_seconds: int = 300
    # Waits before each retry of a mail that met a temporary SMTP failure (seconds).
    retry_delays: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [15, 60, 180, 600, 1800]
    )
    feed_timeout: float = 10.0
    feed_max_bytes: int = 5_000_000
    feed_poll_minutes: int = 30
    # Feeds may reach loopback, private and link-local addresses (intranet installs only).
    feed_allow_private: bool = False
    dkim_key_file: str = ""
    dkim_selector: str = ""
    dkim_domain: str = ""
    consent_text_version: str = "2026-11-v1"
    # Envelope sender of every mail; set, each mail gets its own VERP address (SPEC §9).
    bounce_address: str = ""
    # imaps://user:pass@host/INBOX or pop3s://user:pass@host: late bounces, polled by beat.
    bounce_mailbox: str = ""
    bounce_poll_minutes: int = 5
    # Provider webhooks (POST /webhooks/bounces/{provider}); each unset one answers 404.
    # Postmark: the `user:password` of the HTTP Basic auth written into the webhook URL.
    webhook_postmark_auth: str = Field(default="", repr=False)
    # Mailgun: the HTTP webhook signing key (HMAC-SHA256 of timestamp + token).
    webhook_mailgun_key: str = Field(default="", repr=False)
    # SendGrid: the Signed Event Webhook's public key (base64 DER, as shown, or PEM).
    webhook_sendgrid_key: str = ""
    # Amazon SES via SNS: the topics whose notifications are believed (SNS signs any topic's).
    ses_topic_arns: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # "text" or "json" (one JSON object per line, for log shippers); see app/logs.py.
    log_format: str = "text"

    _split_secret = field_validator("secret_key", mode="before")(_split_list)
    _split_topics = field_validator("topics", mode="before")(_split_list)
    _split_delays = field_validator("retry_delays", mode="before")(_split_list)
    _split_topic_arns = field_validator("ses_topic_arns", mode="before")(_split_list)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        """Hosts and CIDR networks; a typo stops the start instead of trusting nobody (or all)."""
        parts = _split_list(value)
        if not isinstance(parts, list | tuple):
            return parts
        networks = []
        for part in parts:
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"{str(part)!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)"
                ) from None
        return tuple(networks)

    @field_validator("sections", mode="before")
    @classmethod
    def _parse_sections(cls, value: object) -> object:
        if isinstance(value, str):
            return Sections(parse_sections(value))
        return value

    @field_validator("topics")
    @classmethod
    def _lower_topics(cls, value: list[str]) -> list[str]:
        return [topic.lower() for topic in value]

    @field_validator("smtp_url")
    @classmethod
    def _valid_smtp_url(cls, value: str) -> str:
        """A mistyped DIGEST_SMTP_URL stops the start with its reason, not the first send."""
        if value:
            parse_smtp_url(value)
        return value

    @field_validator("bounce_mailbox")
    @classmethod
    def _valid_bounce_mailbox(cls, value: str) -> str:
        """A mistyped DIGEST_BOUNCE_MAILBOX stops the start, not the first poll, hours later."""
        if value.strip():
            parse_mailbox_url(value)
        return value.strip()

    @field_validator("bounce_address")
    @classmethod
    def _valid_bounce_address(cls, value: str) -> str:
        """A bare ASCII `local@domain` without "+": the token goes after a "+" in the local part."""
        value = value.strip()
        if value:
            local, at, domain = value.rpartition("@")
            if not (at and local and "." in domain and value.isascii()):
                raise ValueError(f"{value!r} must be a bare address such as bounces@example.org")
            if "+" in local or any(c in value for c in ' <>"\r\n,;'):
                raise ValueError(
                    f"{value!r}: no '+', spaces or name; the VERP token goes after a '+'"
                )
            if len(local) > 20:
                raise ValueError(f"{value!r}: keep the local part to 20 characters (VERP adds 44)")
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5:
            raise ValueError(f"five cron fields (UTC) are needed, got {value!r}")
        try:
            crontab(*fields)
        except Exception as error:  # celery raises several kinds for bad fields
            raise ValueError(f"{value!r} is not a valid cron line: {error}") from error
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to SQLite under `var/`."""
        return self.database_url or f"sqlite:///{self.var_dir / 'digest.db'}"

    @property
    def celery_broker_url(self) -> str:
        """The broker URL; embedded mode uses kombu's SQLAlchemy transport on SQLite."""
        return self.broker_url or f"sqla+sqlite:///{self.var_dir / 'broker.db'}"

    @property
    def embedded_broker(self) -> bool:
        return not self.broker_url

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"

    @property
    def public_base_url(self) -> str:
        """DIGEST_BASE_URL; unset, the address `digest serve` recorded in `var/`, so every
        process of the embedded mode (and `digest send` in another shell) makes the same links."""
        if "base_url" not in self.model_fields_set:
            recorded = self.var_dir / SERVED_URL_FILE
            if recorded.exists():
                return recorded.read_text().strip().rstrip("/")
        return self.base_url.rstrip("/")

    @property
    def postal_address_set(self) -> bool:
        """Whether DIGEST_POSTAL_ADDRESS was given (not left empty or at its placeholder)."""
        return self.postal_address.strip() not in ("", PLACEHOLDER_POSTAL_ADDRESS)

    @property
    def reader_postal_address(self) -> str:
        """The address readers see in mails and pages: nothing while it is unset.

        The placeholder is a note to the operator (the admin shows it as a warning); printed
        in a reader's mail it would read as a broken site (issue 12)."""
        return self.postal_address.strip() if self.postal_address_set else ""

    def digest_send_refusal(self) -> str | None:
        """Why a digest may not be sent with these settings, or None.

        A digest that reaches readers needs a postal address (SPEC §8): that is, in production
        (a broker URL: `digest api`/`worker`/`beat`) or whenever an SMTP server is set. The
        embedded demo (`digest serve`, mail written to `var/outbox/`) still sends without one,
        its admin warned by a banner, so trying the whole flow needs no address."""
        if self.postal_address_set or not (self.broker_url or self.smtp_url):
            return None
        return (
            "DIGEST_POSTAL_ADDRESS is unset: every digest must show the sender's postal "
            "address; set it and start the send again"
        )

    def signing_keys(self) -> list[str]:
        """Secret keys, newest first. Embedded mode generates and keeps one under `var/`."""
        keys = [key for key in self.secret_key if key]
        if keys:
            return keys
        key_file = private_folder(self.var_dir) / "secret_key"
        try:  # created 0600 from the start: never readable by others, not even for a moment
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            private_file(key_file)  # an older install may have left it open
        else:
            with os.fdopen(descriptor, "w") as out:
                out.write(secrets.token_urlsafe(48))
        return [key_file.read_text().strip()]

    def production_warnings(self) -> list[str]:
        """Settings that work but that a bulk sender should not run with."""
        warnings = []
        if not self.public_base_url.startswith("https://"):
            warnings.append(
                "DIGEST_BASE_URL is not https: Gmail and Yahoo expect an https one-click "
                "List-Unsubscribe URL from bulk senders"
            )
        if not self.postal_address_set:
            warnings.append(
                "DIGEST_POSTAL_ADDRESS is unset: every digest footer needs one, and digest "
                "sends are refused until it is set"
            )
        return warnings

    def check_production(self) -> None:
        """Refuse to run the production processes with settings that are unsafe there."""
        problems = []
        if not self.secret_key or any(key in PLACEHOLDER_SECRETS for key in self.secret_key):
            problems.append(
                "DIGEST_SECRET_KEY is unset or a placeholder: set it to a long random value "
                '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))"); '
                "a comma-separated list rotates keys (the first signs, all verify)"
            )
        elif any(len(key) < 16 for key in self.secret_key):
            problems.append("DIGEST_SECRET_KEY must be at least 16 characters")
        if problems:
            raise ConfigurationError(
                "Refusing to start in production mode:\n- " + "\n- ".join(problems)
            )


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings`)."""
    return Settings()
