"""Round 2 of the attacks on issues 15 and 16, made as the lowest role that reaches each feature:
an operator against the compose policy (create, edit, `apps:validate`, rollback), domains and app
terminals; a viewer against secrets and streams. Every attempt is a test that asserts the safe
outcome: refused, nothing stored or started, nothing of the host visible in any container.

Where an attempt got through (a real hole), the test still asserts the safe behaviour, so it fails
until the hole is closed; nothing here is skipped or expected to fail.

Most attempts use the session's shared stack. The few that need other settings (a low limit of open
streams, the default failed-login limits, a HOME of the test's own, a restore that replaces the
whole install) use one stack of this module's own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Subprotocol

from appos.v1 import proxy_pb2, state_pb2, state_pb2_grpc
from services.common import totp
from services.common.clients import sync_channel
from services.common.forwarding import PROXY_HEADER
from tests.harness import Stack, docker_client, start_stack, wait_for

# the module-scoped stack below must stay on one xdist worker
pytestmark = pytest.mark.xdist_group("round2_attacks")

IMAGE = "appos-test/busybox:latest"
IMG = f"    image: {IMAGE}\n    pull_policy: never\n    init: true\n"
SLEEP = '    command: ["sleep", "3600"]\n'
TIMEOUT = 30.0


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _user(stack: Stack, admin_token: str, role: str) -> tuple[str, str]:
    name, password = _name(f"r2{role[:2]}"), f"pw-{uuid.uuid4().hex}"
    with stack.client(admin_token) as c:
        r = c.post("/api/v1/users", json={"username": name, "password": password, "role": role})
    assert r.status_code == 200, r.text
    return name, password


def _containers(app: str) -> list[Any]:
    client = docker_client()
    try:
        return list(
            client.containers.list(all=True, filters={"label": f"com.docker.compose.project=appos-{app}"})
        )
    finally:
        client.close()


def _service(app: str, service: str) -> Any:
    found = [c for c in _containers(app) if c.labels.get("com.docker.compose.service") == service]
    assert found, f"no container of {app}/{service}"
    return found[0]


def _exec(container: Any, script: str) -> str:
    result = container.exec_run(["sh", "-c", script])
    return str(result.output.decode(errors="replace"))


def _jwt_key(stack: Stack) -> str:
    return (stack.data / "secrets" / "jwt.key").read_text().strip()


def _settled(stack: Stack, token: str, app: str) -> None:
    """Until no deployment of the app is pending or running (an automatic rollback runs after a
    failed deploy, and recreates the app's containers while it does)."""

    def idle() -> bool:
        with stack.client(token) as c:
            listed = c.get("/api/v1/deployments", params={"app": app, "page_size": "20"}).json()
        return all(d["status"] not in ("pending", "running") for d in listed.get("deployments", []))

    wait_for(idle, timeout=120, what=f"{app}'s deployments to end")


def _host_visible(stack: Stack, app: str) -> list[str]:
    """Which running containers of the app can read the token-signing key through any of their
    mounts (the proof that the host's / or APPOS_DATA is visible)."""
    key = _jwt_key(stack)
    seen = []
    for container in _containers(app):
        container.reload()
        if container.status != "running":
            continue
        for mount in container.attrs.get("Mounts") or []:
            inside = mount["Destination"]
            for candidate in (f"{inside}{stack.data}/secrets/jwt.key", f"{inside}/secrets/jwt.key"):
                if key in _exec(container, f"cat '{candidate}' 2>/dev/null"):
                    seen.append(f"{container.name}:{candidate}")
    return seen


def _create(stack: Stack, token: str, body: dict[str, Any]) -> tuple[httpx.Response, dict[str, Any] | None]:
    """POST /api/v1/apps; when it was accepted, the ended deployment too."""
    with stack.client(token) as c:
        r = c.post("/api/v1/apps", json=body)
    if r.status_code != 202:
        return r, None
    return r, stack.wait_deployment(token, r.json()["deployment"]["id"], timeout=180)


def _put(
    stack: Stack, token: str, app: str, compose: str, env: str = "", *, deploy: bool = False
) -> httpx.Response:
    with stack.client(token) as c:
        etag = c.get(f"/api/v1/apps/{app}/compose").headers["etag"]
        return c.put(
            f"/api/v1/apps/{app}/compose",
            json={"compose": compose, "env": env},
            headers={"If-Match": etag},
            params={"deploy": "true"} if deploy else {},
        )


def _current_version(stack: Stack, token: str, app: str) -> int:
    with stack.client(token) as c:
        return int(c.get(f"/api/v1/apps/{app}").json()["current_version"])


# --------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def operator(stack: Stack, admin_token: str) -> str:
    return stack.login(*_user(stack, admin_token, "operator"))


@pytest.fixture(scope="module")
def viewer(stack: Stack, admin_token: str) -> str:
    return stack.login(*_user(stack, admin_token, "viewer"))


@pytest.fixture(scope="module")
def victim(stack: Stack, admin_token: str, busybox_image: str) -> Iterator[str]:
    """Another app (an admin's): a service `web` with ./data bound, a named volume, its network."""
    app = _name("victim")
    compose = (
        "services:\n  web:\n" + IMG + SLEEP + "    volumes: ['./data:/data', 'store:/store']\n"
        "volumes:\n  store: {}\n"
    )
    _, deployment = _create(
        stack, admin_token, {"name": app, "compose": compose, "env": "VICTIM_PW=hunter2\n"}
    )
    assert deployment and deployment["status"] == "succeeded", deployment
    yield app
    stack.remove_app(admin_token, app)


@pytest.fixture(scope="module")
def target(stack: Stack, admin_token: str, operator: str, busybox_image: str) -> Iterator[str]:
    """An operator's running app that the edits below try to turn hostile."""
    app = _name("target")
    compose = "services:\n  web:\n" + IMG + SLEEP + "    volumes: ['./data:/data']\n"
    _, deployment = _create(stack, operator, {"name": app, "compose": compose})
    assert deployment and deployment["status"] == "succeeded", deployment
    yield app
    stack.remove_app(admin_token, app)


# ------------------------------------------------------------------------ the compose policy corpus


@dataclass(frozen=True)
class Ctx:
    app: str  # the app the file is sent for
    victim: str  # another app
    data: Path  # APPOS_DATA

    @property
    def apps(self) -> Path:
        return self.data / "apps"


def _svc(extra: str, *, name: str = "web", command: str = SLEEP) -> str:
    return f"services:\n  {name}:\n" + IMG + command + extra


# name → (compose, env), built for the app the file is sent for
CASES: dict[str, Callable[[Ctx], tuple[str, str]]] = {
    # YAML tricks
    "yaml_anchor_merge_hides_privileged": lambda x: (
        "x-base: &base\n  privileged: true\n  restart: 'no'\n"
        "services:\n  web:\n    <<: *base\n" + IMG + SLEEP,
        "",
    ),
    "yaml_merge_list_second_anchor": lambda x: (
        "x-ok: &ok\n  restart: 'no'\nx-evil: &evil\n  cap_add: [SYS_ADMIN]\n"
        "services:\n  web:\n    <<: [*ok, *evil]\n" + IMG + SLEEP,
        "",
    ),
    "yaml_anchor_bind_string": lambda x: (
        "x-v: &v /etc:/host-etc\nservices:\n  web:\n" + IMG + SLEEP + "    volumes: [*v]\n",
        "",
    ),
    "yaml_override_tag_cap": lambda x: (_svc("    cap_add: !override [SYS_ADMIN]\n"), ""),
    "yaml_override_tag_security_opt": lambda x: (
        _svc("    security_opt: !override ['seccomp=unconfined']\n"),
        "",
    ),
    "yaml_reset_tag_then_privileged": lambda x: (
        _svc("    cap_drop: !reset []\n    privileged: !override true\n"),
        "",
    ),
    "yaml_duplicate_key_last_wins": lambda x: (_svc("    privileged: false\n    privileged: true\n"), ""),
    "yaml_duplicate_service": lambda x: (
        _svc("") + "  web:\n" + IMG + SLEEP + "    privileged: true\n",
        "",
    ),
    "yaml_json_style": lambda x: (
        json.dumps({"services": {"web": {"image": IMAGE, "pull_policy": "never", "privileged": True}}}),
        "",
    ),
    "yaml_unicode_lookalike_key": lambda x: (_svc("    priv\u0456leged: true\n"), ""),
    "yaml_escaped_key_is_privileged": lambda x: (_svc('    "privil\\x65ged": true\n'), ""),
    "yaml_key_case_Privileged": lambda x: (_svc("    Privileged: true\n"), ""),
    "yaml_key_case_Cap_Add": lambda x: (_svc("    Cap_Add: [SYS_ADMIN]\n"), ""),
    "yaml_bool_spelled_on": lambda x: (_svc("    privileged: on\n"), ""),
    "yaml_bool_tagged_string": lambda x: (_svc('    privileged: !!bool "true"\n'), ""),
    "yaml_second_document": lambda x: (_svc("") + "---\n" + _svc("    privileged: true\n"), ""),
    # variable tricks
    "var_default_is_etc": lambda x: (_svc("    volumes: ['${X:-/etc}:/x']\n"), ""),
    "var_double_dollar_climbs": lambda x: (_svc("    volumes: ['$${PWD}/../../..:/x']\n"), ""),
    "var_nested_default": lambda x: (_svc("    volumes: ['${A:-${B:-/etc}}:/x']\n"), ""),
    "var_env_dotdot": lambda x: (_svc("    volumes: ['./${X}/secrets:/x']\n"), "X=../..\n"),
    "var_env_quoted_abs_with_comment": lambda x: (
        _svc("    volumes: ['${X}/etc:/x']\n"),
        'X="/" # a comment\n',
    ),
    "var_env_file_home": lambda x: (_svc("    env_file: ['${HOME}/.profile']\n"), ""),
    "var_env_file_default_outside": lambda x: (_svc("    env_file: ['${EF:-/etc/os-release}']\n"), ""),
    "var_env_file_unset_required": lambda x: (_svc("    env_file: ['${EF:?}']\n"), ""),
    "var_include_default_environ": lambda x: (
        "include: ['${I:-/proc/self/environ}']\n" + _svc(""),
        "",
    ),
    "var_label_file_default_outside": lambda x: (_svc("    label_file: ['${L:-/etc/os-release}']\n"), ""),
    # path tricks
    "path_data_dotdot_dotdot": lambda x: (_svc("    volumes: ['./data/../../x:/x']\n"), ""),
    "path_dot_dot_dot_own_folder": lambda x: (_svc("    volumes: ['./././:/x']\n"), ""),
    "path_own_folder_via_parent": lambda x: (_svc(f"    volumes: ['../{x.app}/:/x']\n"), ""),
    "path_own_folder_trailing_slashes": lambda x: (_svc(f"    volumes: ['{x.apps}/{x.app}//:/x']\n"), ""),
    "path_double_slash_etc": lambda x: (_svc("    volumes: ['//etc:/x']\n"), ""),
    "path_env_via_dotdot": lambda x: (_svc("    volumes: ['./x/../.env:/x']\n"), ""),
    "path_compose_via_dotdot": lambda x: (_svc("    volumes: ['./x/../compose.yaml:/x:ro']\n"), ""),
    "path_long_create_host_path": lambda x: (
        _svc(
            "    volumes:\n      - type: bind\n        source: /srv/appos-r2-made-up\n"
            "        target: /x\n        bind: {create_host_path: true}\n"
        ),
        "",
    ),
    "path_long_dotdot_secrets": lambda x: (
        _svc("    volumes:\n      - {type: bind, source: ../../secrets, target: /x}\n"),
        "",
    ),
    "path_tilde": lambda x: (_svc("    volumes: ['~/:/x']\n"), ""),
    "path_rshared_propagation": lambda x: (_svc("    volumes: ['./data:/x:rshared']\n"), ""),
    "path_other_app_data": lambda x: (_svc(f"    volumes: ['../{x.victim}/data:/x']\n"), ""),
    "path_other_app_absolute": lambda x: (_svc(f"    volumes: ['{x.apps}/{x.victim}/data:/x']\n"), ""),
    "path_proc_self_root": lambda x: (_svc("    volumes: ['/proc/self/root:/x']\n"), ""),
    "path_volume_device_climbs": lambda x: (
        _svc("    volumes: ['vol:/x']\n")
        + "volumes:\n  vol:\n    driver_opts: {type: none, o: bind, device: ./data/../..}\n",
        "",
    ),
    # files Compose reads while loading
    "include_proc_self_environ": lambda x: ("include: [/proc/self/environ]\n" + _svc(""), ""),
    "include_signing_key": lambda x: ("include: [../../secrets/jwt.key]\n" + _svc(""), ""),
    "include_long_project_directory_root": lambda x: (
        "include:\n  - {path: ./x.yaml, project_directory: /}\n" + _svc(""),
        "",
    ),
    "include_other_app_with_admin_password": lambda x: (
        f"include:\n  - {{path: ../{x.victim}/compose.yaml, env_file: ../../admin-password}}\n" + _svc(""),
        "",
    ),
    "extends_other_app": lambda x: (
        _svc(f"    extends: {{file: ../{x.victim}/compose.yaml, service: web}}\n"),
        "",
    ),
    # build contexts
    "build_context_parent": lambda x: (_svc("    build: {context: ..}\n"), ""),
    "build_dockerfile_signing_key": lambda x: (
        _svc("    build: {context: ., dockerfile: ../../secrets/jwt.key}\n"),
        "",
    ),
    "build_additional_context_root": lambda x: (
        _svc("    build: {context: ., additional_contexts: {h: /}}\n"),
        "",
    ),
    "build_network_host": lambda x: (_svc("    build: {context: ., network: host}\n"), ""),
    # secrets and configs
    "secret_file_other_app_env": lambda x: (
        _svc("    secrets: [s]\n") + f"secrets:\n  s: {{file: ../{x.victim}/.env}}\n",
        "",
    ),
    "config_file_shadow": lambda x: (
        _svc("    configs: [c]\n") + "configs:\n  c: {file: /etc/shadow}\n",
        "",
    ),
    # another app's objects
    "volume_named_other_app": lambda x: (
        _svc("    volumes: ['vol:/x']\n") + f"volumes:\n  vol: {{name: appos-{x.victim}_store}}\n",
        "",
    ),
    "volume_external_other_app": lambda x: (
        _svc("    volumes: ['vol:/x']\n")
        + f"volumes:\n  vol: {{external: true, name: appos-{x.victim}_store}}\n",
        "",
    ),
    "network_external_bridge": lambda x: (
        _svc("    networks: [n]\n") + "networks:\n  n: {external: true, name: bridge}\n",
        "",
    ),
    "network_external_other_app": lambda x: (
        _svc("    networks: [n]\n") + f"networks:\n  n: {{external: true, name: appos-{x.victim}_default}}\n",
        "",
    ),
    "network_mode_service_not_in_file": lambda x: (_svc("    network_mode: 'service:ghost'\n"), ""),
    "network_mode_other_app_container": lambda x: (
        _svc(f"    network_mode: 'container:appos-{x.victim}-web-1'\n"),
        "",
    ),
    "network_mode_other_app_network": lambda x: (_svc(f"    network_mode: appos-{x.victim}_default\n"), ""),
    "volumes_from_other_app_container": lambda x: (
        _svc(f"    volumes_from: ['appos-{x.victim}-web-1']\n"),
        "",
    ),
    "volumes_from_container_prefix": lambda x: (
        _svc(f"    volumes_from: ['container:appos-{x.victim}-web-1:ro']\n"),
        "",
    ),
    "pid_other_app_container": lambda x: (_svc(f"    pid: 'container:appos-{x.victim}-web-1'\n"), ""),
    # capabilities, security options, sysctls, namespaces, devices
    "cap_add_trailing_space": lambda x: (_svc("    cap_add: ['cap_sys_admin ']\n"), ""),
    "cap_add_leading_space_mixed_case": lambda x: (_svc("    cap_add: [' Cap_Sys_Admin']\n"), ""),
    "cap_add_all_lowercase": lambda x: (_svc("    cap_add: [all]\n"), ""),
    "security_opt_seccomp_spaces": lambda x: (_svc("    security_opt: ['seccomp = unconfined']\n"), ""),
    "security_opt_seccomp_colon": lambda x: (_svc("    security_opt: ['seccomp:unconfined']\n"), ""),
    "security_opt_apparmor_equals": lambda x: (_svc("    security_opt: ['apparmor=unconfined']\n"), ""),
    "security_opt_apparmor_spaced_colon": lambda x: (
        _svc("    security_opt: ['apparmor : unconfined']\n"),
        "",
    ),
    "security_opt_label_disable": lambda x: (_svc("    security_opt: ['label=disable']\n"), ""),
    "security_opt_systempaths_unconfined": lambda x: (
        _svc("    security_opt: ['systempaths=unconfined']\n"),
        "",
    ),
    "security_opt_no_new_privileges_false": lambda x: (
        _svc("    security_opt: ['no-new-privileges:false']\n"),
        "",
    ),
    # SELinux's unconfined container types: what apparmor=unconfined is for AppArmor hosts
    "security_opt_selinux_type_spc_t": lambda x: (_svc("    security_opt: ['label=type:spc_t']\n"), ""),
    "security_opt_selinux_type_unconfined_t": lambda x: (
        _svc("    security_opt: ['label:type:unconfined_t']\n"),
        "",
    ),
    "sysctls_list_core_pattern": lambda x: (_svc("    sysctls: ['kernel.core_pattern=|/tmp/x']\n"), ""),
    "sysctls_list_spaces": lambda x: (_svc("    sysctls: ['kernel.modprobe = /tmp/x']\n"), ""),
    "ipc_host": lambda x: (_svc("    ipc: host\n"), ""),
    "uts_host": lambda x: (_svc("    uts: host\n"), ""),
    "cgroup_host": lambda x: (_svc("    cgroup: host\n"), ""),
    "userns_mode_host": lambda x: (_svc("    userns_mode: host\n"), ""),
    "gpus_all": lambda x: (_svc("    gpus: all\n"), ""),
    "devices_dev_mem": lambda x: (_svc("    devices: ['/dev/mem:/dev/mem']\n"), ""),
    "hook_privileged": lambda x: (_svc("    post_start:\n      - {command: [id], privileged: true}\n"), ""),
    "use_api_socket": lambda x: (_svc("    use_api_socket: true\n"), ""),
    "provider_service_runs_host_binary": lambda x: (
        "services:\n  web:\n    provider: {type: appos-r2-nonexistent, options: {a: b}}\n",
        "",
    ),
    "develop_watch_unknown_key": lambda x: (
        _svc("    develop: {watch: [{path: /, action: sync, target: /x}]}\n"),
        "",
    ),
}


def _refused(r: httpx.Response) -> bool:
    return r.status_code == 400 and r.json().get("code") == "invalid_argument"


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_file_is_refused_by_validate_create_and_edit(
    stack: Stack, operator: str, victim: str, target: str, case: str
) -> None:
    """Each file as an operator: `apps:validate` and a create answer 400 and create nothing; an edit
    of a running app answers 400 and stores no version."""
    app = _name("r2c")
    compose, env = CASES[case](Ctx(app=app, victim=victim, data=stack.data))
    before = _current_version(stack, operator, target)
    with stack.client(operator) as c:
        checked = c.post("/api/v1/apps:validate", json={"name": app, "compose": compose, "env": env})
        created = c.post("/api/v1/apps", json={"name": app, "compose": compose, "env": env})
        missing = c.get(f"/api/v1/apps/{app}").status_code
    if created.status_code == 202:  # a hole: let it finish, then clean up
        stack.wait_deployment(operator, created.json()["deployment"]["id"], timeout=180)
        stack.remove_app(operator, app)
    edit_compose, edit_env = CASES[case](Ctx(app=target, victim=victim, data=stack.data))
    edited = _put(stack, operator, target, edit_compose, edit_env)
    assert _refused(checked), f"validate: {checked.status_code} {checked.text}"
    assert _refused(created), f"create: {created.status_code} {created.text}"
    assert missing == 404 and not (stack.data / "apps" / app).exists()
    assert _containers(app) == []
    assert _refused(edited), f"edit: {edited.status_code} {edited.text}"
    assert _current_version(stack, operator, target) == before, "an edit was stored"


def test_an_operator_cannot_grant_itself_an_exception(stack: Stack, operator: str, target: str) -> None:
    compose = _svc("    privileged: true\n")
    with stack.client(operator) as c:
        for r in (
            c.post("/api/v1/apps", json={"name": _name("r2g"), "compose": compose, "allow": ["privileged"]}),
            c.post(
                "/api/v1/apps:validate",
                json={"name": _name("r2g"), "compose": compose, "allow": ["privileged"]},
            ),
            c.put(f"/api/v1/apps/{target}/policy", json={"exceptions": ["privileged"], "reason": "mine"}),
        ):
            assert r.status_code == 403, r.text
        assert c.get(f"/api/v1/apps/{target}").json().get("policy_exceptions", []) == []


# ------------------------------------------------------------------- attempts that reach the engine


def test_env_file_path_with_plus_operator_reads_a_host_file(
    stack: Stack, operator: str, busybox_image: str, tmp_path: Path
) -> None:
    """`${V+/host/file}` with V set but empty: Compose reads /host/file (set, even empty, takes the
    alternative), the policy's own interpolation reads it as "" (the app's folder) and the
    as-written pass keeps `${V+…}` as a folder name inside the app. The host file's lines become the
    container's environment, which the operator reads with a terminal or the app's logs."""
    secret = f"r2-host-only-{uuid.uuid4().hex}"
    host_file = tmp_path / "host.env"
    host_file.write_text(f"R2_HOST_ONLY={secret}\n")
    host_file.chmod(0o600)
    app = _name("r2plus")
    compose = _svc(f"    env_file: ['${{V+{host_file}}}']\n")
    with stack.client(operator) as c:
        checked = c.post("/api/v1/apps:validate", json={"name": app, "compose": compose, "env": "V=\n"})
    created, deployment = _create(stack, operator, {"name": app, "compose": compose, "env": "V=\n"})
    leaked = ""
    if deployment is not None:
        with contextlib.suppress(AssertionError):
            leaked = _exec(_service(app, "web"), "env")
        stack.remove_app(operator, app)
    assert secret not in leaked, "the host file's content is in the container's environment"
    assert _refused(checked), checked.text
    assert _refused(created), created.text


def test_a_relative_local_volume_device_is_not_relative_to_the_app(
    stack: Stack, operator: str, busybox_image: str
) -> None:
    """A local volume `{type: none, o: bind, device: ./x}`: the policy reads ./x against the app's
    folder (inside, allowed), but Compose passes the device to Docker as written and the engine
    mounts it relative to dockerd's own working directory (`/` under systemd): `./etc` is the
    host's /etc, read-write."""
    cwd = _dockerd_cwd()
    sub = next(
        (
            e.name
            for e in sorted(os.scandir(cwd), key=lambda e: e.name)
            if e.is_dir() and not e.name.startswith(".") and os.listdir(e.path)
        ),
        "etc",
    )
    app = _name("r2dev")
    compose = (
        _svc("    volumes: ['vol:/v']\n")
        + f"volumes:\n  vol:\n    driver_opts: {{type: none, o: bind, device: ./{sub}}}\n"
    )
    created, deployment = _create(stack, operator, {"name": app, "compose": compose})
    listing = ""
    if deployment is not None:
        with contextlib.suppress(AssertionError):
            listing = _exec(_service(app, "web"), "ls -A /v")
        stack.remove_app(operator, app)
    host_entries = sorted(os.listdir(os.path.join(cwd, sub)))
    assert not (listing.split() and sorted(listing.split()) == host_entries), (
        f"the container sees dockerd's {cwd}/{sub}: {listing.split()[:8]}"
    )
    assert _refused(created) or (deployment or {}).get("status") == "failed", created.text


def _dockerd_cwd() -> str:
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            if Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd":
                return os.readlink(f"/proc/{pid}/cwd")
    return "/"


def test_an_owned_external_volume_hides_a_bind_through_a_planted_symlink(
    stack: Stack, operator: str, admin_token: str, busybox_image: str
) -> None:
    """v1 creates a local volume that binds ./data/sub (checked: inside, no symlink). v2 declares the
    same volume `external: true` with its own name (owned by the app: allowed) and adds a service
    that binds ./data: the policy no longer knows the volume binds ./data/sub, and the layout rule
    against existing containers counts only `bind` mounts. The second service swaps ./data/sub for
    a symlink to /; a restart re-mounts the volume, and Docker follows the link."""
    app = _name("r2ext")
    v1 = (
        "services:\n  holder:\n" + IMG + SLEEP + "    volumes: ['vol:/d']\n"
        "volumes:\n  vol:\n    driver_opts: {type: none, o: bind, device: "
        f"{stack.data}/apps/{app}/data/sub}}\n"
    )
    try:
        created, deployment = _create(stack, operator, {"name": app, "compose": v1})
        assert deployment and deployment["status"] == "succeeded", (created.text, deployment)
        v2 = (
            "services:\n  holder:\n" + IMG + SLEEP + "    volumes: ['vol:/d']\n"
            "  planter:\n" + IMG + SLEEP + "    volumes: ['./data:/p']\n"
            f"volumes:\n  vol:\n    external: true\n    name: appos-{app}_vol\n"
        )
        edited = _put(stack, operator, app, v2, deploy=True)
        if edited.status_code == 200:
            assert stack.wait_deployment(operator, edited.json()["deployment"]["id"])["status"] == "succeeded"
            _exec(_service(app, "planter"), "rm -rf /p/sub && ln -s / /p/sub")
            assert (stack.data / "apps" / app / "data" / "sub").is_symlink()
            stack.act(operator, app, "restart")
        assert _host_visible(stack, app) == []
    finally:
        link = stack.data / "apps" / app / "data" / "sub"
        if link.is_symlink():
            link.unlink()
        stack.remove_app(admin_token, app)


def test_a_network_subnet_cannot_take_over_host_routes(
    stack: Stack, operator: str, busybox_image: str
) -> None:
    """An app network with an explicit public subnet adds a host route to it through the app's
    bridge: the host's own traffic to that range (here TEST-NET-3; in real life the cloud metadata
    address or the DNS resolver's subnet) reaches the operator's container instead."""
    app = _name("r2net")
    marker = f"r2-hijack-{uuid.uuid4().hex}"
    compose = (
        "services:\n  web:\n"
        + IMG
        + f'    command: ["sh", "-c", "mkdir -p /w && echo {marker} > /w/index.html && '
        'exec httpd -f -p 80 -h /w"]\n'
        "    networks:\n      n: {ipv4_address: 203.0.113.10}\n"
        "networks:\n  n:\n    ipam:\n      config: [{subnet: 203.0.113.0/24}]\n"
    )
    created, deployment = _create(stack, operator, {"name": app, "compose": compose})
    answered = ""
    if deployment is not None:
        with contextlib.suppress(httpx.HTTPError):
            answered = httpx.get("http://203.0.113.10/", timeout=5).text
        stack.remove_app(operator, app)
    assert marker not in answered, "the host's traffic to 203.0.113.10 went to the app's container"
    assert _refused(created), created.text


def test_container_name_of_another_app_changes_nothing(
    stack: Stack, operator: str, victim: str, busybox_image: str
) -> None:
    before = _service(victim, "web")
    app = _name("r2cn")
    compose = _svc(f"    container_name: appos-{victim}-web-1\n")
    created, deployment = _create(stack, operator, {"name": app, "compose": compose})
    if deployment is not None:
        stack.remove_app(operator, app)
    after = _service(victim, "web")
    assert (after.id, after.status) == (before.id, "running")
    assert _refused(created) or (deployment or {}).get("status") == "failed", deployment


def test_publishing_on_appos_own_ports_takes_none_of_them(
    stack: Stack, operator: str, busybox_image: str
) -> None:
    """`ports` on the gateway's, the public gRPC port's and Caddy's HTTP port: the deploy fails (the
    engine cannot bind them) or is refused; the gateway still answers as itself afterwards."""
    ports = {
        "gateway": stack.port,
        "grpc": int(stack.env["APPOS_GRPC_PORT"]),
        "caddy_http": int(stack.env["APPOS_PROXY_HTTP_PORT"]),
    }
    outcomes = {}
    for what, port in ports.items():
        for spec in (f"127.0.0.1:{port}:80", f"{port}:80"):
            app = _name("r2port")
            compose = _svc(f"    ports: ['{spec}']\n", command='    command: ["httpd", "-f", "-p", "80"]\n')
            created, deployment = _create(stack, operator, {"name": app, "compose": compose})
            outcomes[f"{what} {spec}"] = created.status_code if deployment is None else deployment["status"]
            if deployment is not None:
                stack.remove_app(operator, app)
            health = httpx.get(f"{stack.url}/health", timeout=10)
            assert health.status_code == 200 and "status" in health.json(), (spec, health.text)
    assert all(o in (400, "failed") for o in outcomes.values()), outcomes


def test_a_host_path_exception_allows_only_its_path_and_ends_with_its_withdrawal(
    stack: Stack, admin_token: str, operator: str, busybox_image: str, tmp_path: Path
) -> None:
    srv = tmp_path / "srv"
    (srv / "media").mkdir(parents=True)
    (tmp_path / "etc-like").mkdir()
    (tmp_path / "etc-like" / "shadow").write_text("not for apps")
    app = _name("r2srv")
    v1 = _svc(f"    volumes: ['{srv}:/srv']\n")
    try:
        _, deployment = _create(
            stack, admin_token, {"name": app, "compose": v1, "allow": [f"host_path:{srv}"]}
        )
        assert deployment and deployment["status"] == "succeeded", deployment
        for escape in (
            f"{srv}/../etc-like",
            f"{srv}/media/../../etc-like",
            f"{srv}-other",
            f"{srv}/../srv/../etc-like",
        ):
            r = _put(stack, operator, app, _svc(f"    volumes: ['{escape}:/x']\n"))
            assert _refused(r), (escape, r.text)
        # a container of the app plants a link inside the granted folder; an edit that mounts through it
        _exec(_service(app, "web"), "ln -s / /srv/link")
        r = _put(stack, operator, app, _svc(f"    volumes: ['{srv}/link/etc:/x']\n", name="reader"))
        assert _refused(r) and "symbolic link" in r.json()["message"], r.text
        # a stored version that uses the exception, then the exception is withdrawn: rollback refused
        r = _put(stack, operator, app, _svc(f"    volumes: ['{srv}/media:/m']\n"))
        assert r.status_code == 200, r.text
        stored = r.json()["version"]["number"]
        with stack.client(admin_token) as c:
            withdrawn = c.put(f"/api/v1/apps/{app}/policy", json={"exceptions": [], "reason": "no more"})
            assert withdrawn.status_code == 200, withdrawn.text
        before = _current_version(stack, operator, app)
        with stack.client(operator) as c:
            for version in (1, stored):
                r = c.post(f"/api/v1/apps/{app}/rollback", json={"version": version})
                assert _refused(r) and f"host_path:{srv}" in r.json()["message"], r.text
        assert _current_version(stack, operator, app) == before
        restarted = stack.act(operator, app, "restart")  # the running v1 containers: refused too
        assert restarted["status"] == "failed" and "refused before Compose ran" in restarted["reason"]
    finally:
        with contextlib.suppress(OSError):
            (srv / "link").unlink()
        stack.remove_app(admin_token, app)


def test_a_symlink_planted_in_a_mount_then_a_rollback_through_it(
    stack: Stack, operator: str, admin_token: str, busybox_image: str
) -> None:
    """v1 `reader` binds ./data/sub; v2 replaces it with `planter`, which binds ./data and turns
    ./data/sub into a link to /; the operator rolls back to v1 (and also redeploys and restarts)."""
    app = _name("r2rb")
    v1 = _svc("    volumes: ['./data/sub:/host']\n", name="reader")
    v2 = _svc("    volumes: ['./data:/p']\n", name="planter")
    folder = stack.data / "apps" / app / "data" / "sub"
    try:
        _, deployment = _create(stack, operator, {"name": app, "compose": v1})
        assert deployment and deployment["status"] == "succeeded", deployment
        r = _put(stack, operator, app, v2, deploy=True)
        if r.status_code != 200:  # refused at once: planter would hold what the running reader mounts
            assert _refused(r) and "running container" in r.json()["message"], r.text
            assert _host_visible(stack, app) == []
            return
        assert stack.wait_deployment(operator, r.json()["deployment"]["id"])["status"] == "succeeded"
        _exec(_service(app, "planter"), "rm -rf /p/sub && ln -s / /p/sub")
        assert folder.is_symlink()
        before = _current_version(stack, operator, app)
        with stack.client(operator) as c:
            rolled = c.post(f"/api/v1/apps/{app}/rollback", json={"version": 1})
        if rolled.status_code == 200:
            ended = stack.wait_deployment(operator, rolled.json()["deployment"]["id"])
            assert ended["status"] == "failed" and "symbolic link" in ended["reason"], ended
        else:
            # refused for the link, or first because a running container (planter) mounts ./data
            message = rolled.json()["message"]
            assert _refused(rolled), message
            assert "symbolic link" in message or "running container" in message, message
            assert _current_version(stack, operator, app) == before
        assert _host_visible(stack, app) == []
        assert [c.labels["com.docker.compose.service"] for c in _containers(app)] == ["planter"]
    finally:
        if folder.is_symlink():
            folder.unlink()
        stack.remove_app(admin_token, app)


# ------------------------------------------------------------------------- domains (issue 16 §4)


def _state(stack: Stack) -> Any:
    return sync_channel(stack.run_dir / "state.sock")


def test_an_operator_cannot_add_or_remove_a_console_domain(
    stack: Stack, admin_token: str, operator: str, target: str
) -> None:
    console = f"console-{uuid.uuid4().hex[:6]}.appos.test"
    with stack.client(operator) as c:
        before = c.get("/api/v1/proxy/domains").json().get("domains", [])
        for body in (
            {"domain": console, "console": True},
            {"domain": console, "console": True, "https": True, "force_https": True},
            {"domain": console.upper() + ".", "console": True},
            {"domain": console, "console": True, "app": target, "service": "web", "port": 80},
        ):
            r = c.post("/api/v1/proxy/domains", json=body)
            assert r.status_code == 403, (body, r.text)
        odd: list[dict[str, Any]] = [
            {"domain": console, "console": "true"},
            {"domain": console, "Console": True},
        ]
        for spelled in odd:
            assert c.post("/api/v1/proxy/domains", json=spelled).status_code == 400, spelled
        assert c.get("/api/v1/proxy/domains").json().get("domains", []) == before
    # a console domain that exists (recorded the way proxyctl records one; Caddy is not reloaded)
    channel = _state(stack)
    try:
        state_pb2_grpc.StateStub(channel).PutDomain(
            state_pb2.StatePutDomainRequest(
                domain=proxy_pb2.Domain(
                    domain=console,
                    console=True,
                    https=True,
                    force_https=True,
                    upstream=f"127.0.0.1:{stack.port}",
                ),
                actor="admin",
            ),
            timeout=10,
        )
    finally:
        channel.close()
    try:
        with stack.client(operator) as c:
            for name in (console, console.upper(), console + "."):
                r = c.delete(f"/api/v1/proxy/domains/{name}")
                assert r.status_code == 403, (name, r.text)
            taken = c.post(
                "/api/v1/proxy/domains",
                json={"domain": console, "app": target, "service": "web", "port": 80, "https": False},
            )
            assert taken.status_code in (400, 409), taken.text
            listed = {d["domain"]: d for d in c.get("/api/v1/proxy/domains").json()["domains"]}
        assert listed[console]["console"] is True
    finally:
        with stack.client(admin_token) as c:
            assert c.delete(f"/api/v1/proxy/domains/{console}").status_code == 200


# --------------------------------------------------------------------- viewers and secrets (§2)

SECRET_ENV = {
    "DATABASE_URL": "postgres://app:Pl4inPw@db/app",
    "MYAPP_ADMIN_PW": "letmein2",
    "DB_PASSWORD": "sunshine9",
}
SECRETS = [*SECRET_ENV.values(), "Pl4inPw", "moonlight9", "hunter3"]


@pytest.fixture(scope="module")
def secret_app(stack: Stack, admin_token: str, operator: str, busybox_image: str) -> Iterator[str]:
    """An app at v2 (v1 deployed; v2 changes DB_PASSWORD and is stored only)."""
    app = _name("r2sec")
    env = "".join(f"{k}={v}\n" for k, v in SECRET_ENV.items())
    _, deployment = _create(stack, operator, {"name": app, "compose": _svc(""), "env": env})
    assert deployment and deployment["status"] == "succeeded", deployment
    r = _put(stack, operator, app, _svc(""), env.replace("sunshine9", "moonlight9"))
    assert r.status_code == 200, r.text
    yield app
    stack.remove_app(admin_token, app)


def _leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_a_viewer_reads_no_value_through_versions_diffs_and_compose(
    stack: Stack, viewer: str, secret_app: str
) -> None:
    app = secret_app
    texts = []
    with stack.client(viewer) as c:
        for path, params in (
            (f"/api/v1/apps/{app}/compose", {}),
            (f"/api/v1/apps/{app}/versions", {}),
            (f"/api/v1/apps/{app}/versions/1", {}),
            (f"/api/v1/apps/{app}/versions/2", {}),
            (f"/api/v1/apps/{app}/versions/2/diff", {}),
            (f"/api/v1/apps/{app}/versions/2/diff", {"against": "0"}),
            (f"/api/v1/apps/{app}/versions/1/diff", {"against": "2"}),
            (f"/api/v1/apps/{app}", {}),
            ("/api/v1/deployments", {"app": app}),
        ):
            r = c.get(path, params=params)
            assert r.status_code == 200, (path, r.text)
            texts.append(r.text)
        for reveal in ("true", "1", "True"):
            r = c.get(f"/api/v1/apps/{app}/versions/2/diff", params={"reveal_secrets": reveal})
            assert r.status_code in (400, 403), (reveal, r.text)
            texts.append(r.text)
        for forbidden in (f"/api/v1/apps/{app}/policy", "/api/v1/audit"):
            texts.append(c.get(forbidden).text)
    assert _leaks("\n".join(texts)) == []


def test_a_viewer_reads_no_value_of_hand_edited_files_on_disk(
    stack: Stack, viewer: str, operator: str, secret_app: str
) -> None:
    """Drift: the .env on disk edited by hand, in shapes the masking might not parse."""
    env_file = stack.data / "apps" / secret_app / ".env"
    original = env_file.read_text()
    try:
        env_file.write_text(
            original
            + "DB_PASSWORD: hunter3\n  export   ROOT_PW =hunter3\n# hunter3\n"
            + "X='hunter3'\r\nY=\"a\nhunter3\"\n"
        )
        with stack.client(viewer) as c:
            r = c.get(f"/api/v1/apps/{secret_app}/compose")
        assert r.status_code == 200 and r.json().get("drift") is True, r.text
        assert _leaks(r.text) == []
        with stack.client(operator) as c:
            assert "hunter3" in c.get(f"/api/v1/apps/{secret_app}/compose").json()["disk_env"]
    finally:
        env_file.write_text(original)


def test_a_viewer_cannot_check_a_guess_against_the_hash_or_etag(
    stack: Stack, viewer: str, secret_app: str
) -> None:
    with stack.client(viewer) as c:
        compose = c.get(f"/api/v1/apps/{secret_app}/compose")
        versions = c.get(f"/api/v1/apps/{secret_app}/versions").json()["versions"]
    files = compose.json()
    shown = {files["hash"], *(v.get("hash", "") for v in versions)} - {""}
    etag16 = compose.headers["etag"].strip('"').split("-", 1)[1]
    env_real = "".join(f"{k}={v}\n" for k, v in SECRET_ENV.items()).replace("sunshine9", "moonlight9")
    candidates = []
    for guess in ("moonlight9", "sunshine9", "letmein"):
        env = env_real.replace("moonlight9", guess)
        for data in (
            files["compose"] + env,
            files["compose"] + "\n" + env,
            files["compose"] + "\0" + env,
            env,
            json.dumps({"compose": files["compose"], "env": env}),
            json.dumps([files["compose"], env]),
        ):
            for digest in (hashlib.sha256, hashlib.sha1, hashlib.md5, hashlib.blake2b):
                candidates.append(digest(data.encode()).hexdigest())
    assert not any(c in shown or c[:16] == etag16 for c in candidates)


def test_a_viewer_reads_no_value_in_the_event_stream(
    stack: Stack, viewer: str, operator: str, secret_app: str
) -> None:
    # one more edit while the stream is read, so it carries live version and deployment events too
    seen: list[str] = []
    done = threading.Event()

    def read() -> None:
        headers = {"Authorization": f"Bearer {viewer}"}
        deadline = time.monotonic() + 90
        with (
            contextlib.suppress(httpx.HTTPError),
            httpx.Client(base_url=stack.url, headers=headers, timeout=30) as c,
            c.stream("GET", "/api/v1/events", params={"after": "0"}) as r,
        ):
            for line in r.iter_lines():
                seen.append(line)
                if done.is_set() or time.monotonic() > deadline:
                    break

    reader = threading.Thread(target=read)
    reader.start()
    env = "".join(f"{k}={v}\n" for k, v in SECRET_ENV.items()).replace("sunshine9", "hunter3")
    r = _put(stack, operator, secret_app, _svc(""), env, deploy=True)
    assert r.status_code == 200, r.text
    stack.wait_deployment(operator, r.json()["deployment"]["id"])
    time.sleep(1)
    done.set()
    reader.join(120)
    text = "\n".join(seen)
    assert "version_created" in text or "deployment_" in text, text[-2000:]
    assert _leaks(text) == []
    assert '"hash"' not in text


# ------------------------------------------------------------------- 2FA and the app terminal (§5)


@dataclass
class TwoFactor:
    name: str
    password: str
    secret: str
    token: str  # a login's access token, made with a code
    step: int  # the newest step a code was used for
    login_code: str


def _two_factor_operator(stack: Stack, admin_token: str) -> TwoFactor:
    name, password = _user(stack, admin_token, "operator")
    token = stack.login(name, password)
    with stack.client(token) as c:
        secret = c.post("/api/v1/auth/totp:begin", json={}).json()["secret"]
        step = totp.current_step()
        r = c.post("/api/v1/auth/totp:confirm", json={"code": pyotp.TOTP(secret).generate_otp(step)})
        assert r.status_code == 200, r.text
    step += 1  # the next step is accepted at once (one step of drift) and is newer
    code = pyotp.TOTP(secret).generate_otp(step)
    with stack.client() as c:
        r = c.post("/api/v1/auth/login", json={"username": name, "password": password, "totp_code": code})
    assert r.status_code == 200, r.text
    return TwoFactor(name, password, secret, r.json()["access_token"], step, code)


@contextlib.contextmanager
def _terminal(
    stack: Stack, token: str, target: str, *, code: str = "", first: dict[str, str] | None = None
) -> Iterator[ClientConnection]:
    """A terminal WebSocket: the token (and code) as subprotocols, or in a `first` message."""
    protocols = None
    if first is None:
        protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
        protocols += [Subprotocol(f"totp.{code}")] if code else []
    url = f"ws://127.0.0.1:{stack.port}/api/v1/terminal/ws?target={target}"
    with connect(url, subprotocols=protocols, max_size=None) as ws:
        if first is not None:
            ws.send(json.dumps(first))
        yield ws


@contextlib.contextmanager
def _attach(stack: Stack, token: str, query: str, *, code: str = "") -> Iterator[ClientConnection]:
    protocols = [Subprotocol("appos.v1"), Subprotocol(f"bearer.{token}")]
    protocols += [Subprotocol(f"totp.{code}")] if code else []
    url = f"ws://127.0.0.1:{stack.port}/api/v1/terminal/ws?{query}"
    with connect(url, subprotocols=protocols, max_size=None) as ws:
        yield ws


def _first(ws: ClientConnection) -> tuple[dict[str, Any], int]:
    """The first control message, and the close code when it was a refusal (0 when opened)."""
    while True:
        frame = ws.recv(timeout=TIMEOUT)
        if isinstance(frame, str):
            break
    message = json.loads(frame)
    if message["type"] == "opened":
        return message, 0
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd is not None
    return message, closed.value.rcvd.code


def test_app_terminal_of_a_two_factor_session_needs_a_fresh_code(
    stack: Stack, admin_token: str, target: str
) -> None:
    user = _two_factor_operator(stack, admin_token)
    shell = f"app:{target}/web"
    totp_gen = pyotp.TOTP(user.secret)
    attempts = {
        "no code": {},
        "empty code in the first message": {"first": {"token": user.token, "totp_code": ""}},
        "a malformed code": {"code": "12345a"},
        "the login's code, replayed": {"code": user.login_code},
        "an older code": {"code": totp_gen.generate_otp(user.step - 1)},
        "a code from two steps ago": {"code": totp_gen.generate_otp(user.step - 2)},
        "a recovery-looking code": {"code": "abcd-efgh"},
        "replayed in the first message": {"first": {"token": user.token, "totp_code": user.login_code}},
        "first message without a code": {"first": {"token": user.token}},
    }
    for what, how in attempts.items():
        with _terminal(stack, user.token, shell, **how) as ws:  # type: ignore[arg-type]
            message, close = _first(ws)
        assert close == 4401 and message["code"] in ("totp_required", "totp_invalid", "unauthenticated"), (
            what,
            message,
        )
    # the control: a fresh code (newer than the login's, within a step of now) opens it
    wait_for(lambda: totp.current_step() >= user.step, timeout=2 * totp.STEP_SECONDS, what="the next step")
    fresh = totp_gen.generate_otp(user.step + 1)
    with _terminal(stack, user.token, shell, code=fresh) as ws:
        opened, _ = _first(ws)
        assert opened["type"] == "opened", opened
        ws.close(code=1001)  # detached: the session waits for its owner to attach again
    # attaching again to the detached session is a new connection: the same rules
    session = f"session={opened['session']}"
    for what, code in (("no code", ""), ("the code just used", fresh)):
        with _attach(stack, user.token, session, code=code) as ws:
            message, close = _first(ws)
        assert close == 4401, (what, message)
    with _attach(stack, admin_token, session) as ws:  # nor someone else's session
        message, close = _first(ws)
    assert close in (4403, 4404), message


def test_a_two_factor_session_cannot_mint_a_token_that_skips_the_code(
    stack: Stack, admin_token: str, target: str
) -> None:
    """A stolen session of a 2FA user (no code at hand) cannot open a terminal; with it the thief
    creates an API token (no code asked), and an API token is never asked for a code."""
    user = _two_factor_operator(stack, admin_token)
    shell = f"app:{target}/web"
    with _terminal(stack, user.token, shell) as ws:
        assert _first(ws)[1] == 4401  # the session alone: refused, as it should be
    with stack.client(user.token) as c:
        minted = c.post("/api/v1/tokens", json={"name": "stolen", "role": "operator"})
    opened = 0
    if minted.status_code == 200:
        with _terminal(stack, minted.json()["secret"], shell) as ws:
            message, close = _first(ws)
            opened = 1 if message["type"] == "opened" else 0
            if opened:
                ws.send(json.dumps({"type": "close"}))
    assert not opened, "a token minted by a code-less session opened the app terminal without a code"


# ----------------------------------------------------------------- a revoked token's open streams


def test_a_revoked_token_ends_its_open_streams(
    stack: Stack, admin_token: str, operator: str, busybox_image: str
) -> None:
    app = _name("r2chat")
    _, deployment = _create(stack, admin_token, {"name": app, "template": "busybox-chatty"})
    assert deployment and deployment["status"] == "succeeded", deployment
    try:
        with stack.client(operator) as c:
            made = c.post("/api/v1/tokens", json={"name": "r2-streams", "role": "operator"}).json()
        token = made["secret"]
        headers = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=stack.url, headers=headers, timeout=20) as c,
            c.stream("GET", "/api/v1/events") as sse,
            c.stream("GET", f"/api/v1/apps/{app}/logs", params={"follow": "true", "tail": "1"}) as logs,
            _terminal(stack, token, f"app:{app}/talk") as term,
        ):
            assert sse.status_code == 200 and logs.status_code == 200
            assert _first(term)[0]["type"] == "opened"
            sse_lines, log_lines = sse.iter_lines(), logs.iter_lines()
            next(log_lines)
            with stack.client(operator) as oc:
                assert oc.delete(f"/api/v1/tokens/{made['id']}").status_code == 200
            revoked_at = time.monotonic()
            ended_log = _drain(log_lines, revoked_at + 20)
            assert ended_log and '"code"' in ended_log[-1], ended_log[-3:]
            ended_sse = _drain(sse_lines, revoked_at + 20)
            assert any("event: error" in line for line in ended_sse), ended_sse[-5:]
            closed = None
            with contextlib.suppress(ConnectionClosed):
                while True:
                    term.recv(timeout=TIMEOUT)
            closed = term.close_code
            assert closed in (4401, 4403), closed
            assert time.monotonic() - revoked_at < 20
        with httpx.Client(base_url=stack.url, headers=headers, timeout=10) as c:
            assert c.get("/api/v1/events").status_code == 401
    finally:
        stack.remove_app(admin_token, app)


