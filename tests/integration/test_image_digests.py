"""Deployments record the image each service ran, and a rollback runs those images again even after
the tag moved (issue 19), through REST, deployed for real on the Docker engine. The images are
built here (busybox-static, FROM scratch) and never pushed: their digest is the local image ID."""

from __future__ import annotations

import contextlib
import io
import tarfile
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from tests.harness import BUSYBOX, Stack, docker_client, free_port, wait_for
from tests.registry import push_image, remove_images, running_registry

pytestmark = pytest.mark.xdist_group("image_digests")

COMPOSE = """\
services:
  web:
    image: {image}
    pull_policy: never
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    ports:
      - "127.0.0.1:${{HTTP_PORT}}:8080"
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
      interval: 1s
      timeout: 2s
      retries: 20
"""


class WebImages:
    """`:latest` of a throwaway repository, built here and moved by each build: busybox-static
    serving a content at / (baked into the image, so each content is another image). Every image
    built is removed when the test ends."""

    def __init__(self) -> None:
        self.tag = f"appos-test/digest-web-{uuid.uuid4().hex[:8]}:latest"
        self.built: list[str] = []

    def build(self, content: str) -> str:
        """The new `:latest` serving `content`; its image ID."""
        assert BUSYBOX.exists(), "busybox-static is not installed (apt-get install busybox-static)"
        dockerfile = (
            b"FROM scratch\n"
            b"COPY busybox /bin/busybox\n"
            b'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
            b"COPY index.html /www/index.html\n"
            b"COPY owner /owner\n"
        )
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            # `owner`: this test's images are its own (the same content built by another test would
            # otherwise be the same image ID, and removing one test's image would remove the other's)
            files = (
                ("Dockerfile", dockerfile),
                ("index.html", content.encode() + b"\n"),
                ("owner", self.tag.encode()),
            )
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            tar.add(str(BUSYBOX), arcname="busybox")
        context.seek(0)
        client = docker_client()
        try:
            image, _logs = client.images.build(fileobj=context, custom_context=True, tag=self.tag, rm=True)
        finally:
            client.close()
        self.built.append(str(image.id))
        return str(image.id)


def _image_id(tag: str) -> str:
    client = docker_client()
    try:
        return str(client.images.get(tag).id)
    finally:
        client.close()


def _remove_images(*refs: str) -> None:
    client = docker_client()
    try:
        for ref in refs:
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(ref, force=True)
    finally:
        client.close()


def _web_container_id(app: str) -> str:
    client = docker_client()
    try:
        (container,) = client.containers.list(
            filters={"label": [f"com.docker.compose.project=appos-{app}", "com.docker.compose.service=web"]}
        )
        return str(container.id)
    finally:
        client.close()


def _page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
        return str(page.read().decode().strip())


def _status(stack: Stack, token: str, app: str) -> str:
    with stack.client(token) as c:
        return str(c.get(f"/api/v1/apps/{app}").json()["status"])


def _images(deployment: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    return [(i["service"], i["image"], i["digest"], i["image_id"]) for i in deployment.get("images", [])]


@pytest.fixture
def web_images() -> Iterator[WebImages]:
    images = WebImages()
    yield images
    _remove_images(images.tag, *images.built)  # after `app` (set up later) removed its containers


@pytest.fixture
def app(stack: Stack, admin_token: str) -> Iterator[str]:
    name = f"dig{uuid.uuid4().hex[:8]}"
    yield name
    with stack.client(admin_token) as c:
        r = c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
    if r.status_code == 202:
        stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def _edit_and_deploy(stack: Stack, token: str, app: str, message: str) -> dict[str, Any]:
    """A new version whose .env differs by a comment (the compose file stays), deployed."""
    with stack.client(token) as c:
        current = c.get(f"/api/v1/apps/{app}/compose")
        files = current.json()
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": files["compose"], "env": files["env"] + f"# {message}\n", "message": message},
            headers={"If-Match": current.headers["etag"]},
            params={"deploy": "true"},
        )
    assert r.status_code == 200, r.text
    return stack.wait_deployment(token, r.json()["deployment"]["id"])


def _rollback(stack: Stack, token: str, app: str, version: int) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.post(f"/api/v1/apps/{app}/rollback", json={"version": version})
    assert r.status_code == 202, r.text
    return stack.wait_deployment(token, r.json()["deployment"]["id"])


