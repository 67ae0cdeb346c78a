"""The registry v2 client's wire behaviour (auth flows, schemes, pages, errors) and check_image's
handling of failures, against scripted registries on httpx.MockTransport. The real registry is in
tests/integration/test_registry.py."""

from __future__ import annotations

import base64
import logging
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest

from services.deployer.updates.check import check_image
from services.deployer.updates.refs import parse_reference
from services.deployer.updates.registry import MANIFEST_TYPES, Credentials, RegistryClient, RegistryError
from services.deployer.updates.tags import UpdateKind

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
PASSWORD = "s3cret-pass-word"
LOGIN = Credentials("alice", PASSWORD)
BEARER_CHALLENGE = (
    'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
    'scope="repository:team/web:pull"'
)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A scripted registry that records what it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def lines(self) -> list[str]:
        return [
            f"{r.method} {r.url.scheme}://{r.url.netloc.decode()}{r.url.raw_path.decode()}"
            for r in self.requests
        ]


@contextmanager
def client_for(
    handler: Handler, *, credentials: dict[str, Credentials] | None = None
) -> Iterator[tuple[RegistryClient, Recorder]]:
    recorder = Recorder(handler)
    logins = credentials or {}
    with RegistryClient(transport=httpx.MockTransport(recorder), credentials=logins.get, timeout=5) as client:
        yield client, recorder


def basic(credentials: Credentials) -> str:
    return "Basic " + base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()


def manifest_ok(digest: str = DIGEST_A) -> httpx.Response:
    return httpx.Response(200, headers={"Docker-Content-Digest": digest})


def bearer_registry(*, expected_login: Credentials | None, tokens: list[str]) -> Handler:
    """registry.example.com with auth.example.com as its token service; each token request hands
    out the next of `tokens`, and the registry accepts only the latest one."""
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.com":
            expected = None if expected_login is None else basic(expected_login)
            if request.headers.get("authorization") != expected:
                return httpx.Response(401)
            issued.append(tokens[len(issued)])
            return httpx.Response(200, json={"token": issued[-1], "expires_in": 300})
        if issued and request.headers.get("authorization") == f"Bearer {issued[-1]}":
            return manifest_ok()
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER_CHALLENGE})

    return handler


def test_bearer_challenge_gets_a_token_and_retries() -> None:
    ref = parse_reference("registry.example.com/team/web:1.0")
    with client_for(bearer_registry(expected_login=None, tokens=["t1"])) as (client, recorder):
        assert client.head_digest(ref) == DIGEST_A
        assert client.head_digest(ref) == DIGEST_A  # the token is cached: no new challenge

    assert recorder.lines() == [
        "HEAD https://registry.example.com/v2/team/web/manifests/1.0",
        "GET https://auth.example.com/token?scope=repository%3Ateam%2Fweb%3Apull&service=registry.example.com",
        "HEAD https://registry.example.com/v2/team/web/manifests/1.0",
        "HEAD https://registry.example.com/v2/team/web/manifests/1.0",
    ]
    token_request = recorder.requests[1]
    assert "authorization" not in token_request.headers  # anonymous
    assert recorder.requests[3].headers["authorization"] == "Bearer t1"
    assert recorder.requests[0].headers["accept"] == ", ".join(MANIFEST_TYPES)


def test_bearer_token_request_carries_the_stored_login() -> None:
    ref = parse_reference("registry.example.com/team/web:1.0")
    handler = bearer_registry(expected_login=LOGIN, tokens=["t1"])
    with client_for(handler, credentials={"registry.example.com": LOGIN}) as (client, recorder):
        assert client.head_digest(ref) == DIGEST_A
    assert recorder.requests[1].headers["authorization"] == basic(LOGIN)
    # the login went to the token service only, never to the registry itself
    assert all(
        r.headers.get("authorization", "").startswith("Bearer ")
        for r in recorder.requests[2:]
        if r.url.host == "registry.example.com"
    )