def _drain(lines: Iterator[str], deadline: float) -> list[str]:
    """The lines until the stream ends; fails when it is still open at `deadline`."""
    out = []
    for line in lines:
        out.append(line)
        if time.monotonic() > deadline:
            raise AssertionError(f"the stream was still open after the token was revoked: {out[-3:]}")
    return out


# ------------------------------------------------------- a stack of this module's own (settings)

STREAM_LIMIT = 3
_OWN_PASSWORD: dict[int, str] = {}


def _own_admin(stack: Stack) -> str:
    return stack.login("admin", _OWN_PASSWORD[stack.port])


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """The default failed-login limits, three open streams per user, a HOME of its own."""
    base = tmp_path_factory.mktemp("round2")
    home = base / "home"
    home.mkdir()
    running = start_stack(
        base / "stack", extra_env={"APPOS_STREAMS_PER_USER": str(STREAM_LIMIT), "HOME": str(home)}
    )
    _OWN_PASSWORD[running.port] = password = running.admin_password()  # a restore removes the file
    yield running
    with contextlib.suppress(Exception):
        from tests import consistency

        consistency.remove_all_apps(running, running.login("admin", password))
    running.stop()


def _from(stack: Stack, source: str, headers: dict[str, str] | None = None) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source)
    return httpx.Client(base_url=stack.url, transport=transport, headers=headers, timeout=30)


