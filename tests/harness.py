"""Real parts for tests: AppOS stacks under supervisord in temp folders, redis-server on a free
port, a Docker engine, and the FROM-scratch busybox image. Nothing here is a mock.

A part that is missing makes the test fail with the reason; nothing is skipped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker.errors
import httpx

from services.common import dockerd
from services.launcher import (
    ROOT,
    SUPERVISORD_CONF,
    health_status,
    prepare_data_dir,
    start_supervisord,
    stop_process,
    supervisor_env,
    wait_healthy,
)

BUSYBOX = Path("/bin/busybox")
BUSYBOX_IMAGE = "appos-test/busybox:latest"
TEST_TEMPLATES = Path(__file__).resolve().parent / "templates"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Any, *, timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; return its value. Fails the test after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Stack:
    """A running AppOS: supervisord and every program it runs, with its own data and port."""

    data: Path
    run_dir: Path
    port: int
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def admin_password(self) -> str:
        return (self.data / "admin-password").read_text().strip()

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def login(self, username: str = "admin", password: str | None = None) -> str:
        with self.client() as c:
            response = c.post(
                "/api/v1/auth/login",
                json={"username": username, "password": password or self.admin_password()},
            )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def supervisorctl(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "supervisor.supervisorctl", "-c", str(SUPERVISORD_CONF), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return result.stdout

    @contextlib.contextmanager
    def worker_paused(self) -> Iterator[None]:
        """The deployments' Celery worker (threads of the deployer) stops taking tasks from its
        queue, as Celery's remote control `cancel_consumer` does, so queued deployments wait; it
        takes them again after."""
        from celery import Celery

        from services.common import queues
        from services.deployer.worker import node_name

        app = Celery("appos", broker=f"redis+socket://{self.run_dir / 'redis.sock'}")
        with app.connection_for_write() as conn:
            control = {
                "reply": True,
                "timeout": 5,
                "connection": conn,
                "destination": [node_name(queues.DEPLOYMENTS)],
            }
            assert app.control.cancel_consumer(queues.DEPLOYMENTS, **control), "no worker answered"
            try:
                yield
            finally:
                assert app.control.add_consumer(queues.DEPLOYMENTS, **control), "no worker answered"
        app.close()

    def pid_of(self, program: str) -> int:
        out = self.supervisorctl("pid", program).strip()
        assert out.isdigit() and int(out) > 0, f"{program} is not running: {out!r}"
        return int(out)

    def health(self) -> int:
        return health_status(self.url)

    def wait_deployment(self, token: str, deployment_id: str, *, timeout: float = 120) -> dict[str, Any]:
        """Poll until the deployment ends; its final JSON. One client for the whole wait: making one
        costs ~50 ms of CPU (httpx loads the CA bundle), which a poll every 0.2 s took from the cores
        the deployment runs on (the benches' figures counted it as AppOS's)."""
        with self.client(token) as c:

            def ended() -> dict[str, Any] | None:
                body: dict[str, Any] = c.get(f"/api/v1/deployments/{deployment_id}").json()
                return body if body.get("status") in ("succeeded", "failed", "cancelled") else None

            result: dict[str, Any] = wait_for(
                ended, timeout=timeout, interval=0.2, what=f"deployment {deployment_id}"
            )
        return result

    def wait_restore(self, restore_id: str, *, timeout: float = 180) -> dict[str, Any]:
        """Wait until a backup restore's job ends; its record. Read from its file: the API needs a
        login, and a restore ends every login once the database is back."""
        path = self.data / "backups" / "restores" / f"{restore_id}.json"

        def ended() -> dict[str, Any] | None:
            try:
                record: dict[str, Any] = json.loads(path.read_text())
            except FileNotFoundError:
                return None
            return record if record["status"] in ("succeeded", "failed") else None

        result: dict[str, Any] = wait_for(ended, timeout=timeout, interval=0.2, what=f"restore {restore_id}")
        return result

    def deploy(
        self, token: str, body: dict[str, Any], *, timeout: float = 120
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """POST /api/v1/apps and wait: (the 202 reply, the ended deployment)."""
        with self.client(token) as c:
            r = c.post("/api/v1/apps", json=body)
        assert r.status_code == 202, r.text
        reply: dict[str, Any] = r.json()
        return reply, self.wait_deployment(token, reply["deployment"]["id"], timeout=timeout)

    def act(self, token: str, app: str, action: str, **params: Any) -> dict[str, Any]:
        with self.client(token) as c:
            if action == "remove":
                r = c.delete(f"/api/v1/apps/{app}", params=params)
            else:
                r = c.post(f"/api/v1/apps/{app}/{action}", json={})
        assert r.status_code == 202, r.text
        return self.wait_deployment(token, r.json()["deployment"]["id"])

    def remove_app(self, token: str, app: str, *, timeout: float = 180) -> None:
        """A test's clean-up: the app and its volumes removed, waited for; an app already gone (or
        never made) is fine."""
        with self.client(token) as c:
            r = c.delete(f"/api/v1/apps/{app}", params={"remove_volumes": "true"})
        if r.status_code == 202:
            self.wait_deployment(token, r.json()["deployment"]["id"], timeout=timeout)

    def make_user(self, admin_token: str, role: str) -> tuple[str, str]:
        """A new user of `role` (a random name and password), signed in: (name, token)."""
        name, password = f"{role[:3]}{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        with self.client(admin_token) as c:
            r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
        assert r.status_code == 200, r.text
        return name, self.login(name, password)

    def log(self, program: str) -> str:
        return (self.data / "log" / f"{program}.log").read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)
        remove_app_leftovers(self.data / "apps")


COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_WORKING_DIR = "com.docker.compose.project.working_dir"


def app_containers(apps_dir: Path) -> list[dict[str, Any]]:
    """Docker's records (one list call: no inspect that races with removals) of the containers whose
    Compose working dir lies in `apps_dir`: a stack's own apps, on an engine every stack shares."""
    prefix = str(apps_dir.resolve()) + "/"
    client = docker_client()
    try:
        found = client.api.containers(all=True, filters={"label": COMPOSE_PROJECT})
    finally:
        client.close()
    return [c for c in found if str(c["Labels"].get(COMPOSE_WORKING_DIR, "")).startswith(prefix)]


