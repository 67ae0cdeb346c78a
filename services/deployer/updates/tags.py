"""Which tags are newer versions of the running one, and how much newer.

A versioned tag has a shape: an optional `v`, one to four numbers joined by dots, and an optional
suffix that starts with `-` or `_` (`1.2.3`, `v1.2`, `1.2-alpine`, `16.4-bookworm`). A tag is a
candidate for another only with the same shape: the same prefix, the same count of numbers and the
same suffix, so `1.2-alpine` only ever sees `x.y-alpine` and `1.2.3` never sees `1.3`. Numbers
compare as numbers (`1.10` is newer than `1.9`).

A newer candidate is a `major` update when the first number differs, `minor` when the second does,
`patch` for the third or fourth. Tags without numbers (`latest`, `stable`, `edge`) have no
candidates: only a new image under the same tag (`digest`) can be found for them. Pre-releases
(`-rc1`, `-beta`, `-alpha.2`, …) are never candidates, and a running pre-release has none either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

_VERSIONED = re.compile(r"(?P<prefix>[vV]?)(?P<numbers>[0-9]+(?:\.[0-9]+){0,3})(?P<suffix>(?:[-_][\w.-]*)?)")
_PRERELEASE_WORD = re.compile(
    r"(?:alpha|beta|rc|pre|preview|dev|snapshot|nightly|canary|milestone|unstable)[0-9]*|[abm][0-9]+",
    re.IGNORECASE,
)
_MAX_NUMBER_DIGITS = 18  # a "number" longer than this is a hash or a date-time, not a version


class UpdateKind(StrEnum):
    """How an available image differs from the running one, smallest change first."""

    DIGEST = "digest"  # the same tag now names another image
    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"


@dataclass(frozen=True)
class TagVersion:
    """A versioned tag, split into its shape and its numbers."""

    tag: str
    prefix: str
    numbers: tuple[int, ...]
    suffix: str

    @property
    def shape(self) -> tuple[str, int, str]:
        return (self.prefix, len(self.numbers), self.suffix)

    @property
    def is_prerelease(self) -> bool:
        return any(_PRERELEASE_WORD.fullmatch(word) for word in re.split(r"[-_.]", self.suffix) if word)


def parse_tag(tag: str) -> TagVersion | None:
    """The tag's version, or None for a tag without one (`latest`, `stable`, `1.2.3.4.5`, `3.12rc1`)."""
    match = _VERSIONED.fullmatch(tag)
    if match is None:
        return None
    parts = match["numbers"].split(".")
    if any(len(part) > _MAX_NUMBER_DIGITS for part in parts):
        return None
    return TagVersion(tag, match["prefix"], tuple(int(part) for part in parts), match["suffix"])


def digest_changed(*, running_digest: str | None, registry_digest: str | None) -> bool:
    """Whether the tag now names another image than the running one. Unknown on either side
    (an image built here has no registry digest) is no change: nothing can be said."""
    return running_digest is not None and registry_digest is not None and running_digest != registry_digest


def kind_of(current: TagVersion, newer: TagVersion) -> UpdateKind:
    """How `newer` differs from `current` (both of one shape, `newer` the newer)."""
    for index, (old, new) in enumerate(zip(current.numbers, newer.numbers, strict=True)):
        if old != new:
            return (UpdateKind.MAJOR, UpdateKind.MINOR)[index] if index < 2 else UpdateKind.PATCH
    raise ValueError(f"{newer.tag!r} is not newer than {current.tag!r}")


def candidates(current_tag: str, tags: Iterable[str]) -> list[tuple[TagVersion, UpdateKind]]:
    """Every tag in `tags` that is a newer release of `current_tag`'s shape, with its kind, oldest
    first."""
    current = parse_tag(current_tag)
    if current is None or current.is_prerelease:
        return []
    found: list[tuple[TagVersion, UpdateKind]] = []
    for tag in set(tags):
        version = parse_tag(tag)
        if version is None or version.shape != current.shape or version.is_prerelease:
            continue
        if version.numbers > current.numbers:
            found.append((version, kind_of(current, version)))
    found.sort(key=lambda item: (item[0].numbers, item[0].tag))
    return found


def newest_per_kind(current_tag: str, tags: Iterable[str]) -> dict[UpdateKind, str]:
    """The newest candidate tag of each kind (`patch`, `minor`, `major`) that has one: what a
    check reports. `1.0.0` among `1.0.1 1.0.2 1.1.0 1.2.0 2.0.0 3.1.0` gives patch 1.0.2,
    minor 1.2.0, major 3.1.0."""
    newest: dict[UpdateKind, str] = {}
    for version, kind in candidates(current_tag, tags):
        newest[kind] = version.tag  # oldest first, so the last one wins
    return newest