def _login(c: httpx.Client, username: str, password: str) -> httpx.Response:
    return c.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_forwarded_headers_sent_to_the_gateway_do_not_spread_a_brute_force(own: Stack) -> None:
    admin = _own_admin(own)
    name, password = _user(own, admin, "viewer")
    source = "127.0.0.41"
    statuses = []
    for i in range(6):
        forged = {
            "X-Forwarded-For": f"127.0.1.{i + 1}, 127.0.2.{i + 1}",
            "Forwarded": f"for=127.0.3.{i + 1}",
            "X-Real-IP": f"127.0.4.{i + 1}",
            "True-Client-IP": f"127.0.5.{i + 1}",
            "CF-Connecting-IP": f"127.0.6.{i + 1}",
            PROXY_HEADER: uuid.uuid4().hex,
        }
        with _from(own, source, forged) as c:
            statuses.append(_login(c, name, f"wrong-{i}").status_code)
    assert statuses[:5] == [401] * 5 and statuses[5] == 429, statuses
    with _from(own, source, {"X-Forwarded-For": "127.0.1.99"}) as c:
        assert _login(c, name, password).status_code == 429  # the right password waits there too
    # spraying usernames with a new forged address each time: the address as a whole waits
    sprayer = "127.0.0.42"
    sprayed = []
    for i in range(21):
        with _from(own, sprayer, {"X-Forwarded-For": f"10.9.{i}.1"}) as c:
            sprayed.append(_login(c, f"nobody{i}", "wrong").status_code)
    assert sprayed[:20] == [401] * 20 and sprayed[20] == 429, sprayed
    for claimed in ("127.0.1.1", "127.0.2.1", "127.0.3.1"):  # whom it claimed to be: untouched
        with _from(own, claimed) as c:
            assert _login(c, name, password).status_code == 200


