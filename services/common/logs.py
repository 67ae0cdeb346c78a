"""Logging set up once per process, to stdout (supervisord collects it), with secrets redacted.

A request id travels in a context variable (set by the gateway per request, and by the gRPC server
interceptor from `x-request-id` metadata); `RequestIdFilter` stamps it on every record.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # JSON web tokens
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "[jwt]"),
    # AppOS API tokens
    (re.compile(r"appos_[A-Za-z0-9_-]{8,}"), "appos_[redacted]"),
    # argon2 hashes
    (re.compile(r"\$argon2[a-z]*\$[^\s'\"]+"), "[hash]"),
    (re.compile(r"(?i)\b(bearer)\s+\S+"), r"\1 [redacted]"),
    # PEM private keys (a TLS server's client key), also cut off or with escaped newlines
    (
        re.compile(r"-----BEGIN ([A-Z ]*)PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
        r"[\1private key]",
    ),
    # key=value, key: value, "key": "value" for secret-looking keys
    (
        re.compile(
            r"(?i)([\"']?[\w-]*(?:password|passwd|secret|token|authorization|api_key)[\w-]*[\"']?"
            r"\s*[:=]\s*)([\"']?)[^\s\"',}]+"
        ),
        r"\1\2[redacted]",
    ),
)


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(logging.Formatter):
    """Formats as usual, then removes anything that looks like a secret, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)s {service} %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