def app_of(container: dict[str, Any]) -> str:
    """The app a container of `app_containers` belongs to (its working dir is APPOS_DATA/apps/<app>)."""
    return str(container["Labels"][COMPOSE_WORKING_DIR]).rsplit("/", 1)[-1]


def remove_app_leftovers(apps_dir: Path) -> None:
    """Containers, networks and volumes of the apps a stack deployed under `apps_dir` and a test left
    behind. Docker keeps them across runs (and its address pools hold about 30 networks), so a stack
    takes what it made with it when it stops; nothing of any other stack or program is touched."""
    mine = app_containers(apps_dir)
    client = docker_client()
    try:
        projects = {c["Labels"][COMPOSE_PROJECT] for c in mine}
        removals: list[tuple[Any, str]] = [(client.api.remove_container, c["Id"]) for c in mine]
        for project in projects:
            label = {"label": f"{COMPOSE_PROJECT}={project}"}
            removals.extend((client.api.remove_network, n["Id"]) for n in client.api.networks(filters=label))
            volumes = client.api.volumes(filters=label)["Volumes"] or []
            removals.extend((client.api.remove_volume, v["Name"]) for v in volumes)
        for remove, ident in removals:
            with contextlib.suppress(docker.errors.APIError):  # gone already, or still in use elsewhere
                if remove == client.api.remove_container:
                    remove(ident, force=True, v=True)
                else:
                    remove(ident)
    finally:
        client.close()


