"""Aggregates for the gateway's /metrics, computed by SQLite in one pass per table."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from appos.v1 import state_pb2
from services.common.errors import InvalidArgument
from services.common.timestamps import MICROS, set_ts
from services.state.models import App, Deployment, ProxyDomain

MAX_BUCKETS = 30


def collect(*, session: Session, buckets: Sequence[float]) -> state_pb2.StateStats:
    if len(buckets) > MAX_BUCKETS or list(buckets) != sorted(buckets):
        raise InvalidArgument(f"duration_buckets: at most {MAX_BUCKETS}, ascending")
    reply = state_pb2.StateStats()
    ended = Deployment.finished_at.is_not(None)
    micros = Deployment.finished_at - Deployment.created_at
    columns = [
        Deployment.action,
        Deployment.status,
        func.count(),
        func.coalesce(func.sum(case((ended, micros), else_=0)), 0),
        *(func.sum(case((and_(ended, micros <= bound * MICROS), 1), else_=0)) for bound in buckets),
    ]
    query = select(*columns).group_by(Deployment.action, Deployment.status)
    for action, status, count, total, *counts in session.execute(query):
        reply.deployments.add(
            action=action,
            status=status,
            count=count,
            duration_sum_seconds=total / MICROS,
            bucket_counts=[int(c or 0) for c in counts],
        )
    for status, count in session.execute(select(App.status, func.count()).group_by(App.status)):
        reply.apps_by_status[status] = count
    domains = select(ProxyDomain.domain, ProxyDomain.cert_status, ProxyDomain.cert_not_after).where(
        ProxyDomain.cert_not_after.is_not(None)
    )
    for domain, status, not_after in session.execute(domains):
        cert = reply.certificates.add(domain=domain, status=status)
        set_ts(cert.not_after, not_after)
    return reply