def test_a_viewer_cannot_open_more_streams_than_the_limit(own: Stack) -> None:
    admin = _own_admin(own)
    name, password = _user(own, admin, "viewer")
    first, second = own.login(name, password), own.login(name, password)  # two sessions, one user
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=0)
    with contextlib.ExitStack() as held:
        clients = [
            held.enter_context(
                httpx.Client(
                    base_url=own.url, headers={"Authorization": f"Bearer {t}"}, timeout=20, limits=limits
                )
            )
            for t in (first, second)
        ]
        opened = [
            held.enter_context(clients[i % 2].stream("GET", "/api/v1/events")) for i in range(STREAM_LIMIT)
        ]
        assert [r.status_code for r in opened] == [200] * STREAM_LIMIT
        for c in clients:
            r = c.get("/api/v1/events")
            assert r.status_code == 429 and "streams open" in r.json()["message"], r.text
        ws = connect(
            f"ws://127.0.0.1:{own.port}/api/v1/events/ws",
            subprotocols=[Subprotocol("appos.v1"), Subprotocol(f"bearer.{second}")],
        )
        with ws:
            with contextlib.suppress(ConnectionClosed):
                while True:
                    ws.recv(timeout=TIMEOUT)
            assert ws.close_code == 4429, ws.close_code
    # the places come back once closed
    with httpx.Client(base_url=own.url, headers={"Authorization": f"Bearer {first}"}, timeout=20) as c:
        wait_for(lambda: _stream_opens(c), timeout=20, what="a stream once the others closed")