def start_stack(base: Path, *, extra_env: dict[str, str] | None = None, timeout: float = 90) -> Stack:
    data = base / "data"
    run_dir = base / "run"
    prepare_data_dir(data, run_dir)
    port = free_port()
    env = supervisor_env(
        data=data,
        run_dir=run_dir,
        extra={
            "APPOS_PORT": str(port),
            "APPOS_HOST": "127.0.0.1",
            "APPOS_CATALOG_DIRS": json.dumps([str(TEST_TEMPLATES)]),
            "APPOS_DEPLOY_TIMEOUT_SECONDS": "120",
            "APPOS_GRPC_PORT": str(free_port()),
            "APPOS_PROXY_HTTP_PORT": str(free_port()),
            "APPOS_PROXY_HTTPS_PORT": str(free_port()),
            # The host shell without the machine's dotfiles: a developer's ~/.bashrc (pyenv's init,
            # whose `rehash` waits on a lock that a shell killed mid-rehash leaves behind) must not
            # decide whether a test's shell starts. The login shell itself is AppOS's default.
            "APPOS_TERMINAL_HOST_SHELL": json.dumps(["/bin/bash", "--noprofile", "--norc"]),
            **(extra_env or {}),
        },
    )
    if "APPOS_ADMIN_PASSWORD" not in (extra_env or {}):
        env.pop("APPOS_ADMIN_PASSWORD", None)  # a developer's own setting must not leak in
    proc = start_supervisord(env, output=data / "log" / "supervisord.out")
    stack = Stack(data=data, run_dir=run_dir, port=port, proc=proc, env=env)
    try:
        healthy = wait_healthy(stack.url, proc, timeout=timeout)
    except BaseException:  # Ctrl-C while it starts: nothing is left running
        stack.stop()
        raise
    if not healthy:
        logs = {p.name: p.read_text(errors="replace")[-2000:] for p in (data / "log").glob("*.log")}
        stack.stop()
        raise AssertionError(f"AppOS stack did not become healthy in {timeout}s; logs: {logs}")
    return stack


@contextlib.contextmanager
def running_stack(
    base: Path, *, extra_env: dict[str, str] | None = None, timeout: float = 90
) -> Iterator[Stack]:
    """`start_stack`, stopped on the way out whatever happened (an exception, Ctrl-C): supervisord,
    every program, and the containers, networks and volumes of the apps it deployed."""
    stack = start_stack(base, extra_env=extra_env, timeout=timeout)
    try:
        yield stack
    finally:
        stack.stop()


@dataclass
class RedisServer:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(folder: Path) -> RedisServer:
    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed (apt-get install redis-server): `make test` installs it"
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def answers() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_for(answers, timeout=20, what="redis-server")
    return RedisServer(port=port, proc=proc)


# Room for many app networks at once (Docker's default pools hold about 30), in a private range that
# nothing else here uses; only for a dockerd that the tests or a benchmark start themselves.
ADDRESS_POOLS = ("--default-address-pool", "base=10.213.0.0/16,size=24")


