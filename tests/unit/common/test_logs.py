from __future__ import annotations

import io
import logging

import pytest

from services.common.logs import RedactingFormatter, RequestIdFilter, redact, request_id_var

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"token {JWT} used", JWT),
        ("got appos_AbCdEfGh1234567890_-xyz", "AbCdEfGh1234567890_-xyz"),
        ("password=hunter2hunter2", "hunter2hunter2"),
        ('{"password": "hunter2hunter2", "user": "a"}', "hunter2hunter2"),
        ("new_password: s3cr3t-value", "s3cr3t-value"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "c2FsdA$aGFzaA"),
        ("client_secret='qwerty-123'", "qwerty-123"),
        # a TLS server's client key: whole, JSON-escaped, or cut off
        (
            "key -----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKeyBody\n-----END EC PRIVATE KEY-----",
            "MHcCAQEEIKeyBody",
        ),
        (
            '{"key_pem": "-----BEGIN PRIVATE KEY-----\\nMIGHAgEAKeyBody\\n-----END PRIVATE KEY-----"}',
            "MIGHAgEAKeyBody",
        ),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEKeyBody", "MIIEKeyBody"),
    ],
)
def test_redact_removes_secrets(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_redact_keeps_ordinary_text() -> None:
    line = "created user 'admin' with role admin from 127.0.0.1"
    assert redact(line) == line


def test_formatter_redacts_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(RedactingFormatter("[%(request_id)s] %(message)s"))
    logger = logging.getLogger("test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    token = request_id_var.set("req-1")
    try:
        logger.warning("login with password=%s", "topsecret99")
        try:
            raise ValueError(f"bad token {JWT}")
        except ValueError:
            logger.exception("failed")
    finally:
        request_id_var.reset(token)
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "[req-1]" in out
    assert "topsecret99" not in out
    assert JWT not in out
    assert "ValueError" in out
