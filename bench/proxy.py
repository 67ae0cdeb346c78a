"""Time from adding a domain through AppOS to the first valid HTTPS reply, against Caddy alone doing
the same `/load` with the same Pebble, same run. Target: <= 1.05x (Caddy alone ~0.57 s here).
Two baselines: a fresh Caddy per round (each registers its ACME account in that round), and one
Caddy that gets one more domain per round, as AppOS's does (its account is made once).
The HTTP client is made before each clock starts; Pebble, the stack and every Caddy are stopped
whatever happens (an exception, Ctrl-C).

Run: .venv/bin/python bench/proxy.py [rounds, default 3]
"""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from appos.v1 import proxy_pb2  # noqa: E402
from services.proxyctl.caddy import CaddyAdmin, build_config  # noqa: E402
from services.proxyctl.settings import ProxySettings  # noqa: E402
from tests.harness import (  # noqa: E402
    Pebble,
    build_busybox_image,
    docker_client,
    docker_engine,
    free_port,
    running_pebble,
    running_stack,
    wait_for,
)
from tests.integration.test_proxy import https_get  # noqa: E402


def first_https(get: object, timeout: float = 60) -> float:
    start = time.perf_counter()
    wait_for(get, timeout=timeout, interval=0.02, what="HTTPS")
    return time.perf_counter() - start


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    client = docker_client()
    build_busybox_image(client)
    client.close()
    with tempfile.TemporaryDirectory(prefix="appos-bench-") as tmp_name:
        tmp = Path(tmp_name)
        http_port, https_port = free_port(), free_port()
        appos_times, caddy_times = [], []
        with running_pebble(tmp / "pebble", http_port=http_port, https_port=https_port) as pebble:
            env = {
                "APPOS_PROXY_HTTP_PORT": str(http_port), "APPOS_PROXY_HTTPS_PORT": str(https_port),
                "APPOS_ACME_CA": pebble.directory, "APPOS_ACME_CA_ROOT": str(pebble.api_root),
                "APPOS_PROXY_DNS_SERVER": pebble.dns,
            }  # fmt: skip
            root = pebble.issuing_root()
            with running_stack(tmp / "stack", extra_env=env) as stack:
                token = stack.login()
                app_port = free_port()
                stack.deploy(
                    token,
                    {"name": "bench", "template": "busybox-httpd", "settings": {"HTTP_PORT": str(app_port)}},
                )
                with stack.client(token) as c:  # made before the clock starts: not part of adding a domain
                    for i in range(rounds):
                        host = f"a{i}.appos.test"
                        start = time.perf_counter()
                        r = c.post(
                            "/api/v1/proxy/domains",
                            json={"domain": host, "app": "bench", "service": "web", "port": 8080},
                        )
                        assert r.status_code == 200, r.text
                        wait_for(
                            lambda h=host: _ok(stack, h, root), timeout=60, interval=0.02, what="AppOS HTTPS"
                        )
                        appos_times.append(time.perf_counter() - start)
                stack.act(token, "bench", "remove", remove_volumes="true")
            # Caddy alone: same binary, same Pebble, same ports, the same kind of config, one /load,
            # proxying to a page this process serves
            site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
            threading.Thread(target=site.serve_forever, daemon=True).start()
            try:
                for i in range(rounds):
                    folder, host = tmp / f"caddy{i}", f"c{i}.appos.test"
                    caddy_times.append(
                        _caddy_alone(folder, host, pebble, site, root, (http_port, https_port))
                    )
                hosts = [f"g{i}.appos.test" for i in range(rounds)]
                growing = _caddy_growing(tmp / "caddy-g", hosts, pebble, site, root, (http_port, https_port))
            finally:
                site.shutdown()
                site.server_close()
    appos_median, caddy_median = statistics.median(appos_times), statistics.median(caddy_times)
    print(f"domain → first valid HTTPS reply, {rounds} rounds (median seconds)")
    print(
        f"  AppOS {appos_median:.3f}   Caddy alone {caddy_median:.3f}"
        f"   ratio {appos_median / caddy_median:.2f}"
    )
    growing_median = statistics.median(growing)
    print(
        f"  Caddy alone, one process adding a domain per round as AppOS's does {growing_median:.3f}"
        f"   ratio {appos_median / growing_median:.2f}"
    )
    print("  rounds: AppOS " + " ".join(f"{x:.3f}" for x in appos_times))
    print("  rounds: Caddy " + " ".join(f"{x:.3f}" for x in caddy_times))
    print("  rounds: Caddy, one process " + " ".join(f"{x:.3f}" for x in growing))


