"""`appos validate`: its arguments, the request it sends, and what it prints and exits with for each
answer, against a small real HTTP server on loopback that answers as the gateway does."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.client import CliError
from cli.commands.validate import default_name, validate_body
from cli.main import build_app, main
from cli.refusals import refusal_items

REFUSAL = (
    "compose policy: service web: privileged is not allowed (rule privileged); "
    "service web volume .: mounts the app's own folder; mount a folder inside it (never allowed); "
    "service web volume /m/[x]: /m/[x] is outside the app's folder (rule host_path:/m/[x]). "
    "An admin can allow a rule for this app (docs/architecture.md lists them)."
)


@dataclass
class Gateway:
    """Answers every POST with `status` and `reply`; keeps the (path, body) of each."""

    status: int = 200
    reply: dict[str, Any] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Gateway]:
    state = Gateway()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            state.requests.append((self.path, body))
            data = json.dumps(state.reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("APPOS_URL", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("APPOS_TOKEN", "appos_test-token")
    monkeypatch.setenv("COLUMNS", "300")
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _file(folder: Path, text: str = "services:\n  web:\n    image: nginx\n") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compose.yaml"
    path.write_text(text)
    return path


def test_the_name_defaults_to_the_files_folder(tmp_path: Path) -> None:
    assert default_name(_file(tmp_path / "blog")) == "blog"
    assert default_name(_file(tmp_path / "media-2")) == "media-2"
    for folder in ("My Apps", "-x", "x_y", "a" * 41, "Blog"):
        assert default_name(_file(tmp_path / folder)) == "app", folder
    assert default_name(_file(tmp_path / ("a" * 40))) == "a" * 40


def test_the_body_carries_the_files_name_and_exceptions(tmp_path: Path) -> None:
    compose = _file(tmp_path / "blog")
    env = tmp_path / "blog" / ".env"
    env.write_text("A=1\n")
    assert validate_body(file=compose, env=None, name=None, allow=[]) == {
        "name": "blog",
        "compose": compose.read_text(),
        "env": "",
    }
    assert validate_body(file=compose, env=env, name="other", allow=["privileged", "host_path:/srv"]) == {
        "name": "other",
        "compose": compose.read_text(),
        "env": "A=1\n",
        "allow": ["privileged", "host_path:/srv"],
    }
    with pytest.raises(CliError, match="cannot read the compose file"):
        validate_body(file=tmp_path / "missing.yaml", env=None, name=None, allow=[])
    with pytest.raises(CliError, match=r"cannot read the \.env file"):
        validate_body(file=compose, env=tmp_path / "no.env", name=None, allow=[])


def test_a_policy_refusal_is_cut_into_its_refusals() -> None:
    assert refusal_items(REFUSAL) == [
        "service web: privileged is not allowed (rule privileged)",
        "service web volume .: mounts the app's own folder; mount a folder inside it (never allowed)",
        "service web volume /m/[x]: /m/[x] is outside the app's folder (rule host_path:/m/[x])",
    ]
    assert refusal_items("compose policy: something new") == ["something new"]
    assert refusal_items("compose file is not valid YAML: x") is None


def test_usage_errors_exit_2() -> None:
    runner = CliRunner()
    assert runner.invoke(build_app(), ["validate"]).exit_code == 2  # no FILE
    assert (
        runner.invoke(build_app(), ["validate", "c.yaml", "--allow"]).exit_code == 2
    )  # --allow needs a rule


def test_a_valid_file_prints_its_services_and_warnings(
    gateway: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.reply = {"services": ["db", "web"], "warnings": ["the attribute `version` is obsolete"]}
    compose = _file(tmp_path / "blog")
    code, out, err = _run(
        ["validate", str(compose), "--allow", "privileged", "--allow", "cap_add:NET_ADMIN"], capsys
    )
    assert (code, err) == (0, "")
    assert out.splitlines() == ["valid: 2 services (db, web)", "warning: the attribute `version` is obsolete"]
    assert gateway.requests == [
        (
            "/api/v1/apps:validate",
            {
                "name": "blog",
                "compose": compose.read_text(),
                "env": "",
                "allow": ["privileged", "cap_add:NET_ADMIN"],
            },
        )
    ]
    gateway.reply = {"services": ["web"]}
    code, out, _ = _run(["validate", str(compose), "--json"], capsys)
    assert code == 0 and json.loads(out) == {"services": ["web"]}


def test_a_refused_file_exits_1_with_one_line_per_refusal(
    gateway: Gateway, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway.status, gateway.reply = 400, {"code": "invalid_argument", "message": REFUSAL, "request_id": "r1"}
    code, out, err = _run(["validate", str(_file(tmp_path / "x")), "--name", "blog"], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [
        "error: the compose policy refuses the file (3):",
        "  - service web: privileged is not allowed (rule privileged)",
        "  - service web volume .: mounts the app's own folder; mount a folder inside it (never allowed)",
        "  - service web volume /m/[x]: /m/[x] is outside the app's folder (rule host_path:/m/[x])",
        "Edit the file, or ask an admin to allow the rule for this app (`appos policy APP --allow RULE "
        "--reason WHY`, or `--allow RULE` at `appos deploy`).",
    ]
    assert gateway.requests[0][1]["name"] == "blog"


@pytest.mark.parametrize(
    ("status", "message", "shown"),
    [
        (400, "compose file is empty", "error: refused: compose file is empty"),
        (403, "only an admin can allow compose policy exceptions", "error: only an admin can allow"),
    ],
)
def test_other_refusals_exit_1_with_the_servers_message(
    gateway: Gateway,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    status: int,
    message: str,
    shown: str,
) -> None:
    gateway.status, gateway.reply = status, {"code": "x", "message": message, "request_id": "r"}
    code, out, err = _run(["validate", str(_file(tmp_path / "blog"))], capsys)
    assert code == 1 and out == ""
    assert err.startswith(shown), err


def test_the_cli_help_names_every_policy_rule() -> None:
    """The CLI imports nothing from services/, so its help text keeps its own list of rules: it must
    name every rule the policy has."""
    from cli.refusals import RULES_HELP
    from services.deployer.policy import RULES

    for rule in RULES:
        assert rule.split("<")[0] in RULES_HELP, rule
