"""The CLI's words for what a deployment ran (`appos deployments show`)."""

from __future__ import annotations

from cli.appstate import image_words

A, B = "sha256:" + "a" * 64, "sha256:" + "b" * 64


def test_a_pulled_image_shows_its_short_registry_digest() -> None:
    words = image_words({"service": "web", "image": "nginx:latest", "digest": A, "image_id": B})
    assert words == "web  nginx:latest  sha256:aaaaaaaaaaaa"


def test_an_image_built_here_says_so() -> None:
    words = image_words({"service": "web", "image": "mine:latest", "digest": B, "image_id": B})
    assert words == "web  mine:latest  sha256:bbbbbbbbbbbb (built here)"


def test_a_record_without_a_digest_says_it_is_unknown() -> None:
    assert image_words({"service": "web", "image": "x:1"}) == "web  x:1  digest unknown"
