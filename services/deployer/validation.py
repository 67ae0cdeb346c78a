"""Is this compose file (with its .env) acceptable for this app? The one answer used by a create, an
edit, a rollback, `POST /api/v1/apps:validate`, and again by the worker right before Compose starts
containers.

    check()      in a staging folder holding exactly the files sent: the files Compose would read
                 (reads.py), then `docker compose config`, then the policy, lexically.
    check_run()  in the app's folder, as it is right then: the same, plus the running containers'
                 mounts, and every path walked with lstat (no symlink anywhere).

Compose's normalized project depends only on the files it reads. When those are just the compose
file and its .env (no `include`, `extends.file`, `env_file`, `label_file`), check_run() reuses the
project check() normalized for the same app and the same two texts (`_normalized`) instead of
running `docker compose config` again; the policy and the on-disk checks always run again.
"""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument
from services.deployer import compose, envfile, policy, runtime
from services.deployer.policy import reads

# The staging folder sits this deep inside a private temporary folder, so a relative path that climbs
# out of it (`../../x`) still lands inside that folder and maps back onto the app's folder exactly.
_STAGE_DEPTH = 8


class _Normalized:
    """The normalized projects of the last few checks that passed, by app folder and the exact
    texts of its compose file and .env. Held in the deployer's memory only: the API's check and the
    worker run in the same process, so a deploy asks Compose to normalize its files once."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(app_dir: Path, compose_text: str, env_text: str) -> tuple[str, str]:
        texts = hashlib.sha256(f"{len(compose_text)}:{compose_text}{env_text}".encode()).hexdigest()
        return str(app_dir), texts

    def put(self, key: tuple[str, str], config: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = copy.deepcopy(config)
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def get(self, key: tuple[str, str]) -> dict[str, Any] | None:
        with self._lock:
            found = self._items.get(key)
            return None if found is None else copy.deepcopy(found)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


_normalized = _Normalized()


def check(
    *, name: str, compose_text: str, env_text: str, allowed: Sequence[str], apps_dir: Path,
    running: Sequence[str] = (),
) -> compose.Loaded:  # fmt: skip
    """The checks of a create or an edit (`running`: the bind sources of the app's running
    containers, for an edit that deploys at once). Nothing is written outside a private temporary
    folder."""
    if len(compose_text.encode()) > compose.MAX_COMPOSE_BYTES:
        raise InvalidArgument(f"compose file is larger than {compose.MAX_COMPOSE_BYTES // 1024} KiB")
    if not compose_text.strip():
        raise InvalidArgument("compose file is empty")
    envfile.keys(env_text)
    app_dir = apps_dir / name
    with _staging(name) as (root, stage):
        project = _project(name, stage)
        read = _reads_allowed(compose_text, env_text, app_dir, project.env(), allowed)
        compose.write_files(stage, compose_text, env_text, durable=False)  # deleted right after
        try:
            staged = compose.load(project, as_written=bool(read))
        except InvalidArgument as exc:
            raise InvalidArgument(_unstaged(exc.message, root, stage)) from exc
        loaded = compose.Loaded(
            config=_relocate(staged.config, root, stage, app_dir),
            warnings=[_unstaged(w, root, stage) for w in staged.warnings],
        )
    normalized = copy.deepcopy(loaded.config) if not read else None  # before any check touches it
    paths = policy.enforce(loaded.config, app_dir, allowed, running)
    # an app that exists: its folder as it is now (the worker checks again before Compose runs)
    policy.refuse(policy.check_on_disk([*paths, *read], app_dir, create=False), allowed)
    if normalized is not None:
        _normalized.put(_normalized.key(app_dir, compose_text, env_text), normalized)
    return loaded


def check_run(
    *, name: str, compose_text: str, env_text: str, apps_dir: Path, allowed: Sequence[str],
    existing: Sequence[runtime.BindMount],
) -> dict[str, Any]:  # fmt: skip
    """Right before Compose creates or starts containers, on the files just written to the app's
    folder: the policy with the exceptions as they are now, the layout against what the app's
    running containers mount (`existing`: every container's binds), and no symlink on any path of the
    project or of those containers (bind sources inside the folder are made here as real folders).
    The normalized config, for the checks that need the engine (ports)."""
    app_dir = apps_dir / name
    project = _project(name, app_dir)
    read = _reads_allowed(compose_text, env_text, app_dir, project.env(), allowed)
    policy.refuse(policy.check_on_disk(read, app_dir), allowed)  # before Compose reads them
    config = None if read else _normalized.get(_normalized.key(app_dir, compose_text, env_text))
    if config is None:
        config = compose.load(project, as_written=bool(read)).config
    running = [mount.source for mount in existing if mount.running]  # what a container can write now
    paths = policy.enforce(config, app_dir, allowed, running)
    mounted = [
        policy.HostPath(
            f"a container of the app: volume {m.source}", m.source, mounted=True, read_only=m.read_only
        )
        for m in existing
    ]
    policy.refuse(policy.check_on_disk([*paths, *mounted], app_dir), allowed)
    return config


def _project(name: str, directory: Path) -> compose.Project:
    """The app's project for `config` only: no engine is asked."""
    return compose.Project(
        name=compose.project_name(name), directory=directory, docker_host="unix:///nonexistent"
    )


def _reads_allowed(
    text: str, env_text: str, app_dir: Path, env: dict[str, str], allowed: Sequence[str]
) -> list[policy.HostPath]:
    """Refuse before Compose runs when it would read a file outside the app's folder; the paths."""
    read = reads.read_paths(text, env_text, app_dir, env)
    policy.refuse([v for item in read for v in policy.host_violations(item, app_dir)], allowed)
    return read


@contextmanager
def _staging(name: str) -> Iterator[tuple[str, Path]]:
    root = tempfile.mkdtemp(prefix="appos-check-")
    try:
        stage = Path(root, *(["d"] * _STAGE_DEPTH), name)
        stage.mkdir(parents=True, mode=0o700)
        yield root, stage
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _relocate(value: Any, root: str, stage: Path, app_dir: Path) -> Any:
    """Paths Compose resolved against the staging folder, as they are against the app's folder."""
    if isinstance(value, dict):
        return {k: _relocate(v, root, stage, app_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_relocate(v, root, stage, app_dir) for v in value]
    if isinstance(value, str) and (value == root or value.startswith(root + os.sep)):
        return os.path.normpath(os.path.join(app_dir, os.path.relpath(value, stage)))
    return value


def _unstaged(text: str, root: str, stage: Path) -> str:
    return text.replace(f"{stage}/", "").replace(str(stage), ".").replace(root, "..")
