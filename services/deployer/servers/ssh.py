"""The OpenSSH command lines AppOS runs, always as argument lists, never through a shell, with no
user or system configuration (`-F /dev/null`), AppOS's key only, and the server's pinned host key
only (StrictHostKeyChecking=yes against the server's own known_hosts file)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.common.errors import InvalidArgument
from services.deployer.servers.address import SshAddress

KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512", "ssh-rsa")


def base_options(*, key: Path, known_hosts: Path, connect_timeout: int = 10) -> list[str]:
    return [
        "-F", "/dev/null",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known_hosts}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "UpdateHostKeys=no",
        "-o", "IdentitiesOnly=yes",
        "-o", f"IdentityFile={key}",
        "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "ServerAliveInterval=5",
        "-o", "ServerAliveCountMax=3",
        "-o", "LogLevel=ERROR",
    ]  # fmt: skip


def forward_command(
    address: SshAddress,
    *,
    key: Path,
    known_hosts: Path,
    local_socket: Path,
    remote_socket: str,
    control: Path,
) -> list[str]:
    """One connection that forwards the server's Docker socket to `local_socket` and is the control
    master other sessions to the same server share (`-S control`), so the server sees one login."""
    return [
        "ssh", *base_options(key=key, known_hosts=known_hosts),
        "-o", "ExitOnForwardFailure=yes",
        "-o", "StreamLocalBindUnlink=yes",
        "-o", "ControlMaster=yes",
        "-o", f"ControlPath={control}",
        "-N", "-T",
        "-L", f"{local_socket}:{remote_socket}",
        "-p", str(address.port), "-l", address.user, "--", address.host,
    ]  # fmt: skip


def session_command(
    address: SshAddress, *, key: Path, known_hosts: Path, control: Path, remote: str
) -> list[str]:
    """A command on the server, multiplexed over the server's one connection (`control`)."""
    return [
        "ssh", *base_options(key=key, known_hosts=known_hosts),
        "-o", "ControlMaster=no",
        "-o", f"ControlPath={control}",
        "-T", "-p", str(address.port), "-l", address.user, "--", address.host, remote,
    ]  # fmt: skip


def subsystem_command(
    address: SshAddress, *, key: Path, known_hosts: Path, control: Path, subsystem: str
) -> list[str]:
    """A subsystem of the server's sshd (`sftp`), multiplexed over the server's one connection."""
    return [
        "ssh", *base_options(key=key, known_hosts=known_hosts),
        "-o", "ControlMaster=no",
        "-o", f"ControlPath={control}",
        "-T", "-s", "-p", str(address.port), "-l", address.user, "--", address.host, subsystem,
    ]  # fmt: skip


def scan_host_key(address: SshAddress, *, timeout: int = 10) -> str:
    """The server's host key as a known_hosts line (ed25519 when it has one), or InvalidArgument."""
    try:
        done = subprocess.run(
            ["ssh-keyscan", "-T", str(timeout), "-p", str(address.port), "-t", "ed25519,ecdsa,rsa", "--",
             address.host],
            capture_output=True, text=True, timeout=timeout + 5, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise InvalidArgument(f"{address.host}:{address.port} did not answer within {timeout} s") from exc
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip() and not line.startswith("#")]
    by_type = {line.split()[1]: line for line in lines if len(line.split()) >= 3}
    for key_type in KEY_TYPES:
        if key_type in by_type:
            return by_type[key_type]
    raise InvalidArgument(
        f"no SSH server answered at {address.host}:{address.port} (connection refused or timed out)"
    )


def fingerprint(public_key_line: str) -> str:
    """`SHA256:…` of a public key or known_hosts line."""
    parts = public_key_line.split()
    key = " ".join(parts[1:3]) if parts and parts[0] not in KEY_TYPES else " ".join(parts[:2])
    done = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", "-"], input=key + "\n", capture_output=True, text=True,
        timeout=10, check=False,
    )  # fmt: skip
    fields = done.stdout.split()
    if done.returncode != 0 or len(fields) < 2:
        raise InvalidArgument("the server's host key could not be read")
    return fields[1]


def explain(stderr: str, address: SshAddress) -> str:
    """What an ssh failure means for the user, with the next step."""
    text = stderr.strip()
    if not text:  # ssh says nothing at LogLevel=ERROR when its keepalives go unanswered
        return (
            f"the SSH connection to {address.host}:{address.port} ended (the server stopped answering "
            "or closed it)"
        )
    if "REMOTE HOST IDENTIFICATION HAS CHANGED" in text or "Host key verification failed" in text:
        return (
            f"the host key of {address.host} is not the one pinned when the server was added; if it "
            "changed for a good reason (a reinstall), re-pin it: POST /api/v1/servers/NAME/repin"
        )
    if "Permission denied" in text:
        return (
            f"{address.user}@{address.host} refused AppOS's key: add the key from GET /api/v1/servers/key "
            f"to ~{address.user}/.ssh/authorized_keys on the server"
        )
    if "Connection refused" in text:
        return f"nothing accepts SSH connections at {address.host}:{address.port}"
    if "timed out" in text or "No route to host" in text or "Network is unreachable" in text:
        said = text.splitlines()[-1] if text else "timed out"
        return f"{address.host}:{address.port} cannot be reached ({said})"
    if "forwarding" in text.lower():
        return f"the server refused to forward its Docker socket: {text.splitlines()[-1]}"
    return f"ssh to {address.host} failed: {text.splitlines()[-1]}"
