"""Domains: who may put the console on a domain, and how (an admin, over HTTPS with HTTP
redirected); a name the system resolver cannot resolve."""

from __future__ import annotations

import pytest

from appos.v1 import proxy_pb2
from services.common.errors import InvalidArgument, PermissionDenied
from services.proxyctl import domains


@pytest.mark.parametrize("role", ["viewer", "operator", "", "root"])
def test_only_an_admin_adds_or_removes_a_console_domain(role: str) -> None:
    request = proxy_pb2.AddDomainRequest(domain="console.example.com", console=True)
    with pytest.raises(PermissionDenied, match="only an admin"):
        domains.check_console_request(request, role=role)
    with pytest.raises(PermissionDenied, match="only an admin"):
        domains.check_console_role(role)


def test_a_console_domain_is_https_with_the_redirect() -> None:
    def request(*, https: bool | None = None, force_https: bool | None = None) -> proxy_pb2.AddDomainRequest:
        return proxy_pb2.AddDomainRequest(
            domain="console.example.com", console=True, https=https, force_https=force_https
        )

    domains.check_console_request(request(), role="admin")
    domains.check_console_request(request(https=True, force_https=True), role="admin")
    with pytest.raises(InvalidArgument, match="served only over HTTPS"):
        domains.check_console_request(request(https=False), role="admin")
    with pytest.raises(InvalidArgument, match="always redirects HTTP to HTTPS"):
        domains.check_console_request(request(force_https=False), role="admin")
    with pytest.raises(InvalidArgument, match="no app, service or port"):
        domains.check_console_request(
            proxy_pb2.AddDomainRequest(domain="c.example.com", console=True, app="blog"), role="admin"
        )


def test_the_system_resolver_answers_and_a_name_it_cannot_resolve_is_refused_in_words() -> None:
    assert "127.0.0.1" in domains.resolve("localhost", "")
    with pytest.raises(InvalidArgument, match=r"^nothing\.invalid does not resolve to an address \("):
        domains.resolve("nothing.invalid", "")
