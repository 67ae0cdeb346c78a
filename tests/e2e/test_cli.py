"""The `appos` CLI as a user runs it: a subprocess against a real stack, its config in a temp
XDG_CONFIG_HOME, the server from APPOS_URL."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import stat
import subprocess
import sys
import tarfile
import time
import tomllib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from ptyprocess import PtyProcessUnicode

from services.common import totp
from tests.harness import ROOT, Stack, free_port, start_stack, wait_for

# one worker runs this module: its module-scoped stack (and app names) exist once
pytestmark = pytest.mark.xdist_group("cli")

CLI = [sys.executable, "-m", "cli.main"]
Run = Callable[..., subprocess.CompletedProcess[str]]


def _env(stack: Stack, home: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("APPOS_") and k not in ("EDITOR", "VISUAL")
    }
    env.update(XDG_CONFIG_HOME=str(home), APPOS_URL=stack.url, COLUMNS="200", **extra)
    return env


def _runner(stack: Stack, home: Path) -> Run:
    def run(*args: str, input: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args],
            cwd=ROOT,
            env=_env(stack, home, **env),
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )

    return run


def _login(stack: Stack, home: Path) -> Run:
    run = _runner(stack, home)
    result = run("login", "--username", "admin", "--password-stdin", input=stack.admin_password() + "\n")
    assert result.returncode == 0, result.stderr
    return run


@pytest.fixture(scope="module")
def cli(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """An `appos` logged in as admin."""
    return _login(stack, tmp_path_factory.mktemp("cli-home"))


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def app_name(stack: Stack, admin_token: str) -> Iterator[str]:
    """A fresh app name; the app is removed afterwards if a test left it behind."""
    name = _name("cli")
    yield name
    with stack.client(admin_token) as c:
        r = c.delete(f"/api/v1/apps/{name}", params={"remove_volumes": "true"})
    if r.status_code == 202:
        stack.wait_deployment(admin_token, r.json()["deployment"]["id"])


def test_login_stores_a_private_token(stack: Stack, tmp_path: Path) -> None:
    run = _login(stack, tmp_path)
    path = tmp_path / "appos" / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert f'url = "{stack.url}"' in path.read_text()
    me = _json(run("whoami", "--json"))
    assert (me["username"], me["role"]) == ("admin", "admin")
    shown = run("config", "show", "--json")
    token = path.read_text().split('token = "', 1)[1].split('"', 1)[0]
    assert token and token not in shown.stdout + shown.stderr, "the token is never printed"
    assert _json(shown)["token_set"] is True


def test_logout_ends_the_session_on_the_server_and_forgets_the_token(stack: Stack, tmp_path: Path) -> None:
    run = _login(stack, tmp_path)
    path = tmp_path / "appos" / "config.toml"
    token = path.read_text().split('token = "', 1)[1].split('"', 1)[0]
    result = run("logout")
    assert result.returncode == 0, result.stderr
    assert "Logged out" in result.stdout and "did not end" not in result.stderr
    assert tomllib.loads(path.read_text()).get("token", "") == ""
    assert tomllib.loads(path.read_text())["url"] == stack.url  # the URL stays
    with stack.client(token) as c:  # the old token no longer opens anything
        r = c.get("/api/v1/auth/me")
    assert r.status_code == 401 and "signed out" in r.json()["message"]
    again = run("logout")  # nothing stored: still fine
    assert again.returncode == 0, again.stderr


def test_a_wrong_password_shows_the_servers_message(stack: Stack, tmp_path: Path) -> None:
    result = _runner(stack, tmp_path)("login", "-u", "admin", "--password-stdin", input="wrong\n")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "password" in result.stderr.lower()
    assert not (tmp_path / "appos" / "config.toml").exists()


def test_no_token_gives_a_clear_message(stack: Stack, tmp_path: Path) -> None:
    run = _runner(stack, tmp_path)
    for args in (["list"], ["deploy", "busybox-httpd"], ["shell"]):
        result = run(*args)
        assert result.returncode == 1, args
        assert "not logged in" in result.stderr and "appos login" in result.stderr, result.stderr
    bad = run("list", APPOS_TOKEN="appos_not-a-real-token")
    assert bad.returncode == 1 and "appos login" in bad.stderr


def test_catalog_and_errors(cli: Run) -> None:
    names = [t["name"] for t in _json(cli("catalog", "busybox", "--json"))]
    assert "busybox-httpd" in names and "busybox-crash" in names
    template = _json(cli("catalog", "show", "busybox-httpd", "--json"))
    assert [s["key"] for s in template["settings"]] == ["HTTP_PORT", "MESSAGE", "SECRET"]
    table = cli("catalog", "show", "busybox-httpd")
    assert table.returncode == 0 and "HTTP_PORT" in table.stdout
    missing = cli("status", "no-such-app")
    assert missing.returncode == 1 and missing.stderr == "error: app 'no-such-app' does not exist\n"


VALID_COMPOSE = """services:
  web:
    image: appos-test/busybox:latest
    pull_policy: never
    command: ["sleep", "3600"]
    environment:
      GREETING: ${GREETING}
