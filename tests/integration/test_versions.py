"""Compose editing with versions, diff, rollback, automatic rollback, the policy and drift —
through REST, deployed for real."""

from __future__ import annotations

import os
import urllib.request
import uuid
from typing import Any

import httpx
import pytest

from tests.harness import Stack, free_port, wait_for


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _page(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as page:
        return str(page.read().decode().strip())


def _compose(stack: Stack, token: str, app: str) -> tuple[dict[str, Any], str]:
    with stack.client(token) as c:
        r = c.get(f"/api/v1/apps/{app}/compose")
    assert r.status_code == 200, r.text
    return r.json(), r.headers["etag"]


def _put(stack: Stack, token: str, app: str, etag: str | None, files: dict[str, str], **params: str) -> Any:
    headers = {"If-Match": etag} if etag is not None else {}
    with stack.client(token) as c:
        return c.put(f"/api/v1/apps/{app}/compose", json=files, headers=headers, params=params)


def _versions(stack: Stack, token: str, app: str) -> list[dict[str, Any]]:
    with stack.client(token) as c:
        versions: list[dict[str, Any]] = c.get(f"/api/v1/apps/{app}/versions").json()["versions"]
    return versions


@pytest.fixture
def web_app(stack: Stack, admin_token: str, busybox_image: str) -> Any:
    app, port = _name("ed"), free_port()
    _, deployment = stack.deploy(
        admin_token,
        {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(port), "MESSAGE": "first"}},
    )
    assert deployment["status"] == "succeeded"
    yield app, port
    with stack.client(admin_token) as c:
        r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
    if r.status_code == 202:
        stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def test_edit_history_diff_and_rollback(stack: Stack, admin_token: str, web_app: tuple[str, int]) -> None:
    app, port = web_app
    current, etag = _compose(stack, admin_token, app)
    assert current["version"] == 1 and current["etag"] == etag and not current["drift"]
    assert 'MESSAGE="first"' in current["env"]

    edited = {
        "compose": current["compose"],
        "env": current["env"].replace('"first"', '"second"'),
        "message": "new text",
    }
    missing = _put(stack, admin_token, app, None, edited)
    assert missing.status_code == 428 and missing.json()["code"] == "precondition_required"
    stale = _put(stack, admin_token, app, '"v0-0123456789abcdef"', edited)
    assert stale.status_code == 409 and "stale" in stale.json()["message"]
    assert _compose(stack, admin_token, app)[0]["version"] == 1

    r = _put(stack, admin_token, app, etag, edited, deploy="true")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["version"]["number"] == 2 and body["version"]["author"] == "admin"
    assert body["version"]["message"] == "new text" and body["version"]["source"] == "edit"
    assert stack.wait_deployment(admin_token, body["deployment"]["id"])["status"] == "succeeded"
    assert _page(port) == "second"
    again = _put(stack, admin_token, app, etag, {**edited, "env": edited["env"] + "\n"})
    assert again.status_code == 409, "the v1 ETag is stale now"

    with stack.client(admin_token) as c:
        diff = c.get(f"/api/v1/apps/{app}/versions/2/diff").json()
    assert diff["from_version"] == 1 and diff["to_version"] == 2
    assert diff["compose_diff"] == ""
    changed = [
        line for line in diff["env_diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed == ['-MESSAGE="first"', '+MESSAGE="second"']

    with stack.client(admin_token) as c:
        rolled = c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1})
    assert rolled.status_code == 202, rolled.text
    v3 = rolled.json()["version"]
    assert v3["number"] == 3 and v3["source"] == "rollback" and v3["message"] == "rollback to v1"
    assert stack.wait_deployment(admin_token, rolled.json()["deployment"]["id"])["status"] == "succeeded"
    assert _page(port) == "first"
    with stack.client(admin_token) as c:
        v1 = c.get(f"/api/v1/apps/{app}/versions/1").json()
        v3_full = c.get(f"/api/v1/apps/{app}/versions/3").json()
    assert (v3_full["compose"], v3_full["env"], v3_full["hash"]) == (v1["compose"], v1["env"], v1["hash"])
    assert [v["number"] for v in _versions(stack, admin_token, app)] == [3, 2, 1]
    assert [v["source"] for v in _versions(stack, admin_token, app)] == ["rollback", "edit", "create"]


