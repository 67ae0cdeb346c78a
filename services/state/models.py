"""The state database's tables (SQLAlchemy 2). Alembic migrations in `migrations/` create them."""

from __future__ import annotations

import hashlib
import hmac
from operator import attrgetter
from typing import Any, Protocol, TypeAlias

from pydantic_core import from_json
from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, Row, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from appos.v1 import apps_pb2, common_pb2, proxy_pb2, state_pb2, updates_pb2
from services.common.timestamps import MICROS, now_us, set_ts

# A plain row of any columns, as a list read gets it.
AnyRow: TypeAlias = Row[*tuple[Any, ...]]

# Times are integer microseconds since the epoch, UTC (see services.common.timestamps).
Micros = BigInteger


class Base(DeclarativeBase):
    pass


class UserRow(Protocol):
    """A User as the ORM loads it, or a plain row of its columns (list reads skip the ORM)."""

    id: str
    username: str
    role: str
    disabled: bool
    created_at: int
    updated_at: int

    @property
    def totp_enabled(self) -> bool: ...


def fill_user(pb: common_pb2.User, user: UserRow | AnyRow) -> common_pb2.User:
    """Write `user` into `pb` in place (for lists: `fill_user(reply.users.add(), row)` copies nothing).
    A plain row of USER_COLUMNS is unpacked by position: a Row's attributes by name cost about 1 µs
    each, most of a thousand-user list."""
    if isinstance(user, Row):
        user_id, username, role, disabled, created_at, updated_at, totp_enabled = user
    else:
        user_id, username, role, disabled = user.id, user.username, user.role, user.disabled
        created_at, updated_at, totp_enabled = user.created_at, user.updated_at, user.totp_enabled
    pb.id, pb.username, pb.role, pb.disabled = user_id, username, role, bool(disabled)
    pb.totp_enabled = bool(totp_enabled)
    set_ts(pb.created_at, created_at)
    set_ts(pb.updated_at, updated_at)
    return pb


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)
    # Two-factor authentication (`state/totp.py`): the secret (base32) while it is on, one being set
    # up, and the last time step a code was accepted for. The database file is 0600; these columns
    # never reach an event, a log line or the audit log.
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="user", cascade="all, delete-orphan")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(cascade="all, delete-orphan")

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None

    def to_pb(self) -> common_pb2.User:
        return fill_user(common_pb2.User(), self)