"""


def test_validate_a_benign_and_a_hostile_file(cli: Run, tmp_path: Path) -> None:
    name = _name("cliv")
    folder = tmp_path / name  # the app's name defaults to the file's folder
    folder.mkdir()
    compose, env = folder / "compose.yaml", folder / ".env"
    compose.write_text(VALID_COMPOSE)
    env.write_text("GREETING=hi\n")
    valid = cli("validate", str(compose), "--env", str(env))
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("valid: 1 service (web)"), valid.stdout

    compose.write_text(VALID_COMPOSE.replace("    pull_policy:", "    privileged: true\n    pull_policy:"))
    refused = cli("validate", str(compose), "--env", str(env))
    assert refused.returncode == 1 and refused.stdout == ""
    assert "error: the compose policy refuses the file (1):" in refused.stderr, refused.stderr
    assert "  - service web: privileged is not allowed (rule privileged)\n" in refused.stderr
    allowed = cli(
        "validate", str(compose), "--env", str(env), "--allow", "privileged"
    )  # as an admin's create
    assert allowed.returncode == 0 and allowed.stdout.startswith("valid: 1 service"), allowed.stderr
    assert cli("status", name).returncode == 1, "validating stores nothing"


EDITOR = """
import pathlib, sys

path = pathlib.Path(sys.argv[1])
rounds = pathlib.Path(__file__).with_suffix(".rounds")
n = int(rounds.read_text()) if rounds.exists() else 0
rounds.write_text(str(n + 1))
text = path.read_text()
if n == 0:  # the policy refuses this one
    path.write_text(text.replace("    restart:", "    privileged: true\\n    restart:"))
else:
    path.write_text(text.replace("    privileged: true\\n", "").replace("serving ", "serving edited "))
