"""`appos servers` as a user runs it (issue 21): a subprocess against the real stack. The list
always starts with this machine, `key` prints AppOS's own public key as one authorized_keys line,
and an add that cannot work (a bad address, nothing listening) exits non-zero with the server's
reason and saves nothing. Adding a real remote server is tested in tests/integration (a server in
a network namespace); here only what needs no second machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness import ROOT, Stack, free_port
from tests.tlscerts import make_ca

pytestmark = pytest.mark.xdist_group("cli_servers")

CLI = [sys.executable, "-m", "cli.main"]
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def run(stack: Stack, admin_token: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """`appos` as admin (APPOS_TOKEN overrides it per call)."""
    home: Path = tmp_path_factory.mktemp("cli-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPOS_")}
    env.update(XDG_CONFIG_HOME=str(home), APPOS_URL=stack.url, APPOS_TOKEN=admin_token, COLUMNS="200")

    def call(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], cwd=ROOT, env={**env, **extra}, input="", capture_output=True, text=True,
            timeout=180, check=False,
        )  # fmt: skip

    return call


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _names(run: Run) -> list[str]:
    return [s["name"] for s in _json(run("servers", "list", "--json"))]


def test_list_starts_with_this_machine(run: Run) -> None:
    listed = run("servers")  # list is the default
    assert listed.returncode == 0, listed.stderr
    header, first = listed.stdout.splitlines()[:2]
    assert header.split()[:3] == ["NAME", "STATUS", "ADDRESS"]
    assert first.split()[:3] == ["local", "local", "local"]
    local = _json(run("servers", "list", "--json"))[0]
    assert local["name"] == "local" and local["status"] == "local"
    assert local["engine_version"] and int(local["cpus"]) >= 1  # this machine's Docker answers
    assert _json(run("servers", "show", "local", "--json"))["name"] == "local"


def test_key_prints_one_authorized_keys_line(run: Run) -> None:
    shown = run("servers", "key")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(lines) == 1, shown.stdout
    kind, blob, *_ = lines[0].split()
    assert kind == "ssh-ed25519" and blob.startswith("AAAA")
    assert "fingerprint SHA256:" in shown.stderr
    assert "~/.ssh/authorized_keys" in shown.stderr
    # the same key every time, and the same as --json says
    reply = _json(run("servers", "key", "--json"))
    assert reply["public_key"] == lines[0]
    assert reply["fingerprint"].startswith("SHA256:")


def test_key_and_add_need_an_admin(run: Run) -> None:
    created = _json(run("tokens", "create", f"servers-{uuid.uuid4().hex[:6]}", "--role", "viewer", "--json"))
    try:
        as_viewer = {"APPOS_TOKEN": created["secret"]}
        assert "local" in [s["name"] for s in _json(run("servers", "list", "--json", **as_viewer))]
        for args in (("servers", "key"), ("servers", "add", "edge", "ssh://deploy@127.0.0.1:22")):
            refused = run(*args, **as_viewer)
            assert refused.returncode == 1
            assert "admin" in refused.stderr, refused.stderr
    finally:
        assert run("tokens", "revoke", created["id"]).returncode == 0


@pytest.mark.parametrize(
    ("address", "says"),
    [
        ("tcp://127.0.0.1:2376", "error: a tcp:// server needs --ca, --cert, --key"),
        ("ssh://127.0.0.1", "error: the address needs the user AppOS signs in as: ssh://user@host:port"),
        ("deploy@127.0.0.1", "error: a server address is ssh://user@host:port (port 22 when left out)"),
    ],
)
def test_a_bad_address_is_refused_with_why_and_nothing_saved(run: Run, address: str, says: str) -> None:
    name = f"bad{uuid.uuid4().hex[:6]}"
    refused = run("servers", "add", name, address)
    assert refused.returncode == 1
    assert says in refused.stderr, refused.stderr
    assert refused.stdout == ""
    assert name not in _names(run)


def test_an_address_where_nothing_listens_is_refused_with_why(run: Run) -> None:
    name, port = f"none{uuid.uuid4().hex[:6]}", free_port()
    address = f"ssh://deploy@127.0.0.1:{port}"
    refused = run("servers", "add", name, address, "--docker-socket", "/run/docker.sock")
    assert refused.returncode == 1
    assert f"error: no SSH server answered at 127.0.0.1:{port}" in refused.stderr, refused.stderr
    assert name not in _names(run)


def test_repin_and_remove_of_an_unknown_server_say_so(run: Run) -> None:
    for verb in ("repin", "remove"):
        refused = run("servers", verb, "nosuchserver")
        assert refused.returncode == 1
        assert "error: server 'nosuchserver' does not exist" in refused.stderr, refused.stderr
    local = run("servers", "remove", "local")
    assert local.returncode == 1
    assert "cannot be removed" in local.stderr, local.stderr


def test_a_tls_server_sends_its_files_and_the_server_checks_them(run: Run, tmp_path: Path) -> None:
    """tcp:// with --ca/--cert/--key: the CLI reads the three files and the server checks them (a bad
    PEM, then good ones with nothing listening); nothing saved, no key quoted back."""
    ca = make_ca("cli-ca")
    client = ca.issue("appos", client=True)
    ca_file = ca.write(tmp_path)
    cert, key = client.write(tmp_path, "client")
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    name, address = f"tls{uuid.uuid4().hex[:6]}", f"tcp://127.0.0.1:{free_port()}"
    for files, says in (
        ((bad, cert, key), "error: the CA certificate (ca_pem) is not a PEM certificate"),
        ((ca_file, cert, key), "error: nothing accepts connections at 127.0.0.1:"),
    ):
        refused = run("servers", "add", name, address, "--ca", *_paths(files))
        assert refused.returncode == 1, refused.stdout
        assert says in refused.stderr, refused.stderr
        assert "PRIVATE KEY" not in refused.stderr + refused.stdout
    assert name not in _names(run)


def _paths(files: tuple[Path, Path, Path]) -> list[str]:
    ca, cert, key = files
    return [str(ca), "--cert", str(cert), "--key", str(key)]
