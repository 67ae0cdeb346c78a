"""Which tags an update goes to (`updates/target.py`): the newest non-major finding of the last
check, a major only when confirmed, tags given by the caller, nothing to update in words; and the
version it starts from (`start.py`)."""

from __future__ import annotations

import pytest

from appos.v1 import apps_pb2, updates_pb2
from services.common.errors import Conflict, FailedPrecondition, InvalidArgument
from services.deployer.updates.start import refuse_unsettled
from services.deployer.updates.target import choose, kind_between

WEB = "127.0.0.1:5000/web:1.0.0"


def row(
    kind: str, tag: str, *, service: str = "web", image: str = WEB, digest: str = ""
) -> updates_pb2.ImageUpdate:
    return updates_pb2.ImageUpdate(
        app="a", service=service, image=image, current_tag=image.rsplit(":", 1)[1], candidate_tag=tag,
        candidate_digest=digest or f"sha256:{tag}", kind=kind,
    )  # fmt: skip


FINDINGS = [row("patch", "1.0.1"), row("minor", "1.1.0"), row("major", "2.0.0")]


def pick(findings: list[updates_pb2.ImageUpdate], **kw: object) -> list[tuple[str, str, str]]:
    args: dict[str, object] = {
        "app": "a", "images": {"web": WEB}, "requested": {}, "allow_major": False,
        "findings": findings, "running": {},
    }  # fmt: skip
    args.update(kw)
    return [(t.service, t.tag, t.kind) for t in choose(**args)]  # type: ignore[arg-type]


def test_the_default_is_the_newest_non_major() -> None:
    assert pick(FINDINGS) == [("web", "1.1.0", "minor")]
    assert pick([row("patch", "1.0.1"), row("major", "2.0.0")]) == [("web", "1.0.1", "patch")]


def test_a_major_needs_confirming_and_then_wins() -> None:
    with pytest.raises(InvalidArgument, match=r"web 1.0.0 → 2.0.0 is a major update.*allow_major: true"):
        pick([row("major", "2.0.0")])
    assert pick(FINDINGS, allow_major=True) == [("web", "2.0.0", "major")]


def test_a_digest_finding_repulls_the_same_tag_unless_it_already_runs() -> None:
    latest = "127.0.0.1:5000/web:latest"
    found = [row("digest", "latest", image=latest, digest="sha256:new")]
    assert pick(found, images={"web": latest}) == [("web", "latest", "digest")]
    with pytest.raises(Conflict):
        pick(found, images={"web": latest}, running={"web": "sha256:new"})


def test_findings_for_a_reference_the_app_no_longer_runs_are_stale() -> None:
    with pytest.raises(Conflict, match=r"web already runs the newest 1.x.*check again"):
        pick(FINDINGS, images={"web": "127.0.0.1:5000/web:1.1.0"})


def test_unknown_rows_and_no_check_at_all_are_nothing_to_update() -> None:
    unknown = updates_pb2.ImageUpdate(app="a", service="web", image=WEB, kind="unknown", reason="down")
    with pytest.raises(Conflict, match="check again"):
        pick([unknown])
    with pytest.raises(Conflict):
        pick([])


def test_given_tags_need_no_check_but_a_known_service_and_a_valid_tag() -> None:
    assert pick([], requested={"web": "1.2.0"}) == [("web", "1.2.0", "minor")]
    assert pick([], requested={"web": "1.5.0-broken"}) == [("web", "1.5.0-broken", "tag")]
    with pytest.raises(InvalidArgument, match="allow_major"):
        pick([], requested={"web": "3.0.0"})
    assert pick([], requested={"web": "3.0.0"}, allow_major=True) == [("web", "3.0.0", "major")]
    with pytest.raises(InvalidArgument, match=r"no service 'db'.*its services: web"):
        pick([], requested={"db": "1.0"})
    with pytest.raises(InvalidArgument, match="not a valid image tag"):
        pick([], requested={"web": "1.0 && x"})


def test_each_service_gets_its_own_target() -> None:
    api = "ghcr.io/a/api:3.4"
    found = [*FINDINGS, row("patch", "3.4.1", service="api", image="ghcr.io/a/api:3.4")]
    found[-1].current_tag = "3.4"
    assert pick(found, images={"web": WEB, "api": api}) == [
        ("api", "3.4.1", "patch"),
        ("web", "1.1.0", "minor"),
    ]


def test_kinds_between_tags() -> None:
    assert kind_between("1.0.0", "1.0.0") == "digest"
    assert kind_between("1.0.0", "1.0.3") == "patch"
    assert kind_between("v1.2", "v1.4") == "minor"
    assert kind_between("1.9", "2.0") == "major"
    assert kind_between("latest", "1.0") == "tag"


def test_an_update_starts_from_the_version_the_app_runs() -> None:
    refuse_unsettled(apps_pb2.App(name="a", current_version=3, last_good_version=3))
    with pytest.raises(FailedPrecondition, match="never deployed successfully"):
        refuse_unsettled(apps_pb2.App(name="a", current_version=1, last_good_version=0))
    with pytest.raises(FailedPrecondition, match=r"runs v2, but v3 is newer and not deployed"):
        refuse_unsettled(apps_pb2.App(name="a", current_version=3, last_good_version=2))