def test_a_rejected_cached_token_is_replaced() -> None:
    ref = parse_reference("registry.example.com/team/web:1.0")
    with client_for(bearer_registry(expected_login=None, tokens=["t1", "t2", "t3"])) as (client, recorder):
        client.head_digest(ref)
        # another client takes a token: the registry now refuses t1, as when it expires on its side
        recorder.handler(httpx.Request("GET", "https://auth.example.com/token"))
        assert client.head_digest(ref) == DIGEST_A
    sent = [r.headers.get("authorization") for r in recorder.requests if r.url.host == "registry.example.com"]
    assert sent == [None, "Bearer t1", "Bearer t1", "Bearer t3"]


def test_token_service_refusing_anonymous_access_needs_credentials() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "auth.example.com":
            return httpx.Response(401)
        return httpx.Response(401, headers={"WWW-Authenticate": BEARER_CHALLENGE})

    with client_for(handler) as (client, _recorder), pytest.raises(RegistryError, match="needs credentials"):
        client.head_digest(parse_reference("registry.example.com/team/web:1.0"))


def basic_registry(request: httpx.Request) -> httpx.Response:
    if request.headers.get("authorization") == basic(LOGIN):
        return manifest_ok()
    return httpx.Response(401, headers={"WWW-Authenticate": 'Basic realm="Registry Realm"'})


def test_basic_challenge_with_a_login() -> None:
    ref = parse_reference("registry.example.com/team/web:1.0")
    with client_for(basic_registry, credentials={"registry.example.com": LOGIN}) as (client, recorder):
        assert client.head_digest(ref) == DIGEST_A
        assert client.head_digest(ref) == DIGEST_A
    # one challenge, then the login is sent up front
    assert [r.headers.get("authorization") for r in recorder.requests] == [None, basic(LOGIN), basic(LOGIN)]


def test_basic_challenge_without_a_login_needs_credentials() -> None:
    with client_for(basic_registry) as (client, recorder):
        with pytest.raises(RegistryError) as caught:
            client.head_digest(parse_reference("registry.example.com/team/web:1.0"))
    assert "registry.example.com needs credentials for registry.example.com/team/web" in caught.value.message
    assert len(recorder.requests) == 1


def test_a_wrong_login_is_refused_without_showing_it(caplog: pytest.LogCaptureFixture) -> None:
    wrong = Credentials("alice", "not-the-" + PASSWORD)
    caplog.set_level(logging.DEBUG)
    with client_for(basic_registry, credentials={"registry.example.com": wrong}) as (client, _recorder):
        with pytest.raises(RegistryError) as caught:
            client.head_digest(parse_reference("registry.example.com/team/web:1.0"))
    assert "refused the stored credentials" in caught.value.message
    assert wrong.password not in caught.value.message
    assert wrong.password not in repr(wrong)
    assert wrong.password not in caplog.text
    assert base64.b64encode(f"alice:{wrong.password}".encode()).decode() not in caplog.text


def test_plain_http_is_never_tried_for_a_remote_registry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with client_for(handler) as (client, recorder):
        with pytest.raises(RegistryError, match="cannot reach the registry registry.example.com"):
            client.head_digest(parse_reference("registry.example.com/team/web:1.0"))
    assert [r.url.scheme for r in recorder.requests] == ["https"]


def test_a_loopback_registry_falls_back_to_plain_http_once() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":
            raise httpx.ConnectError("wrong version number", request=request)
        return manifest_ok()

    ref = parse_reference("127.0.0.1:5000/web:1.0.0")
    with client_for(handler) as (client, recorder):
        assert client.head_digest(ref) == DIGEST_A
        assert client.head_digest(ref) == DIGEST_A
    assert [r.url.scheme for r in recorder.requests] == ["https", "http", "http"]


@pytest.mark.parametrize(
    "realm",
    ["http://auth.example.com/token", "ftp://auth.example.com/token", "/token", "not a url"],
)
def test_a_token_service_outside_https_is_refused(realm: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, headers={"WWW-Authenticate": f'Bearer realm="{realm}",service="x"'})

    with client_for(handler, credentials={"registry.example.com": LOGIN}) as (client, recorder):
        with pytest.raises(RegistryError, match="only HTTPS"):
            client.head_digest(parse_reference("registry.example.com/team/web:1.0"))
    assert [r.url.host for r in recorder.requests] == ["registry.example.com"]