@contextlib.contextmanager
def docker_engine(log: Path = Path("/tmp/appos-bench-dockerd.log")) -> Iterator[None]:
    """The Docker engine that answers, else a dockerd started here and stopped afterwards (also on
    Ctrl-C, and on SIGTERM, which becomes a KeyboardInterrupt meanwhile so that every `finally` of
    the benchmark runs): benchmarks leave running only what was running before them."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        started = dockerd.ensure_docker(log, args=ADDRESS_POOLS)
        try:
            yield
        finally:
            if started is not None:
                stop_pid_process(started)
    finally:
        signal.signal(signal.SIGTERM, previous)


def stop_pid_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def build_busybox_image(client: Any, tag: str = BUSYBOX_IMAGE) -> str:
    """`FROM scratch` + Debian's static busybox with its applets linked into /bin: a shell, httpd,
    nc and wget in about 1 MB, built locally because no registry can be reached."""
    assert BUSYBOX.exists(), "busybox-static is not installed (apt-get install busybox-static)"
    dockerfile = (
        b"FROM scratch\n"
        b"COPY busybox /bin/busybox\n"
        b'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        b'CMD ["/bin/sh"]\n'
    )
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(str(BUSYBOX), arcname="busybox")
    context.seek(0)
    image, _logs = client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
    return str(image.id)


def docker_client() -> Any:
    return dockerd.docker_client(timeout=60)


__all__ = [
    "ROOT",
    "Stack",
    "start_stack",
    "running_stack",
    "start_redis",
    "build_busybox_image",
    "free_port",
    "wait_for",
]


@dataclass
class Pebble:
    """Let's Encrypt's test CA with pebble-challtestsrv as its DNS (every name → 127.0.0.1)."""

    directory: str
    api_root: Path  # the throwaway CA that signed Pebble's own HTTPS certificate
    dns: str
    management_port: int
    dns_management_port: int  # pebble-challtestsrv's: its DNS answers
    procs: list[subprocess.Popen[bytes]]

    def issuing_root(self) -> str:
        """The root that Pebble's issued certificates chain to (random per Pebble start)."""
        import ssl

        context = ssl.create_default_context(cafile=str(self.api_root))
        url = f"https://127.0.0.1:{self.management_port}/roots/0"
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            return str(response.read().decode())

    def point(self, host: str, address: str | None) -> None:
        """The test DNS answers `host` with `address` (None: the default, 127.0.0.1, again)."""
        path, body = (
            ("/add-a", {"host": host, "addresses": [address]}) if address else ("/clear-a", {"host": host})
        )
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.dns_management_port}{path}",
            data=json.dumps(body).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status

    def stop(self) -> None:
        for proc in self.procs:
            stop_pid_process(proc)


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_test_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf for 127.0.0.1/localhost: (ca.pem, leaf.pem, leaf.key)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, leaf = (
        folder / n for n in ("ca.key", "ca.pem", "leaf.key", "leaf.csr", "leaf.pem")
    )
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out", str(ca),
             "-days", "2", "-subj", "/CN=AppOS test CA")  # fmt: skip
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        "/CN=127.0.0.1",
    )
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial",
             "-out", str(leaf), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return ca, leaf, key


def start_pebble(folder: Path, *, http_port: int, https_port: int) -> Pebble:
    """Pebble validating on Caddy's ports (its httpPort/tlsPort must equal Caddy's)."""
    for binary in ("pebble", "pebble-challtestsrv", "openssl"):
        assert shutil.which(binary), f"{binary} is not installed (apt-get install pebble openssl)"
    ca, leaf, key = make_test_ca(folder / "tls")
    dns_port, acme_port, management_port, chall_management = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    )
    config = folder / "pebble.json"
    config.write_text(
        json.dumps(
            {
                "pebble": {
                    "listenAddress": f"127.0.0.1:{acme_port}",
                    "managementListenAddress": f"127.0.0.1:{management_port}",
                    "certificate": str(leaf),
                    "privateKey": str(key),
                    "httpPort": http_port,
                    "tlsPort": https_port,
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": False,
                }
            }
        )
    )
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    log = open(folder / "pebble.log", "ab")  # the children keep their own copies of the descriptor
    chall = subprocess.Popen(
        ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
         "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "", "-tlsalpn01", "",
         "-management", f"127.0.0.1:{chall_management}"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    pebble = subprocess.Popen(
        ["pebble", "-config", str(config), "-dnsserver", f"127.0.0.1:{dns_port}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )  # fmt: skip
    log.close()
    running = Pebble(
        directory=f"https://127.0.0.1:{acme_port}/dir",
        api_root=ca,
        dns=f"127.0.0.1:{dns_port}",
        management_port=management_port,
        dns_management_port=chall_management,
        procs=[pebble, chall],
    )

    def answers() -> bool:
        import ssl

        try:
            context = ssl.create_default_context(cafile=str(ca))
            with urllib.request.urlopen(running.directory, context=context, timeout=2):
                return True
        except OSError:
            return False

    try:
        wait_for(answers, timeout=30, what="pebble")
    except BaseException:  # never answered, or Ctrl-C: neither process is left running
        running.stop()
        raise
    return running


@contextlib.contextmanager
def running_pebble(folder: Path, *, http_port: int, https_port: int) -> Iterator[Pebble]:
    """`start_pebble`, both processes stopped on the way out whatever happened."""
    pebble = start_pebble(folder, http_port=http_port, https_port=https_port)
    try:
        yield pebble
    finally:
        pebble.stop()