class RecoveryCode(Base):
    """A two-factor recovery code, as the SHA-256 of its text; used once."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[int | None] = mapped_column(Micros, nullable=True)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[int] = mapped_column(Micros)
    expires_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    last_used_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    revoked_at: Mapped[int | None] = mapped_column(Micros, nullable=True)

    user: Mapped[User] = relationship(back_populates="tokens")

    def to_pb(self) -> common_pb2.ApiToken:
        token = common_pb2.ApiToken(
            id=self.id, name=self.name, username=self.user.username, role=self.role, prefix=self.prefix
        )
        set_ts(token.created_at, self.created_at)
        set_ts(token.expires_at, self.expires_at)
        set_ts(token.last_used_at, self.last_used_at)
        set_ts(token.revoked_at, self.revoked_at)
        return token


class Event(Base):
    __tablename__ = "events"
    # AUTOINCREMENT: a sequence number is never reused, even after the newest row is deleted.
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(256))
    actor: Mapped[str] = mapped_column(String(64))
    payload_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[int] = mapped_column(Micros)

    def to_pb(self) -> common_pb2.Event:
        event = common_pb2.Event(
            seq=self.seq,
            type=self.type,
            subject=self.subject,
            actor=self.actor,
            payload_json=self.payload_json,
        )
        set_ts(event.created_at, self.created_at)
        return event


class App(Base):
    __tablename__ = "apps"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    template: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(32), default="deploying")
    status_message: Mapped[str] = mapped_column(Text, default="")
    services_json: Mapped[str] = mapped_column(Text, default="[]")
    compose: Mapped[str] = mapped_column(Text)
    env: Mapped[str] = mapped_column(Text, default="")
    web_service: Mapped[str] = mapped_column(String(64), default="")
    web_port: Mapped[int] = mapped_column(Integer, default=0)
    current_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)
    auto_rollback: Mapped[bool] = mapped_column(Boolean, default=True)
    last_good_version: Mapped[int] = mapped_column(Integer, default=0)
    policy_exceptions_json: Mapped[str] = mapped_column(Text, default="[]")
    # The server it runs on (issue 21): `local`, or a row of `servers`.
    server: Mapped[str] = mapped_column(String(64), default="local", server_default="local", index=True)

    def to_pb(self) -> apps_pb2.App:
        return fill_app(apps_pb2.App(), self)


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # No foreign key: a deployment outlives its app (the history of a removed app stays readable).
    app: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(64), default="")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    options_json: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[int] = mapped_column(Micros, index=True)
    started_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    # What a deployment that started containers ran, once it succeeded: a JSON list of
    # {"service", "image", "digest", "image_id"} (apps_pb2.ServiceImage).
    images_json: Mapped[str] = mapped_column(Text, default="[]")

    def to_pb(self) -> apps_pb2.Deployment:
        return fill_deployment(apps_pb2.Deployment(), self)

    def origin(self) -> dict[str, Any]:
        """What made a deployment that applies a version (state keeps it beside the worker's
        options): its source and, for a rollback, the versions it went from and to."""
        return deployment_origin(self.options_json)


class DeploymentLog(Base):
    __tablename__ = "deployment_logs"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment_id: Mapped[str] = mapped_column(String(32), index=True)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[int] = mapped_column(Micros)


class ConfigVersion(Base):
    __tablename__ = "config_versions"

    app: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    compose: Mapped[str] = mapped_column(Text)
    env: Mapped[str] = mapped_column(Text)
    # SHA-256 of the files; it never leaves state (a reader could test guesses of a masked value
    # against it): replies carry `keyed_hash`.
    hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(16))
    deployment_id: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[int] = mapped_column(Micros)

    def keyed_hash(self, key: bytes) -> str:
        """HMAC-SHA256, under the install's secret `key`, of the stored SHA-256 of the files: equal
        files, equal hashes, but nobody without the key can check a guess of a value against it."""
        return hmac.new(key, bytes.fromhex(self.hash), hashlib.sha256).hexdigest()

    def to_pb(
        self, *, hash_key: bytes, with_files: bool = True, origin: dict[str, Any] | None = None
    ) -> apps_pb2.ConfigVersion:
        """`origin`: its deployment's (Deployment.origin), which says what a rollback went from and to."""
        pb = apps_pb2.ConfigVersion(
            app=self.app, number=self.number, hash=self.keyed_hash(hash_key), author=self.author,
            message=self.message, deployment_id=self.deployment_id, source=self.source,
            rollback_from=int((origin or {}).get("rollback_from", 0)),
            rollback_to=int((origin or {}).get("rollback_to", 0)),
        )  # fmt: skip
        if with_files:
            pb.compose, pb.env = self.compose, self.env
        set_ts(pb.created_at, self.created_at)
        return pb


