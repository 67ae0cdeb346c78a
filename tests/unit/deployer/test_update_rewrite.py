"""An update's change of the app's files (`updates/rewrite.py`): only the tag of each named
service's `image:` changes, everything else byte for byte; anchors, quotes and variables."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.deployer.updates.rewrite import rewrite, split_tag

COMPOSE = """\
# my app
services:
  web:
    image: 127.0.0.1:5000/team/web:1.0.0   # the site
    ports: ["8080:80"]
  db:
    image: 'postgres:16.2-alpine'
    environment: {A: "1"}
  cache:
    image: "redis"
volumes: {data: {}}
"""


def test_only_the_tags_change_byte_for_byte() -> None:
    done = rewrite(COMPOSE, "X=1\n", {"web": "1.1.0", "db": "16.3-alpine", "cache": "7.2"})
    assert done.compose == COMPOSE.replace("web:1.0.0", "web:1.1.0").replace(
        "'postgres:16.2-alpine'", "'postgres:16.3-alpine'"
    ).replace('"redis"', '"redis:7.2"')
    assert done.env == "X=1\n"


def test_an_untouched_service_and_crlf_lines_stay_as_written() -> None:
    text = COMPOSE.replace("\n", "\r\n")
    done = rewrite(text, "", {"db": "16.3-alpine"})
    assert done.compose == text.replace("16.2-alpine", "16.3-alpine")


def test_a_shared_anchor_changes_only_when_every_user_gets_the_same_tag() -> None:
    text = """\
x-base: &base
  image: ghcr.io/a/app:2.0.1
  restart: always
services:
  web:
    <<: *base
  worker:
    <<: *base
    command: work
"""
    with pytest.raises(InvalidArgument, match="shared with worker through a YAML anchor"):
        rewrite(text, "", {"web": "2.1.0"})
    done = rewrite(text, "", {"web": "2.1.0", "worker": "2.1.0"})
    assert done.compose == text.replace("app:2.0.1", "app:2.1.0")


def test_an_alias_of_the_image_value_is_shared_too() -> None:
    text = "services:\n  a:\n    image: &img busybox:1.36\n  b:\n    image: *img\n"
    with pytest.raises(InvalidArgument, match="shared with b"):
        rewrite(text, "", {"a": "1.37"})
    assert rewrite(text, "", {"a": "1.37", "b": "1.37"}).compose == text.replace("1.36", "1.37")


def test_a_tag_from_an_env_variable_changes_in_env_only() -> None:
    text = "services:\n  web:\n    image: nginx:${WEB_TAG}\n"
    env = "# tags\nWEB_TAG=1.25.3\nOTHER='x'\n"
    done = rewrite(text, env, {"web": "1.25.4"})
    assert done.compose == text
    assert done.env == "# tags\nWEB_TAG=1.25.4\nOTHER='x'\n"
    quoted = rewrite(
        "services:\n  web:\n    image: nginx:$WEB_TAG\n", 'WEB_TAG="1.25.3"\n', {"web": "1.26.0"}
    )
    assert quoted.env == 'WEB_TAG="1.26.0"\n'


@pytest.mark.parametrize(
    ("image", "env"),
    [
        ("${REGISTRY}/nginx:1.0.0", "REGISTRY=r.example\n"),  # the name from a variable
        ("nginx:${TAG:-1.0.0}", "TAG=1.0.0\n"),  # a default: not just the tag
        ("nginx:v${VERSION}", "VERSION=1.0.0\n"),  # part of the tag
    ],
)
def test_other_variables_are_refused_in_words(image: str, env: str) -> None:
    with pytest.raises(
        InvalidArgument, match="the image of web is built from variables AppOS cannot change safely"
    ):
        rewrite(f"services:\n  web:\n    image: {image}\n", env, {"web": "1.1.0"})


def test_a_variable_used_elsewhere_or_unset_is_refused() -> None:
    text = "services:\n  web:\n    image: nginx:${TAG}\n    environment:\n      V: ${TAG}\n"
    with pytest.raises(InvalidArgument, match="used elsewhere"):
        rewrite(text, "TAG=1.0.0\n", {"web": "1.1.0"})
    with pytest.raises(InvalidArgument, match=".env does not set"):
        rewrite("services:\n  web:\n    image: nginx:${TAG}\n", "", {"web": "1.1.0"})


@pytest.mark.parametrize("tag", ["", "-rc", ".1", "1.0;rm -rf /", "a b", "x" * 129, "1.0\n", "../x"])
def test_bad_tags_are_refused_before_any_file_is_read(tag: str) -> None:
    with pytest.raises(InvalidArgument, match="not a valid image tag"):
        rewrite("not: [valid", "", {"web": tag})


def test_images_not_written_here_or_pinned_by_digest_are_refused() -> None:
    with pytest.raises(InvalidArgument, match="not written in compose.yaml"):
        rewrite("services:\n  web:\n    build: .\n", "", {"web": "1.0"})
    with pytest.raises(InvalidArgument, match="pinned by digest"):
        rewrite("services:\n  web:\n    image: nginx@sha256:" + "a" * 64 + "\n", "", {"web": "1.0"})


def test_split_tag_knows_a_registry_port_from_a_tag() -> None:
    assert split_tag("127.0.0.1:5000/web") == ("127.0.0.1:5000/web", None)
    assert split_tag("127.0.0.1:5000/web:1.0") == ("127.0.0.1:5000/web", "1.0")
    assert split_tag("nginx") == ("nginx", None)