def test_a_failing_edit_is_rolled_back_automatically(
    stack: Stack, admin_token: str, web_app: tuple[str, int]
) -> None:
    app, port = web_app
    current, etag = _compose(stack, admin_token, app)
    broken = (
        current["compose"]
        .replace('exec httpd -f -p 8080 -h /www"]', 'exit 3"]')
        .replace("restart: unless-stopped", 'restart: "no"')
    )
    assert broken != current["compose"]
    r = _put(stack, admin_token, app, etag, {"compose": broken, "env": current["env"]}, deploy="true")
    assert r.status_code == 200, r.text
    failed = stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
    assert failed["status"] == "failed"
    assert failed["reason"] == "service web exited with code 3; rolled back automatically to v1 (as v3)"
    versions = _versions(stack, admin_token, app)
    assert [(v["number"], v["source"]) for v in versions[:2]] == [(3, "auto_rollback"), (2, "edit")]
    rollback_deployment = versions[0]["deployment_id"]
    assert stack.wait_deployment(admin_token, rollback_deployment)["status"] == "succeeded"
    wait_for(lambda: _page(port) == "first", timeout=30, what="v1 to serve again")
    with stack.client(admin_token) as c:
        assert c.get(f"/api/v1/apps/{app}").json()["last_good_version"] == 3

    # turned off, a failing edit stays failed
    with stack.client(admin_token) as c:
        assert (
            c.patch(f"/api/v1/apps/{app}/options", json={"auto_rollback": False}).json()["auto_rollback"]
            is False
        )
    current, etag = _compose(stack, admin_token, app)
    r = _put(stack, admin_token, app, etag, {"compose": broken, "env": current["env"]}, deploy="true")
    failed = stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
    assert failed["status"] == "failed" and "rolled back" not in failed["reason"]
    assert _versions(stack, admin_token, app)[0]["number"] == 4


POLICY_CASES = [
    ("    privileged: true\n", "privileged"),
    ("    cap_add: [SYS_ADMIN]\n", "cap_add SYS_ADMIN"),
    ("    network_mode: host\n", "network_mode: host"),
    ("    pid: host\n", "pid: host"),
    ("    ipc: host\n", "ipc: host"),
    ("    devices: ['/dev/null:/dev/xnull']\n", "devices"),
    ("    security_opt: ['seccomp:unconfined']\n", "security_opt"),
    ("    volumes: ['/var/run/docker.sock:/var/run/docker.sock']\n", "Docker socket"),
    ("    volumes: ['/etc:/host-etc:ro']\n", "outside the app's folder"),
    ("    volumes: ['../escape:/x']\n", "outside the app's folder"),
    ("    volumes: ['./link:/x']\n", "./link is a symbolic link"),
]


def test_changed_options_are_answered_with_the_app_as_its_page_reads_it(
    stack: Stack, admin_token: str, web_app: tuple[str, int]
) -> None:
    """PATCH options (and policy exceptions) answer with what GET says of the app: its status from its
    containers, its newest deployment and its backup opt-in, read once the change is committed."""
    app, _ = web_app
    with stack.client(admin_token) as c:
        for body in ({"backup_volumes": True}, {"auto_rollback": False}, {"backup_volumes": False}):
            r = c.patch(f"/api/v1/apps/{app}/options", json=body)
            assert r.status_code == 200, r.text
            assert r.json() == c.get(f"/api/v1/apps/{app}").json(), body
        changed = r.json()
        options = (changed["status"], changed["auto_rollback"], changed["backup_volumes"])
        assert options == ("running", False, False)
        assert changed["last_deployment"]["status"] == "succeeded"
        r = c.put(f"/api/v1/apps/{app}/policy", json={"exceptions": [], "reason": "none needed"})
        assert r.status_code == 200, r.text
        assert r.json() == c.get(f"/api/v1/apps/{app}").json()


@pytest.mark.parametrize(("extra", "needle"), POLICY_CASES)
def test_the_compose_policy_refuses_and_changes_nothing(
    stack: Stack, admin_token: str, web_app: tuple[str, int], extra: str, needle: str
) -> None:
    app, _ = web_app
    os.symlink("/etc", stack.data / "apps" / app / "link")
    current, etag = _compose(stack, admin_token, app)
    compose = current["compose"].replace(
        "    image: appos-test/busybox:latest\n", "    image: appos-test/busybox:latest\n" + extra, 1
    )
    if "volumes:" in extra:
        compose = compose.replace("    volumes:\n      - data:/www/data\n", "")
    assert compose != current["compose"]
    r = _put(stack, admin_token, app, etag, {"compose": compose, "env": current["env"]}, deploy="true")
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "service web" in message and needle in message, message
    after, after_etag = _compose(stack, admin_token, app)
    assert after_etag == etag and after["version"] == 1