def _stream_opens(c: httpx.Client) -> bool:
    with c.stream("GET", "/api/v1/events") as r:
        return r.status_code == 200


def test_env_file_under_home_set_in_the_env_file(own: Stack, busybox_image: str) -> None:
    """The policy interpolates `${HOME}` with the .env sent taking precedence; Compose lets its own
    environment win. `.env: HOME=./inside` makes the policy see a path inside the app; Compose reads
    the file from the real HOME of the AppOS user."""
    admin = _own_admin(own)
    operator = own.login(*_user(own, admin, "operator"))
    home = Path(own.env["HOME"])
    secret = f"r2-home-{uuid.uuid4().hex}"
    (home / "creds.env").write_text(f"R2_HOME_SECRET={secret}\n")
    app = _name("r2home")
    compose = _svc("    env_file: ['${HOME}/creds.env']\n")
    with own.client(operator) as c:
        checked = c.post(
            "/api/v1/apps:validate", json={"name": app, "compose": compose, "env": "HOME=./inside\n"}
        )
    created, deployment = _create(own, operator, {"name": app, "compose": compose, "env": "HOME=./inside\n"})
    leaked = ""
    if deployment is not None:
        with contextlib.suppress(AssertionError):
            leaked = _exec(_service(app, "web"), "env")
        own.remove_app(admin, app)
    assert secret not in leaked, "a file in the AppOS user's HOME is in the container's environment"
    assert _refused(checked), checked.text
    assert _refused(created), created.text


