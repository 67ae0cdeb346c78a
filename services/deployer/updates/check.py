"""One image's update check: what its tag names now, and which newer tags of its shape exist.

    HEAD the running tag → digest changed? → (versioned tag) GET the tag list → newest patch,
    minor and major → HEAD each of those

A registry that fails makes the check `unknown` with the reason instead of raising, so a caller
checking many apps goes on with the next one. Nothing here stores or reports anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.deployer.updates.refs import InvalidReference, parse_reference
from services.deployer.updates.registry import RegistryClient, RegistryError
from services.deployer.updates.tags import UpdateKind, digest_changed, newest_per_kind, parse_tag


@dataclass(frozen=True)
class Update:
    """An image newer than the running one: a new digest under the same tag, or a newer tag."""

    kind: UpdateKind
    tag: str
    digest: str


@dataclass(frozen=True)
class ImageCheck:
    """What one check found. `error` set means the check is `unknown` (and says why); otherwise
    `updates` lists a `digest` update when the tag moved, then the newest patch, minor and major."""

    image: str
    current_tag: str | None
    running_digest: str | None
    registry_digest: str | None = None
    updates: tuple[Update, ...] = ()
    error: str | None = None

    @property
    def unknown(self) -> bool:
        return self.error is not None

    def update_of(self, kind: UpdateKind) -> Update | None:
        return next((update for update in self.updates if update.kind is kind), None)


def check_image(*, client: RegistryClient, image: str, running_digest: str | None) -> ImageCheck:
    """Check `image` (as written in the compose file) against its registry. `running_digest` is the
    digest the service runs (None when unknown: then no `digest` update can be found). An image
    pinned by digest alone has no tag to follow and is not asked about."""
    try:
        ref = parse_reference(image)
    except InvalidReference as exc:
        return ImageCheck(image=image, current_tag=None, running_digest=running_digest, error=exc.message)
    if ref.tag is None:
        return ImageCheck(image=image, current_tag=None, running_digest=running_digest)
    try:
        registry_digest = client.head_digest(ref)
        updates: list[Update] = []
        if digest_changed(running_digest=running_digest, registry_digest=registry_digest):
            updates.append(Update(UpdateKind.DIGEST, ref.tag, registry_digest))
        if parse_tag(ref.tag) is not None:
            newest = newest_per_kind(ref.tag, client.list_tags(ref))
            for kind in (UpdateKind.PATCH, UpdateKind.MINOR, UpdateKind.MAJOR):
                if kind in newest:
                    updates.append(Update(kind, newest[kind], client.head_digest(ref.with_tag(newest[kind]))))
    except RegistryError as exc:
        return ImageCheck(image=image, current_tag=ref.tag, running_digest=running_digest, error=exc.message)
    return ImageCheck(
        image=image,
        current_tag=ref.tag,
        running_digest=running_digest,
        registry_digest=registry_digest,
        updates=tuple(updates),
    )
