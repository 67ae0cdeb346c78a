"""A target as clients write it (validated, secrets kept on update) and as they read it (masked)."""

from __future__ import annotations

import ipaddress
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from appos.v1 import notifications_pb2, state_pb2
from services.common.errors import InvalidArgument
from services.common.names import validate_dns_label
from services.notify.events import KINDS
from services.notify.send import is_loopback

SECURITIES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
MAX_RECIPIENTS = 20
_HOST_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"^{_HOST_LABEL}(?:\.{_HOST_LABEL})*\.?$")
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_HOST_LABEL}(?:\.{_HOST_LABEL})*$")


@dataclass(frozen=True)
class TargetSpec:
    name: str
    kind: str
    config: dict[str, Any]
    events: list[str]
    enabled: bool

    def to_state(self) -> state_pb2.StateNotificationTarget:
        return state_pb2.StateNotificationTarget(
            name=self.name, kind=self.kind, config_json=json.dumps(self.config, sort_keys=True),
            events=self.events, enabled=self.enabled,
        )  # fmt: skip


def validate_host(host: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if len(host) > 253 or not _HOSTNAME.fullmatch(host):
        raise InvalidArgument(f"{host!r} is not a host name or IP address")
    return host


def validate_url(url: str) -> str:
    if not url or len(url) > 2048 or any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidArgument("webhook url must be 1-2048 characters without spaces")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidArgument("webhook url must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise InvalidArgument("webhook url must not carry a user or password: the secret signs each request")
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise InvalidArgument("webhook url has an invalid port") from exc
    validate_host((parts.hostname or "").strip("[]") or "-")
    return url


def validate_email(address: str, *, what: str) -> str:
    if len(address) > 254 or not _EMAIL.fullmatch(address):
        raise InvalidArgument(f"{what} {address!r} is not an email address")
    return address


def validate_events(kinds: list[str]) -> list[str]:
    for kind in kinds:
        if kind not in KINDS:
            raise InvalidArgument(f"unknown event kind {kind!r}; kinds: {', '.join(KINDS)}")
    return sorted(set(kinds)) if kinds else list(KINDS)


def _secret(given: str, stored: str, *, what: str, required: bool) -> str:
    value = given or stored
    if required and not value:
        raise InvalidArgument(f"{what} is required")
    if value and not 1 <= len(value) <= 256:
        raise InvalidArgument(f"{what} must be at most 256 characters")
    return value


def _webhook(config: notifications_pb2.WebhookConfig, stored: dict[str, Any]) -> dict[str, Any]:
    secret = _secret(config.secret, str(stored.get("secret", "")), what="webhook secret", required=True)
    if len(secret) < 16:
        raise InvalidArgument("webhook secret must be at least 16 characters")
    return {"url": validate_url(config.url), "secret": secret}


def _email(config: notifications_pb2.EmailConfig, stored: dict[str, Any]) -> dict[str, Any]:
    security = config.security or "starttls"
    if security not in SECURITIES:
        raise InvalidArgument(f"email security must be one of {', '.join(SECURITIES)}")
    port = config.port or DEFAULT_PORTS[security]
    if not 1 <= port <= 65535:
        raise InvalidArgument("email port must be 1-65535")
    host = validate_host(config.host) if config.host else ""
    if not host:
        raise InvalidArgument("email host is required")
    if len(config.username) > 256 or any(c.isspace() for c in config.username):
        raise InvalidArgument("email username must be at most 256 characters without spaces")
    # without a username there is no login: a stored password is dropped
    stored_password = str(stored.get("password", "")) if config.username else ""
    password = _secret(
        config.password, stored_password, what="email password", required=bool(config.username)
    )
    if password and not config.username:
        raise InvalidArgument("an email password needs a username")
    if password and security == "none" and not is_loopback(host):
        raise InvalidArgument("a password is sent only over TLS: use starttls or ssl (or a loopback host)")
    if not config.to:
        raise InvalidArgument("email needs at least one recipient in 'to'")
    if len(config.to) > MAX_RECIPIENTS:
        raise InvalidArgument(f"email takes at most {MAX_RECIPIENTS} recipients")
    return {
        "host": host, "port": port, "security": security, "username": config.username,
        "password": password, "from_address": validate_email(config.from_address, what="from_address"),
        "to": [validate_email(a, what="recipient") for a in config.to],
    }  # fmt: skip


def from_spec(
    spec: notifications_pb2.NotificationTargetSpec, stored: state_pb2.StateNotificationTarget | None = None
) -> TargetSpec:
    """Validate what a client sent; on an update an empty secret or password keeps the stored one."""
    validate_dns_label(spec.name, what="target name")
    which = spec.WhichOneof("config")
    if which is None:
        raise InvalidArgument("give a webhook or an email configuration")
    old: dict[str, Any] = {}
    if stored is not None and stored.kind == which:
        old = json.loads(stored.config_json or "{}")
    config = _webhook(spec.webhook, old) if which == "webhook" else _email(spec.email, old)
    enabled = spec.enabled if spec.HasField("enabled") else True
    return TargetSpec(
        name=spec.name, kind=which, config=config, events=validate_events(list(spec.events)), enabled=enabled
    )


def to_public(target: state_pb2.StateNotificationTarget) -> notifications_pb2.NotificationTarget:
    """What clients see: everything but the secrets, which only say whether they are set."""
    config = json.loads(target.config_json or "{}")
    pb = notifications_pb2.NotificationTarget(
        name=target.name, kind=target.kind, events=list(target.events), enabled=target.enabled
    )
    if target.kind == "webhook":
        pb.webhook.CopyFrom(
            notifications_pb2.WebhookConfig(url=config.get("url", ""), secret_set=bool(config.get("secret")))
        )
    elif target.kind == "email":
        pb.email.CopyFrom(
            notifications_pb2.EmailConfig(
                host=config.get("host", ""),
                port=int(config.get("port", 0)),
                security=config.get("security", ""),
                username=config.get("username", ""),
                password_set=bool(config.get("password")),
                from_address=config.get("from_address", ""),
                to=list(config.get("to", [])),
            )  # fmt: skip
        )
    if target.HasField("last_delivery"):
        pb.last_delivery.CopyFrom(target.last_delivery)
    pb.created_at.CopyFrom(target.created_at)
    pb.updated_at.CopyFrom(target.updated_at)
    return pb
