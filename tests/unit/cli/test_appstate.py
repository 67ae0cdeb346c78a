"""The CLI says an app's state in the console's words (issue 17)."""

from __future__ import annotations

from cli.appstate import (
    auto_rollback_note,
    deployment_label,
    saved_not_deployed,
    status_words,
    version_source,
    version_words,
)


def _svc(name: str, state: str) -> dict[str, str]:
    return {"service": name, "state": state}


def test_partially_running_is_how_many_of_how_many() -> None:
    services = [_svc("web", "running"), _svc("db", "exited"), _svc("cache", "running")]
    assert status_words({"status": "partially_running", "services": services}) == "2 of 3 running"
    assert status_words({"status": "failed"}) == "failed"


def test_a_rollback_is_labelled_with_its_versions() -> None:
    manual = {"action": "deploy", "source": "rollback", "rollback_from": 3, "rollback_to": 1}
    assert deployment_label(manual) == "rollback from v3 to v1"
    auto = {"action": "deploy", "source": "auto_rollback", "rollback_from": 2, "rollback_to": 1}
    assert deployment_label(auto) == "automatic rollback from v2 to v1"
    assert deployment_label({"action": "restart"}) == "restart"
    assert version_source({"source": "auto_rollback", "rollback_from": 2, "rollback_to": 1}) == (
        "automatic rollback from v2 to v1"
    )


def test_an_automatic_rollback_says_when_and_why() -> None:
    app = {
        "last_version_deployment": {
            "source": "auto_rollback", "status": "succeeded", "rollback_from": 2, "rollback_to": 1,
            "rollback_cause": "service web exited with code 3", "created_at": "2025-01-02T03:04:05Z",
        }
    }  # fmt: skip
    note = auto_rollback_note(app)
    assert note.startswith("rolled back automatically to version 1 (2025-01-0")
    assert note.endswith("because version 2 failed to deploy: service web exited with code 3")
    assert auto_rollback_note({"last_version_deployment": {"source": "edit"}}) == ""


def test_versions_in_plain_words() -> None:
    saved = {"name": "blog", "status": "running", "current_version": 3, "last_good_version": 2,
             "last_version_deployment": {"version": 2}}  # fmt: skip
    assert saved_not_deployed(saved)
    assert version_words(saved) == (
        "v3 (last working version: 2) — version 3 saved, not deployed (appos redeploy blog)"
    )
    failed = {**saved, "last_version_deployment": {"version": 3, "status": "failed"}}
    assert not saved_not_deployed(failed)
    assert version_words({"current_version": 2, "last_good_version": 2}) == "v2"