def test_policy_exceptions_are_admin_only_and_audited(
    stack: Stack, admin_token: str, web_app: tuple[str, int]
) -> None:
    app, _ = web_app
    operator, password = _name("op"), "operator-password"
    with stack.client(admin_token) as c:
        c.post("/api/v1/users", json={"username": operator, "password": password, "role": "operator"})
    op_token = stack.login(operator, password)
    with stack.client(op_token) as c:
        denied = c.put(f"/api/v1/apps/{app}/policy", json={"exceptions": ["privileged"], "reason": "x"})
        assert denied.status_code == 403
        create = c.post(
            "/api/v1/apps", json={"name": _name("p"), "template": "busybox-httpd", "allow": ["privileged"]}
        )
        assert create.status_code == 403
    with stack.client(admin_token) as c:
        assert (
            c.put(f"/api/v1/apps/{app}/policy", json={"exceptions": ["bogus"], "reason": "x"}).status_code
            == 400
        )
        assert c.put(f"/api/v1/apps/{app}/policy", json={"exceptions": ["privileged"]}).status_code == 400
        ok = c.put(f"/api/v1/apps/{app}/policy", json={"exceptions": ["privileged"], "reason": "needs /dev"})
        assert ok.status_code == 200 and ok.json()["policy_exceptions"] == ["privileged"]
    current, etag = _compose(stack, op_token, app)
    compose = current["compose"].replace("    init: true\n", "    init: true\n    privileged: true\n")
    stored = _put(stack, op_token, app, etag, {"compose": compose, "env": current["env"]})
    assert stored.status_code == 200, stored.text
    assert stored.json()["version"]["number"] == 2
    assert "deployment" not in stored.json(), "stored without deploying"
    audit = []
    with httpx.stream(
        "GET",
        f"{stack.url}/api/v1/events",
        params={"after": 0},
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=30,
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: ") and '"app_policy_changed"' in line and app in line:
                audit.append(line)
                break
    assert audit and '"actor":"admin"' in audit[0] and "needs /dev" in audit[0]


def test_drift_on_disk_is_shown_and_must_be_resolved(
    stack: Stack, admin_token: str, web_app: tuple[str, int]
) -> None:
    app, _ = web_app
    on_disk = stack.data / "apps" / app / "compose.yaml"
    on_disk.write_text(on_disk.read_text() + "# edited by hand\n")
    current, etag = _compose(stack, admin_token, app)
    assert current["drift"] is True and current["disk_compose"].endswith("# edited by hand\n")
    edited = {"compose": current["compose"] + "# via the API\n", "env": current["env"]}
    refused = _put(stack, admin_token, app, etag, edited)
    assert refused.status_code == 409 and "changed by hand" in refused.json()["message"]
    assert _compose(stack, admin_token, app)[0]["version"] == 1
    kept = _put(stack, admin_token, app, etag, {"compose": current["disk_compose"], "env": current["env"]})
    assert kept.status_code == 200, kept.text
    after, _ = _compose(stack, admin_token, app)
    assert after["version"] == 2 and after["drift"] is False


def test_viewers_read_masked_and_cannot_edit(
    stack: Stack, admin_token: str, web_app: tuple[str, int]
) -> None:
    app, _ = web_app
    viewer, password = _name("vw"), "viewer-password"
    with stack.client(admin_token) as c:
        c.post("/api/v1/users", json={"username": viewer, "password": password, "role": "viewer"})
    token = stack.login(viewer, password)
    secret_line = next(
        line
        for line in _compose(stack, admin_token, app)[0]["env"].splitlines()
        if line.startswith("SECRET=")
    )
    current, etag = _compose(stack, token, app)
    assert current["env_masked"] is True
    assert "SECRET=********" in current["env"] and secret_line not in current["env"]
    with stack.client(token) as c:
        assert secret_line not in c.get(f"/api/v1/apps/{app}/versions/1").json()["env"]
        assert (
            c.get(f"/api/v1/apps/{app}/versions/1/diff", params={"reveal_secrets": "true"}).status_code == 403
        )
        assert secret_line not in c.get(f"/api/v1/apps/{app}/versions/1/diff").json()["env_diff"]
        assert c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1}).status_code == 403
    assert (
        _put(stack, token, app, etag, {"compose": current["compose"] + "#\n", "env": ""}).status_code == 403
    )
    with stack.client(admin_token) as c:
        revealed = c.get(f"/api/v1/apps/{app}/versions/1/diff", params={"reveal_secrets": "true"}).json()
    assert secret_line in revealed["env_diff"].replace("+", "")


def test_no_drift_while_a_deployment_is_about_to_write_the_files(
    stack: Stack, admin_token: str, web_app: tuple[str, int]
) -> None:
    """Save and deploy stores the version at once, but the worker writes it to disk only when the
    deployment runs: until then the disk holds the previous version, which is not a hand edit."""
    app, _ = web_app
    current, etag = _compose(stack, admin_token, app)
    slow = current["compose"].replace('["sh", "-c", "', '["sh", "-c", "sleep 8 && ')  # healthy after 8s
    assert slow != current["compose"]
    first = _put(stack, admin_token, app, etag, {"compose": slow, "env": current["env"]}, deploy="true")
    assert first.status_code == 200, first.text
    current, etag = _compose(stack, admin_token, app)
    assert current["version"] == 2 and current["drift"] is False, current

    # v3 queues behind v2's deployment (one at a time per app): the disk holds v1 or v2, not v3
    second = _put(
        stack, admin_token, app, etag, {"compose": slow + "# v3\n", "env": current["env"]}, deploy="true"
    )
    assert second.status_code == 200, second.text
    current, _ = _compose(stack, admin_token, app)
    assert current["version"] == 3 and current["drift"] is False, current
    assert stack.wait_deployment(admin_token, second.json()["deployment"]["id"])["status"] == "succeeded"
    done, _ = _compose(stack, admin_token, app)
    assert (
        done["drift"] is False and (stack.data / "apps" / app / "compose.yaml").read_text() == slow + "# v3\n"
    )
