"""Build the multipart/alternative email for an issue."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

# SMTP line endings, but no RFC 2047 folding of long List-Unsubscribe values.
SMTP_POLICY = policy.SMTP.clone(max_line_length=998)


def message_id(issue_key: str, recipient: str, sender: str) -> str:
    """A Message-ID that is the same every time for one (issue, recipient)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
    digest = hashlib.sha256(f"{issue_key}\n{recipient.lower()}".encode()).hexdigest()[:32]
    return f"<{issue_key}.{digest}@{domain}>"


def unsubscribe_token(secret: str, email: str) -> str:
    return hmac.new(secret.encode(), email.lower().encode(), hashlib.sha256).hexdigest()[:32]


def unsubscribe_link(url_template: str, mailto: str, secret: str, email: str) -> str:
    """One recipient's unsubscribe link: [delivery] unsubscribe_url with {token} and
    {email} filled in, else the mailto, else nothing."""
    if not url_template:
        return f"mailto:{mailto}" if mailto else ""
    token = unsubscribe_token(secret, email) if email else ""
    return url_template.replace("{token}", token).replace("{email}", quote(email, safe="@"))


def build_message(
    *,
    subject: str,
    sender: str,
    to: str,
    text: str,
    html: str,
    date: datetime,
    msg_id: str,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msg_id
    msg["MIME-Version"] = "1.0"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg
