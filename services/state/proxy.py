"""The proxy table: domains and their certificates. proxyctl validates; this keeps them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from appos.v1 import proxy_pb2
from services.common.errors import AlreadyExists, InvalidArgument, NotFound
from services.common.timestamps import now_us, ts_us
from services.state import events
from services.state.models import ProxyDomain

CERT_STATUSES = ("pending", "valid", "expiring", "failed", "none")


def list_domains(*, session: Session) -> list[ProxyDomain]:
    return list(session.scalars(select(ProxyDomain).order_by(ProxyDomain.domain)))


def get_domain(*, session: Session, domain: str) -> ProxyDomain:
    row = session.get(ProxyDomain, domain)
    if row is None:
        raise NotFound(f"domain {domain!r} is not configured")
    return row


def put_domain(*, session: Session, spec: proxy_pb2.Domain, actor: str) -> ProxyDomain:
    if session.get(ProxyDomain, spec.domain) is not None:
        raise AlreadyExists(f"domain {spec.domain} is already configured")
    if not spec.upstream:
        raise InvalidArgument("a domain needs an upstream")
    now = now_us()
    row = ProxyDomain(
        domain=spec.domain, app=spec.app, service=spec.service, port=spec.port, console=spec.console,
        upstream=spec.upstream, https=spec.https, force_https=spec.force_https,
        cert_status="pending" if spec.https else "none", cert_reason="", cert_issuer="",
        created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    events.emit(
        session=session,
        type="domain_added",
        subject=spec.domain,
        actor=actor,
        payload={"app": spec.app, "service": spec.service, "port": spec.port, "https": spec.https},
    )
    return row


def delete_domain(*, session: Session, domain: str, actor: str) -> ProxyDomain:
    row = get_domain(session=session, domain=domain)
    session.delete(row)
    events.emit(session=session, type="domain_removed", subject=domain, actor=actor, payload={"app": row.app})
    return row


def update_certificate(*, session: Session, cert: proxy_pb2.Certificate) -> ProxyDomain:
    """Record a certificate check; an event when the status or expiry changed."""
    if cert.status not in CERT_STATUSES:
        raise InvalidArgument(f"certificate status must be one of {', '.join(CERT_STATUSES)}")
    row = get_domain(session=session, domain=cert.domain)
    not_after = ts_us(cert.not_after) if cert.HasField("not_after") else None
    not_before = ts_us(cert.not_before) if cert.HasField("not_before") else None
    changed = (row.cert_status, row.cert_not_after, row.cert_reason) != (cert.status, not_after, cert.reason)
    row.cert_status, row.cert_reason, row.cert_issuer = cert.status, cert.reason[:2000], cert.issuer[:500]
    row.cert_not_after, row.cert_not_before, row.cert_checked_at = not_after, not_before, now_us()
    if changed:
        row.updated_at = now_us()
        kind = {"expiring": "certificate_expiring", "failed": "certificate_failed"}.get(
            cert.status, "certificate_status"
        )
        events.emit(
            session=session,
            type=kind,
            subject=cert.domain,
            actor="proxyctl",
            payload={"status": cert.status, "reason": cert.reason[:500], "days_left": cert.days_left},
        )
    return row