def test_a_symlink_planted_in_a_mount_then_a_redeploy_and_a_restore(own: Stack, busybox_image: str) -> None:
    """`keeper` binds ./data (v1, running); v2, stored without deploying, has `reader` bind
    ./data/sub. The operator (a shell in keeper) makes ./data/sub a link to /, redeploys; then an
    admin backs up and restores the install, which redeploys the app: nothing of the host is visible
    in any container either way."""
    admin = _own_admin(own)
    operator = own.login(*_user(own, admin, "operator"))
    app = _name("r2rs")
    v1 = _svc("    volumes: ['./data:/d']\n", name="keeper")
    v2 = _svc("    volumes: ['./data/sub:/host']\n", name="reader")
    _, deployment = _create(own, operator, {"name": app, "compose": v1})
    assert deployment and deployment["status"] == "succeeded", deployment
    r = _put(own, operator, app, v2)
    assert r.status_code == 200, r.text
    _exec(_service(app, "keeper"), "rm -rf /d/sub && ln -s / /d/sub")
    assert (own.data / "apps" / app / "data" / "sub").is_symlink()
    redeployed = own.act(operator, app, "redeploy")
    assert redeployed["status"] == "failed" and "refused before Compose ran" in redeployed["reason"], (
        redeployed
    )
    _settled(own, operator, app)  # the automatic rollback the failure queued has run (it recreates keeper)
    assert _host_visible(own, app) == []
    with own.client(admin) as c:
        made = c.post("/api/v1/backups", json={"message": "r2"})
        assert made.status_code == 202, made.text
        backup_id = made.json()["id"]
    wait_for(
        lambda: _backup_status(own, admin, backup_id) != "running",
        timeout=120,
        interval=0.5,
        what="the backup",
    )
    assert _backup_status(own, admin, backup_id) == "succeeded"
    with own.client(admin) as c:
        restored = c.post("/api/v1/backups/restore", json={"backup_id": backup_id, "force": True})
    assert restored.status_code == 202, restored.text  # a queued job
    ended = own.wait_restore(restored.json()["restore"]["id"])
    assert ended["status"] == "succeeded", ended
    admin = _own_admin(own)  # a restore ends the sessions
    for deployment_id in ended["deployment_ids"]:
        own.wait_deployment(admin, deployment_id, timeout=180)
    assert not (own.data / "apps" / app / "data" / "sub").is_symlink()
    assert _host_visible(own, app) == []
    own.remove_app(admin, app)


def _backup_status(stack: Stack, token: str, backup_id: str) -> str:
    with stack.client(token) as c:
        return str(c.get(f"/api/v1/backups/{backup_id}").json()["status"])
