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
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

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


def start_registry(root: Path, *, port: int | None = None) -> LocalRegistry:
    """Start a registry with filesystem storage under `root` and wait until `/v2/` answers."""
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is not installed (scripts/install-system-packages installs it)"
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)
    config = root / "config.yml"
    config.write_text(
        json.dumps(  # YAML is a superset of JSON
            {
                "version": 0.1,
                "log": {"level": "info", "accesslog": {"disabled": False}},
                "storage": {"filesystem": {"rootdirectory": str(root / "data")}, "delete": {"enabled": True}},
                "http": {"addr": f"127.0.0.1:{port}"},
            }
        )
    )
    log = root / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    registry = LocalRegistry(port=port, root=root, log=log, proc=proc)

    def answers() -> bool:
        assert proc.poll() is None, f"docker-registry exited: {log.read_text()[-2000:]}"
        try:
            return httpx.get(f"http://{registry.host}/v2/", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, timeout=20, what=f"docker-registry on {registry.host}")
    except BaseException:
        registry.stop()
        raise
    return registry


@contextmanager
def running_registry(root: Path, *, port: int | None = None) -> Iterator[LocalRegistry]:
    registry = start_registry(root, port=port)
    try:
        yield registry
    finally:
        registry.stop()


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


def remove_images(client: Any, registry: LocalRegistry) -> None:
    """Remove every local image that names `registry` by a tag or a digest (what push_image made,
    including an image whose tag a later push moved)."""
    prefix = f"{registry.host}/"
    for image in client.images.list():
        names = [*image.tags, *image.attrs.get("RepoDigests", [])]
        if any(name.startswith(prefix) for name in names):
            client.images.remove(image.id, force=True)