def test_tag_pages_are_followed() -> None:
    pages = {
        None: (["1.0.0", "1.0.1"], '</v2/team/web/tags/list?last=1.0.1&n=2>; rel="next"'),
        "1.0.1": (["1.1.0", "2.0.0"], '</v2/team/web/tags/list?last=2.0.0&n=2>; rel="next"'),
        "2.0.0": (["latest"], None),
    }

    def handler(request: httpx.Request) -> httpx.Response:
        tags, link = pages[request.url.params.get("last")]
        headers = {"Link": link} if link else {}
        return httpx.Response(200, json={"name": "team/web", "tags": tags}, headers=headers)

    with client_for(handler) as (client, recorder):
        tags = client.list_tags(parse_reference("registry.example.com/team/web:1.0.0"))
    assert tags == ["1.0.0", "1.0.1", "1.1.0", "2.0.0", "latest"]
    assert [r.method for r in recorder.requests] == ["GET", "GET", "GET"]
    assert recorder.requests[0].url.params["n"] == "1000"


def test_tag_pages_are_bounded() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        last = int(request.url.params.get("last", "0"))
        tags = [str(last + 1), str(last + 2)]
        return httpx.Response(
            200, json={"tags": tags}, headers={"Link": f'</v2/web/tags/list?last={last + 2}>; rel="next"'}
        )

    recorder = Recorder(handler)
    with RegistryClient(transport=httpx.MockTransport(recorder), max_tags=7) as client:
        tags = client.list_tags(parse_reference("registry.example.com/web:1"))
    assert tags == ["1", "2", "3", "4", "5", "6", "7"]
    assert len(recorder.requests) == 4


def test_a_next_page_on_another_host_is_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        link = '<https://elsewhere.example.com/v2/web/tags/list?last=1>; rel="next"'
        return httpx.Response(200, json={"tags": ["1"]}, headers={"Link": link})

    with client_for(handler) as (client, _recorder), pytest.raises(RegistryError, match="another host"):
        client.list_tags(parse_reference("registry.example.com/web:1"))


def test_repository_without_tags() -> None:
    with client_for(lambda request: httpx.Response(200, json={"name": "web", "tags": None})) as (client, _r):
        assert client.list_tags(parse_reference("registry.example.com/web:1")) == []


def ssl_failure(request: httpx.Request) -> httpx.Response:
    try:
        raise ssl.SSLCertVerificationError(1, "certificate verify failed")
    except ssl.SSLError as exc:
        raise httpx.ConnectError("certificate verify failed", request=request) from exc


def timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        (lambda request: httpx.Response(404), "registry.example.com/team/web:1.0 was not found on "
         "registry.example.com: no such tag or repository"),
        (lambda request: httpx.Response(403), "denied access to registry.example.com/team/web"),
        (lambda request: httpx.Response(429), "limits requests right now"),
        (lambda request: httpx.Response(503), "failed (HTTP 503)"),
        (lambda request: httpx.Response(302, headers={"Location": "http://x.example/"}),
         "HTTP 302 (bad reply)"),
        (lambda request: httpx.Response(200), "did not give a valid digest"),
        (lambda request: httpx.Response(200, headers={"Docker-Content-Digest": "md5:1"}), "valid digest"),
        (lambda request: httpx.Response(401), "asks for an authentication this check does not speak"),
        (ssl_failure, "TLS with registry.example.com failed"),
        (timeout, "did not answer within 5 s"),
    ],
)  # fmt: skip
def test_failures_say_what_went_wrong(handler: Handler, reason: str) -> None:
    with client_for(handler) as (client, recorder), pytest.raises(RegistryError) as caught:
        client.head_digest(parse_reference("registry.example.com/team/web:1.0"))
    assert reason in caught.value.message
    assert {r.method for r in recorder.requests} == {"HEAD"}


