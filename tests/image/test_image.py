"""The single image, as a user runs it: built from a Debian base made here with debootstrap (no
registry), run against this machine's Docker engine through the mounted socket; install.sh; and the
production compose file with Caddy in a container of its own.

The first build takes minutes (the base is cached in /var/cache/appos, the layers in Docker); all of
these run on one xdist worker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.deployer.compose import compose_binary
from services.launcher import health_status
from services.proxyctl.caddy import CaddyAdmin
from tests.harness import ROOT, TEST_TEMPLATES, docker_client, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("image"), pytest.mark.timeout(1500)]

IMAGE = "appos-test/appos:latest"
APPOS_UID = "10001"
TEMPLATES_IN_IMAGE = "/opt/appos/test-templates"


@pytest.fixture(scope="module")
def appos_image(docker_engine: None) -> str:
    """`make image-local`: the local base (cached), host-built wheels and dashboard, docker build."""
    result = subprocess.run(
        ["make", "--no-print-directory", "image-local", f"IMAGE={IMAGE}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1400,
        check=False,
    )
    output = f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert result.returncode == 0, f"make image-local failed:\n{output}"
    return IMAGE


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        ports.add(free_port())
    return sorted(ports)


def _wait_healthy(url: str, container: Any, timeout: float = 240) -> None:
    def healthy() -> bool:
        container.reload()
        assert container.status in ("created", "running"), container.logs()[-3000:].decode(errors="replace")
        return health_status(url) == 200

    wait_for(healthy, timeout=timeout, interval=1, what=f"{url}/health")


def _login(url: str, data: Path) -> httpx.Client:
    password = (data / "admin-password").read_text().strip()
    # generous timeouts: argon2 and a loaded 2-core machine
    r = httpx.post(f"{url}/api/v1/auth/login", json={"username": "admin", "password": password}, timeout=60)
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _wait_deployment(client: httpx.Client, deployment_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(f"/api/v1/deployments/{deployment_id}").json()
        return body if body["status"] in ("succeeded", "failed", "cancelled") else None

    result: dict[str, Any] = wait_for(ended, timeout=180, interval=0.5, what=f"deployment {deployment_id}")
    return result


def _remove_app_containers(app: str) -> None:
    client = docker_client()
    try:
        label = f"com.docker.compose.project=appos-{app}"
        for leftover in client.containers.list(all=True, filters={"label": label}):
            leftover.remove(force=True)
        for network in client.networks.list(filters={"label": label}):
            network.remove()
        for volume in client.volumes.list(filters={"label": label}):
            volume.remove(force=True)
    finally:
        client.close()


@pytest.fixture
def container_name() -> Iterator[str]:
    name = f"appos-image-test-{uuid.uuid4().hex[:8]}"
    yield name
    client = docker_client()
    try:
        for found in client.containers.list(all=True, filters={"name": name}):
            found.remove(force=True)
    finally:
        client.close()


def test_image_serves_health_and_deploys_a_busybox_app_on_the_host_engine(
    appos_image: str, busybox_image: str, tmp_path: Path, container_name: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    port, http_port, https_port, app_port = _free_ports(4)
    client = docker_client()
    app = f"img{uuid.uuid4().hex[:6]}"
    try:
        container = client.containers.run(
            appos_image,
            name=container_name,
            detach=True,
            network_mode="host",
            volumes={
                "/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                str(data): {"bind": str(data), "mode": "rw"},  # the same path inside and out
                str(TEST_TEMPLATES): {"bind": TEMPLATES_IN_IMAGE, "mode": "ro"},
            },
            environment={
                "APPOS_DATA": str(data),
                "APPOS_PORT": str(port),
                "APPOS_GRPC_PORT": "0",
                "APPOS_PROXY_HTTP_PORT": str(http_port),
                "APPOS_PROXY_HTTPS_PORT": str(https_port),
                "APPOS_CATALOG_DIRS": json.dumps([TEMPLATES_IN_IMAGE]),
            },
        )
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, container)
        health = httpx.get(f"{url}/health", timeout=30).json()
        assert {p["name"]: p["status"] for p in health["parts"]}["docker"] == "ok"
        # the launcher's lines, as `docker logs` shows them to a user (printed once /health answers)
        announced = f"AppOS is running at http://127.0.0.1:{port}"
        wait_for(lambda: announced in container.logs().decode(errors="replace"), timeout=30)
        logs = container.logs().decode(errors="replace")
        assert (data / "admin-password").read_text().strip() in logs

        # every AppOS program runs as the unprivileged `appos` user; only tini (PID 1) is root
        top = container.top(ps_args="-o pid,uid,comm")
        uid_col, comm_col = top["Titles"].index("UID"), top["Titles"].index("COMMAND")
        users = {row[comm_col]: row[uid_col] for row in top["Processes"]}
        assert {"redis-server", "caddy", "state", "gateway", "deployer"} <= set(users)
        assert {uid for comm, uid in users.items() if comm != "tini"} == {APPOS_UID}, users
        # the launcher became supervisord (no Python process waits beside it)
        assert sum(1 for row in top["Processes"] if row[comm_col].startswith("python")) == 1, top
        assert (data / "appos.db").stat().st_uid == int(APPOS_UID)

        with _login(url, data) as api:
            r = api.post(
                "/api/v1/apps",
                json={
                    "name": app,
                    "template": "busybox-httpd",
                    "settings": {"HTTP_PORT": str(app_port), "MESSAGE": "served-from-the-image"},
                },
            )
            assert r.status_code == 202, r.text
            deployment = _wait_deployment(api, r.json()["deployment"]["id"])
            assert deployment["status"] == "succeeded", deployment
            page = httpx.get(f"http://127.0.0.1:{app_port}/", timeout=10)
            assert page.text.strip() == "served-from-the-image"
            assert (data / "apps" / app / "compose.yaml").exists()
            assert api.get(f"/api/v1/apps/{app}").json()["status"] == "running"

            r = api.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
            assert r.status_code == 202, r.text
            assert _wait_deployment(api, r.json()["deployment"]["id"])["status"] == "succeeded"
        label = f"com.docker.compose.project=appos-{app}"
        assert client.containers.list(all=True, filters={"label": label}) == []
    finally:
        client.close()
        _remove_app_containers(app)


def test_image_without_the_docker_socket_stops_with_a_clear_error(
    appos_image: str, tmp_path: Path, container_name: str
) -> None:
    client = docker_client()
    try:
        container = client.containers.run(appos_image, name=container_name, detach=True, network_mode="none")
        assert container.wait(timeout=120)["StatusCode"] == 1
        assert "no Docker socket at /var/run/docker.sock" in container.logs().decode()
    finally:
        client.close()


# ---- install.sh ---------------------------------------------------------------------------------


def _install_env(data: Path, container: str, **extra: str) -> dict[str, str]:
    port, grpc, http, https = _free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(
        {
            "APPOS_IMAGE": IMAGE,
            "APPOS_DATA": str(data),
            "APPOS_CONTAINER": container,
            "APPOS_PORT": str(port),
            "APPOS_GRPC_PORT": str(grpc),
            "APPOS_PROXY_HTTP_PORT": str(http),
            "APPOS_PROXY_HTTPS_PORT": str(https),
            "APPOS_PUBLIC_HOST": "127.0.0.1",
            "APPOS_HEALTH_TIMEOUT": "300",
            **extra,
        }
    )
    return env


def _install(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "install.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
        check=False,
    )


def test_install_sh_starts_appos_and_prints_url_and_password(
    appos_image: str, tmp_path: Path, container_name: str
) -> None:
    data = tmp_path / "data"
    env = _install_env(data, container_name)
    result = _install(env)
    assert result.returncode == 0, result.stdout + result.stderr
    url = f"http://127.0.0.1:{env['APPOS_PORT']}"
    assert f"AppOS is running at {url}\n" in result.stdout
    password = (data / "admin-password").read_text().strip()
    assert f"user admin, password {password}\n" in result.stdout
    assert health_status(url) == 200
    with _login(url, data) as api:
        assert api.get("/api/v1/auth/me").json()["username"] == "admin"

    client = docker_client()
    try:
        container = client.containers.get(container_name)
        assert container.attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
        assert container.attrs["HostConfig"]["NetworkMode"] == "host"
        assert f"APPOS_BACKUP_HELPER_IMAGE={IMAGE}" in container.attrs["Config"]["Env"]
    finally:
        client.close()

    # a second run refuses rather than replacing the running install
    again = _install(env | {"APPOS_PORT": str(free_port()), "APPOS_GRPC_PORT": str(free_port())})
    assert again.returncode == 1
    assert f"a container named {container_name} exists already" in again.stderr


def test_install_sh_refuses_a_port_that_is_taken(tmp_path: Path, container_name: str) -> None:
    env = _install_env(tmp_path / "data", container_name)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["APPOS_PROXY_HTTP_PORT"])))
        taken.listen()
        result = _install(env)
    assert result.returncode == 1
    port = env["APPOS_PROXY_HTTP_PORT"]
    assert f"error: port {port} is already in use" in result.stderr
    assert "APPOS_PROXY_HTTP_PORT" in result.stderr
    assert not (tmp_path / "data").exists()  # nothing was started or created


def test_install_sh_refuses_too_little_memory(tmp_path: Path, container_name: str) -> None:
    env = _install_env(tmp_path / "data", container_name, APPOS_MIN_RAM_MB="100000000")
    result = _install(env)
    assert result.returncode == 1
    assert "AppOS needs at least 100000000 MiB" in result.stderr
    assert not (tmp_path / "data").exists()


def test_install_sh_passes_shellcheck() -> None:
    result = subprocess.run(
        ["shellcheck", "install.sh", "scripts/build-local-base", "deploy/image/entrypoint.sh",
         "deploy/image/ensure-packages"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout


# ---- deploy/docker-compose.yml: Caddy in a container of its own ---------------------------------


def test_production_compose_runs_caddy_in_its_own_container(appos_image: str, tmp_path: Path) -> None:
    """The AppOS image stands in for the `caddy` image (it has Caddy; no registry here)."""
    data = tmp_path / "data"
    port, grpc, http, https = _free_ports(4)
    project = f"appos-compose-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(
        {
            "APPOS_IMAGE": appos_image,
            "CADDY_IMAGE": appos_image,
            "APPOS_DATA": str(data),
            "APPOS_PORT": str(port),
            "APPOS_GRPC_PORT": str(grpc),
            "APPOS_PROXY_HTTP_PORT": str(http),
            "APPOS_PROXY_HTTPS_PORT": str(https),
        }
    )
    compose = [compose_binary(), "--project-name", project, "--file", str(ROOT / "deploy/docker-compose.yml")]
    try:
        up = subprocess.run([*compose, "up", "--detach"], env=env, capture_output=True, text=True,
                            timeout=300, check=False)  # fmt: skip
        assert up.returncode == 0, up.stdout + up.stderr
        client = docker_client()
        try:
            appos = client.containers.get(f"{project}-appos-1")
            caddy = client.containers.get(f"{project}-caddy-1")
            url = f"http://127.0.0.1:{port}"
            _wait_healthy(url, appos)
            caddy.reload()
            assert caddy.status == "running"
            # Caddy is the other container's process; the bundled one was never started
            caddy_top = caddy.top(ps_args="-o pid,comm")
            assert [row[-1] for row in caddy_top["Processes"]] == ["caddy"]
            appos_top = appos.top(ps_args="-o pid,comm")
            assert "caddy" not in [row[-1] for row in appos_top["Processes"]]
        finally:
            client.close()
        # proxyctl loaded its whole config into that Caddy through the shared admin socket
        admin = CaddyAdmin(data / "caddy" / "caddy-admin.sock")
        wait_for(admin.has_appos_config, timeout=60, what="proxyctl's config in the Caddy container")
        page = httpx.get(f"http://127.0.0.1:{http}/", headers={"Host": "nothing.example"}, timeout=10)
        assert page.status_code == 404 and "AppOS proxy" in page.text
    finally:
        subprocess.run([*compose, "down", "--timeout", "30"], env=env, capture_output=True, timeout=120,
                       check=False)  # fmt: skip
