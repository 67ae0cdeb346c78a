"""Image references and tag classification for update checks (services/deployer/updates)."""

from __future__ import annotations

import pytest

from services.deployer.updates.refs import InvalidReference, is_loopback_host, parse_reference
from services.deployer.updates.tags import (
    UpdateKind,
    candidates,
    digest_changed,
    newest_per_kind,
    parse_tag,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "domain", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "registry-1.docker.io", "library/nginx", "latest", None),
        ("nginx:1.25", "docker.io", "registry-1.docker.io", "library/nginx", "1.25", None),
        ("docker.io/nginx", "docker.io", "registry-1.docker.io", "library/nginx", "latest", None),
        ("index.docker.io/user/app:v1", "docker.io", "registry-1.docker.io", "user/app", "v1", None),
        ("user/app", "docker.io", "registry-1.docker.io", "user/app", "latest", None),
        ("ghcr.io/a/b:1.2", "ghcr.io", "ghcr.io", "a/b", "1.2", None),
        ("ghcr.io/org/team/app:1.2-alpine", "ghcr.io", "ghcr.io", "org/team/app", "1.2-alpine", None),
        ("127.0.0.1:5000/web:1.0.0", "127.0.0.1:5000", "127.0.0.1:5000", "web", "1.0.0", None),
        ("localhost/web", "localhost", "localhost", "web", "latest", None),
        ("localhost:5000/a/web:2", "localhost:5000", "localhost:5000", "a/web", "2", None),
        ("[::1]:5000/web:1.0", "[::1]:5000", "[::1]:5000", "web", "1.0", None),
        (f"nginx@{DIGEST}", "docker.io", "registry-1.docker.io", "library/nginx", None, DIGEST),
        (f"nginx:1.25@{DIGEST}", "docker.io", "registry-1.docker.io", "library/nginx", "1.25", DIGEST),
        ("my-registry.example:443/x_y/z.w:tag_1.A", "my-registry.example:443", "my-registry.example:443",
         "x_y/z.w", "tag_1.A", None),
    ],
)  # fmt: skip
def test_references_parse_as_docker_does(
    text: str, domain: str, registry: str, repository: str, tag: str | None, digest: str | None
) -> None:
    ref = parse_reference(text)
    assert (ref.domain, ref.registry, ref.repository, ref.tag, ref.digest) == (
        domain,
        registry,
        repository,
        tag,
        digest,
    )


def test_reference_names_and_text() -> None:
    assert parse_reference("nginx").name == "nginx"
    assert str(parse_reference("docker.io/library/nginx:1")) == "nginx:1"
    assert str(parse_reference("ghcr.io/a/b")) == "ghcr.io/a/b:latest"
    ref = parse_reference(f"ghcr.io/a/b:1@{DIGEST}")
    assert ref.manifest_reference == "1"
    assert parse_reference(f"ghcr.io/a/b@{DIGEST}").manifest_reference == DIGEST
    other = ref.with_tag("2.0")
    assert (other.repository, other.tag, other.digest) == ("a/b", "2.0", None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        " nginx",
        "nginx ",
        "Nginx",
        "nginx:",
        "nginx:-tag",
        "nginx:.tag",
        "nginx:" + "t" * 129,
        "a//b",
        "ghcr.io/",
        "/nginx",
        "nginx/",
        "nginx@sha256:abc",
        "nginx@md5:" + "a" * 32,
        f"nginx@sha256:{'A' * 64}",
        "http://example.com/nginx",
        "x y",
        "a:b:c",
        "nginx;rm -rf /",
        "nginx:1.0$(id)",
        "ex ample.com/nginx",
        "-bad.example/nginx",
        "[zz::1]:5000/web",
        "a__-b/c",
        "a" * 300,
    ],
)
def test_invalid_references_are_refused(text: str) -> None:
    with pytest.raises(InvalidReference, match="invalid"):
        parse_reference(text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:5000", True),
        ("127.1.2.3", True),
        ("localhost", True),
        ("LOCALHOST:5000", True),
        ("[::1]:5000", True),
        ("128.0.0.1:5000", False),
        ("10.0.0.1", False),
        ("localhost.example.com", False),
        ("registry-1.docker.io", False),
        ("127.0.0.1.nip.io", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@pytest.mark.parametrize(
    ("tag", "prefix", "numbers", "suffix"),
    [
        ("1", "", (1,), ""),
        ("1.2.3", "", (1, 2, 3), ""),
        ("v1.2", "v", (1, 2), ""),
        ("1.2-alpine", "", (1, 2), "-alpine"),
        ("16.4-bookworm", "", (16, 4), "-bookworm"),
        ("1.2.3.4", "", (1, 2, 3, 4), ""),
        ("3.12.1-slim-bookworm", "", (3, 12, 1), "-slim-bookworm"),
        ("1.25.3-alpine3.18", "", (1, 25, 3), "-alpine3.18"),
        ("2.0_rc1", "", (2, 0), "_rc1"),
    ],
)
def test_versioned_tags_split(tag: str, prefix: str, numbers: tuple[int, ...], suffix: str) -> None:
    version = parse_tag(tag)
    assert version is not None
    assert (version.prefix, version.numbers, version.suffix) == (prefix, numbers, suffix)


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "stable",
        "edge",
        "alpine",
        "1.2.3.4.5",
        "3.12rc1",
        "v",
        "1.",
        ".1",
        "1..2",
        "12345678901234567890",
    ],
)
def test_tags_without_a_version(tag: str) -> None:
    assert parse_tag(tag) is None


