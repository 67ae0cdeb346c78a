"""Delivering one notification: a signed webhook POST, or an email over SMTP. One attempt each;
the caller decides about retries from `Result.retryable`. Errors never carry a secret or the URL."""

from __future__ import annotations

import errno
import hashlib
import hmac
import ipaddress
import logging
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING, Any

from services.notify.events import Notification

if TYPE_CHECKING:
    import httpx

# httpx logs every request with its URL at INFO; a webhook URL can be a secret (Slack's are).
logging.getLogger("httpx").setLevel(logging.WARNING)

USER_AGENT = "AppOS-Notify/1"
SIGNATURE_HEADER = "X-AppOS-Signature"
TIMESTAMP_HEADER = "X-AppOS-Timestamp"
EVENT_HEADER = "X-AppOS-Event"
DELIVERY_HEADER = "X-AppOS-Delivery"


@dataclass
class Result:
    ok: bool
    error: str = ""
    http_status: int = 0
    retryable: bool = False


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` + hex HMAC-SHA256 of `<timestamp>.<raw body>` keyed with the target's secret."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    secret: str, timestamp: str, body: bytes, header: str, *, now: float, tolerance: float = 300
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (no replays)."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), header)


def webhook_headers(*, secret: str, body: bytes, event: str, delivery_id: str, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: event,
        DELIVERY_HEADER: delivery_id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(secret, timestamp, body),
    }


def send_webhook(config: dict[str, Any], note: Notification, *, delivery_id: str, timeout: float) -> Result:
    body = note.body()
    headers = webhook_headers(
        secret=str(config.get("secret", "")), body=body, event=note.event, delivery_id=delivery_id,
        now=time.time(),
    )  # fmt: skip
    # imported here: httpx also loads rich and pygments (its CLI's) when they are installed, ~5 MiB
    # the idle deployer does not need until a webhook is sent
    import httpx

    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            response = client.post(str(config["url"]), content=body, headers=headers)
    except httpx.TimeoutException:
        return Result(False, f"no answer within {timeout:g} s", retryable=True)
    except httpx.HTTPError as exc:
        return Result(False, f"could not connect: {_connect_words(exc)}", retryable=True)
    status = response.status_code
    if 200 <= status < 300:
        return Result(True, http_status=status)
    retryable = status >= 500 or status in (408, 425, 429)
    return Result(False, f"the receiver answered HTTP {status}", http_status=status, retryable=retryable)


def _os_words(exc: BaseException) -> str:
    """A connection failure in words, never an exception's class name."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "its host name does not resolve"
        if isinstance(seen, ConnectionRefusedError):
            return "the connection was refused (nothing listens there)"
        if isinstance(seen, (socket.timeout, TimeoutError)):
            return "no answer in time"
        if isinstance(seen, ssl.SSLError):
            return "the TLS handshake failed"
        if isinstance(seen, OSError) and seen.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return "the network or host is unreachable"
        seen = seen.__cause__ or seen.__context__
    return "the connection failed"


def _connect_words(exc: httpx.HTTPError) -> str:
    import httpx

    if isinstance(exc, httpx.UnsupportedProtocol):
        return "the URL's scheme is not http or https"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the receiver did not answer with HTTP"
    return _os_words(exc)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def email_message(config: dict[str, Any], note: Notification) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[AppOS] {note.title}"
    message["From"] = str(config["from_address"])
    message["To"] = ", ".join(config["to"])
    message["Date"] = formatdate(note.occurred_at / 1_000_000, usegmt=True)
    message["Message-ID"] = make_msgid(domain="appos")
    lines = [
        note.message,
        "",
        f"Event: {note.event}",
        f"Subject: {note.subject}",
        *([f"App: {note.app}"] if note.app else []),
        f"When: {formatdate(note.occurred_at / 1_000_000, usegmt=True)}",
        f"Event log seq: {note.seq}",
    ]
    message.set_content("\n".join(lines) + "\n")
    return message


def send_email(config: dict[str, Any], note: Notification, *, timeout: float) -> Result:
    host, port, security = str(config["host"]), int(config["port"]), str(config.get("security", "starttls"))
    context = ssl.create_default_context()
    try:
        smtp: smtplib.SMTP
        if security == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            if security == "starttls":
                smtp.starttls(context=context)
            if config.get("username"):
                smtp.login(str(config["username"]), str(config.get("password", "")))
            smtp.send_message(email_message(config, note))
    except smtplib.SMTPAuthenticationError as exc:
        return Result(False, f"the SMTP server refused the login ({exc.smtp_code})")
    except smtplib.SMTPRecipientsRefused:
        return Result(False, "the SMTP server refused every recipient")
    except smtplib.SMTPResponseException as exc:
        # 4xx: try again later; 5xx: it will not work as configured
        said = _text(exc.smtp_error)
        return Result(
            False, f"the SMTP server answered {exc.smtp_code} {said}", retryable=exc.smtp_code < 500
        )
    except smtplib.SMTPNotSupportedError:
        return Result(False, "the SMTP server does not support STARTTLS or login")
    except (smtplib.SMTPException, OSError) as exc:
        return Result(
            False, f"could not talk to the SMTP server {host}:{port}: {_os_words(exc)}", retryable=True
        )
    return Result(True)


def _text(raw: bytes | str) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:200]


def deliver(
    kind: str, config: dict[str, Any], note: Notification, *, delivery_id: str, timeout: float
) -> Result:
    if kind == "webhook":
        return send_webhook(config, note, delivery_id=delivery_id, timeout=timeout)
    if kind == "email":
        return send_email(config, note, timeout=timeout)
    return Result(False, f"unknown target kind {kind!r}")
