"""A real registry v2 for tests: Debian's `docker-registry` (distribution 2.8) on a loopback port,
its storage in a temp folder, its access log in a file the test can read; and images built from
the busybox test image, pushed to it by the Docker engine (which pushes to a loopback registry
over plain HTTP without any setting).

    with running_registry(tmp_path) as registry:
        digest = push_image(client, registry.image("appos-test/web", "1.0.0"), content="one")
        mark = registry.log_mark()
        …                                    # requests to check
        registry.requests_since(mark)        # [("HEAD", "/v2/appos-test/web/manifests/1.0.0"), …]

A missing `docker-registry` fails the test with the reason (scripts/install-system-packages
installs it); nothing is skipped. Only the process it started is stopped, by its pid.

`TokenServer` is a token service of Docker's flow on a loopback port (a thread of the test
process): it signs pull tokens (RS256, a self-made certificate the registry trusts) for one login,
so `start_registry(root, token_server=…)` runs the registry with `auth: token` as Docker Hub does.
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import re
import shutil
import subprocess
import tarfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import docker.errors
import httpx
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.harness import BUSYBOX_IMAGE, build_busybox_image, free_port, stop_pid_process, wait_for

_ACCESS_LINE = re.compile(r'"(GET|HEAD|PUT|POST|PATCH|DELETE|OPTIONS) (\S+) HTTP/[0-9.]+"')


@dataclass
class LocalRegistry:
    """A running `docker-registry serve` on 127.0.0.1:`port`."""

    port: int
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def image(self, repository: str, tag: str) -> str:
        return f"{self.host}/{repository}:{tag}"

    def log_mark(self) -> int:
        """Where the log ends now: `requests_since(mark)` reads only what came after."""
        return self.log.stat().st_size

    def requests_since(self, mark: int = 0) -> list[tuple[str, str]]:
        """(method, path with query) of each request the access log recorded after `mark`."""
        with self.log.open("rb") as handle:
            handle.seek(mark)
            text = handle.read().decode(errors="replace")
        return [(match[1], match[2]) for match in _ACCESS_LINE.finditer(text)]

    def stop(self) -> None:
        stop_pid_process(self.proc)


@dataclass
class TokenServer:
    """A token service on 127.0.0.1 that gives pull tokens to `username`/`password` only."""

    username: str
    password: str = field(repr=False)
    service: str = "appos-test-registry"
    issuer: str = "appos-test-token-server"
    requests: list[dict[str, str]] = field(default_factory=list)  # scope, service, user of each ask
    _key: rsa.RSAPrivateKey = field(init=False, repr=False)
    _certificate: x509.Certificate = field(init=False, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.issuer)])
        now = datetime.datetime.now(datetime.UTC)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def realm(self) -> str:
        assert self._server is not None, "the token server is not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def certificate_pem(self) -> bytes:
        return self._certificate.public_bytes(serialization.Encoding.PEM)

    def token_for(self, scope: str) -> str:
        """A signed token granting the actions `scope` asks for (`repository:<name>:<actions>`)."""
        kind, name, actions = scope.split(":", 2)
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": self.username,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": [{"type": kind, "name": name, "actions": actions.split(",")}],
        }
        chain = [base64.b64encode(self._certificate.public_bytes(serialization.Encoding.DER)).decode()]
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"x5c": chain})

    def start(self) -> None:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _token_handler(self))
        self._server = server
        threading.Thread(target=server.serve_forever, name="token-server", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def _token_handler(tokens: TokenServer) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{tokens.username}:{tokens.password}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            query = {key: values[0] for key, values in parse_qs(urlsplit(self.path).query).items()}
            authorized = self.headers.get("Authorization") == expected
            tokens.requests.append({**query, "user": tokens.username if authorized else ""})
            if not authorized or query.get("service") != tokens.service or "scope" not in query:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps({"token": tokens.token_for(query["scope"]), "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads `requests`

    return Handler


@contextmanager
def running_token_server(*, username: str, password: str) -> Iterator[TokenServer]:
    tokens = TokenServer(username, password)
    tokens.start()
    try:
        yield tokens
    finally:
        tokens.stop()


def start_registry(
    root: Path, *, port: int | None = None, token_server: TokenServer | None = None
) -> LocalRegistry:
    """Start a registry with filesystem storage under `root` and wait until `/v2/` answers (with
    `token_server`, behind Docker's token auth, which answers /v2/ with 401)."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/install-system-packages installs it)"
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    settings: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "info", "accesslog": {"disabled": False}},
        "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}"},
    }
    if token_server is not None:
        bundle = root / "token-issuer.pem"
        bundle.write_bytes(token_server.certificate_pem())
        settings["auth"] = {
            "token": {
                "realm": token_server.realm,
                "service": token_server.service,
                "issuer": token_server.issuer,
                "rootcertbundle": str(bundle),
            }
        }
    config.write_text(json.dumps(settings))  # YAML is a superset of JSON
    log = root / "registry.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    registry = LocalRegistry(port=port, root=root, log=log, proc=proc)

    def answers() -> bool:
        assert proc.poll() is None, f"docker-registry exited: {log.read_text()[-2000:]}"
        try:
            status = httpx.get(f"http://{registry.host}/v2/", timeout=1).status_code
        except httpx.TransportError:
            return False
        return status == (200 if token_server is None else 401)

    try:
        wait_for(answers, timeout=20, what=f"docker-registry on {registry.host}")
    except BaseException:
        registry.stop()
        raise
    return registry


