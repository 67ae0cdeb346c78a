"""Backup and restore time for 50 apps, against a plain `tar czf` / `tar xzf` of the same data in
the same run.

The 50 apps are raw compose apps (one busybox service sleeping, without a network — Docker's
default address pools hold about 30 networks —, one named volume holding a few KiB), deployed:
an app's files under APPOS_DATA/apps are written by its deployment, and
its volume exists only once Compose has created it, so without deploying there would be nothing to
back up but the database. Every app opts in to volume backups.

- backup: `POST /api/v1/backups {"include_volumes": true}` until the archive is written (the
  server's own finished_at), against `tar czf` of appos.db, apps/, caddy/ and the 50 volumes'
  folders under Docker's data root.
- restore: the archive uploaded to a brand-new stack (`POST /api/v1/backups/restore`, 202 with the
  queued restore job) until that job has succeeded (checked, database replaced, files and volumes
  back, 50 redeploys queued: the job's own finished_at), against `tar xzf` of the plain tarball
  into an empty folder. The time until the 50 redeploys succeeded is printed too (no baseline: tar
  does not start containers).

The stacks, their apps' containers, networks and volumes are removed whatever happens (an
exception, Ctrl-C, SIGTERM).

Run: .venv/bin/python bench/backup.py [apps, default 50]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness import (  # noqa: E402
    Stack,
    build_busybox_image,
    docker_client,
    docker_engine,
    running_stack,
    wait_for,
)

COMPOSE = """services:
  one:
    image: appos-test/busybox:latest
    pull_policy: never
    init: true
    network_mode: none
    command: ["sh", "-c", "head -c 4096 /dev/urandom > /data/blob; echo $$NOTE > /data/n; exec sleep 1d"]
    environment:
      NOTE: ${NOTE}
    volumes:
      - data:/data
volumes:
  data:
