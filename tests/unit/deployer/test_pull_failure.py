"""A deploy that failed for want of an image says which image, in words (executor._pull_failure)."""

from __future__ import annotations

from typing import Any

import docker.errors

from services.deployer.executor import _pull_failure


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


CONFIG = {"services": {"web": {"image": "nope/missing:1"}, "db": {"image": "busybox:latest"}}}


def test_an_image_missing_with_pull_policy_never_is_named() -> None:
    tail = ["Error response from daemon: No such image: nope/missing:1"]
    said = _pull_failure(_Client({"busybox:latest"}), CONFIG, tail)
    assert said.startswith("image nope/missing:1 was not found or the registry cannot be reached")
    assert "No such image" in said


def test_a_registry_that_cannot_be_reached_is_named() -> None:
    tail = ['web Error failed to resolve reference "nope/missing:1": dial tcp: lookup registry']
    assert "image nope/missing:1 was not found" in _pull_failure(_Client({"busybox:latest"}), CONFIG, tail)


def test_other_failures_are_left_to_the_general_reason() -> None:
    tail = ["Error response from daemon: driver failed programming external connectivity"]
    assert _pull_failure(_Client(set()), CONFIG, tail) == ""