@contextmanager
def running_registry(
    root: Path, *, port: int | None = None, token_server: TokenServer | None = None
) -> Iterator[LocalRegistry]:
    registry = start_registry(root, port=port, token_server=token_server)
    try:
        yield registry
    finally:
        registry.stop()


# One app serving what push_image put in /version, healthy while it answers: format with image, port.
WEB_COMPOSE = """\
services:
  web:
    image: {image}
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - "127.0.0.1:{port}:8080"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/version"]
      interval: 1s
      timeout: 2s
      retries: 30
"""


def push_image(client: Any, reference: str, *, content: str) -> str:
    """Build an image from the busybox test image with `content` in /version, tag it `reference`,
    push it, and return the digest the registry stored (the one the engine records)."""
    build_busybox_image(client)
    dockerfile = f"FROM {BUSYBOX_IMAGE}\nCOPY version /version\n".encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", dockerfile), ("version", content.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=reference, rm=True)
    repository, tag = reference.rsplit(":", 1)
    digest: str | None = None
    for line in client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "error" not in line, f"pushing {reference} failed: {line['error']}"
        aux = line.get("aux") or {}
        digest = aux.get("Digest", digest)
    assert digest, f"pushing {reference} gave no digest"
    return str(digest)


# The images of the update tests (issue 19; on remote servers, issue 21): busybox-static with a start
# script and a healthcheck baked in. A good version serves /version and records its first start in
# its volume; a bad one writes over the volume, then fails its healthcheck; a crashing one has no
# healthcheck, serves, then exits (only an update's settle period can catch it).
GOOD_START = """#!/bin/sh
[ -f /data/schema ] && { echo "the data is from a newer version"; exit 4; }
[ -f /data/seed ] || echo "seeded by $(cat /www/version)" > /data/seed
exec httpd -f -p 8080 -h /www
"""
BAD_START = """#!/bin/sh
echo "migrated by $(cat /www/version)" > /data/seed
echo "schema 2" > /data/schema
exec httpd -f -p 8080 -h /www
"""
# a version without a healthcheck that serves, then exits: only the settle period can catch it
CRASH_START = """#!/bin/sh
httpd -p 8080 -h /www
sleep 2.5
exit 3
"""
GOOD_HEALTH = "#!/bin/sh\nexec wget -q -O /dev/null http://127.0.0.1:8080/version\n"
BAD_HEALTH = "#!/bin/sh\nexit 1\n"


def push_web(client: Any, reference: str, *, content: str, bad: bool = False, crash: bool = False) -> str:
    """Build `reference` (busybox + /start, /health, /www/version), push it; the registry's digest.
    `bad`: writes over its volume, then fails its healthcheck; `crash`: no healthcheck, exits soon."""
    build_busybox_image(client)
    healthcheck = "" if crash else 'HEALTHCHECK --interval=1s --timeout=2s --retries=2 CMD ["/health"]\n'
    dockerfile = (
        f"FROM {BUSYBOX_IMAGE}\n"
        "COPY version /www/version\nCOPY start /start\nCOPY health /health\n"
        f'{healthcheck}CMD ["/start"]\n'
    ).encode()
    start = CRASH_START if crash else BAD_START if bad else GOOD_START
    files = {
        "Dockerfile": (dockerfile, 0o644),
        "version": (content.encode(), 0o644),
        "start": (start.encode(), 0o755),
        "health": ((BAD_HEALTH if bad else GOOD_HEALTH).encode(), 0o755),
    }
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=reference, rm=True)
    repository, tag = reference.rsplit(":", 1)
    digest = ""
    for line in client.images.push(repository, tag=tag, stream=True, decode=True):
        assert "error" not in line, f"pushing {reference} failed: {line['error']}"
        digest = (line.get("aux") or {}).get("Digest", digest)
    assert digest
    return str(digest)


def remove_images(client: Any, registry: LocalRegistry) -> None:
    """Remove every local image that names `registry` by a tag or a digest (what push_image made,
    including an image whose tag a later push moved)."""
    prefix = f"{registry.host}/"
    for image in client.images.list():
        names = [*image.tags, *image.attrs.get("RepoDigests", [])]
        for name in names:
            if not name.startswith(prefix):
                continue
            # by name, never by ID: the same content pushed by another test is the same image, which
            # that test may still tag or run; the image itself goes with its last name
            try:
                client.images.remove(name)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: a container of another test runs it
                    raise