"""


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def create_apps(stack: Stack, token: str, count: int) -> list[str]:
    names = [f"bk{i:02d}" for i in range(count)]
    ids = []
    with stack.client(token) as c:
        for name in names:
            r = c.post("/api/v1/apps", json={"name": name, "compose": COMPOSE, "env": f"NOTE={name}\n"})
            assert r.status_code == 202, r.text
            ids.append(r.json()["deployment"]["id"])
    for deployment_id in ids:
        ended = stack.wait_deployment(token, deployment_id, timeout=600)
        assert ended["status"] == "succeeded", ended
    with stack.client(token) as c:
        for name in names:
            assert c.patch(f"/api/v1/apps/{name}/options", json={"backup_volumes": True}).status_code == 200
    return names


def volume_dirs(names: list[str]) -> list[str]:
    client = docker_client()
    try:
        return [
            v.attrs["Mountpoint"]
            for name in names
            for v in client.volumes.list(filters={"label": f"com.docker.compose.project=appos-{name}"})
        ]
    finally:
        client.close()


def cleanup(names: list[str]) -> None:
    """Whatever a failed run left behind in Docker (containers, volumes, networks of these apps)."""
    projects = {f"appos-{name}" for name in names}
    client = docker_client()
    try:
        for container in client.containers.list(all=True):
            if container.labels.get("com.docker.compose.project") in projects:
                container.remove(force=True)
        for volume in client.volumes.list():
            if (volume.attrs.get("Labels") or {}).get("com.docker.compose.project") in projects:
                volume.remove(force=True)
        for network in client.networks.list():
            if network.name.removesuffix("_default") in projects:
                network.remove()
    finally:
        client.close()


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - start


def remove_all(stack: Stack, token: str, names: list[str]) -> None:
    for name in names:
        stack.act(token, name, "remove", remove_volumes="true")


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    client = docker_client()
    build_busybox_image(client)
    client.close()
    try:
        run(count)
    finally:
        cleanup([f"bk{i:02d}" for i in range(count)])


def wait_restore(stack: Stack, token: str, restore_id: str, admin_password: str) -> dict[str, Any]:
    """The restore job's record once it has ended. The job ends every session once the database is
    back (the users are the backup's): then it signs in as the backup's admin and reads on."""
    current = {"token": token}

    def ended() -> dict[str, Any] | None:
        with stack.client(current["token"]) as c:
            r = c.get(f"/api/v1/backups/restores/{restore_id}")
        if r.status_code == 401:
            current["token"] = stack.login("admin", admin_password)
            return None
        assert r.status_code == 200, r.text
        record: dict[str, Any] = r.json()
        return record if record["status"] in ("succeeded", "failed") else None

    result: dict[str, Any] = wait_for(ended, timeout=900, interval=0.1, what=f"restore {restore_id}")
    return result


def run(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with running_stack(tmp / "old", extra_env={}) as old:
            token = old.login()
            names = create_apps(old, token, count)
            # the plain baseline: the same data with tar, same run
            data = old.data
            members = ["appos.db", "apps"] + (["caddy"] if (data / "caddy").is_dir() else [])
            plain = tmp / "plain.tar.gz"
            tar_backup = timed(["tar", "czf", str(plain), "-C", str(data), *members, *volume_dirs(names)])
            plain_bytes = plain.stat().st_size
            with old.client(token) as c:
                r = c.post("/api/v1/backups", json={"include_volumes": True, "message": "bench"})
                assert r.status_code == 202, r.text
                backup_id = r.json()["id"]
                backup = wait_for(
                    lambda: (b := c.get(f"/api/v1/backups/{backup_id}").json())["status"] != "running" and b,
                    timeout=900,
                    interval=0.1,
                    what="the backup",
                )
                assert backup["status"] == "succeeded", backup
                archive = c.get(f"/api/v1/backups/{backup_id}/download", timeout=300).content
            appos_backup = (_ts(backup["finished_at"]) - _ts(backup["created_at"])).total_seconds()
            remove_all(old, token, names)
            old_password = old.admin_password()

        out = tmp / "plain-out"
        out.mkdir()
        tar_restore = timed(["tar", "xzf", str(plain), "-C", str(out)])
        with running_stack(tmp / "new", extra_env={}) as new:
            new_token = new.login()
            start = time.perf_counter()
            posted = datetime.now(UTC)
            with new.client(new_token) as c:
                r = c.post(
                    "/api/v1/backups/restore",
                    content=archive,
                    headers={"Content-Type": "application/gzip"},
                    timeout=900,
                )
            assert r.status_code == 202, r.text
            restore = wait_restore(new, new_token, r.json()["restore"]["id"], old_password)
            assert restore["status"] == "succeeded", restore
            # from the upload to the job's own end: as before the restore was a job, and no polling delay
            appos_restore = (_ts(restore["finished_at"]) - posted).total_seconds()
            job = (_ts(restore["finished_at"]) - _ts(restore["created_at"])).total_seconds()
            deployments = restore["deployment_ids"]
            token = new.login("admin", old_password)
            results = [new.wait_deployment(token, d, timeout=900) for d in deployments]
            redeployed = time.perf_counter() - start
            ok = sum(1 for d in results if d["status"] == "succeeded")
            remove_all(new, token, names)

    def row(what: str, appos: float, baseline: str, base: float) -> None:
        print(f"  {what:8} AppOS {appos:.2f} s   {baseline} {base:.2f} s   ratio {appos / base:.2f}")

    print(f"{count} apps, a named volume each (plain tar.gz {plain_bytes} bytes, AppOS {len(archive)} bytes)")
    row("backup", appos_backup, "tar czf", tar_backup)
    row("restore", appos_restore, "tar xzf", tar_restore)
    print(f"  (of the restore, the queued job itself: {job:.2f} s)")
    print(f"  restore until {ok}/{len(deployments)} redeploys succeeded: {redeployed:.2f} s")


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