@pytest.mark.parametrize(
    ("tag", "prerelease"),
    [
        ("1.2.0", False),
        ("1.2.0-rc1", True),
        ("1.2.0-rc.1", True),
        ("1.2.0-beta", True),
        ("1.2.0-alpha.2", True),
        ("1.2.0-beta2-alpine", True),
        ("1.2.0-dev", True),
        ("1.2.0-b3", True),
        ("1.2-alpine", False),
        ("16.4-bookworm", False),
        ("1.2.3-1", False),
        ("1.2-alpine3.19", False),
    ],
)
def test_prereleases(tag: str, prerelease: bool) -> None:
    version = parse_tag(tag)
    assert version is not None
    assert version.is_prerelease is prerelease


TAGS = [
    "latest", "stable", "edge", "alpine",
    "1.0.0", "1.0.1", "1.0.2", "1.0.10", "1.0.9", "1.1.0", "1.9.0", "1.10.0",
    "2.0.0", "10.0.0", "9.1.0", "0.10.0",
    "1.1.0-rc1", "1.0.3-beta", "3.0.0-rc.1", "11.0.0-alpha",
    "1.0", "1.1", "2", "v1.0.5", "v1.2.0", "v3.0.0",
    "1.0.0-alpine", "1.0.4-alpine", "1.3.0-alpine", "4.0.0-alpine", "1.0.5-alpine-rc1",
    "1.0.0.1", "1.0.0.2",
]  # fmt: skip


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ("1.0.0", {"patch": "1.0.10", "minor": "1.10.0", "major": "10.0.0"}),
        ("1.0.10", {"minor": "1.10.0", "major": "10.0.0"}),
        ("1.9.0", {"minor": "1.10.0", "major": "10.0.0"}),
        ("9.1.0", {"major": "10.0.0"}),
        ("10.0.0", {}),
        ("v1.0.0", {"patch": "v1.0.5", "minor": "v1.2.0", "major": "v3.0.0"}),
        ("1.0", {"minor": "1.1"}),
        ("1", {"major": "2"}),
        ("1.0.0-alpine", {"patch": "1.0.4-alpine", "minor": "1.3.0-alpine", "major": "4.0.0-alpine"}),
        ("1.0.0.0", {"patch": "1.0.0.2"}),
        ("latest", {}),
        ("stable", {}),
        ("1.1.0-rc1", {}),
        ("0.9.0", {"minor": "0.10.0", "major": "10.0.0"}),
    ],
)
def test_newest_candidate_per_kind(current: str, expected: dict[str, str]) -> None:
    found = {kind.value: tag for kind, tag in newest_per_kind(current, TAGS).items()}
    assert found == expected


def test_candidates_keep_the_shape_and_sort_numerically() -> None:
    found = [(version.tag, kind) for version, kind in candidates("1.0.0", TAGS)]
    assert found == [
        ("1.0.1", UpdateKind.PATCH),
        ("1.0.2", UpdateKind.PATCH),
        ("1.0.9", UpdateKind.PATCH),
        ("1.0.10", UpdateKind.PATCH),
        ("1.1.0", UpdateKind.MINOR),
        ("1.9.0", UpdateKind.MINOR),
        ("1.10.0", UpdateKind.MINOR),
        ("2.0.0", UpdateKind.MAJOR),
        ("9.1.0", UpdateKind.MAJOR),
        ("10.0.0", UpdateKind.MAJOR),
    ]


def test_suffix_only_sees_its_own_suffix() -> None:
    tags = ["16.4-bookworm", "16.5-bookworm", "17.0-bookworm", "16.6-alpine", "16.9", "16.7-bullseye"]
    assert newest_per_kind("16.4-bookworm", tags) == {
        UpdateKind.MINOR: "16.5-bookworm",
        UpdateKind.MAJOR: "17.0-bookworm",
    }


def test_prefix_must_match() -> None:
    assert newest_per_kind("1.2.3", ["v1.2.4", "v2.0.0"]) == {}
    assert newest_per_kind("v1.2.3", ["1.2.4", "v1.2.4"]) == {UpdateKind.PATCH: "v1.2.4"}


def test_older_and_equal_tags_are_not_candidates() -> None:
    assert candidates("2.0.0", ["1.9.9", "2.0.0", "02.0.0", "1.99.0"]) == []


def test_digest_change() -> None:
    other = "sha256:" + "cd" * 32
    assert digest_changed(running_digest=DIGEST, registry_digest=other)
    assert not digest_changed(running_digest=DIGEST, registry_digest=DIGEST)
    assert not digest_changed(running_digest=None, registry_digest=DIGEST)
    assert not digest_changed(running_digest=DIGEST, registry_digest=None)
    assert [kind.value for kind in UpdateKind] == ["digest", "patch", "minor", "major"]
