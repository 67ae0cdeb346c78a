"""Host paths in a compose project: which are the app's own, which reach the host, how binds are laid
out, and (at run time) that no symlink stands on any of them.

A container can write only into what it mounts. So no bind may mount the app's folder itself, its
compose file or `.env`, or a folder that holds another bind's source or a file Compose reads: a
container could otherwise put a symlink where Docker will look later. Every check here is lexical
(no path is resolved through a symlink); `check_on_disk` then walks each path with lstat."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.deployer.policy.keys import CLOCK_FILES, DOCKER_SOCKETS
from services.deployer.policy.violations import Violation

PROTECTED_FILES = ("compose.yaml", ".env")
_OTHER_LAYOUT = re.compile(r"^/(?:DATA|data)/AppData/[^/]+/(.+)$")


@dataclass(frozen=True)
class HostPath:
    """One path of the project on the host: a bind or secret source (mounted into a container), or a
    file Compose reads (env_file, label_file, a build context)."""

    where: str  # "service web: volume ./data:/data"
    path: str  # absolute and normalized
    mounted: bool
    read_only: bool = False


def normalize(path: str, app_dir: Path) -> str:
    """Absolute and lexically normalized, relative paths against the app's folder, `~` as the home
    folder of the process (what Compose would do)."""
    if path.startswith("~"):
        path = os.path.expanduser(path)
    if not os.path.isabs(path):
        path = os.path.join(app_dir, path)
    return os.path.normpath(path)


def inside(path: str, folder: Path) -> bool:
    root = os.path.normpath(folder)
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def shown(path: str, app_dir: Path) -> str:
    """A path as a person reads it: `./data` inside the app's folder, absolute elsewhere."""
    if inside(path, app_dir):
        rel = os.path.relpath(path, app_dir)
        return "." if rel == "." else f"./{rel}"
    return path


def _suggestion(path: str, app_dir: Path) -> str:
    other = _OTHER_LAYOUT.match(path)
    if other:
        return f"; keep the app's files in its own folder: use ./{other.group(1)}"
    if inside(path, app_dir.parent):
        return f"; keep the app's files in its own folder: use ./{os.path.basename(path)}"
    return ""


def host_violations(item: HostPath, app_dir: Path) -> list[Violation]:
    """What reaches outside the app's folder: the Docker socket, any other host path."""
    path = item.path
    found = []
    sockets = [s for s in DOCKER_SOCKETS if s == path or s.startswith(path.rstrip("/") + "/")]
    if os.path.basename(path) == "docker.sock" or (item.mounted and sockets):
        found.append(Violation("docker_socket", f"{item.where} gives the container the Docker socket"))
    if inside(path, app_dir) or path in DOCKER_SOCKETS:
        return found
    if item.mounted and item.read_only and path in CLOCK_FILES:
        return found
    found.append(
        Violation(
            f"host_path:{path}",
            f"{item.where}: {path} is outside the app's folder{_suggestion(path, app_dir)}",
        )
    )
    return found


def layout_violations(items: list[HostPath], app_dir: Path, running: Sequence[str] = ()) -> list[Violation]:
    """Binds that would let a container swap a path Docker or Compose follows later: the app's
    folder itself, its compose file or `.env`, a folder holding another path of the project, or a
    path inside a folder that a running container of the app mounts (`running`)."""
    found = []
    mounted = [i for i in items if i.mounted]
    for item in mounted:
        rel = os.path.relpath(item.path, app_dir) if inside(item.path, app_dir) else ""
        if rel == ".":
            found.append(Violation("", f"{item.where} mounts the app's own folder; mount a folder inside it"))
        elif rel in PROTECTED_FILES:
            found.append(Violation("", f"{item.where} mounts the app's {rel}, which AppOS writes"))
    for item in mounted:
        for other in items:
            if other.path != item.path and other.path.startswith(item.path.rstrip("/") + "/"):
                found.append(
                    Violation(
                        "",
                        f"{item.where} holds {shown(other.path, app_dir)} ({other.where}): a container "
                        "could replace it with a symlink; mount folders side by side, not one inside another",
                    )
                )
                break
    for item in items:
        for folder in running:
            if item.path != folder and item.path.startswith(folder.rstrip("/") + "/"):
                found.append(
                    Violation(
                        "",
                        f"{item.where} is inside {shown(folder, app_dir)}, which a running container of "
                        "the app mounts and could change: stop the app, then deploy this version",
                    )
                )
                break
            if item.mounted and folder != item.path and folder.startswith(item.path.rstrip("/") + "/"):
                found.append(
                    Violation(
                        "",
                        f"{item.where} holds {shown(folder, app_dir)}, which a running container of the "
                        "app mounts: a container could replace it with a symlink; mount folders side by "
                        "side, not one inside another",
                    )
                )
                break
    return found


def check_on_disk(items: list[HostPath], app_dir: Path, *, create: bool = True) -> list[Violation]:
    """Right before Compose starts containers: no symlink on any component of any path of the
    project (from the app's folder down for its own paths, from / for granted host paths), and each
    bind source inside the app's folder exists, made here as a real folder when it does not. With
    `create` false (an edit being validated) nothing is made."""
    found: list[Violation] = []
    if app_dir.is_symlink():
        return [Violation("", f"the app's folder {app_dir} is a symbolic link; AppOS does not follow it")]
    if create:
        app_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    elif not app_dir.is_dir():
        return found
    for item in items:
        if item.mounted and item.read_only and item.path in CLOCK_FILES:
            continue
        start = Path(os.path.normpath(app_dir)) if inside(item.path, app_dir) else Path("/")
        made = create and item.mounted and inside(item.path, app_dir)
        try:
            link = _first_symlink(start, Path(item.path), create=made)
        except OSError as exc:
            found.append(Violation("", f"{item.where}: {shown(item.path, app_dir)}: {exc.strerror}"))
            continue
        if link is not None:
            found.append(
                Violation(
                    "",
                    f"{item.where}: {shown(str(link), app_dir)} is a symbolic link; AppOS does not follow "
                    "links on the way to a mounted or read path (replace it with a real folder or file)",
                )
            )
    return found


def _first_symlink(start: Path, path: Path, *, create: bool) -> Path | None:
    """The first component below `start` on the way to `path` that is a symlink (None if none).
    With `create`, missing components are made as folders (a missing file source becomes a folder,
    as Docker itself would make it)."""
    current = start
    for part in path.relative_to(start).parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            if not create:
                return None
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:  # made meanwhile: look again
                mode = os.lstat(current).st_mode
            else:
                continue
        if stat.S_ISLNK(mode):
            return current
    return None