class ProxyDomain(Base):
    """The proxy table: a domain, where it goes, and its certificate as last checked."""

    __tablename__ = "proxy_domains"

    domain: Mapped[str] = mapped_column(String(253), primary_key=True)
    app: Mapped[str] = mapped_column(String(64), default="", index=True)
    service: Mapped[str] = mapped_column(String(64), default="")
    port: Mapped[int] = mapped_column(Integer, default=0)
    console: Mapped[bool] = mapped_column(Boolean, default=False)
    upstream: Mapped[str] = mapped_column(String(128))
    https: Mapped[bool] = mapped_column(Boolean, default=True)
    force_https: Mapped[bool] = mapped_column(Boolean, default=True)
    cert_status: Mapped[str] = mapped_column(String(16), default="pending")
    cert_reason: Mapped[str] = mapped_column(Text, default="")
    cert_issuer: Mapped[str] = mapped_column(Text, default="")
    cert_not_before: Mapped[int | None] = mapped_column(Micros, nullable=True)
    cert_not_after: Mapped[int | None] = mapped_column(Micros, nullable=True)
    cert_checked_at: Mapped[int | None] = mapped_column(Micros, nullable=True)
    created_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)

    def certificate_pb(self) -> proxy_pb2.Certificate:
        cert = proxy_pb2.Certificate(
            domain=self.domain, status=self.cert_status, issuer=self.cert_issuer, reason=self.cert_reason
        )
        set_ts(cert.not_before, self.cert_not_before)
        set_ts(cert.not_after, self.cert_not_after)
        set_ts(cert.checked_at, self.cert_checked_at)
        if self.cert_not_after is not None:
            cert.days_left = max(0, (self.cert_not_after - now_us()) // (86400 * MICROS))
        return cert

    def to_pb(self) -> proxy_pb2.Domain:
        pb = proxy_pb2.Domain(
            domain=self.domain, app=self.app, service=self.service, port=self.port, https=self.https,
            force_https=self.force_https, console=self.console, upstream=self.upstream,
            certificate=self.certificate_pb(),
        )  # fmt: skip
        set_ts(pb.created_at, self.created_at)
        set_ts(pb.updated_at, self.updated_at)
        return pb


# The columns of a User that its message carries (never the password hash), in the order
# `fill_user` unpacks a row of them.
USER_COLUMNS = (
    User.id,
    User.username,
    User.role,
    User.disabled,
    User.created_at,
    User.updated_at,
    User.totp_secret.is_not(None).label("totp_enabled"),
)


class AuditEntry(Base):
    """Who did what to which target, with what result, from where. Written in the change's transaction."""

    __tablename__ = "audit_log"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[int] = mapped_column(Micros, index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    role: Mapped[str] = mapped_column(String(16), default="")
    action: Mapped[str] = mapped_column(String(128), index=True)
    target: Mapped[str] = mapped_column(String(256), default="")
    app: Mapped[str] = mapped_column(String(64), default="", index=True)
    result: Mapped[str] = mapped_column(String(32), default="ok")
    message: Mapped[str] = mapped_column(Text, default="")
    client: Mapped[str] = mapped_column(String(128), default="")
    request_id: Mapped[str] = mapped_column(String(64), default="")


class Setting(Base):
    """A platform setting (backup schedule, retention, …) as JSON under a dotted key."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value_json: Mapped[str] = mapped_column(Text, default="null")
    updated_at: Mapped[int] = mapped_column(Micros)


class NotificationTarget(Base):
    """Where notifications go: a webhook (URL + HMAC secret) or an SMTP mailbox; config is JSON."""

    __tablename__ = "notification_targets"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    config_json: Mapped[str] = mapped_column(Text, default="{}")
    events_json: Mapped[str] = mapped_column(Text, default="[]")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[int] = mapped_column(Micros)
    updated_at: Mapped[int] = mapped_column(Micros)


# The columns of an App that its message carries (not its files), in the order `fill_app`
# unpacks a row of them; the same for a Deployment and `fill_deployment`. Lists read these
# columns rather than ORM objects: loading an object costs more than its message.
APP_COLUMNS = (
    App.name,
    App.template,
    App.status,
    App.status_message,
    App.services_json,
    App.current_version,
    App.created_at,
    App.updated_at,
    App.web_service,
    App.web_port,
    App.auto_rollback,
    App.last_good_version,
    App.policy_exceptions_json,
    App.server,
)
DEPLOYMENT_COLUMNS = (
    Deployment.id,
    Deployment.app,
    Deployment.action,
    Deployment.status,
    Deployment.reason,
    Deployment.version,
    Deployment.actor,
    Deployment.attempt,
    Deployment.options_json,
    Deployment.created_at,
    Deployment.started_at,
    Deployment.finished_at,
    Deployment.images_json,
)
# An ORM object's values in the same order
_app_values = attrgetter(*(column.key for column in APP_COLUMNS))
_deployment_values = attrgetter(*(column.key for column in DEPLOYMENT_COLUMNS))


def fill_app(pb: apps_pb2.App, app: App | AnyRow) -> apps_pb2.App:
    """Write `app` (the ORM object or a row of APP_COLUMNS) into `pb` in place."""
    (name, template, status, status_message, services_json, current_version, created_at, updated_at,
     web_service, web_port, auto_rollback, last_good_version, policy_exceptions_json, server) = (
        app if isinstance(app, Row) else _app_values(app)
    )  # fmt: skip
    pb.server = server or "local"
    pb.name, pb.template, pb.status, pb.status_message = name, template, status, status_message
    pb.current_version, pb.web_service, pb.web_port = current_version, web_service, web_port
    pb.auto_rollback, pb.last_good_version = bool(auto_rollback), last_good_version
    # pydantic-core reads these short JSON texts 4-6 times faster than json.loads (most of a long
    # list's time went there)
    pb.policy_exceptions.extend(from_json(policy_exceptions_json or "[]"))
    for service in from_json(services_json or "[]"):
        pb.services.add(**service)
    set_ts(pb.created_at, created_at)
    set_ts(pb.updated_at, updated_at)
    return pb


def deployment_origin(options_json: str | None) -> dict[str, Any]:
    options = from_json(options_json or "{}")
    origin = options.get("origin") if isinstance(options, dict) else None
    return origin if isinstance(origin, dict) else {}


def fill_deployment(pb: apps_pb2.Deployment, deployment: Deployment | AnyRow) -> apps_pb2.Deployment:
    """Write `deployment` (the ORM object or a row of DEPLOYMENT_COLUMNS) into `pb` in place."""
    (id_, app, action, status, reason, version, actor, attempt, options_json, created_at, started_at,
     finished_at, images_json) = (
        deployment if isinstance(deployment, Row) else _deployment_values(deployment)
    )  # fmt: skip
    pb.id, pb.app, pb.action, pb.status, pb.reason = id_, app, action, status, reason
    pb.version, pb.actor, pb.attempt = version, actor, attempt
    origin = deployment_origin(options_json)
    pb.source = str(origin.get("source", ""))
    pb.rollback_from = int(origin.get("rollback_from", 0))
    pb.rollback_to = int(origin.get("rollback_to", 0))
    pb.rollback_cause = str(origin.get("rollback_cause", ""))
    for image in from_json(images_json or "[]"):
        pb.images.add(**image)
    set_ts(pb.created_at, created_at)
    set_ts(pb.started_at, started_at)
    set_ts(pb.finished_at, finished_at)
    return pb


class ImageUpdateRow(Base):
    """One finding of the last update check of an app (issue 19): a newer image for one service
    (`digest`, `patch`, `minor`, `major`) or `unknown` with the reason. No foreign key (a table
    rebuild of `apps` would cascade): reads skip the rows of apps that no longer exist."""

    __tablename__ = "image_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app: Mapped[str] = mapped_column(String(64), index=True)
    service: Mapped[str] = mapped_column(String(128))
    image: Mapped[str] = mapped_column(Text)
    current_tag: Mapped[str] = mapped_column(String(128), default="")
    current_digest: Mapped[str] = mapped_column(String(128), default="")
    candidate_tag: Mapped[str] = mapped_column(String(128), default="")
    candidate_digest: Mapped[str] = mapped_column(String(128), default="")
    kind: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[int] = mapped_column(Micros)

    def to_pb(self) -> updates_pb2.ImageUpdate:
        reply = updates_pb2.ImageUpdate(
            app=self.app, service=self.service, image=self.image, current_tag=self.current_tag,
            current_digest=self.current_digest, candidate_tag=self.candidate_tag,
            candidate_digest=self.candidate_digest, kind=self.kind, reason=self.reason,
        )  # fmt: skip
        set_ts(reply.checked_at, self.checked_at)
        return reply


class TemplateUpdateRow(Base):
    """An app store's refresh changed the template an app was made from (issue 20): one row per app,
    the newest change, until the app is gone (reads skip the rows of apps that no longer exist)."""

    __tablename__ = "template_updates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    app: Mapped[str] = mapped_column(String(64), unique=True)
    template: Mapped[str] = mapped_column(String(160))
    diff: Mapped[str] = mapped_column(Text, default="")
    found_at: Mapped[int] = mapped_column(Micros)

    def to_pb(self) -> updates_pb2.ImageUpdate:
        reply = updates_pb2.ImageUpdate(
            app=self.app, image=self.template, kind="template", diff=self.diff,
            reason=f"the store's template {self.template} changed; redeploying with it is your choice",
        )  # fmt: skip
        set_ts(reply.checked_at, self.found_at)
        return reply


class ServerRow(Base):
    """A remote Docker engine AppOS reaches over SSH (issue 21). `local` is implied, never a row."""

    __tablename__ = "servers"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    docker_socket: Mapped[str] = mapped_column(Text)
    known_hosts: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[int] = mapped_column(Micros)

    def to_pb(self, apps: int = 0) -> state_pb2.StateServer:
        reply = state_pb2.StateServer(
            name=self.name, address=self.address, docker_socket=self.docker_socket,
            known_hosts=self.known_hosts, fingerprint=self.fingerprint, apps=apps,
        )  # fmt: skip
        set_ts(reply.created_at, self.created_at)
        return reply
