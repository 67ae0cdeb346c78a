"""`appos servers`: its words for an engine and a capacity, and which commands say they need an
admin (no server; tests/e2e/test_cli_servers.py runs it against the real stack)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.client import CliError
from cli.commands.servers import _capacity, _engine, _tls_files
from cli.main import build_app


def test_engine_and_capacity_in_words() -> None:
    assert _engine({"engine_version": "27.3.1", "api_version": "1.47"}) == "27.3.1 (API 1.47)"
    assert _engine({"engine_version": "", "api_version": ""}) == ""
    assert _capacity({"cpus": 4, "memory_bytes": "8321499136"}) == "4 CPUs, 7.8 GiB"
    assert _capacity({"cpus": 1}) == "1 CPU"
    assert _capacity({}) == ""


ADMIN = {"list": False, "show": False, "key": True, "add": True, "repin": True, "remove": True}


@pytest.mark.parametrize(("command", "admin"), ADMIN.items())
def test_the_help_says_which_need_an_admin(command: str, admin: bool) -> None:
    shown = CliRunner().invoke(build_app(), ["servers", command, "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert ("(admin)" in shown.output) is admin


def test_a_tls_server_takes_its_three_pem_files(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for name, path in files.items():
        path.write_text(f"{name} pem\n")
    ca, cert, key = files.values()
    assert _tls_files("tcp://10.0.0.2:2376", ca, cert, key) == {
        "ca_pem": "ca pem\n", "cert_pem": "cert pem\n", "key_pem": "key pem\n",
    }  # fmt: skip
    assert _tls_files("ssh://root@10.0.0.2", None, None, None) == {}
    with pytest.raises(CliError, match="needs --cert, --key"):
        _tls_files("tcp://10.0.0.2", ca, None, None)
    with pytest.raises(CliError, match="are for tcp:// addresses"):
        _tls_files("ssh://root@10.0.0.2", ca, None, None)
    with pytest.raises(CliError, match="cannot read the key file"):
        _tls_files("tcp://10.0.0.2", ca, cert, tmp_path / "missing.pem")
