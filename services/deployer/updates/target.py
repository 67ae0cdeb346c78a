"""What an update changes: for each service, the tag it goes to, from the request or from the app's
last check (the newest non-major candidate; a `digest` finding re-pulls the same tag). A major
needs the caller's confirmation; nothing to update is said in words with the next step."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appos.v1 import updates_pb2
from services.common.errors import Conflict, InvalidArgument
from services.deployer.updates.rewrite import split_tag, validate_tag
from services.deployer.updates.tags import parse_tag

CHECK_AGAIN = "check again with `appos updates check` (POST /api/v1/updates/check)"
# Preference among a check's findings, newest change first.
_ORDER = {"major": 3, "minor": 2, "patch": 1, "digest": 0}


@dataclass(frozen=True)
class Target:
    service: str
    image: str  # the reference as it runs now
    current_tag: str
    tag: str
    kind: str  # digest, patch, minor, major, or "tag" (a tag given that is none of these)
    digest: str = ""  # the registry's digest the check saw ("" when the tag was given)

    @property
    def words(self) -> str:
        """`web 1.0.0 → 1.1.0`; a digest update names the new image."""
        if self.tag == self.current_tag:
            new = f" ({self.digest[:19]})" if self.digest else " (new image)"
            return f"{self.service} {self.tag} → {self.tag}{new}"
        return f"{self.service} {self.current_tag} → {self.tag}"


def current_tag(image: str) -> str:
    _name, tag = split_tag(image.split("@", 1)[0])
    return tag or "latest"


def kind_between(current: str, new: str) -> str:
    if current == new:
        return "digest"
    old_version, new_version = parse_tag(current), parse_tag(new)
    if old_version is None or new_version is None or old_version.shape != new_version.shape:
        return "tag"
    if old_version.numbers[0] != new_version.numbers[0]:
        return "major"
    return "minor" if old_version.numbers[1:2] != new_version.numbers[1:2] else "patch"


def _major_refusal(targets: Iterable[Target]) -> InvalidArgument:
    first = next(iter(targets))
    return InvalidArgument(
        f"{first.service} {first.current_tag} → {first.tag} is a major update (it may change how the app "
        "works or its data); confirm it with allow_major: true (appos update --major)"
    )


def choose(
    *,
    app: str,
    images: Mapping[str, str],
    requested: Mapping[str, str],
    allow_major: bool,
    findings: Iterable[updates_pb2.ImageUpdate],
    running: Mapping[str, str],
) -> list[Target]:
    """`images`: service → the reference the current version names; `running`: service → the
    digest it last ran (stale `digest` findings are dropped)."""
    if requested:
        return _requested(images=images, requested=requested, allow_major=allow_major)
    best: dict[str, updates_pb2.ImageUpdate] = {}
    majors: list[Target] = []
    for row in findings:
        if row.kind not in _ORDER or images.get(row.service) != row.image:
            continue  # unknown, or found for a reference the app no longer runs
        if row.kind == "digest" and row.candidate_digest == running.get(row.service):
            continue  # already runs it
        if row.kind == "major" and not allow_major:
            majors.append(_target(row))
            continue
        held = best.get(row.service)
        if held is None or _ORDER[row.kind] > _ORDER[held.kind]:
            best[row.service] = row
    if not best and majors:
        raise _major_refusal(majors)
    if not best:
        raise Conflict(_nothing(app, images))
    return [_target(row) for _service, row in sorted(best.items())]


def _target(row: updates_pb2.ImageUpdate) -> Target:
    return Target(
        service=row.service, image=row.image, current_tag=row.current_tag or current_tag(row.image),
        tag=row.candidate_tag, kind=row.kind, digest=row.candidate_digest,
    )  # fmt: skip


def _requested(*, images: Mapping[str, str], requested: Mapping[str, str], allow_major: bool) -> list[Target]:
    targets = []
    for service, tag in sorted(requested.items()):
        if service not in images:
            known = ", ".join(sorted(images)) or "none"
            raise InvalidArgument(f"the app has no service {service!r} with an image (its services: {known})")
        validate_tag(service, tag)
        now = current_tag(images[service])
        targets.append(
            Target(
                service=service, image=images[service], current_tag=now, tag=tag, kind=kind_between(now, tag)
            )
        )
    majors = [t for t in targets if t.kind == "major"]
    if majors and not allow_major:
        raise _major_refusal(majors)
    return targets


def _nothing(app: str, images: Mapping[str, str]) -> str:
    parts = []
    for service, image in sorted(images.items()):
        version = parse_tag(current_tag(image))
        line = (
            f"{version.numbers[0]}.x"
            if version is not None and len(version.numbers) > 1
            else current_tag(image)
        )
        parts.append(f"{service} already runs the newest {line}")
    said = "; ".join(parts) or f"app {app} has no image to update"
    return f"{said} the last check found; {CHECK_AGAIN}"