def test_an_oversized_reply_is_refused() -> None:
    huge = b'{"tags": ["' + b"x" * (5 * 1024 * 1024) + b'"]}'
    with client_for(lambda request: httpx.Response(200, content=huge)) as (client, _r):
        with pytest.raises(RegistryError, match="larger than"):
            client.list_tags(parse_reference("registry.example.com/web:1"))


def test_a_tag_list_that_is_not_json_is_a_bad_reply() -> None:
    with client_for(lambda request: httpx.Response(200, content=b"<html>")) as (client, _r):
        with pytest.raises(RegistryError, match="not JSON"):
            client.list_tags(parse_reference("registry.example.com/web:1"))


# -- check_image ------------------------------------------------------------------------------


def versions_registry(tags: list[str], digests: dict[str, str]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(200, json={"tags": tags})
        tag = request.url.path.rsplit("/", 1)[1]
        if request.method == "HEAD" and tag in digests:
            return manifest_ok(digests[tag])
        return httpx.Response(404)

    return handler


def test_check_reports_the_newest_of_each_kind_with_head_requests_only() -> None:
    tags = ["1.0.0", "1.0.1", "1.0.2", "1.1.0", "2.0.0", "latest", "2.1.0-rc1"]
    digests = {tag: f"sha256:{index:064x}" for index, tag in enumerate(tags)}
    with client_for(versions_registry(tags, digests)) as (client, recorder):
        result = check_image(
            client=client, image="registry.example.com/web:1.0.0", running_digest=digests["1.0.0"]
        )
    assert result.error is None and not result.unknown
    assert [(u.kind, u.tag, u.digest) for u in result.updates] == [
        (UpdateKind.PATCH, "1.0.2", digests["1.0.2"]),
        (UpdateKind.MINOR, "1.1.0", digests["1.1.0"]),
        (UpdateKind.MAJOR, "2.0.0", digests["2.0.0"]),
    ]
    update = result.update_of(UpdateKind.MINOR)
    assert update is not None and update.tag == "1.1.0"
    assert [(r.method, r.url.path.rsplit("/", 1)[1]) for r in recorder.requests] == [
        ("HEAD", "1.0.0"),
        ("GET", "list"),
        ("HEAD", "1.0.2"),
        ("HEAD", "1.1.0"),
        ("HEAD", "2.0.0"),
    ]


def test_check_of_latest_compares_digests_and_lists_no_tags() -> None:
    handler = versions_registry(["latest", "1.0"], {"latest": DIGEST_B})
    with client_for(handler) as (client, recorder):
        moved = check_image(client=client, image="registry.example.com/web", running_digest=DIGEST_A)
        same = check_image(client=client, image="registry.example.com/web:latest", running_digest=DIGEST_B)
        unknown_running = check_image(client=client, image="registry.example.com/web", running_digest=None)
    assert [(u.kind, u.tag, u.digest) for u in moved.updates] == [(UpdateKind.DIGEST, "latest", DIGEST_B)]
    assert same.updates == () and same.registry_digest == DIGEST_B
    assert unknown_running.updates == () and unknown_running.error is None
    assert {r.method for r in recorder.requests} == {"HEAD"}


def test_check_never_raises_for_a_failing_registry() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/tags/list"):
            return httpx.Response(500)
        return manifest_ok()

    with client_for(handler) as (client, _recorder):
        result = check_image(client=client, image="registry.example.com/web:1.0", running_digest=DIGEST_A)
    assert result.unknown
    assert result.error == "the registry registry.example.com failed (HTTP 500); check again later"
    assert result.updates == ()


def test_check_of_an_invalid_or_digest_pinned_image() -> None:
    with client_for(lambda request: httpx.Response(500)) as (client, recorder):
        invalid = check_image(client=client, image="Bad Image", running_digest=None)
        pinned = check_image(
            client=client, image=f"registry.example.com/web@{DIGEST_A}", running_digest=DIGEST_A
        )
    assert invalid.unknown and invalid.error is not None and "invalid image reference" in invalid.error
    assert pinned.error is None and pinned.updates == () and pinned.current_tag is None
    assert recorder.requests == []
