"""Backups against real stacks and a real Docker engine: back up an install, wipe it, restore the
archive on a brand-new stack (new APPOS_DATA) and find the same users, tokens, apps, versions,
domains, settings and volume data; damaged and foreign archives change nothing."""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from redis import Redis

from appos.v1 import state_pb2, state_pb2_grpc
from services.common.clients import sync_channel
from services.deployer.backups.guard import BUSY_KEY
from services.deployer.backups.restore import STEPS as RESTORE_STEPS
from tests.harness import Stack, app_containers, app_of, docker_client, free_port, start_stack, wait_for

pytestmark = [pytest.mark.usefixtures("busybox_image"), pytest.mark.xdist_group("backups")]


@pytest.fixture
def stacks(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[list[Stack]]:
    """Stacks the test starts (each on its own APPOS_DATA); all stopped at the end."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.stop()


def _start(stacks: list[Stack], tmp: pytest.TempPathFactory, name: str, **env: str) -> Stack:
    # no APPOS_BACKUP_HELPER_IMAGE: volumes are copied through the empty image AppOS makes itself
    stack = start_stack(tmp.mktemp(name), extra_env=env)
    stacks.append(stack)
    return stack


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _backup(stack: Stack, token: str, **body: Any) -> dict[str, Any]:
    with stack.client(token) as c:
        r = c.post("/api/v1/backups", json=body)
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "running"
    backup_id = r.json()["id"]

    def done() -> dict[str, Any] | None:
        with stack.client(token) as c:
            got: dict[str, Any] = c.get(f"/api/v1/backups/{backup_id}").json()
        return got if got["status"] != "running" else None

    result: dict[str, Any] = wait_for(done, timeout=120, interval=0.2, what=f"backup {backup_id}")
    assert result["status"] == "succeeded", result
    return result


def _exec(app: str, command: str) -> str:
    client = docker_client()
    try:
        container = client.containers.list(filters={"label": f"com.docker.compose.project=appos-{app}"})[0]
        code, out = container.exec_run(["sh", "-c", command])
    finally:
        client.close()
    assert code == 0, out
    return str(out.decode())


def _snapshot(stack: Stack, token: str, app: str) -> dict[str, Any]:
    """What must survive a backup and restore, as the API shows it."""
    with stack.client(token) as c:
        r = c.get("/api/v1/apps")
        assert r.status_code == 200, r.text
        apps = r.json()["apps"]
        return {
            "users": sorted((u["username"], u["role"]) for u in c.get("/api/v1/users").json()["users"]),
            "tokens": sorted(
                (t["id"], t["name"], t["role"]) for t in c.get("/api/v1/tokens").json()["tokens"]
            ),
            "apps": sorted(
                (a["name"], a["template"], a["current_version"], a["backup_volumes"]) for a in apps
            ),
            # the files, not the hashes: a version's hash is keyed per install (a new install's
            # key gives the same files other hashes)
            "versions": [
                (v["number"], v["message"], files["compose"], files["env"])
                for v in c.get(f"/api/v1/apps/{app}/versions").json()["versions"]
                if (files := c.get(f"/api/v1/apps/{app}/versions/{v['number']}").json())
            ],
            "domains": sorted(
                (d["domain"], d["app"], d["service"], d["port"], d["https"])
                for d in c.get("/api/v1/proxy/domains").json()["domains"]
            ),
            "settings": {
                k: v
                for k, v in c.get("/api/v1/backups/settings").json().items()
                if k in ("retention", "schedule")
            },
        }


def _error(r: httpx.Response, status: int, words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) >= {"code", "message", "request_id"}, body
    assert words in body["message"], body


def _foreign_archive() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (("manifest.json", b'{"product": "other", "format": 1}'), ("db/appos.db", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _restore_upload(stack: Stack, token: str, data: bytes, **params: str) -> httpx.Response:
    with stack.client(token) as c:
        return c.post(
            "/api/v1/backups/restore",
            content=data,
            params=params,
            headers={"Content-Type": "application/gzip"},
            timeout=300,
        )


def test_backup_wipe_restore_on_a_new_install(
    stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    old = _start(stacks, tmp_path_factory, "old")
    token = old.login()
    app, port = f"bk-{uuid.uuid4().hex[:6]}", free_port()
    _, deployment = old.deploy(
        token,
        {
            "name": app,
            "template": "busybox-httpd",
            "settings": {"HTTP_PORT": str(port), "MESSAGE": "restored"},
        },
    )
    assert deployment["status"] == "succeeded", deployment
    _exec(app, "echo keep-me > /www/data/proof.txt")
    with old.client(token) as c:
        assert c.patch(f"/api/v1/apps/{app}/options", json={"backup_volumes": True}).json()["backup_volumes"]
        current = c.get(f"/api/v1/apps/{app}/compose")
        r = c.put(
            f"/api/v1/apps/{app}/compose",
            json={
                "compose": current.json()["compose"] + "# v2\n",
                "env": current.json()["env"],
                "message": "v2",
            },
            headers={"If-Match": current.headers["etag"]},
        )
        assert r.status_code == 200, r.text
        assert c.post(
            "/api/v1/users", json={"username": "bob", "password": "bob-password-1", "role": "operator"}
        )
        secret = c.post("/api/v1/tokens", json={"name": "ci", "role": "admin"}).json()["secret"]
        r = c.post(
            "/api/v1/proxy/domains",
            json={"domain": "bk.appos.test", "app": app, "service": "web", "port": 8080, "https": False},
        )
        assert r.status_code == 200, r.text
        r = c.put("/api/v1/backups/settings", json={"retention": 3, "schedule": "daily@03:00"})
        assert r.status_code == 200 and r.json()["next_run"], r.text
    bob = old.login("bob", "bob-password-1")
    with old.client(bob) as c:  # operators cannot touch backups
        assert c.get("/api/v1/backups").status_code == 403
        assert c.post("/api/v1/backups", json={}).status_code == 403
    with old.client() as c:
        assert c.get("/api/v1/backups").status_code == 401
    before = _snapshot(old, token, app)

    backup = _backup(old, token, include_volumes=True, message="before the wipe")
    assert [(a["name"], a["volumes"]) for a in backup["apps"]] == [(app, ["data"])]
    with old.client(token) as c:
        r = c.get(f"/api/v1/backups/{backup['id']}/download")
        assert r.status_code == 200 and r.headers["content-type"] == "application/gzip"
        with old.client(bob) as cb:
            assert cb.get(f"/api/v1/backups/{backup['id']}/download").status_code == 403
    archive = r.content
    assert len(archive) == int(backup["size_bytes"])
    # the wipe: the app and its volume are gone, and the old install stops
    assert old.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"
    old.stop()

    new = _start(stacks, tmp_path_factory, "new")
    new_token = new.login()
    # refused archives change nothing
    _error(_restore_upload(new, new_token, archive[: len(archive) // 2]), 400, "damaged or truncated")
    _error(_restore_upload(new, new_token, _foreign_archive()), 400, "not an AppOS backup")
    with new.client(new_token) as c:
        assert c.get("/api/v1/backups").json().get("backups", []) == []
        assert c.get("/api/v1/apps").json().get("apps", []) == []
        assert [u["username"] for u in c.get("/api/v1/users").json()["users"]] == ["admin"]
    assert list((new.data / "backups" / "incoming").iterdir()) == []
    # the refused restores are in the audit log (written in the background), with who tried and the code
    refused: list[dict[str, Any]] = []
    deadline = time.monotonic() + 15
    while len(refused) < 2 and time.monotonic() < deadline:
        with new.client(new_token) as c:
            query = {"action": "appos.v1.Backups.RestoreBackup"}
            refused = c.get("/api/v1/audit", params=query).json().get("entries", [])
        time.sleep(0.2)
    assert [(e["actor"], e["result"]) for e in refused] == [("admin", "invalid_argument")] * 2

    r = _restore_upload(new, new_token, archive)
    assert r.status_code == 202, r.text  # queued: a job of recorded steps
    restored = r.json()
    assert restored["apps"] == [app] and restored["restore"]["status"] == "queued", restored
    ended = new.wait_restore(restored["restore"]["id"])
    assert ended["status"] == "succeeded" and len(ended["deployment_ids"]) == 1, ended
    assert not (new.data / "backups" / "restores" / ended["id"]).exists(), "the previous install is gone"
    # followed with the old install's API token: the restore ends this install's sessions, so
    # new_token may stop working before a slow redeploy ends
    with new.client(secret) as c:
        shown = c.get(f"/api/v1/backups/restores/{ended['id']}").json()
    assert [(s["name"], s["status"]) for s in shown["steps"]] == [(n, "done") for n in RESTORE_STEPS]
    assert new.wait_deployment(secret, ended["deployment_ids"][0])["status"] == "succeeded"

    # the sessions of this install end (the user cache may answer for a few seconds more)
    def session_ended() -> bool:
        with new.client(new_token) as c:
            return c.get("/api/v1/auth/me").status_code == 401

    wait_for(session_ended, timeout=20, what="the session from before the restore to end")
    token = new.login("admin", old.admin_password())  # the old install's users and passwords
    assert not (new.data / "admin-password").exists()  # the new install's first password opens nothing now
    assert _snapshot(new, token, app) == before
    with new.client(secret) as c:  # the old API token still works
        assert c.get("/api/v1/auth/me").json()["username"] == "admin"
    assert _exec(app, "cat /www/data/proof.txt").strip() == "keep-me"
    assert httpx.get(f"http://127.0.0.1:{port}/").text.strip() == "restored"
    proxy_port = int(new.env["APPOS_PROXY_HTTP_PORT"])
    page = wait_for(
        lambda: (
            (r := httpx.get(f"http://127.0.0.1:{proxy_port}/", headers={"Host": "bk.appos.test"})).status_code
            == 200
            and r.text
        ),
        timeout=30,
        what="Caddy to serve the restored domain",
    )
    assert page.strip() == "restored"
    # onto a non-empty install: refused unless force
    with new.client(token) as c:
        stored = c.get("/api/v1/backups").json()["backups"]
        assert [b["id"] for b in stored] == [backup["id"]] and stored[0]["origin"] == "upload"
        r = c.post("/api/v1/backups/restore", json={"backup_id": backup["id"]})
    _error(r, 400, "not empty")
    # with force: the running app (whose containers use the volume) goes down, and the backup's
    # volume content replaces what it has now
    _exec(app, "echo changed-since > /www/data/proof.txt")
    with new.client(token) as c:
        r = c.post("/api/v1/backups/restore", json={"backup_id": backup["id"], "force": True})
    assert r.status_code == 202, r.text
    [again] = new.wait_restore(r.json()["restore"]["id"])["deployment_ids"]
    token = new.login("admin", old.admin_password())  # a restore ends the login tokens
    assert new.wait_deployment(token, again)["status"] == "succeeded"
    assert _exec(app, "cat /www/data/proof.txt").strip() == "keep-me"
    assert new.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def test_list_download_delete_and_retention(
    stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = _start(stacks, tmp_path_factory, "retention")
    token = stack.login()
    with stack.client(token) as c:
        assert c.put("/api/v1/backups/settings", json={"retention": 2}).json()["retention"] == 2
        _error(c.put("/api/v1/backups/settings", json={"schedule": "hourly"}), 400, "schedule")
        _error(c.get("/api/v1/backups/not-an-id"), 400, "backup id")
    made = [_backup(stack, token, message=f"n{i}")["id"] for i in range(3)]
    with stack.client(token) as c:
        listed = [b["id"] for b in c.get("/api/v1/backups").json()["backups"]]
        assert listed == [made[2], made[1]]  # newest first; the oldest fell to retention
        _error(c.get(f"/api/v1/backups/{made[0]}"), 404, "does not exist")
        r = c.get(f"/api/v1/backups/{made[1]}/download")
        assert r.status_code == 200
        with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
            manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert (
            manifest["product"] == "appos"
            and manifest["id"] == made[1]
            and "db/appos.db" in manifest["files"]
        )
        assert c.delete(f"/api/v1/backups/{made[1]}").status_code == 200
        assert [b["id"] for b in c.get("/api/v1/backups").json()["backups"]] == [made[2]]
        _error(c.get(f"/api/v1/backups/{made[1]}/download"), 404, "does not exist")
    assert sorted(p.name for p in (stack.data / "backups").glob("appos-backup-*")) == [
        f"{made[2]}.json",
        f"{made[2]}.tar.gz",
    ]


def test_a_due_schedule_starts_a_backup_by_itself(
    stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The deployer's schedule check (every 0.5 s here, 30 s by default) starts the backup when it is
    due. An hour cannot pass in a test: the time of the previous scheduled run is moved back in
    state instead, which is what an hour passing looks like to the scheduler."""
    stack = _start(stacks, tmp_path_factory, "schedule", APPOS_BACKUP_SCHEDULE_CHECK_SECONDS="0.5")
    token = stack.login()
    with stack.client(token) as c:
        r = c.put("/api/v1/backups/settings", json={"schedule": "every:1", "include_volumes": False})
        assert r.status_code == 200 and r.json()["schedule"] == "every:1", r.text
    channel = sync_channel(stack.run_dir / "state.sock")
    try:
        state = state_pb2_grpc.StateStub(channel)

        def last_run() -> str:
            try:
                reply = state.GetSetting(state_pb2.StateGetSettingRequest(key="backup.last_scheduled"))
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND, exc
                return ""  # a new schedule: the scheduler has not looked yet
            return str(reply.value_json)

        started = wait_for(last_run, timeout=30, what="the scheduler to start counting")
        with stack.client(token) as c:
            assert c.get("/api/v1/backups").json().get("backups", []) == [], "not due yet: nothing ran"
        two_hours_ago = int(json.loads(started)) - 2 * 3600 * 1_000_000
        state.PutSetting(
            state_pb2.StatePutSettingRequest(
                key="backup.last_scheduled", value_json=json.dumps(two_hours_ago)
            )
        )

        def scheduled() -> dict[str, Any] | None:
            with stack.client(token) as c:
                found = c.get("/api/v1/backups").json().get("backups", [])
            done = [b for b in found if b["status"] != "running"]
            return done[0] if done else None

        backup = wait_for(scheduled, timeout=60, interval=0.2, what="the scheduled backup")
        assert (backup["status"], backup["origin"], backup["actor"]) == ("succeeded", "schedule", "scheduler")
        assert int(json.loads(last_run())) > int(json.loads(started)), "the run was recorded"
    finally:
        channel.close()
    with stack.client(token) as c:
        backups = c.get("/api/v1/backups").json()["backups"]
        assert len(backups) == 1, "one due run starts one backup, not one per check"
        next_run = c.get("/api/v1/backups/settings").json()["next_run"]
    assert _ts(next_run) - _ts(backup["finished_at"]) > timedelta(minutes=50), "the next run is an hour on"


def test_stopped_apps_stay_stopped_refused_uploads_are_kept_and_apps_wait_for_a_restore(
    stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory
) -> None:
    stack = _start(stacks, tmp_path_factory, "stopped")
    token, password = stack.login(), stack.admin_password()
    app = f"st-{uuid.uuid4().hex[:6]}"
    _, deployment = stack.deploy(
        token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}}
    )
    assert deployment["status"] == "succeeded", deployment
    assert stack.act(token, app, "stop")["status"] == "succeeded"
    backup = _backup(stack, token, message="with a stopped app")
    with stack.client(token) as c:
        archive = c.get(f"/api/v1/backups/{backup['id']}/download").content
    # onto this (non-empty) install: the upload is checked and kept, the restore refused
    r = _restore_upload(stack, token, archive)
    _error(r, 400, "not empty")
    assert f"kept as backup {backup['id']}" in r.json()["message"]
    with stack.client(token) as c:
        r = c.post("/api/v1/backups/restore", json={"backup_id": backup["id"], "force": True})
        assert r.status_code == 202, r.text
    assert r.json()["apps"] == [app]
    ended = stack.wait_restore(r.json()["restore"]["id"])
    assert (ended["status"], ended["deployment_ids"]) == ("succeeded", []), "the stopped app stays stopped"
    token = stack.login("admin", password)  # the restore ended the login tokens
    with stack.client(token) as c:
        assert c.get(f"/api/v1/apps/{app}").status_code == 200
    running = [c for c in app_containers(stack.data / "apps") if app_of(c) == app and c["State"] == "running"]
    assert running == []
    # while a restore runs (its guard in Redis), apps do not change: 409 naming the backup, nothing stored
    redis = Redis(unix_socket_path=str(stack.run_dir / "redis.sock"))
    try:
        redis.set(BUSY_KEY, f"restore:{backup['id']}", ex=60)
        with stack.client(token) as c:
            refused = [
                c.post("/api/v1/apps", json={"name": "during", "template": "busybox-httpd"}),
                c.post(f"/api/v1/apps/{app}/start", json={}),
                c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1}),
            ]
            for r in refused:
                _error(r, 409, f"backup {backup['id']} is being restored")
            assert c.get("/api/v1/apps/during").status_code == 404
            assert len(c.get(f"/api/v1/apps/{app}/versions").json()["versions"]) == 1
    finally:
        redis.delete(BUSY_KEY)
        redis.close()
    assert stack.act(token, app, "start")["status"] == "succeeded", "once it ends, apps change again"
