"""`appos servers [list]`, `show NAME`, `key`, `add NAME ssh://user@host[:port] [--docker-socket P]`
or `add NAME tcp://host[:port] --ca FILE --cert FILE --key FILE`, `repin NAME`, `remove NAME`: the
machines AppOS deploys to (issue 21), `local` and the Docker engines it reaches over SSH with its
own key or over TLS with a client certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from cli.client import CliError, connect, seg
from cli.commands.apps import read_file
from cli.groups import group
from cli.output import JSON_OPTION, fields, note, plain, print_json, size, status, table, when

servers_app = group(
    "The machines AppOS deploys to: this one (local) and Docker engines over SSH or TLS.", default=True
)
# Adding checks SSH, the host key and Docker before it answers (the gateway allows it 60 s).
ADD_TIMEOUT = 90.0


def _engine(server: dict[str, Any]) -> str:
    version, api = server.get("engine_version", ""), server.get("api_version", "")
    return f"{version} (API {api})" if version and api else version


def _capacity(server: dict[str, Any]) -> str:
    cpus, memory = int(server.get("cpus") or 0), int(server.get("memory_bytes") or 0)
    parts = [f"{cpus} CPU" + ("" if cpus == 1 else "s") if cpus else "", size(memory) if memory else ""]
    return ", ".join(part for part in parts if part)


def _identity(server: dict[str, Any]) -> str:
    """What the pinned fingerprint is of: the SSH host key, or a TLS engine's certificate."""
    return "certificate" if server.get("transport") == "tls" else "host key"


def _show(server: dict[str, Any]) -> None:
    fields(
        [
            ("name", escape(server.get("name", ""))),
            ("status", status(server.get("status", ""))),
            ("error", escape(server.get("error", ""))),
            ("address", escape(server.get("address", ""))),
            ("docker socket", escape(server.get("docker_socket", ""))),
            (_identity(server), escape(server.get("host_key_fingerprint", ""))),
            ("engine", escape(_engine(server))),
            ("capacity", _capacity(server)),
            ("apps", str(server.get("apps", 0))),
            ("last seen", when(server.get("last_seen", ""))),
            ("added", when(server.get("created_at", ""))),
        ]
    )


@servers_app.command("list")
def list_servers(as_json: bool = JSON_OPTION) -> None:
    """Every server, local first, with its status (and why it is not up), engine and apps."""
    with connect() as api:
        servers = api.get("/api/v1/servers").get("servers", [])
    if as_json:
        print_json(servers)
        return
    table(
        ["NAME", "STATUS", "ADDRESS", "ENGINE", "CAPACITY", "APPS", "HOST KEY", "ERROR"],
        (
            [escape(s.get("name", "")), status(s.get("status", "")), escape(s.get("address", "")),
             escape(_engine(s)), _capacity(s), str(s.get("apps", 0)),
             escape(s.get("host_key_fingerprint", "")), escape(s.get("error", ""))]
            for s in servers
        ),
    )  # fmt: skip


@servers_app.command("show")
def show(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """One server."""
    with connect() as api:
        server = api.get(f"/api/v1/servers/{seg(name)}")
    if as_json:
        print_json(server)
        return
    _show(server)


@servers_app.command("key")
def key(as_json: bool = JSON_OPTION) -> None:
    """AppOS's public SSH key (admin): add it to ~/.ssh/authorized_keys of the user AppOS signs in
    as on each server. The key alone goes to stdout: `appos servers key >> authorized_keys`."""
    with connect() as api:
        reply = api.get("/api/v1/servers/key")
    if as_json:
        print_json(reply)
        return
    plain(reply.get("public_key", ""))
    note(f"fingerprint {reply.get('fingerprint', '')}")
    note("add it to ~/.ssh/authorized_keys of the user in each server's address (one that may use Docker)")


@servers_app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name: lowercase letters, digits and '-'."),
    address: str = typer.Argument(
        ..., help="ssh://user@host[:port] (port 22 when left out), or tcp://host[:port] (2376) with --ca etc."
    ),
    docker_socket: str = typer.Option(
        "",
        "--docker-socket",
        help="ssh:// only: the Docker socket's path on the server (default /var/run/docker.sock).",
    ),
    ca: Annotated[
        Path | None,
        typer.Option("--ca", help="tcp:// only: the CA certificate (PEM) that signed the engine's."),
    ] = None,
    cert: Annotated[
        Path | None, typer.Option("--cert", help="tcp:// only: AppOS's client certificate (PEM).")
    ] = None,
    key: Annotated[Path | None, typer.Option("--key", help="tcp:// only: its private key (PEM).")] = None,
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a server (admin): AppOS checks SSH with its key and pins the host key it sees now — or,
    for tcp://, the TLS handshake with the client certificate, pinning the engine's certificate —
    and asks Docker, which can take up to a minute; nothing is saved when a check fails."""
    pems = _tls_files(address, ca, cert, key)
    body = {"name": name, "address": address, "docker_socket": docker_socket, **pems}
    checks = "TLS, the engine's certificate" if pems else "SSH, the host key"
    note(f"checking {checks} and Docker at {address}…")
    with connect() as api:
        server = api.call("POST", "/api/v1/servers", json=body, timeout=ADD_TIMEOUT)
    if as_json:
        print_json(server)
        return
    _show(server)
    note(f"server {name} added; {_identity(server)} {server.get('host_key_fingerprint', '')} pinned")


def _tls_files(address: str, ca: Path | None, cert: Path | None, key: Path | None) -> dict[str, str]:
    """The three PEMs of a tcp:// server, read here (the key goes to the API only)."""
    given = {"ca_pem": ca, "cert_pem": cert, "key_pem": key}
    if not address.strip().startswith("tcp://"):
        if any(given.values()):
            raise CliError("--ca, --cert and --key are for tcp:// addresses; ssh:// uses AppOS's key")
        return {}
    missing = [
        f"--{flag}" for flag, path in zip(("ca", "cert", "key"), given.values(), strict=True) if path is None
    ]
    if missing:
        raise CliError(
            f"a tcp:// server needs {', '.join(missing)}: the CA, AppOS's client certificate and its key "
            "(plain tcp:// without TLS is refused)"
        )
    return {field: read_file(path, field.replace("_pem", " file")) for field, path in given.items() if path}


@servers_app.command("repin")
def repin(name: str = typer.Argument(...), as_json: bool = JSON_OPTION) -> None:
    """Trust the host key (or, for tcp://, the engine certificate) the server shows now (admin). Only
    after checking it changed for a good reason (a reinstall, a renewal): a changed key can also mean
    someone is in between."""
    with connect() as api:
        server = api.call("POST", f"/api/v1/servers/{seg(name)}/repin", json={}, timeout=ADD_TIMEOUT)
    if as_json:
        print_json(server)
        return
    _show(server)
    note(f"{_identity(server)} {server.get('host_key_fingerprint', '')} pinned for {name}")


@servers_app.command("remove")
def remove(name: str = typer.Argument(...)) -> None:
    """Forget a server and close its SSH connection (admin). Refused while apps live there; nothing
    on the server is changed."""
    with connect() as api:
        api.delete(f"/api/v1/servers/{seg(name)}")
    note(f"server {name} removed")


def register(app: typer.Typer) -> None:
    app.add_typer(servers_app, name="servers")
