"""A read-only client of the registry v2 API: the digest a tag names, and a repository's tags.

It sends three kinds of requests and nothing else, so a check never counts as a pull: HEAD of a
manifest, GET of a tag list, and GET of a token service's realm. Each request:

    cached authorization → request → on 401 the challenge (`Bearer` token flow, or `Basic`)
    → one retry → the reply, or a RegistryError that says in plain words what to do

HTTPS always; a loopback registry (127.0.0.0/8, ::1, localhost) is tried over HTTPS first and then
over plain HTTP, as the Docker engine does. Credentials come from a lookup the caller passes in,
keyed by the registry as written in the image (`docker.io`, `ghcr.io`, `127.0.0.1:5000`); they
are sent only as basic auth to the registry or to its token service, and never logged nor put in
an error's text.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.common.errors import Unavailable
from services.deployer.updates.refs import ImageRef, is_digest, is_loopback_host

logger = logging.getLogger(__name__)

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
_USER_AGENT = "appos-update-check"
_MAX_REPLY_BYTES = 4 * 1024 * 1024
_TAGS_PER_PAGE = 1000
_MAX_PAGES = 50
_BASIC_REMEMBERED = 300  # seconds a Basic login is sent up front; a changed login is read again after
_TOKEN_LIFETIME_DEFAULT = 60  # seconds, the token spec's default for a reply without expires_in
_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


class RegistryError(Unavailable):
    """A registry could not answer a question; the message says why and what would help."""


@dataclass(frozen=True)
class Credentials:
    """A registry login (a password or an access token)."""

    username: str
    password: str = field(repr=False)


CredentialsLookup = Callable[[str], Credentials | None]


def no_credentials(domain: str) -> Credentials | None:
    """The lookup for anonymous access only."""
    return None


@dataclass(frozen=True)
class _Reply:
    status: int
    headers: httpx.Headers
    body: bytes
    url: httpx.URL


@dataclass(frozen=True)
class _Authorization:
    header: str
    expires_at: float  # time.monotonic()


class RegistryClient:
    """One client for every registry a check asks; it keeps connections, the scheme each loopback
    registry answered on, and authorizations per registry and repository until they expire."""

    def __init__(
        self,
        *,
        credentials: CredentialsLookup = no_credentials,
        timeout: float = 10.0,
        max_tags: int = 10_000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._credentials = credentials
        self._timeout = timeout
        self._max_tags = max_tags
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            headers={"User-Agent": _USER_AGENT},
            transport=transport,
        )
        self._schemes: dict[str, str] = {}
        self._authorizations: dict[tuple[str, str], _Authorization] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def head_digest(self, ref: ImageRef) -> str:
        """The digest the registry gives for `ref`'s tag (or digest) now: an index's digest for a
        multi-platform image, as the engine records it on pull. Only a HEAD request."""
        reply = self._request(
            ref, "HEAD", f"/v2/{ref.repository}/manifests/{ref.manifest_reference}", accept=MANIFEST_TYPES
        )
        if reply.status == 404:
            raise RegistryError(f"{ref} was not found on {ref.registry}: no such tag or repository")
        self._raise_for_status(ref, reply)
        digest = str(reply.headers.get("docker-content-digest", ""))
        if not is_digest(digest):
            raise RegistryError(f"{ref.registry} did not give a valid digest for {ref} (bad reply)")
        return digest

    def list_tags(self, ref: ImageRef) -> list[str]:
        """Every tag of `ref`'s repository, following the registry's pages (at most `max_tags`)."""
        target = f"/v2/{ref.repository}/tags/list?n={_TAGS_PER_PAGE}"
        tags: list[str] = []
        for _page in range(_MAX_PAGES):
            reply = self._request(ref, "GET", target)
            if reply.status == 404:
                raise RegistryError(f"{ref.name} was not found on {ref.registry}: no such repository")
            self._raise_for_status(ref, reply)
            tags.extend(_tags_of(ref, reply))
            next_target = _next_page(ref, reply)
            if next_target is None or len(tags) >= self._max_tags:
                break
            target = next_target
        if len(tags) >= self._max_tags or next_target is not None:
            logger.warning(
                "%s has more tags than a check reads; only the first %d are compared", ref.name, len(tags)
            )
        return tags[: self._max_tags]

    # -- one request, authorized -------------------------------------------------------------

    def _request(self, ref: ImageRef, method: str, target: str, *, accept: tuple[str, ...] = ()) -> _Reply:
        key = (ref.registry, ref.repository)
        headers = {"Accept": ", ".join(accept)} if accept else {}
        authorization = self._cached_authorization(key)
        if authorization is not None:
            headers["Authorization"] = authorization
        reply = self._send(ref.registry, method, target, headers)
        if reply.status != 401:
            return reply
        headers["Authorization"] = self._authorize(ref, reply)
        reply = self._send(ref.registry, method, target, headers)
        if reply.status == 401:
            raise RegistryError(self._refused_message(ref))
        return reply

    def _cached_authorization(self, key: tuple[str, str]) -> str | None:
        with self._lock:
            cached = self._authorizations.get(key)
            if cached is None or cached.expires_at <= time.monotonic():
                self._authorizations.pop(key, None)
                return None
            return cached.header

    def _remember(self, key: tuple[str, str], header: str, lifetime: float) -> None:
        with self._lock:
            self._authorizations[key] = _Authorization(header, time.monotonic() + lifetime)

    def _authorize(self, ref: ImageRef, reply: _Reply) -> str:
        """The Authorization header that answers the registry's challenge."""
        challenges = [_parse_challenge(value) for value in reply.headers.get_list("www-authenticate")]
        for scheme, params in challenges:
            if scheme == "bearer":
                token, lifetime = self._fetch_token(ref, params)
                header = f"Bearer {token}"
                self._remember((ref.registry, ref.repository), header, lifetime)
                return header
        for scheme, _params in challenges:
            if scheme == "basic":
                credentials = self._credentials(ref.domain)
                if credentials is None:
                    raise RegistryError(_needs_credentials(ref))
                header = _basic(credentials)
                self._remember((ref.registry, ref.repository), header, _BASIC_REMEMBERED)
                return header
        raise RegistryError(
            f"{ref.registry} asks for an authentication this check does not speak (bad reply)"
        )

    def _fetch_token(self, ref: ImageRef, params: dict[str, str]) -> tuple[str, float]:
        """Docker's token flow: GET the challenge's realm (with the stored login as basic auth, when
        there is one) for a pull token."""
        realm = _realm_url(ref, params.get("realm", ""))
        query = {"scope": params.get("scope") or f"repository:{ref.repository}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        credentials = self._credentials(ref.domain)
        request = self._http.build_request("GET", realm, params=query)
        if credentials is not None:
            request.headers["Authorization"] = _basic(credentials)
        reply = self._exchange(realm.host, request)
        if reply.status in (401, 403):
            raise RegistryError(self._refused_message(ref))
        if reply.status != 200:
            raise RegistryError(
                f"the token service of {ref.registry} answered HTTP {reply.status} (bad reply); "
                "try again later"
            )
        document = _json_object(ref, reply)
        token = document.get("token") or document.get("access_token")
        if not isinstance(token, str) or not token:
            raise RegistryError(f"the token service of {ref.registry} gave no token (bad reply)")
        expires_in = document.get("expires_in")
        lifetime = expires_in if isinstance(expires_in, int) and expires_in > 0 else _TOKEN_LIFETIME_DEFAULT
        return token, max(lifetime - 5, 1)

    def _refused_message(self, ref: ImageRef) -> str:
        if self._credentials(ref.domain) is None:
            return _needs_credentials(ref)
        return f"{ref.domain} refused the stored credentials for {ref.name}: check the login for {ref.domain}"

    # -- the wire ------------------------------------------------------------------------------

    def _send(self, registry: str, method: str, target: str, headers: dict[str, str]) -> _Reply:
        """One request to a registry, over HTTPS (or, for a loopback registry that does not speak
        it, plain HTTP)."""
        known = self._schemes.get(registry)
        schemes = [known] if known else (["https", "http"] if is_loopback_host(registry) else ["https"])
        for index, scheme in enumerate(schemes):
            request = self._http.build_request(method, f"{scheme}://{registry}{target}", headers=headers)
            try:
                reply = self._exchange(registry, request)
            except RegistryError:
                if index + 1 < len(schemes):
                    continue
                raise
            self._schemes[registry] = scheme
            return reply
        raise AssertionError("unreachable")

    def _exchange(self, host: str, request: httpx.Request) -> _Reply:
        """Send one request and read at most _MAX_REPLY_BYTES of its reply; transport failures
        become RegistryErrors that name the host."""
        if request.url.scheme != "https" and not is_loopback_host(request.url.netloc.decode()):
            raise RegistryError(f"refusing plain HTTP to {host}: only loopback registries may use it")
        try:
            response = self._http.send(request, stream=True)
            try:
                body = _read_bounded(response)
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise RegistryError(f"the registry {host} did not answer within {self._timeout:g} s") from exc
        except httpx.TransportError as exc:
            tls = _tls_error(exc)
            if tls is not None:
                raise RegistryError(f"TLS with {host} failed: {tls}") from exc
            raise RegistryError(f"cannot reach the registry {host}: {exc}") from exc
        logger.debug("registry %s %s answered %d", request.method, request.url.path, response.status_code)
        return _Reply(response.status_code, response.headers, body, request.url)

    @staticmethod
    def _raise_for_status(ref: ImageRef, reply: _Reply) -> None:
        if 200 <= reply.status < 300:
            return
        if reply.status == 403:
            raise RegistryError(f"{ref.domain} denied access to {ref.name}: the login has no pull access")
        if reply.status == 429:
            raise RegistryError(f"{ref.domain} limits requests right now (HTTP 429); check again later")
        if reply.status >= 500:
            raise RegistryError(
                f"the registry {ref.registry} failed (HTTP {reply.status}); check again later"
            )
        raise RegistryError(f"the registry {ref.registry} answered HTTP {reply.status} (bad reply)")


def _needs_credentials(ref: ImageRef) -> str:
    return (
        f"{ref.domain} needs credentials for {ref.name} (or it does not exist): "
        f"store a login for {ref.domain}"
    )


def _basic(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _parse_challenge(value: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` → ("bearer", {"realm": …, …})."""
    scheme, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for match in _CHALLENGE_PARAM.finditer(rest):
        quoted, bare = match[2], match[3]
        params[match[1].lower()] = quoted.replace('\\"', '"') if quoted is not None else bare
    return scheme.lower(), params


def _realm_url(ref: ImageRef, realm: str) -> httpx.URL:
    try:
        url = httpx.URL(realm)
    except httpx.InvalidURL as exc:
        raise RegistryError(f"{ref.registry} named an invalid token service (bad reply)") from exc
    if url.scheme == "https" and url.host:
        return url
    if url.scheme == "http" and url.host and is_loopback_host(url.netloc.decode()):
        return url
    raise RegistryError(
        f"{ref.registry} sent the token request to {url.host or realm!r} over {url.scheme or 'no'} scheme: "
        "only HTTPS (or plain HTTP on loopback) is allowed"
    )


def _read_bounded(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > _MAX_REPLY_BYTES:
            raise RegistryError(
                f"the reply of {response.url.host} is larger than a registry's should be (bad reply)"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _tls_error(exc: BaseException) -> str | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return getattr(seen, "verify_message", None) or "the certificate is not trusted"
        if isinstance(seen, ssl.SSLError):
            return seen.reason or str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _json_object(ref: ImageRef, reply: _Reply) -> dict[str, Any]:
    try:
        document = json.loads(reply.body)
    except ValueError as exc:
        raise RegistryError(f"{ref.registry} sent a reply that is not JSON (bad reply)") from exc
    if not isinstance(document, dict):
        raise RegistryError(f"{ref.registry} sent an unexpected JSON reply (bad reply)")
    return document


def _tags_of(ref: ImageRef, reply: _Reply) -> list[str]:
    tags = _json_object(ref, reply).get("tags")
    if tags is None:
        return []  # distribution answers null for a repository without tags
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise RegistryError(f"{ref.registry} sent a tag list that is not a list of names (bad reply)")
    return tags


def _next_page(ref: ImageRef, reply: _Reply) -> str | None:
    """The target of the `Link: <…>; rel="next"` header, only on the same registry."""
    match = _NEXT_LINK.search(reply.headers.get("link", ""))
    if match is None:
        return None
    following = reply.url.join(match[1])
    if (following.scheme, following.netloc) != (reply.url.scheme, reply.url.netloc):
        raise RegistryError(f"{ref.registry} pointed its next tag page at another host (bad reply)")
    return following.raw_path.decode()
