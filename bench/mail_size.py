"""Mail size: a typical and the worst-case digests, each part as QP and as base64, and the message.

Gmail clips a message past about 102 KB; `tests/test_mail_size.py` holds the worst cases under it.
For each digest: the decoded bytes of each part, both encodings' sizes (the smaller is sent), and
one reader's finished message.

    .venv/bin/python bench/mail_size.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emails.compose import MANAGE_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER  # noqa: E402
from emails.encoding import base64_size, qp_size  # noqa: E402
from emails.render import render_digest  # noqa: E402
from tests.test_emails import sample_content  # noqa: E402
from tests.test_mail_size import (  # noqa: E402
    GMAIL_CLIP,
    SCRIPTS,
    fill,
    template_for,
    worst_case_content,
)


def main() -> None:
    """Print one line per part and one per message for each digest."""
    digests = {"typical": sample_content()}
    digests.update({f"worst {script}": worst_case_content(script) for script in SCRIPTS})
    for name, content in digests.items():
        rendered = render_digest(
            content, unsubscribe_url=UNSUBSCRIBE_PLACEHOLDER, manage_url=MANAGE_PLACEHOLDER
        )
        for part, body in (("html", rendered.html), ("text", rendered.text)):
            qp, b64 = qp_size(body), base64_size(body)
            print(
                f"{name:13} {part}: {len(body.encode()):6} B decoded, QP {qp:6} B, "
                f"base64 {b64:6} B -> {'base64' if b64 < qp else 'QP'}"
            )
        message = fill(template_for(rendered), 1, "https://digest.example.org/unsubscribe/t" * 2)
        verdict = "under" if len(message) < GMAIL_CLIP else "OVER"
        print(f"{name:13} message: {len(message):6} B ({verdict} Gmail's {GMAIL_CLIP} B clip)")


if __name__ == "__main__":
    main()
