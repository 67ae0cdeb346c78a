"""Serving a hand-made app store the three ways AppOS fetches one, all on loopback:

    git_repository(folder)   the folder committed as a git repository (for `file://` URLs)
    GitDaemon                Debian's `git daemon` exporting repositories on 127.0.0.1
    ArchiveServer            an HTTP server on 127.0.0.1 serving .tar.gz / .zip archives of folders

The stores themselves are the fixtures in tests/fixtures/stores/<format>/.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.harness import ROOT, free_port, wait_for

FIXTURES = ROOT / "tests" / "fixtures" / "stores"
GIT_DAEMON = Path("/usr/lib/git-core/git-daemon")
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "AppOS tests", "GIT_AUTHOR_EMAIL": "tests@appos.invalid",
    "GIT_COMMITTER_NAME": "AppOS tests", "GIT_COMMITTER_EMAIL": "tests@appos.invalid",
    "PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
}  # fmt: skip


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=_GIT_ENV, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def git_repository(source: Path, repo: Path) -> Path:
    """`source`'s files as the first commit of a new repository at `repo`."""
    shutil.copytree(source, repo, symlinks=True)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "the store")
    return repo


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """`git daemon` exporting every repository under `base`; yields `git://127.0.0.1:PORT`."""
    assert GIT_DAEMON.is_file(), "git daemon is missing: apt install git (Debian ships it in git)"
    port = free_port()
    proc = subprocess.Popen(
        [str(GIT_DAEMON), "--reuseaddr", "--export-all", "--listen=127.0.0.1", f"--port={port}",
         f"--base-path={base}", str(base)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_GIT_ENV,
    )  # fmt: skip
    try:
        wait_for(lambda: _listening(port), timeout=10, what="git daemon listening")
        yield f"git://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tar_gz(folder: Path, target: Path, top: str = "store") -> Path:
    with tarfile.open(target, "w:gz") as tar:
        tar.add(folder, arcname=top)
    return target


def zip_folder(folder: Path, target: Path, top: str = "store") -> Path:
    with zipfile.ZipFile(target, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            zipped.write(path, f"{top}/{path.relative_to(folder)}")
    return target


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def archive_server(folder: Path) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 serving `folder`'s files; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
