"""What the providers do on their side, done here with real keys: SNS signs with an X.509
certificate served over HTTP, Postmark sends Basic auth, Mailgun an HMAC, SendGrid an ECDSA
signature. Written from the providers' documentation, not from the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

SNS_HOST = "sns.eu-west-1.amazonaws.com"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-bounces"


def certificate(key: rsa.RSAPrivateKey, *, not_before: datetime, not_after: datetime) -> bytes:
    """A self-signed certificate for `key`, as PEM (SNS's is signed by a public CA)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SNS_HOST)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class CertificateServer:
    """A real HTTP server holding files by path, recording every path asked for."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.asked: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                server.asked.append(self.path)
                body = server.files.get(urlsplit(self.path).path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                self.wfile.write(body or b"not here")

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> CertificateServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def local(self, url: str) -> str:
        """Where `url` on the SNS host is served here (the test's stand-in for DNS and TLS)."""
        parts = urlsplit(url)
        assert parts.hostname == SNS_HOST, f"asked to fetch {url}, which is not on SNS"
        query = f"?{parts.query}" if parts.query else ""
        return f"http://127.0.0.1:{self.port}{parts.path}{query}"


def sns_string_to_sign(message: dict[str, str]) -> bytes:
    """The documented canonical string: name and value lines, in the documented order."""
    if message["Type"] == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{n}\n{message[n]}\n" for n in names if n in message).encode()


def sns_message(
    key: rsa.RSAPrivateKey,
    *,
    message: str,
    kind: str = "Notification",
    version: str = "1",
    topic: str = TOPIC,
    cert_url: str = f"https://{SNS_HOST}/SimpleNotificationService-test.pem",
    subject: str | None = "Amazon SES Email Event Notification",
    **extra: str,
) -> dict[str, str]:
    """An SNS message as SNS POSTs it, signed with `key`."""
    document = {
        "Type": kind,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Message": message,
        "Timestamp": "2026-11-30T08:59:58.123Z",
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        **extra,
    }
    if subject is not None and kind == "Notification":
        document["Subject"] = subject
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(sns_string_to_sign(document), padding.PKCS1v15(), digest)
    document["Signature"] = base64.b64encode(signature).decode()
    return document


def ses_bounce(
    recipient: str, *, bounce_type: str = "Permanent", status: str = "5.1.1", source: str = ""
) -> str:
    """An SES bounce notification (the SNS Message), as the SES guide's example has it."""
    return json.dumps(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {
                        "emailAddress": recipient,
                        "status": status,
                        "action": "failed",
                        "diagnosticCode": f"smtp; 550 {status} <{recipient}>... User unknown",
                    }
                ],
                "timestamp": "2026-11-30T08:59:57.000Z",
                "feedbackId": "0100018c-feedback-bounce-1",
            },
            "mail": {
                "timestamp": "2026-11-30T08:59:50.000Z",
                "source": source or "digest@news.example.org",
                "messageId": "0100018c-ses-message-id",
                "destination": [recipient],
            },
        }
    )


def ses_complaint(recipient: str) -> str:
    return json.dumps(
        {
            "notificationType": "Complaint",
            "complaint": {
                "complainedRecipients": [{"emailAddress": recipient}],
                "complaintFeedbackType": "abuse",
                "feedbackId": "0100018c-feedback-complaint-1",
                "timestamp": "2026-11-30T08:59:57.000Z",
            },
            "mail": {"source": "digest@news.example.org", "messageId": "0100018c-ses-2"},
        }
    )


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def mailgun_signed(key: str, event: dict[str, Any], *, timestamp: int, token: str) -> bytes:
    """A Mailgun webhook body: HMAC-SHA256(key, timestamp + token) in hex, beside the event."""
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    document = {
        "signature": {"timestamp": str(timestamp), "token": token, "signature": signature},
        "event-data": event,
    }
    return json.dumps(document).encode()


def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's settings page shows it: base64 DER."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def sendgrid_headers(key: ec.EllipticCurvePrivateKey, body: bytes, timestamp: str) -> dict:
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def around(moment: datetime, days: int = 365) -> dict[str, datetime]:
    return {"not_before": moment - timedelta(days=1), "not_after": moment + timedelta(days=days)}
