"""After fuzzing or chaos: does what state says agree with the files and the containers?

Docker is shared by every stack on the machine (other test workers, other developers), so a
container belongs to this stack when Compose's working-dir label points into its APPOS_DATA/apps.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import Any

import docker.errors

from tests.harness import Stack, app_containers, app_of, docker_client

UNFINISHED = ("pending", "running")


def list_all(stack: Stack, token: str, path: str, key: str, *, paged: bool = True) -> list[dict[str, Any]]:
    """Every item of a list route (following next_page_token when it pages)."""
    items: list[dict[str, Any]] = []
    page = ""
    with stack.client(token) as c:
        while True:
            params = {"page_size": "500", **({"page_token": page} if page else {})} if paged else {}
            r = c.get(path, params=params)
            assert r.status_code == 200, r.text
            body = r.json()
            items.extend(body.get(key, []))
            page = body.get("next_page_token", "")
            if not page:
                return items


def unfinished_deployments(stack: Stack, token: str) -> list[dict[str, Any]]:
    return [
        d for d in list_all(stack, token, "/api/v1/deployments", "deployments") if d["status"] in UNFINISHED
    ]


def wait_settled(stack: Stack, token: str, *, timeout: float) -> list[dict[str, Any]]:
    """Wait until no deployment is pending or running; the ones still unfinished at the end."""
    deadline = time.monotonic() + timeout
    while True:
        left = unfinished_deployments(stack, token)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(1)


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    app: str  # from Compose's working-dir label: APPOS_DATA/apps/<app>


def stack_containers(stack: Stack) -> list[Container]:
    """This stack's app containers."""
    return [
        Container(id=c["Id"], name=c["Names"][0].lstrip("/"), app=app_of(c))
        for c in app_containers(stack.data / "apps")
    ]


def problems(stack: Stack, token: str) -> list[str]:
    """Every disagreement between state, APPOS_DATA/apps and Docker (empty when consistent)."""
    found: list[str] = []
    apps = {a["name"]: a for a in list_all(stack, token, "/api/v1/apps", "apps", paged=False)}
    for d in unfinished_deployments(stack, token):
        found.append(f"deployment {d['id']} of {d['app']} is still {d['status']}")
    for name in apps:
        folder = stack.data / "apps" / name
        if not (folder / "compose.yaml").is_file():
            found.append(f"app {name!r} is in state but {folder}/compose.yaml does not exist")
    for container in stack_containers(stack):
        if container.app not in apps:
            found.append(f"container {container.name} belongs to no app in state ({container.app!r})")
    apps_dir = stack.data / "apps"
    if apps_dir.is_dir():
        for entry in apps_dir.iterdir():
            if entry.name not in apps and entry.is_dir() and any(entry.iterdir()):
                found.append(f"folder {entry} belongs to no app in state")
    return found


def remove_all_apps(stack: Stack, token: str, *, timeout: float = 180) -> None:
    """Teardown: every app of this stack removed with its volumes (Docker is shared)."""
    with stack.client(token) as c:
        for app in list_all(stack, token, "/api/v1/apps", "apps", paged=False):
            c.delete(f"/api/v1/apps/{app['name']}", params={"remove_volumes": "true"})
    wait_settled(stack, token, timeout=timeout)
    client = docker_client()
    try:  # whatever is left (a failed remove): by force, so nothing leaks into other tests
        for container in stack_containers(stack):
            with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                client.api.remove_container(container.id, force=True, v=True)
    finally:
        client.close()