"""


def test_deploy_edit_history_rollback_remove(
    cli: Run, app_name: str, busybox_image: str, tmp_path: Path
) -> None:
    app, port = app_name, free_port()
    deployed = cli("deploy", "busybox-httpd", "--name", app, "--set", f"HTTP_PORT={port}", "--wait")
    assert deployed.returncode == 0, deployed.stderr
    assert f"Container appos-{app}-web-1  Healthy" in deployed.stdout, "compose progress is printed"
    assert f"deploy of {app} (v1): succeeded" in deployed.stdout
    assert "SECRET=" in deployed.stdout, "the generated secret is shown once"

    apps = {a["name"]: a for a in _json(cli("list", "--json"))}
    assert apps[app]["status"] == "running" and apps[app]["template"] == "busybox-httpd"
    assert app in cli("list").stdout
    assert _json(cli("status", app, "--json"))["services"][0]["health"] == "healthy"
    assert "web | serving hello" in cli("logs", app, "--tail", "10").stdout
    logged = _json(cli("logs", app, "--json", "--service", "web"))
    assert ("web", "serving hello") in [(x["service"], x["line"]) for x in logged]

    script = tmp_path / "editor.py"
    script.write_text(EDITOR)
    editor = f"{shlex.quote(sys.executable)} {shlex.quote(str(script))}"
    edited = cli("edit", app, "--deploy", "-m", "say edited", input="y\n", EDITOR=editor)
    assert edited.returncode == 0, edited.stderr
    assert "privileged is not allowed" in edited.stderr, "the server's refusal is shown"
    assert "Edit again?" in edited.stderr
    assert f"Saved {app} v2" in edited.stdout and "succeeded" in edited.stdout
    assert "web | serving edited hello" in cli("logs", app).stdout

    versions = _json(cli("history", app, "--json"))
    assert [(v["number"], v["source"]) for v in versions] == [(2, "edit"), (1, "create")]
    assert versions[0]["message"] == "say edited"
    assert "v2 *" in cli("history", app).stdout
    diff = cli("diff", app, "2", "1")
    assert diff.returncode == 0 and any(
        line.startswith("+") and "serving edited" in line for line in diff.stdout.splitlines()
    )

    rolled = cli("rollback", app, "1")
    assert rolled.returncode == 0, rolled.stderr
    assert f"{app} is at v3 (= v1)" in rolled.stdout
    assert "serving edited" not in cli("compose", app).stdout
    assert [v["source"] for v in _json(cli("history", app, "--json"))] == ["rollback", "edit", "create"]

    piped = cli("shell", app, input="echo in-container-$((40+2))\n")
    assert piped.returncode == 0, piped.stderr
    assert "in-container-42" in piped.stdout

    stopped = cli("stop", app)
    assert stopped.returncode == 0 and f"stop of {app}" in stopped.stdout
    wait_for(lambda: _json(cli("status", app, "--json"))["status"] == "stopped", timeout=30, what="stopped")
    assert cli("remove", app).returncode == 1, "remove asks first (no tty: --yes is needed)"
    removed = cli("remove", app, "--volumes", "--yes")
    assert removed.returncode == 0, removed.stderr
    assert "Volume" in removed.stdout and "Removed" in removed.stdout
    assert app not in [a["name"] for a in _json(cli("list", "--json"))]


def test_a_failing_deploy_exits_non_zero_with_the_reason(cli: Run, app_name: str, busybox_image: str) -> None:
    app = app_name
    result = cli("deploy", "busybox-crash", "--name", app, "--wait")
    assert result.returncode == 1, result.stdout
    assert f"error: deploy of {app} failed: service job exited with code 1" in result.stderr
    assert "Waiting" in result.stdout, "the progress before the failure is printed"
    failed = _json(cli("deployments", app, "--json"))
    assert (failed[0]["action"], failed[0]["status"]) == ("deploy", "failed")


def test_status_of_an_app_that_never_ran_says_failed_and_why(
    cli: Run, stack: Stack, admin_token: str, app_name: str, tmp_path: Path
) -> None:
    """An image that is not here and may not be pulled: no container ever exists, so Docker alone
    would say "stopped". `appos status` says what the console says (tests/e2e/test_app_state.py):
    "failed" and the reason, from the server."""
    app = app_name
    compose = tmp_path / "compose.yaml"
    compose.write_text("services:\n  web:\n    image: appos-test/missing:nope\n    pull_policy: never\n")
    deployed = cli("deploy", "--compose", str(compose), "--name", app, "--wait")
    assert deployed.returncode == 1, deployed.stdout
    with stack.client(admin_token) as c:
        shown = c.get(f"/api/v1/apps/{app}").json()  # what the console shows
    assert shown["status"] == "failed" and shown["status_message"], shown
    assert "missing" in shown["status_message"], shown  # it names the image

    result = cli("status", app)
    assert result.returncode == 0, result.stderr
    words = " ".join(result.stdout.split())  # the table may wrap a long reason
    status_line = next(line for line in result.stdout.splitlines() if line.strip().startswith("status"))
    assert "failed" in status_line and "stopped" not in status_line, result.stdout
    assert " ".join(shown["status_message"].split()) in words, result.stdout
    assert "no containers" not in words, result.stdout

    listed = cli("list")
    row = next(line for line in listed.stdout.splitlines() if line.startswith(app))
    assert "failed" in row.split(), listed.stdout


def test_tokens_and_users(cli: Run, stack: Stack, tmp_path: Path) -> None:
    created = _json(cli("tokens", "create", "cli-test", "--role", "viewer", "--json"))
    secret = created["secret"]
    assert secret.startswith("appos_")
    as_viewer = _runner(stack, tmp_path)
    assert _json(as_viewer("whoami", "--json", APPOS_TOKEN=secret))["username"] == "admin"
    refused = as_viewer("stop", "anything", APPOS_TOKEN=secret)
    assert refused.returncode == 1
    assert refused.stderr == "error: this needs the operator role; you are viewer\n"
    assert created["id"] in [t["id"] for t in _json(cli("tokens", "--json"))]
    assert cli("tokens", "revoke", created["id"]).returncode == 0
    assert as_viewer("whoami", APPOS_TOKEN=secret).returncode == 1

    user = _name("u")
    made = cli("users", "create", user, "--role", "operator", "--password-stdin", input="a-long-password-1\n")
    assert made.returncode == 0, made.stderr
    assert {"username": user, "role": "operator"}.items() <= {
        u["username"]: u for u in _json(cli("users", "--json"))
    }[user].items()
    assert cli("users", "update", user, "--disable").returncode == 0
    assert _json(cli("users", "show", user, "--json"))["disabled"] is True
    assert cli("users", "delete", user, "--yes").returncode == 0


def test_login_with_a_two_factor_code_and_reset_2fa(cli: Run, stack: Stack, tmp_path: Path) -> None:
    user, password = _name("tfa"), "a-long-password-2"
    made = cli("users", "create", user, "--role", "admin", "--password-stdin", input=password + "\n")
    assert made.returncode == 0, made.stderr
    with stack.client(stack.login(user, password)) as c:
        secret = c.post("/api/v1/auth/totp:begin", json={}).json()["secret"]
        step = totp.current_step()
        confirmed = c.post("/api/v1/auth/totp:confirm", json={"code": pyotp.TOTP(secret).generate_otp(step)})
    assert confirmed.status_code == 200, confirmed.text
    assert _json(cli("users", "show", user, "--json"))["totp_enabled"] is True
    run = _runner(stack, tmp_path)

    no_code = run("login", "-u", user, "--password-stdin", input=password + "\n")
    assert no_code.returncode == 1 and "two-factor" in no_code.stderr
    assert not (tmp_path / "appos" / "config.toml").exists()
    code = pyotp.TOTP(secret).generate_otp(step + 1)  # asked for, then read as the next line
    logged_in = run("login", "-u", user, "--password-stdin", input=f"{password}\n{code}\n")
    assert logged_in.returncode == 0, logged_in.stderr
    assert _json(run("whoami", "--json"))["username"] == user
    shell = run("shell")  # a terminal needs a fresh code too; not at a tty it says how to give one
    assert shell.returncode == 1 and "--totp-code" in shell.stderr, shell.stderr
    no_token = run("tokens", "create", "ci")  # so does a new API token, which is never asked later
    assert no_token.returncode == 1 and "--totp-code" in no_token.stderr, no_token.stderr
    # the code after the login's: accepted once the clock has reached the login's step
    wait_for(lambda: totp.current_step() >= step + 1, timeout=2 * totp.STEP_SECONDS, what="the next code")
    token = run("tokens", "create", "ci", "--totp-code", pyotp.TOTP(secret).generate_otp(step + 2))
    assert token.returncode == 0 and "appos_" in token.stdout, token.stderr

    refused = cli("users", "reset-2fa", user)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    reset = cli("users", "reset-2fa", user, "--yes")
    assert reset.returncode == 0 and "off" in reset.stdout, reset.stderr
    assert _json(cli("users", "show", user, "--json")).get("totp_enabled", False) is False
    again = run("login", "-u", user, "--password-stdin", input=password + "\n")  # the password alone
    assert again.returncode == 0, again.stderr
    assert cli("users", "delete", user, "--yes").returncode == 0


def _expect(proc: PtyProcessUnicode, needle: str, seen: list[str], *, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while needle not in "".join(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {''.join(seen)[-2000:]!r}"
        if select.select([proc.fd], [], [], min(left, 1.0))[0]:
            seen.append(proc.read(4096))


def test_shell_runs_a_command_through_a_pty(stack: Stack, admin_token: str, tmp_path: Path) -> None:
    env = _env(stack, tmp_path, APPOS_TOKEN=admin_token)
    proc = PtyProcessUnicode.spawn([*CLI, "shell"], cwd=str(ROOT), env=env, dimensions=(30, 100))
    seen: list[str] = []
    try:
        proc.write("echo hi-$((6*7)); stty size\r")
        _expect(proc, "hi-42", seen)
        _expect(proc, "30 100", seen)
        proc.setwinsize(40, 120)  # SIGWINCH → a resize message → the remote tty's size
        proc.write("sleep 0.2; stty size\r")
        _expect(proc, "40 120", seen)
        proc.write("exit 3\r")
        with contextlib.suppress(EOFError):
            _expect(proc, "never printed", seen)
        proc.wait()
        assert proc.exitstatus == 3, "the remote exit code comes back"
    finally:
        if proc.isalive():
            proc.terminate(force=True)


@pytest.fixture
def own_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: None) -> Iterator[Stack]:
    """A stack of this test's own: a restore replaces the whole install, which the module's stack
    (shared with the other tests) must not see."""
    running = start_stack(tmp_path_factory.mktemp("cli-backup"))
    yield running
    running.stop()


def _backups_state(stack: Stack, token: str) -> tuple[list[str], list[str]]:
    with stack.client(token) as c:
        backups = [b["id"] for b in c.get("/api/v1/backups").json().get("backups", [])]
        apps = [a["name"] for a in c.get("/api/v1/apps").json().get("apps", [])]
    return backups, apps


def test_backup_create_download_restore_delete(own_stack: Stack, busybox_image: str, tmp_path: Path) -> None:
    stack = own_stack
    password = stack.admin_password()  # read now: a restore removes the first-start password file
    token = stack.login()
    app = _name("bk")
    _, deployment = stack.deploy(
        token, {"name": app, "template": "busybox-httpd", "settings": {"HTTP_PORT": str(free_port())}}
    )
    assert deployment["status"] == "succeeded", deployment
    cli = _login(stack, tmp_path / "home")

    configured = cli("backup", "settings", "--retention", "5", "--schedule", "every:6")
    assert configured.returncode == 0, configured.stderr
    assert "every:6" in configured.stdout and "next run" in configured.stdout
    settings = _json(cli("backup", "settings", "--json"))
    assert (settings["retention"], settings["schedule"]) == (5, "every:6") and settings["next_run"]

    created = cli("backup", "create", "-m", "before the change")
    assert created.returncode == 0, created.stderr
    [backup] = _json(cli("backup", "list", "--json"))
    backup_id = backup["id"]
    assert backup["status"] == "succeeded", "create waits until the archive is written"
    assert backup_id in created.stdout and "succeeded" in created.stdout
    assert backup["message"] == "before the change" and [a["name"] for a in backup["apps"]] == [app]
    listed = cli("backup", "list")
    assert listed.returncode == 0 and backup_id in listed.stdout and "before the change" in listed.stdout
    shown = cli("backup", "show", backup_id)
    assert shown.returncode == 0, shown.stderr
    assert app in shown.stdout and "before the change" in shown.stdout
    assert _json(cli("backup", "show", backup_id, "--json"))["size_bytes"] == backup["size_bytes"]

    archive = tmp_path / "saved.tar.gz"
    downloaded = cli("backup", "download", backup_id, "-o", str(archive))
    assert downloaded.returncode == 0, downloaded.stderr
    assert f"Saved {archive}" in downloaded.stderr
    assert archive.stat().st_size == int(backup["size_bytes"])
    assert not list(tmp_path.glob("*.part")), "no partial file is left behind"

    # bad input: a clear message, and nothing changes
    unknown = "appos-backup-20200101T000000Z-abcdef"
    for args in (
        ["show", unknown],
        ["download", unknown, "-o", str(tmp_path / "x.tar.gz")],
        ["delete", unknown],
    ):
        result = cli("backup", *args)
        assert result.returncode == 1, args
        assert result.stderr == f"error: backup {unknown} does not exist\n", (args, result.stderr)
    assert not (tmp_path / "x.tar.gz").exists() and not (tmp_path / "x.tar.gz.part").exists()
    malformed = cli("backup", "show", "latest")
    assert malformed.returncode == 1 and "backup id must look like appos-backup-" in malformed.stderr
    bad_setting = cli("backup", "settings", "--schedule", "hourly")
    assert (
        bad_setting.returncode == 1
        and bad_setting.stderr.startswith("error: ")
        and "schedule" in bad_setting.stderr
    )
    not_archive = tmp_path / "notes.txt"
    not_archive.write_text("these are not the backups you are looking for\n")
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"product": "other", "format": 1}')
    foreign = tmp_path / "foreign.tar.gz"  # a good archive, of something else
    with tarfile.open(foreign, "w:gz") as tar:
        tar.add(manifest, arcname="manifest.json")
    for path, words in ((not_archive, "damaged or truncated"), (foreign, "not an AppOS backup")):
        refused = cli("backup", "restore", str(path), "--force")
        assert refused.returncode == 1, refused.stdout
        assert refused.stderr.startswith("error: ") and words in refused.stderr, refused.stderr
    missing = cli("backup", "restore", str(tmp_path / "nowhere.tar.gz"))
    assert missing.returncode == 1 and "is not a file" in missing.stderr
    assert _backups_state(stack, token) == ([backup_id], [app])
    assert list((stack.data / "backups" / "incoming").iterdir()) == []

    # the settings change after the backup; the restore brings back the backup's
    assert cli("backup", "settings", "--retention", "7").returncode == 0
    not_empty = cli("backup", "restore", str(archive))
    assert not_empty.returncode == 1
    assert "this install is not empty" in not_empty.stderr and "force" in not_empty.stderr
    assert _json(cli("backup", "settings", "--json"))["retention"] == 7, "a refused restore changes nothing"

    restored = cli("backup", "restore", str(archive), "--force")
    assert restored.returncode == 0, restored.stderr
    # the restore is a job: the CLI follows its steps until the database is back, which ends this login
    assert f"Restoring {backup_id}" in restored.stderr and "check: done" in restored.stderr
    # it either saw the job end, or its login ended first (the gateway trusts a user it read for up to
    # 5 s): both tell the user to log in again, and the line that started names the restore
    assert "Log in again" in restored.stderr
    restore_id = restored.stderr.split(f"Restoring {backup_id} (", 1)[1].split(")", 1)[0]
    followed = f"restore-status {restore_id}`" in restored.stderr or "Restored" in restored.stdout
    assert restore_id and followed
    assert not (stack.data / "admin-password").exists()
    token = stack.login("admin", password)  # the restored admin, with the password of the backup
    again = cli("login", "--username", "admin", "--password-stdin", input=password + "\n")
    assert again.returncode == 0, again.stderr
    ended = _json(cli("backup", "restore-status", restore_id, "--wait", "--json"))
    assert (ended["status"], ended["apps"]) == ("succeeded", [app]), ended
    [deployment_id] = ended["deployment_ids"]
    assert stack.wait_deployment(token, deployment_id)["status"] == "succeeded"
    apps = {a["name"]: a for a in _json(cli("list", "--json"))}
    assert apps[app]["status"] == "running"
    assert _json(cli("backup", "settings", "--json"))["retention"] == 5

    deleted = cli("backup", "delete", backup_id)
    assert deleted.returncode == 0 and f"Deleted {backup_id}." in deleted.stdout
    assert _json(cli("backup", "list", "--json")) == []
    assert stack.act(token, app, "remove", remove_volumes="true")["status"] == "succeeded"


def test_admin_rotate_key_ends_every_session_but_not_api_tokens(own_stack: Stack, tmp_path: Path) -> None:
    stack = own_stack
    home = tmp_path / "home"
    run = _login(stack, home)
    key_file = stack.data / "secrets" / "jwt.key"
    old_key = key_file.read_text()
    api_token = _json(run("tokens", "create", "ci", "--role", "viewer", "--json"))["secret"]

    asked = run("admin", "rotate-key")  # not at a terminal: it wants --yes, and changes nothing
    assert asked.returncode == 1 and "--yes" in asked.stderr
    assert "yours included" in asked.stderr and "API tokens (appos_…) keep working" in asked.stderr
    assert key_file.read_text() == old_key and run("whoami").returncode == 0

    # at a terminal: what it does, then the question; "n" changes nothing
    proc = PtyProcessUnicode.spawn([*CLI, "admin", "rotate-key"], cwd=str(ROOT), env=_env(stack, home))
    seen: list[str] = []
    try:
        _expect(proc, "Rotate the signing key?", seen)
        proc.write("n\r")
        with contextlib.suppress(EOFError):
            _expect(proc, "never printed", seen)
        proc.wait()
    finally:
        if proc.isalive():
            proc.terminate(force=True)
    said = " ".join("".join(seen).split())  # rich may wrap the warning
    assert "Every signed-in session ends at once, yours included" in said and "keep working" in said
    assert proc.exitstatus == 1 and "Aborted" in said
    assert key_file.read_text() == old_key and run("whoami").returncode == 0

    rotated = run("admin", "rotate-key", "--yes")
    assert rotated.returncode == 0, rotated.stderr
    assert (
        "Signing key rotated at" in rotated.stdout and "Every signed-in session has ended" in rotated.stdout
    )
    assert "appos login" in rotated.stderr
    assert key_file.read_text() != old_key
    ended = run("whoami")
    assert ended.returncode == 1 and "log in again" in ended.stderr and "appos login" in ended.stderr
    assert _json(run("whoami", "--json", APPOS_TOKEN=api_token))["username"] == "admin", "API tokens go on"

    run = _login(stack, home)  # a new login works
    reply = _json(run("admin", "rotate-key", "--yes", "--json"))
    assert list(reply) == ["rotated_at"]
    refused = run("admin", "rotate-key", "--yes", APPOS_TOKEN=api_token)  # a viewer's token
    assert refused.returncode == 1 and refused.stderr.startswith("error: ") and "admin" in refused.stderr
