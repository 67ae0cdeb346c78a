"""Stored registry logins end to end (issue 19): an app deployed from a loopback registry (Debian's
docker-registry, pulled by the engine while the registry is open), then the same registry restarted
behind Docker's token auth (`running_token_server`). The check says the app needs credentials; an
admin stores a login (`PUT /api/v1/updates/registries/{registry}`), which no reply, log file or
audit entry shows; the next check finds the update; removing the login makes it unknown again. An
update of the app is refused at the pull without a login and pulls through the auth with one."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import ROOT, Stack, docker_client, free_port
from tests.integration.test_update_check import _check, _found
from tests.registry import (
    LocalRegistry,
    TokenServer,
    push_image,
    remove_images,
    running_registry,
    running_token_server,
    start_registry,
)

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("update_check")]

REPOSITORY = "appos-test/private"
USERNAME = "ops"
PASSWORD = f"reg-secret-{uuid.uuid4().hex}"
COMPOSE = """\
services:
  web:
    image: {image}
    init: true
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - "127.0.0.1:{port}:8080"
"""


@dataclass
class Private:
    registry: LocalRegistry
    tokens: TokenServer
    digests: dict[str, str]
    app: str

    @property
    def path(self) -> str:
        return f"/api/v1/updates/registries/{self.registry.host}"


@pytest.fixture(scope="module")
def private(
    stack: Stack, admin_token: str, tmp_path_factory: pytest.TempPathFactory, busybox_image: str
) -> Iterator[Private]:
    client = docker_client()
    root = tmp_path_factory.mktemp("private-registry")
    app = f"prv{uuid.uuid4().hex[:8]}"
    host = ""
    try:
        with running_registry(root) as open_registry:  # seeded and pulled from without auth
            port, host = open_registry.port, open_registry.host
            digests = {
                v: push_image(client, open_registry.image(REPOSITORY, v), content=f"private {v}\n")
                for v in ("1.0.0", "1.1.0")
            }
            for v in digests:  # the engine pulls 1.0.0 now, and 1.1.0 only through an update
                client.images.remove(open_registry.image(REPOSITORY, v), force=True)
            compose = COMPOSE.format(image=open_registry.image(REPOSITORY, "1.0.0"), port=free_port())
            _, deployment = stack.deploy(admin_token, {"name": app, "compose": compose})
            assert deployment["status"] == "succeeded", deployment
            assert [i["digest"] for i in deployment["images"]] == [digests["1.0.0"]]
        with running_token_server(username=USERNAME, password=PASSWORD) as tokens:
            registry = start_registry(root, port=port, token_server=tokens)  # now behind token auth
            try:
                yield Private(registry, tokens, digests, app)
            finally:
                registry.stop()
    finally:
        with stack.client(admin_token) as c:
            r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
            if host:
                c.delete(f"/api/v1/updates/registries/{host}")
        if r.status_code == 202:
            stack.wait_deployment(admin_token, r.json()["deployment"]["id"])
        if host:
            remove_images(client, open_registry)  # by host: also what the engine pulled
        client.close()


def _kinds(stack: Stack, token: str, app: str) -> list[tuple[str, ...]]:
    everyone, one = _found(stack, token, app)
    assert everyone == one
    return [(row[4], row[5], row[6], row[7]) for row in everyone]  # candidate, its digest, kind, reason


def _log_files(data: Path) -> list[Path]:
    return [p for p in data.rglob("*") if p.is_file() and (p.suffix == ".log" or "log" in p.parent.name)]


def test_a_stored_login_lets_the_check_through_and_is_never_shown(
    stack: Stack, admin_token: str, private: Private
) -> None:
    host = private.registry.host
    _check(stack, admin_token)
    ((candidate, _, kind, reason),) = _kinds(stack, admin_token, private.app)
    assert (candidate, kind) == ("", "unknown")
    assert f"{host} needs credentials" in reason

    with stack.client(admin_token) as c:
        bad_name = c.put("/api/v1/updates/registries/Not_A_Host!", json={"username": "u", "password": "p"})
        empty = c.put(private.path, json={"username": USERNAME, "password": ""})
        none_yet = c.get("/api/v1/updates/registries")
        stored = c.put(private.path, json={"username": USERNAME, "password": PASSWORD})
        listed = c.get("/api/v1/updates/registries")
    assert bad_name.status_code == 400 and "host" in bad_name.json()["message"], bad_name.text
    assert empty.status_code == 400 and "password is empty" in empty.json()["message"], empty.text
    assert none_yet.status_code == 200 and host not in none_yet.text  # nothing stored by the 400s
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert (body["registry"], body["username"], body["password_set"]) == (host, USERNAME, True)
    assert body["updated_at"] and "password" not in body and PASSWORD not in stored.text
    assert listed.status_code == 200 and PASSWORD not in listed.text
    mine = [r for r in listed.json()["registries"] if r["registry"] == host]
    assert [(r["username"], r["password_set"], "password" in r) for r in mine] == [(USERNAME, True, False)]

    _check(stack, admin_token)
    assert _kinds(stack, admin_token, private.app) == [("1.1.0", private.digests["1.1.0"], "minor", "")]
    assert [r["user"] for r in private.tokens.requests if r["user"]] == [USERNAME]  # asked with the login

    with stack.client(admin_token) as c:
        removed = c.delete(private.path)
        again = c.delete(private.path)
        after = c.get("/api/v1/updates/registries")
        audit = c.get("/api/v1/audit", params={"page_size": 500})
    assert removed.status_code == 200, removed.text
    assert again.status_code == 404 and host in again.json()["message"]
    assert host not in after.text
    _check(stack, admin_token)
    ((candidate, _, kind, reason),) = _kinds(stack, admin_token, private.app)
    assert (candidate, kind) == ("", "unknown") and f"{host} needs credentials" in reason

    assert audit.status_code == 200 and PASSWORD not in audit.text
    entries = [
        (e["action"].rsplit(".", 1)[1], e["target"], e["result"])
        for e in audit.json()["entries"]
        if e.get("target") == host or e.get("target") == "Not_A_Host!"
    ]
    assert ("PutRegistryLogin", host, "ok") in entries
    assert ("PutRegistryLogin", host, "invalid_argument") in entries
    assert ("DeleteRegistryLogin", host, "ok") in entries

    logs = _log_files(stack.data)
    assert logs, "no log files under the stack's data dir"
    assert [p for p in logs if PASSWORD.encode() in p.read_bytes()] == []


def test_only_an_admin_sees_or_changes_registry_logins(
    stack: Stack, admin_token: str, private: Private
) -> None:
    for role in ("operator", "viewer"):
        username, password = f"{role[:3]}{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
        with stack.client(admin_token) as c:
            r = c.post("/api/v1/users", json={"username": username, "password": password, "role": role})
        assert r.status_code == 200, r.text
        with stack.client(stack.login(username, password)) as c:
            answers = [
                c.put(private.path, json={"username": USERNAME, "password": PASSWORD}).status_code,
                c.get("/api/v1/updates/registries").status_code,
                c.delete(private.path).status_code,
            ]
        assert answers == [403, 403, 403], role
    with stack.client(admin_token) as c:
        assert private.registry.host not in c.get("/api/v1/updates/registries").text


def test_the_cli_logs_in_lists_and_logs_out(
    stack: Stack, admin_token: str, private: Private, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path), APPOS_URL=stack.url, APPOS_TOKEN=admin_token, COLUMNS="250")
    host = private.registry.host

    def appos(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args], cwd=ROOT, env=env, input=stdin, capture_output=True,
            text=True, timeout=60, check=False,
        )  # fmt: skip

    login = appos("updates", "login", host, "--username", USERNAME, "--password-stdin", stdin=PASSWORD + "\n")
    assert login.returncode == 0, login.stderr
    listed = appos("updates", "registries")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[:3] for line in listed.stdout.splitlines() if host in line] == [
        [host, USERNAME, "set"]
    ]
    assert PASSWORD not in listed.stdout + listed.stderr + login.stdout + login.stderr
    with stack.client(admin_token) as c:
        stored = c.get("/api/v1/updates/registries").json()["registries"]
    assert [r["username"] for r in stored if r["registry"] == host] == [USERNAME]
    logout = appos("updates", "logout", host)
    assert logout.returncode == 0, logout.stderr
    assert host not in appos("updates", "registries", "--json").stdout
    refused = appos("updates", "login", "bad host", "--username", "u", "--password-stdin", stdin="p")
    assert refused.returncode == 1 and "registry" in refused.stderr


def test_an_update_pulls_a_private_image_with_the_stored_login(
    stack: Stack, admin_token: str, private: Private
) -> None:
    """Runs last (it updates the app). Without a login the pull is refused and the app stays on
    1.0.0; with one, `docker compose pull` gets it from a private DOCKER_CONFIG, removed after."""
    body = {"services": {"web": "1.1.0"}}
    with stack.client(admin_token) as c:
        r = c.post(f"/api/v1/apps/{private.app}/update", json=body)
    assert r.status_code == 202, r.text
    refused = stack.wait_deployment(admin_token, r.json()["deployment"]["id"], timeout=180)
    assert refused["status"] == "failed", refused
    assert "nothing was stopped" in refused["reason"], refused  # the pull failed, the app kept 1.0.0

    with stack.client(admin_token) as c:
        assert c.put(private.path, json={"username": USERNAME, "password": PASSWORD}).status_code == 200
        r = c.post(f"/api/v1/apps/{private.app}/update", json=body)
    assert r.status_code == 202, r.text
    updated = stack.wait_deployment(admin_token, r.json()["deployment"]["id"], timeout=180)
    assert updated["status"] == "succeeded", updated
    assert [i["digest"] for i in updated["images"]] == [private.digests["1.1.0"]]
    pulls = [r for r in private.tokens.requests if r["user"] == USERNAME and "push" not in r["scope"]]
    assert pulls and all(r["scope"] == f"repository:{REPOSITORY}:pull" for r in pulls)

    with stack.client(admin_token) as c:
        logs = c.get(f"/api/v1/deployments/{updated['id']}/logs")
    assert logs.status_code == 200 and PASSWORD not in logs.text
    assert [p for p in _log_files(stack.data) if PASSWORD.encode() in p.read_bytes()] == []
    tmp = Path(stack.env.get("TMPDIR", "/tmp"))
    assert list(tmp.glob("appos-pull-*")) == []  # the pull's DOCKER_CONFIG is gone
