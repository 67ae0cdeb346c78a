"""The pure parts of recording digests and pinning a rollback to them (services/deployer/images.py):
which RepoDigests entry is the image's, which deployment's images a rollback runs, the reference
that runs exactly a recorded image, and the override Compose reads beside compose.yaml (real Compose)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from appos.v1 import apps_pb2
from services.common.errors import FailedPrecondition
from services.deployer import compose, images

A, B, C = ("sha256:" + ch * 64 for ch in "abc")


@pytest.mark.parametrize(
    ("image", "repo_digests", "expected"),
    [
        ("nginx:latest", [f"nginx@{A}"], A),
        ("docker.io/library/nginx:1.27", [f"nginx@{A}"], A),  # Docker lists Hub images by short name
        ("nginx", [f"docker.io/library/nginx@{A}"], A),
        ("index.docker.io/library/nginx:latest", [f"nginx@{A}"], A),
        ("ghcr.io/acme/web:1.0", [f"ghcr.io/acme/other@{B}", f"ghcr.io/acme/web@{A}"], A),
        ("127.0.0.1:5000/web:1.0.0", [f"127.0.0.1:5000/web@{A}"], A),
        ("127.0.0.1:5000/web:1.0.0", [f"localhost:5000/web@{A}"], ""),  # another registry, another image
        ("web:1.0", [f"127.0.0.1:5000/web@{A}"], ""),  # pushed elsewhere: not this repository's digest
        ("appos-test/digest-web:latest", [], ""),  # built here, never pushed
        ("nginx:latest", ["nginx@sha256:short", "not a reference@" + A], ""),
        ("Not/Valid", [f"nginx@{A}"], ""),
        ("nginx@" + A, [f"nginx@{A}"], A),  # pinned by digest in the file
    ],
)
def test_the_digest_is_the_repo_digest_of_the_images_own_repository(
    image: str, repo_digests: list[str], expected: str
) -> None:
    assert images.repo_digest(image, repo_digests) == expected


def test_a_pinned_reference_runs_exactly_the_recorded_image() -> None:
    pulled = images.ServiceImage(service="web", image="docker.io/library/nginx:latest", digest=A, image_id=B)
    assert not pulled.local_only and pulled.pinned() == f"nginx@{A}"
    on_registry = images.ServiceImage(service="web", image="127.0.0.1:5000/web:1.0.0", digest=A, image_id=B)
    assert on_registry.pinned() == f"127.0.0.1:5000/web@{A}"
    built = images.ServiceImage(service="web", image="appos-test/web:latest", digest=B, image_id=B)
    assert built.local_only and built.pinned() == B
    with pytest.raises(FailedPrecondition, match="service web: no image ID was recorded"):
        images.ServiceImage(service="web", image="x:1", digest="", image_id="").pinned()
    assert images.ServiceImage.from_pb(pulled.to_pb()) == pulled


def _deployment(
    id_: str, *, version: int, status: str = "succeeded", action: str = "deploy", ran: str = ""
) -> apps_pb2.Deployment:
    pb = apps_pb2.Deployment(id=id_, version=version, status=status, action=action)
    if ran:
        pb.images.add(service="web", image="web:latest", digest=ran, image_id=ran)
    return pb


def test_a_rollback_runs_the_images_of_the_newest_succeeded_deployment_of_its_version() -> None:
    newest_first = [
        _deployment("failed", version=1, status="failed", ran=C),  # failures record nothing kept
        _deployment("other-version", version=2, ran=C),
        _deployment("stopped", version=1, action="stop"),
        _deployment("old-build", version=1, action="deploy"),  # made before digests were recorded
        _deployment("restarted", version=1, action="restart", ran=B),
        _deployment("first", version=1, ran=A),
    ]
    chosen = images.newest_recorded(newest_first, 1)
    assert chosen is not None and chosen.id == "restarted"
    assert images.newest_recorded(newest_first[:4], 1) is None  # nothing recorded: the tags run
    assert images.newest_recorded([], 1) is None


def test_only_services_that_run_the_recorded_reference_are_pinned() -> None:
    recorded = {
        name: images.ServiceImage(service=name, image=f"{name}:latest", digest=A, image_id=A)
        for name in ("web", "builds", "renamed", "gone")
    }
    pins = images.Pins(version=1, deployment_id="d", images=recorded)
    config: dict[str, Any] = {
        "services": {
            "web": {"image": "web:latest"},
            "builds": {"image": "builds:latest", "build": {"context": "."}},
            "renamed": {"image": "renamed:2"},
            "new": {"image": "new:latest"},
        }
    }
    assert images.pinnable(config, pins) == {"web": recorded["web"]}


def test_a_failure_names_the_pinned_references_compose_was_asked_to_run() -> None:
    config: dict[str, Any] = {
        "name": "x",
        "services": {"web": {"image": "web:latest", "init": True}, "db": {}},
    }
    pinned = {"web": images.ServiceImage(service="web", image="web:latest", digest=A, image_id=B)}
    ran = images.applied(config, pinned)
    assert ran == {"name": "x", "services": {"web": {"image": f"web@{A}", "init": True}, "db": {}}}
    assert config["services"]["web"]["image"] == "web:latest"  # what was recorded stays as written
    assert images.applied(config, {}) == config


class _Images:
    def __init__(self, present: set[str]) -> None:
        self.present = present

    def get(self, image: str) -> Any:
        if image not in self.present:
            raise docker.errors.ImageNotFound(f"No such image: {image}")
        return object()


class _Client:
    def __init__(self, present: set[str]) -> None:
        self.images = _Images(present)


def test_a_local_image_that_is_gone_is_refused_naming_the_service_and_the_image() -> None:
    built = images.ServiceImage(service="web", image="appos-test/web:latest", digest=B, image_id=B)
    pulled = images.ServiceImage(service="db", image="postgres:16", digest=A, image_id=C)
    images.refuse_missing(_Client({B}), {"web": built, "db": pulled}, version=1)  # db pulls by digest
    with pytest.raises(FailedPrecondition) as refused:
        images.refuse_missing(_Client(set()), {"web": built, "db": pulled}, version=3)
    assert refused.value.message.startswith(
        f"service web: image appos-test/web:latest as v3 ran it (sha256:{'b' * 12}) "
        "is no longer on this server"
    )


def test_compose_reads_the_override_beside_the_unchanged_compose_file(tmp_path: Path) -> None:
    text = (
        "services:\n  web:\n    image: appos-test/web:latest\n    pull_policy: never\n"
        "  db:\n    image: db:1\n"
    )
    compose.write_files(tmp_path, text, "", durable=False)
    pinned = {
        "web": images.ServiceImage(service="web", image="appos-test/web:latest", digest=B, image_id=B),
        "db": images.ServiceImage(service="db", image="db:1", digest=A, image_id=C),
    }
    with images.override_files(pinned) as overrides:
        (path,) = overrides
        assert not path.is_relative_to(tmp_path)  # outside the app's folder: no container binds it
        assert path.parent.stat().st_mode & 0o077 == 0
        project = compose.Project(
            name="pins-test", directory=tmp_path, docker_host="unix:///nowhere", overrides=overrides
        )
        out = subprocess.run(
            project.command("config", "--format", "json"), capture_output=True, env=project.env(), check=True
        )
    services = json.loads(out.stdout)["services"]
    assert services["web"]["image"] == B and services["web"]["pull_policy"] == "never"
    assert services["db"]["image"] == f"db@{A}"
    assert not path.exists()
    assert (tmp_path / "compose.yaml").read_text() == text  # what drift and history compare
    with images.override_files({}) as none:
        assert none == ()