def test_a_rollback_runs_the_recorded_image_after_latest_moved(
    stack: Stack, admin_token: str, web_images: WebImages, app: str
) -> None:
    port = free_port()
    first_id = web_images.build("v1")
    compose = COMPOSE.format(image=web_images.tag)
    _, first = stack.deploy(
        admin_token, {"name": app, "compose": compose, "env": f"HTTP_PORT={port}\n", "auto_rollback": False}
    )
    assert first["status"] == "succeeded", first
    assert _images(first) == [("web", web_images.tag, first_id, first_id)]  # never pushed: the image ID
    assert _page(port) == "v1"

    second_id = web_images.build("v2")  # `latest` moves
    assert second_id != first_id
    second = _edit_and_deploy(stack, admin_token, app, "runs the new latest")
    assert second["status"] == "succeeded", second
    assert second["version"] == 2 and _images(second) == [("web", web_images.tag, second_id, second_id)]
    assert _page(port) == "v2"

    rolled = _rollback(stack, admin_token, app, 1)
    assert rolled["status"] == "succeeded", rolled
    assert _page(port) == "v1"  # though `latest` names v2's image
    assert _image_id(web_images.tag) == second_id
    assert rolled["version"] == 3 and _images(rolled) == [("web", web_images.tag, first_id, first_id)]
    with stack.client(admin_token) as c:
        files = c.get(f"/api/v1/apps/{app}/compose").json()
        listed = c.get("/api/v1/deployments", params={"app": app}).json()["deployments"]
        logs = c.get(f"/api/v1/deployments/{rolled['id']}/logs").json()["lines"]
    # the version's files are as stored: no drift, compose.yaml names the tag
    assert (files["version"], files["compose"], files["drift"]) == (3, compose, False)
    assert (stack.data / "apps" / app / "compose.yaml").read_text() == compose
    assert _images(next(d for d in listed if d["id"] == rolled["id"])) == _images(rolled)
    assert f"service web: runs {web_images.tag} as v1 ran it ({first_id})" in [line["line"] for line in logs]

    # a redeploy of the rolled-back version keeps running what it pins
    redeployed = stack.act(admin_token, app, "redeploy")
    assert redeployed["status"] == "succeeded" and _images(redeployed) == _images(rolled)
    assert _page(port) == "v1"


def test_a_rollback_whose_local_image_is_gone_fails_and_leaves_the_app_running(
    stack: Stack, admin_token: str, web_images: WebImages, app: str
) -> None:
    port = free_port()
    first_id = web_images.build("v1")
    _, first = stack.deploy(
        admin_token,
        {
            "name": app,
            "compose": COMPOSE.format(image=web_images.tag),
            "env": f"HTTP_PORT={port}\n",
            "auto_rollback": False,
        },
    )
    assert first["status"] == "succeeded", first
    web_images.build("v2")
    assert _edit_and_deploy(stack, admin_token, app, "runs the new latest")["status"] == "succeeded"
    assert _page(port) == "v2"
    _remove_images(first_id)  # nothing runs it any more, and no registry has it
    running = _web_container_id(app)

    rolled = _rollback(stack, admin_token, app, 1)
    assert rolled["status"] == "failed", rolled
    assert rolled["reason"] == (
        f"refused before Compose ran (nothing was stopped): service web: image {web_images.tag} as v1 ran it "
        f"(sha256:{first_id.removeprefix('sha256:')[:12]}) is no longer on this server and has no registry "
        "digest to pull it by; load or rebuild that image, or deploy the version as an edit to run what "
        "the tag names now"
    )
    assert rolled.get("images", []) == []
    assert _web_container_id(app) == running  # the same container, untouched
    assert _page(port) == "v2"
    wait_for(lambda: _status(stack, admin_token, app) == "running", timeout=30, what=f"{app} running")


REGISTRY_COMPOSE = """\
services:
  web:
    image: {image}
    pull_policy: always
    init: true
    command: ["sh", "-c", "mkdir -p /www && cp /version /www/index.html && exec httpd -f -p 8080 -h /www"]
    ports:
      - "127.0.0.1:${{HTTP_PORT}}:8080"
"""


def test_a_rollback_pulls_the_recorded_registry_digest_after_latest_moved(
    stack: Stack, admin_token: str, app: str, tmp_path: Path
) -> None:
    """The issue's `latest` app on a real registry v2: the recorded digest is the registry's, and a
    rollback pulls exactly it again, by digest, after `latest` was pushed anew and the old image
    left this server."""
    port = free_port()
    client = docker_client()
    try:
        with running_registry(tmp_path / "registry") as registry:
            try:
                image = registry.image("appos-test/digest-web", "latest")
                name = image.rsplit(":", 1)[0]
                first = push_image(client, image, content="v1")
                _, deployed = stack.deploy(
                    admin_token,
                    {
                        "name": app,
                        "compose": REGISTRY_COMPOSE.format(image=image),
                        "env": f"HTTP_PORT={port}\n",
                    },
                )
                assert deployed["status"] == "succeeded", deployed
                ((service, named, digest, image_id),) = _images(deployed)
                assert (service, named, digest) == ("web", image, first) and image_id != first
                assert _page(port) == "v1"

                second = push_image(client, image, content="v2")
                assert (
                    _edit_and_deploy(stack, admin_token, app, "pull the new latest")["status"] == "succeeded"
                )
                assert _page(port) == "v2"
                # the old image left this server: its names go (by ID, it could be another test's too)
                old = client.images.get(image_id)
                for reference in [*old.tags, *old.attrs.get("RepoDigests", [])]:
                    client.images.remove(reference)
                mark = registry.log_mark()

                rolled = _rollback(stack, admin_token, app, 1)
                assert rolled["status"] == "succeeded", rolled
                assert _page(port) == "v1"
                assert [(i[0], i[1], i[2]) for i in _images(rolled)] == [("web", image, first)]
                assert ("GET", f"/v2/appos-test/digest-web/manifests/{first}") in registry.requests_since(
                    mark
                )
                assert f"{name}@{second}" in client.images.get(image).attrs["RepoDigests"]  # latest: still v2
                assert f"{name}@{first}" in client.images.get(f"{name}@{first}").attrs["RepoDigests"]
            finally:
                with stack.client(admin_token) as c:
                    r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
                if r.status_code == 202:
                    stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
                remove_images(client, registry)
    finally:
        client.close()
