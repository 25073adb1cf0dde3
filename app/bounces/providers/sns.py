"""Amazon SNS message signatures: the envelope SES notifications arrive in.

SNS signs each message with the key of an X.509 certificate it publishes at `SigningCertURL`:
RSA PKCS#1 v1.5 over a canonical string of the message's fields, with SHA1 (SignatureVersion 1)
or SHA256 (SignatureVersion 2). The canonical string is each field's name and value, each on
its own line, in a fixed order: Message, MessageId, Subject (when present), Timestamp, TopicArn,
Type for a Notification; Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type for a
(Un)SubscriptionConfirmation.
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html
https://docs.aws.amazon.com/sns/latest/dg/http-notification-json.html

The certificate is fetched only from `https://sns.<region>.amazonaws.com/….pem` (any other place
could hold an attacker's certificate), with a timeout, and kept for a day per URL. A valid
signature only proves the message came through SNS, from anyone's topic: which topics are ours
is `DIGEST_SES_TOPIC_ARNS`, checked by `app.bounces.providers.ses`.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel, ConfigDict, Field

from app.bounces.providers import Checks, Forbidden

_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
# sns.us-east-1.amazonaws.com, and sns.cn-north-1.amazonaws.com.cn in the China regions.
_SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
FETCH_TIMEOUT = 5.0  # seconds: SNS waits about 15 s for our answer, the fetch must fit in it
FETCH_MAX_BYTES = 64_000  # a PEM certificate is a few kilobytes
CERTIFICATE_TTL = timedelta(days=1)


class Envelope(BaseModel):
    """An SNS message as POSTed to an HTTP(S) subscriber; unknown fields are ignored."""

    model_config = ConfigDict(strict=True, populate_by_name=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"] = Field(
        alias="Type"
    )
    message_id: str = Field(alias="MessageId")
    topic_arn: str = Field(alias="TopicArn")
    message: str = Field(alias="Message")
    timestamp: str = Field(alias="Timestamp")
    signature_version: Literal["1", "2"] = Field(alias="SignatureVersion")
    signature: str = Field(alias="Signature")
    signing_cert_url: str = Field(alias="SigningCertURL")
    subject: str | None = Field(default=None, alias="Subject")
    subscribe_url: str | None = Field(default=None, alias="SubscribeURL")
    token: str | None = Field(default=None, alias="Token")


def canonical_string(envelope: Envelope) -> bytes:
    """The bytes SNS signed for this message (a missing Subject is left out, not left empty)."""
    values = envelope.model_dump(by_alias=True)
    fields = _NOTIFICATION_FIELDS if envelope.type == "Notification" else _CONFIRMATION_FIELDS
    lines = []
    for name in fields:
        value = values.get(name)
        if value is None:
            if name == "Subject":
                continue
            raise Forbidden(f"the SNS message has no {name}, which its signature covers")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode("utf-8")


def sns_url(url: str, what: str) -> str:
    """`url` if it is an https URL on an SNS host, else `Forbidden` (we fetch nothing else)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Forbidden(f"the {what} is not a URL") from None
    if parts.scheme != "https" or port not in (None, 443) or parts.username or parts.password:
        raise Forbidden(f"the {what} must be a plain https URL on an Amazon SNS host")
    if not _SNS_HOST.fullmatch(parts.hostname or ""):
        raise Forbidden(f"the {what} is on {parts.hostname!r}, not an Amazon SNS host")
    return url


def fetch_https(url: str) -> bytes:
    """GET `url` with a timeout and a size cap; any failure is the sender's problem (403)."""
    try:
        with httpx.stream("GET", url, timeout=FETCH_TIMEOUT, follow_redirects=False) as answer:
            answer.raise_for_status()
            body = b""
            for chunk in answer.iter_bytes():
                body += chunk
                if len(body) > FETCH_MAX_BYTES:
                    raise Forbidden(f"{url} answered with more than {FETCH_MAX_BYTES} bytes")
            return body
    except httpx.HTTPError as error:
        raise Forbidden(f"could not fetch {url}: {error}") from None


class CertificateCache:
    """Signing keys by certificate URL, each kept for `ttl` and only while its certificate is
    valid; shared by the requests of one process (a lock keeps the dict whole)."""

    def __init__(self, ttl: timedelta = CERTIFICATE_TTL, limit: int = 32) -> None:
        self._ttl = ttl
        self._limit = limit
        self._keys: dict[str, tuple[rsa.RSAPublicKey, datetime, datetime]] = {}
        self._lock = threading.Lock()

    def key(self, url: str, checks: Checks) -> rsa.RSAPublicKey:
        """The RSA key of the certificate at `url` (an SNS URL: checked here, before fetching)."""
        sns_url(url, "SigningCertURL")
        now = checks.now
        with self._lock:
            cached = self._keys.get(url)
        if cached and cached[1] > now and cached[2] > now:
            return cached[0]
        key, valid_until = _certificate_key(checks.fetch(url), url, now)
        with self._lock:
            if len(self._keys) >= self._limit:
                self._keys.clear()  # a handful of regions at most: never worth an LRU
            self._keys[url] = (key, now + self._ttl, valid_until)
        return key


def _certificate_key(pem: bytes, url: str, now: datetime) -> tuple[rsa.RSAPublicKey, datetime]:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise Forbidden(f"{url} does not hold a PEM certificate") from None
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise Forbidden(f"the certificate at {url} is not valid at {now.isoformat()}")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise Forbidden(f"the certificate at {url} does not hold an RSA key")
    return key, certificate.not_valid_after_utc


def verify_envelope(envelope: Envelope, checks: Checks) -> None:
    """Raise `Forbidden` unless SNS signed exactly this message with its published key."""
    try:
        signature = base64.b64decode(envelope.signature, validate=True)
    except (binascii.Error, ValueError):
        raise Forbidden("the SNS Signature is not base64") from None
    key = checks.certificates.key(envelope.signing_cert_url, checks)
    algorithm = hashes.SHA1() if envelope.signature_version == "1" else hashes.SHA256()
    try:
        key.verify(signature, canonical_string(envelope), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise Forbidden("the SNS signature does not match the message") from None
