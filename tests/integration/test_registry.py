"""The registry client and the update check against a real registry v2 (Debian's docker-registry on
a loopback port) that the real Docker engine pushed busybox-based images to."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.deployer.updates.check import check_image
from services.deployer.updates.refs import parse_reference
from services.deployer.updates.registry import Credentials, RegistryClient, RegistryError
from services.deployer.updates.tags import UpdateKind
from tests.harness import docker_client
from tests.registry import LocalRegistry, push_image, remove_images, running_registry, running_token_server

pytestmark = pytest.mark.integration

REPOSITORY = "appos-test/web"
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "2.0.0")


@dataclass
class Seeded:
    registry: LocalRegistry
    digests: dict[str, str]
    client: object  # the Docker SDK client

    def image(self, tag: str) -> str:
        return self.registry.image(REPOSITORY, tag)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Seeded]:
    client = docker_client()
    try:
        with running_registry(tmp_path_factory.mktemp("registry")) as registry:
            try:
                digests = {}
                for version in VERSIONS:
                    digests[version] = push_image(
                        client, registry.image(REPOSITORY, version), content=f"web {version}\n"
                    )
                yield Seeded(registry, digests, client)
            finally:
                remove_images(client, registry)
    finally:
        client.close()


@pytest.fixture
def registry_client() -> Iterator[RegistryClient]:
    with RegistryClient(timeout=20) as client:
        yield client


def test_list_tags_and_head_digest(seeded: Seeded, registry_client: RegistryClient) -> None:
    ref = parse_reference(seeded.image("1.0.0"))
    assert sorted(registry_client.list_tags(ref)) == sorted(VERSIONS)
    for version in VERSIONS:
        assert registry_client.head_digest(ref.with_tag(version)) == seeded.digests[version]
    assert len(set(seeded.digests.values())) == len(VERSIONS)


def test_unknown_tag_and_repository_say_so(seeded: Seeded, registry_client: RegistryClient) -> None:
    with pytest.raises(RegistryError, match="no such tag or repository"):
        registry_client.head_digest(parse_reference(seeded.image("9.9.9")))
    with pytest.raises(RegistryError, match="no such repository"):
        registry_client.list_tags(parse_reference(seeded.registry.image("appos-test/nothing", "1.0.0")))


def test_check_reports_newest_patch_minor_major_with_only_head_and_tag_list(
    seeded: Seeded, registry_client: RegistryClient
) -> None:
    mark = seeded.registry.log_mark()
    result = check_image(
        client=registry_client, image=seeded.image("1.0.0"), running_digest=seeded.digests["1.0.0"]
    )
    requests = seeded.registry.requests_since(mark)

    assert result.error is None
    assert result.registry_digest == seeded.digests["1.0.0"]
    assert [(u.kind, u.tag, u.digest) for u in result.updates] == [
        (UpdateKind.PATCH, "1.0.1", seeded.digests["1.0.1"]),
        (UpdateKind.MINOR, "1.1.0", seeded.digests["1.1.0"]),
        (UpdateKind.MAJOR, "2.0.0", seeded.digests["2.0.0"]),
    ]
    base = f"/v2/{REPOSITORY}"
    assert sorted(requests) == sorted(
        [
            ("HEAD", f"{base}/manifests/1.0.0"),
            ("GET", f"{base}/tags/list?n=1000"),
            ("HEAD", f"{base}/manifests/1.0.1"),
            ("HEAD", f"{base}/manifests/1.1.0"),
            ("HEAD", f"{base}/manifests/2.0.0"),
        ]
    )


def test_check_of_the_newest_tag_finds_nothing(seeded: Seeded, registry_client: RegistryClient) -> None:
    result = check_image(
        client=registry_client, image=seeded.image("2.0.0"), running_digest=seeded.digests["2.0.0"]
    )
    assert result.error is None
    assert result.updates == ()


def test_repushed_tag_is_a_digest_update(tmp_path: Path, docker_engine: None) -> None:
    """Its own registry: re-pushing 1.0.1 must not change what the other tests see."""
    client = docker_client()
    try:
        with (
            running_registry(tmp_path / "registry") as registry,
            RegistryClient(timeout=20) as registry_client,
        ):
            try:
                image = registry.image(REPOSITORY, "1.0.1")
                old = push_image(client, image, content="web 1.0.1\n")
                new = push_image(client, image, content="web 1.0.1, rebuilt\n")
                assert new != old

                mark = registry.log_mark()
                result = check_image(client=registry_client, image=image, running_digest=old)
                requests = registry.requests_since(mark)
            finally:
                remove_images(client, registry)
    finally:
        client.close()

    assert result.error is None
    assert result.registry_digest == new
    assert [(u.kind, u.tag, u.digest) for u in result.updates] == [(UpdateKind.DIGEST, "1.0.1", new)]
    assert sorted(requests) == [
        ("GET", f"/v2/{REPOSITORY}/tags/list?n=1000"),
        ("HEAD", f"/v2/{REPOSITORY}/manifests/1.0.1"),
    ]


def test_stopped_registry_makes_the_check_unknown_with_the_reason(tmp_path: Path) -> None:
    registry_timeout = 20.0
    with running_registry(tmp_path / "registry") as registry:
        image = registry.image(REPOSITORY, "1.0.0")
    # stopped: nothing listens on its port any more
    with RegistryClient(timeout=registry_timeout) as registry_client:
        result = check_image(client=registry_client, image=image, running_digest=None)

    assert result.unknown
    assert result.error is not None
    assert f"cannot reach the registry {registry.host}" in result.error
    assert "refused" in result.error.lower()
    assert result.updates == ()
    # the connection was refused, not waited out: "refused" above says so, no clock is needed


def test_token_auth_registry_with_a_stored_login(tmp_path: Path, docker_engine: None) -> None:
    """Docker Hub's flow against distribution's own `auth: token`: the registry challenges with
    Bearer, the client asks the token service (with the stored login as basic auth) and retries."""
    root = tmp_path / "registry"
    client = docker_client()
    try:
        with running_registry(root) as open_registry:  # seeded without auth, then restarted behind it
            port = open_registry.port
            try:
                digests = {
                    version: push_image(client, open_registry.image(REPOSITORY, version), content=version)
                    for version in ("1.0.0", "1.0.1")
                }
            finally:
                remove_images(client, open_registry)
    finally:
        client.close()

    with (
        running_token_server(username="ops", password="token-test-password") as tokens,
        running_registry(root, port=port, token_server=tokens) as registry,
    ):
        image = registry.image(REPOSITORY, "1.0.0")
        with RegistryClient(timeout=20) as anonymous:
            refused = check_image(client=anonymous, image=image, running_digest=digests["1.0.0"])
        login = Credentials("ops", "token-test-password")
        mark = registry.log_mark()
        with RegistryClient(timeout=20, credentials={registry.host: login}.get) as with_login:
            result = check_image(client=with_login, image=image, running_digest=digests["1.0.0"])
        requests = registry.requests_since(mark)

    assert refused.unknown and refused.error is not None
    assert f"{registry.host} needs credentials" in refused.error
    assert "token-test-password" not in refused.error

    assert result.error is None
    assert result.registry_digest == digests["1.0.0"]
    assert [(u.kind, u.tag, u.digest) for u in result.updates] == [
        (UpdateKind.PATCH, "1.0.1", digests["1.0.1"])
    ]
    # one token for the repository, asked with the login, then reused for every request
    granted = [r for r in tokens.requests if r["user"] == "ops"]
    assert granted == [{"scope": f"repository:{REPOSITORY}:pull", "service": tokens.service, "user": "ops"}]
    base = f"/v2/{REPOSITORY}"
    assert sorted(requests) == sorted(
        [
            ("HEAD", f"{base}/manifests/1.0.0"),  # 401 with the challenge
            ("HEAD", f"{base}/manifests/1.0.0"),
            ("GET", f"{base}/tags/list?n=1000"),
            ("HEAD", f"{base}/manifests/1.0.1"),
        ]
    )
