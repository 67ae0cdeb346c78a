"""Certificate status that follows what Caddy does, within a second or two: after every config load
that has HTTPS domains, the domains without a certificate are looked at every second — the files
Caddy stores, and the errors it logs from that load on — until each has one or the window
(APPOS_CERT_FOLLOW_SECONDS) ends. State records a change of status (and emits its event) at once.
Nothing runs while nothing is followed: the thread exists only while following."""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from appos.v1 import proxy_pb2, state_pb2
from services.common.errors import NotFound
from services.common.timestamps import ts_us
from services.proxyctl import certs

if TYPE_CHECKING:
    from services.proxyctl.servicer import Proxy

logger = logging.getLogger(__name__)

INTERVAL_SECONDS = 1.0


def _expiry(cert: proxy_pb2.Certificate) -> int | None:
    return ts_us(cert.not_after) if cert.HasField("not_after") else None


def changed(before: proxy_pb2.Certificate, after: proxy_pb2.Certificate) -> bool:
    """What state records as a change (and an event): status, reason or expiry."""
    return (before.status, before.reason, _expiry(before)) != (after.status, after.reason, _expiry(after))


class IssuanceFollower:
    def __init__(self, *, proxy: Proxy, window: float, interval: float = INTERVAL_SECONDS) -> None:
        self.proxy = proxy
        self.window = window
        self.interval = interval
        self._lock = threading.Lock()
        self._tail: certs.LogTail | None = None  # set while a thread follows
        self._until = 0.0
        self._kicked = False  # a load since the round in progress began: look once more

    def follow(self, mark: certs.LogMark) -> None:
        """Caddy loaded a config (Caddy's log was at `mark` before): follow from there."""
        with self._lock:
            self._until = time.monotonic() + self.window
            self._kicked = True
            if self._tail is not None:
                return  # the thread following reads the log from an earlier mark: it sees this too
            self._tail = tail = certs.LogTail(self.proxy.settings.caddy_log, mark)
        threading.Thread(target=self._run, args=(tail,), name="cert-issuance", daemon=True).start()

    def _run(self, tail: certs.LogTail) -> None:
        following = True
        while True:
            with self._lock:
                self._kicked = False
            try:
                following = self._round(tail.errors())
            except Exception:  # noqa: BLE001 - state or the disk failed this round: try the next
                logger.warning("following certificate issuance failed this round", exc_info=True)
            with self._lock:
                if not (following or self._kicked) or time.monotonic() >= self._until:
                    self._tail = None
                    return
            time.sleep(self.interval)

    def _round(self, errors: dict[str, str]) -> bool:
        """Record what changed (`errors`: Caddy's newest for each name since the load); True while
        an HTTPS domain has no certificate yet."""
        with self.proxy.lock:  # a domain being added is in state once its change lets go
            domains = self.proxy.domains()
        settings = self.proxy.settings
        waiting = False
        for domain in domains:
            if not domain.https:
                continue
            stored = certs.find_certificate(settings.caddy_storage, domain.domain, settings.ca_directory)
            waiting = waiting or stored is None
            error = errors.get(domain.domain, "")
            if stored is None and not error and domain.certificate.status == "failed":
                continue  # no word from Caddy since this load: the failure stands
            cert = certs.status(
                domain, stored, error, now=certs.utcnow(), warning_days=settings.expiry_warning_days
            )
            if changed(domain.certificate, cert):
                try:
                    self.proxy.state.stub.UpdateCertificate(
                        state_pb2.StateUpdateCertificateRequest(certificate=cert)
                    )
                except NotFound:
                    continue  # removed meanwhile
                logger.info("certificate of %s: %s %s", domain.domain, cert.status, cert.reason)
        return waiting