def _settings(folder: Path, pebble: Pebble, ports: tuple[int, int]) -> ProxySettings:
    folder.mkdir(parents=True)
    return ProxySettings(
        data=folder,
        run_dir=folder / "run",
        proxy_http_port=ports[0],
        proxy_https_port=ports[1],
        acme_ca=pebble.directory,
        acme_ca_root=pebble.api_root,
    )


@contextlib.contextmanager
def _caddy(folder: Path) -> Iterator[Path]:
    """A Caddy of its own with its bootstrap config (the admin API on a socket: yielded), stopped
    whatever happens."""
    (folder / "run").mkdir(parents=True)
    admin = folder / "run" / "caddy-admin.sock"
    boot = folder / "boot.json"
    boot.write_text(json.dumps({"admin": {"listen": f"unix/{admin}"}}))
    proc = subprocess.Popen(
        [shutil.which("caddy") or "caddy", "run", "--config", str(boot)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(admin.exists, timeout=10, what="caddy admin")
        yield admin
    finally:
        proc.terminate()
        proc.wait()


def _caddy_growing(
    folder: Path,
    hosts: list[str],
    pebble: Pebble,
    site: http.server.ThreadingHTTPServer,
    root: str,
    ports: tuple[int, int],
) -> list[float]:
    """One Caddy, one /load per round with one more domain (as AppOS's Caddy gets them: its ACME
    account is made in the first round only): each round's time to the new name's first valid
    HTTPS reply."""
    settings = _settings(folder, pebble, ports)
    times = []
    with _caddy(folder) as admin:
        domains: list[proxy_pb2.Domain] = []
        for host in hosts:
            domains.append(proxy_pb2.Domain(domain=host, https=True, force_https=True))
            dials = {d.domain: [f"127.0.0.1:{site.server_address[1]}"] for d in domains}
            start = time.perf_counter()
            CaddyAdmin(admin).load(build_config(domains, settings, admin, dials=dials))
            wait_for(lambda h=host: _ok_direct(ports[1], h, root), timeout=60, interval=0.02, what="HTTPS")
            times.append(time.perf_counter() - start)
    return times


def _caddy_alone(
    folder: Path,
    host: str,
    pebble: Pebble,
    site: http.server.ThreadingHTTPServer,
    root: str,
    ports: tuple[int, int],
) -> float:
    """A fresh Caddy, then one /load of a config with `host`: the time from that load to the first
    valid HTTPS reply (its ACME account is made in this load too)."""
    settings = _settings(folder, pebble, ports)
    with _caddy(folder) as admin:
        domain = proxy_pb2.Domain(domain=host, https=True, force_https=True)
        dials = {host: [f"127.0.0.1:{site.server_address[1]}"]}  # the app is gone by now
        start = time.perf_counter()
        CaddyAdmin(admin).load(build_config([domain], settings, admin, dials=dials))
        wait_for(lambda: _ok_direct(ports[1], host, root), timeout=60, interval=0.02, what="Caddy HTTPS")
        return time.perf_counter() - start


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


def _ok(stack: object, host: str, root: str) -> bool:
    try:
        https_get(stack, host, root)  # type: ignore[arg-type]
        return True
    except (OSError, AssertionError):
        return False


def _ok_direct(port: int, host: str, root: str) -> bool:
    class Fake:
        env = {"APPOS_PROXY_HTTP_PORT": "0", "APPOS_PROXY_HTTPS_PORT": str(port)}

    return _ok(Fake(), host, root)


if __name__ == "__main__":
    with docker_engine():  # started here when none answers, and stopped after
        main()
