"""Browser-side defences on every answer: a Content-Security-Policy, nosniff, no framing.

Pages run no inline script (admin behaviour lives in /static/admin.js) and no event-handler
attributes, so `script-src 'self'` stops an injected `<script>` even if escaping ever failed.
Styles may be inline: the archive and the admin preview show the email's own HTML, whose styles
are inline by necessity (mail clients need them), and a style cannot run code. Images may come
from any https host, as the posts' images do. The admin preview frames the email with
`srcdoc` in a sandbox, which needs no framing of this site's URLs, so no page may be framed at
all. A pure ASGI layer: it touches only the response start, so /subscribe pays next to nothing.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' https: data:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
# The API's Swagger page is FastAPI's: an inline boot script and its bundle from a CDN.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
    "style-src 'self' https://cdn.jsdelivr.net; img-src 'self' https: data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/api/docs", "/docs/oauth2-redirect")

HTML_HEADERS = {
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Adds the headers to every response; a route that set one itself keeps its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                if headers.get("content-type", "").startswith("text/html"):
                    policy = DOCS_POLICY if docs else CONTENT_SECURITY_POLICY
                    headers.setdefault("Content-Security-Policy", policy)
                    for name, value in HTML_HEADERS.items():
                        headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
