"""App stores (issue 20): importing a store of 1,000 entries (CasaOS layout, each a two-service app
with a fixed password to replace) — wall time, time per entry, and the import process's peak memory
— once as a folder and once as a git repository (shallow clone); then the deployer's own memory
before and after the import on a real stack (the import runs in its own process, so the deployer
should not grow). Nothing leaves loopback; everything it makes is removed on the way out.

Run: .venv/bin/python bench/stores.py [entries, default 1000]
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.deployer.stores.importer import Request  # noqa: E402
from tests.harness import docker_engine, running_stack  # noqa: E402
from tests.stores import git_repository  # noqa: E402

ENTRY = """name: app{n}
services:
  web:
    image: appos-test/busybox:latest
    command: ["httpd", "-f", "-p", "8080", "-h", "/"]
    ports:
      - target: 8080
        published: "{port}"
        protocol: tcp
    environment:
      DB_PASSWORD: changeme
      TZ: $TZ
    volumes:
      - type: bind
        source: /DATA/AppData/$AppID/data
        target: /data
    depends_on: [db]
  db:
    image: appos-test/busybox:latest
    command: ["sleep", "3600"]
    environment:
      PASSWORD: changeme
x-casaos:
  main: web
  category: Utilities
  port_map: "{port}"
  title:
    en_us: App {n}
  description:
    en_us: Bench entry {n}.
"""


def make_store(folder: Path, entries: int) -> Path:
    for n in range(entries):
        app = folder / "Apps" / f"app{n}"
        app.mkdir(parents=True)
        (app / "docker-compose.yml").write_text(ENTRY.format(n=n, port=20000 + n))
    return folder


def import_once(url: str, kind: str, work: Path) -> dict[str, float]:
    staging = work / f"staging-{kind}"
    staging.mkdir()
    request = Request(
        name="bench", url=url, format="", kind=kind, store_dir=str(work / "none"), staging=str(staging)
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "services.deployer.stores.importer"], input=json.dumps(asdict(request)),
        capture_output=True, text=True, cwd=ROOT, check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    reply = json.loads(done.stdout.strip().splitlines()[-1])
    assert reply["ok"], reply
    record = reply["record"]
    return {
        "seconds": seconds, "templates": len(record["templates"]), "skipped": len(record["skipped"]),
        "peak_mib": max(peak, before) / 1024,
    }  # fmt: skip


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    entries = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory(prefix="appos-bench-stores-") as tmp:
        work = Path(tmp)
        store = make_store(work / "store", entries)
        repo = git_repository(store, work / "repo")
        print(f"store: {entries} entries (CasaOS layout, two services each)")
        for label, url, kind in (
            ("folder", str(store), "folder"),
            ("git (file://)", f"file://{repo}", "git"),
        ):
            found = import_once(url, kind, work)
            print(
                f"  {label:14} {found['seconds']:6.1f} s  {1000 * found['seconds'] / entries:5.1f} ms/entry  "
                f"{found['templates']} templates, {found['skipped']} skipped  "
                f"import process peak {found['peak_mib']:.0f} MiB"
            )
        with docker_engine(), running_stack(work / "stack") as stack:
            token = stack.login()
            pid = stack.pid_of("deployer")
            idle = rss_mib(pid)
            start = time.perf_counter()
            with stack.client(token) as c:
                r = c.post("/api/v1/catalog/stores", json={"name": "bench", "url": str(store)}, timeout=900)
            assert r.status_code == 201, r.text
            seconds = time.perf_counter() - start
            after = rss_mib(pid)
            with stack.client(token) as c:
                listed = len(c.get("/api/v1/catalog", params={"store": "bench"}).json()["templates"])
            print(
                f"  through REST   {seconds:6.1f} s  deployer RSS {idle:.1f} → {after:.1f} MiB "
                f"({after / idle:.2f}×), {listed} templates listed"
            )


if __name__ == "__main__":
    main()
